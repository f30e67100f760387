"""
test_sink_pg.py - sink = postgresql (issue 16) against a real PostgreSQL
(pg_server.py: a throwaway cluster per test), read back with psql: every
record loaded once in jsonb mode and in columns mode; bad rows (not JSON,
a \\u0000 jsonb refuses, a value too long for varchar(5), a NOT NULL column
missing) isolated and backed up with their SQLSTATE as errorCode under
postgresql-failed/ while their neighbours load; the server stopped (by its
PID) and started again mid-load: every record loaded once; sluice killed
with -9 while a COMMIT is under way (durability = disk): every
acknowledged record in the table exactly once, and the replayed load found
in sluice_loads (counted existing); a COMMIT whose answer is lost looked
up and not made again; no table: /readyz says so, logged
once, and once the table is made the records load; a password file.
"""
import json
import os
import socket
import threading
import time

from harness import SluiceTestCase, free_port, wait_for
from pg_server import PgServer, WithPg
from test_wal import Producers

ROWS = "sluice_pg_rows_total"
EXISTING = "sluice_pg_loads_existing_total"


def json_records(n, tag="r", start=0, **fields):
    """<n> distinct single-line JSON objects (bytes, no newline)."""
    out = []
    for i in range(start, start + n):
        doc = {"n": i, "tag": tag, "pad": "p" * (i * 7 % 50)}
        doc.update(fields)
        out.append(json.dumps(doc, separators=(",", ":")).encode())
    return out


def canon(text):
    """A JSON text as comparable bytes whatever its spacing (jsonb's own)."""
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":")).encode()


class PgTestCase(WithPg, SluiceTestCase):

    def stream(self, table="clicks", **keys):
        conf = {"sink": "postgresql", "file.path": None, "pg.conninfo": self.pg.conninfo(),
                "pg.table": table, "buffer_interval": "100ms", "retry_duration": "60s"}
        conf.update(keys)
        return conf

    def table_json(self, table, column="data"):
        """Every row's <column> as canonical JSON bytes."""
        return [canon(r[0]) for r in self.pg.rows("SELECT %s::text FROM %s" % (column, table))]

    def assertLoadedOnce(self, table, recs):
        self.assertSameRecords(self.table_json(table), [canon(r) for r in recs],
                               "rows of %s" % table)


class LoadTest(PgTestCase):

    def test_jsonb_every_record_loaded_once_with_arrival(self):
        self.pg.psql("CREATE TABLE clicks (data jsonb NOT NULL, arrived timestamptz)")
        # small batches, many loads, on at most two connections, reused
        d = self.sluice({"jb": self.stream(buffer_size="16KiB",
                                           **{"pg.arrival_column": "arrived",
                                              "pg.max_connections": "2"})})
        recs = json_records(3000, tag="jb")
        t0 = time.time()
        d.send(recs, conns=4, sname="jb")
        m = self.settle(d, "jb", 3000)
        t1 = time.time()
        self.assertEqual(m.get("sluice_records_delivered_total", stream="jb",
                               sink="postgresql"), 3000)
        self.assertEqual(m.sum("sluice_records_backed_up_total", stream="jb"), 0)
        self.assertEqual(m.get(ROWS, stream="jb", result="loaded"), 3000)
        self.assertEqual(m.get(ROWS, stream="jb", result="rejected"), 0)
        self.assertEqual(m.get(EXISTING, stream="jb"), 0)
        self.assertGreaterEqual(m.get("sluice_pg_copy_duration_seconds_count", stream="jb"), 1)
        self.assertLoadedOnce("clicks", recs)
        self.assertGreaterEqual(m.sum("sluice_batches_sealed_total", stream="jb"), 10)
        conns = self.pg.scalar("SELECT count(*) FROM pg_stat_activity "
                               "WHERE application_name = 'sluice'")
        self.assertIn(conns, ("1", "2"), "connections kept by the pool")
        # every row has its arrival time, within the test's
        lo, hi = self.pg.rows("SELECT extract(epoch FROM min(arrived)), "
                              "extract(epoch FROM max(arrived)) FROM clicks")[0]
        self.assertGreaterEqual(float(lo), t0 - 1)
        self.assertLessEqual(float(hi), t1 + 1)
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM clicks WHERE arrived IS NULL"),
                         "0")
        # one sluice_loads row per load, their records adding up
        loads = self.pg.rows("SELECT load_id, stream, records, detail FROM sluice_loads")
        self.assertTrue(loads)
        self.assertEqual(sum(int(r[2]) for r in loads), 3000)
        for lid, stream, _, detail in loads:
            self.assertRegex(lid, r"^pg1-[0-9a-f]{64}$")
            self.assertEqual((stream, detail), ("jb", ""))
        d.stop()

    def test_columns_mode_fields_into_columns(self):
        self.pg.psql("CREATE TABLE ev (n bigint, tag text, price numeric, ok boolean, "
                     "extra jsonb, note text, big numeric)")
        d = self.sluice({"co": self.stream("ev", **{"pg.format": "columns",
                                                    "pg.columns": "n, tag, price, ok, extra, "
                                                                  "note, big"})})
        recs = [b'{"n":1,"tag":"a\\tb\\\\c","price":1.10,"ok":true,"extra":{"k":[1,"x"]},'
                b'"note":null,"big":123456789012345678901234567890,"ignored":5}',
                b'{"tag":"no n","n":null}',
                b'{"n":3,"tag":"\\u00e9\\n","ok":false,"extra":[],"note":""}']
        d.send(recs, conns=1, sname="co")
        self.settle(d, "co", 3)
        # psql prints a tab or a newline in a value as it is: tag as hex
        rows = self.pg.rows("SELECT coalesce(n::text, 'NULL'), "
                            "coalesce(encode(convert_to(tag, 'UTF8'), 'hex'), 'NULL'), "
                            "coalesce(price::text, 'NULL'), coalesce(ok::text, 'NULL'), "
                            "coalesce(extra::text, 'NULL'), coalesce(note, 'NULL'), "
                            "coalesce(big::text, 'NULL') FROM ev ORDER BY n NULLS FIRST")
        self.assertEqual(rows, [
            ["NULL", b"no n".hex(), "NULL", "NULL", "NULL", "NULL", "NULL"],
            ["1", b"a\tb\\c".hex(), "1.10", "true", '{"k": [1, "x"]}', "NULL",
             "123456789012345678901234567890"],
            ["3", "\u00e9\n".encode().hex(), "NULL", "false", "[]", "", "NULL"],
        ])
        d.stop()


class BadRowsTest(PgTestCase):

    def test_bad_rows_isolated_backed_up_with_sqlstate_neighbours_loaded(self):
        self.pg.psql("CREATE TABLE jb (data jsonb NOT NULL)")
        self.pg.psql("CREATE TABLE co (n int NOT NULL, name varchar(5))")
        d = self.sluice({"jb": self.stream("jb"),
                         "co": self.stream("co", **{"pg.format": "columns",
                                                    "pg.columns": "n,name"})})
        good = json_records(300, tag="ok")
        jrecs, jbad = list(good), {}
        for i, (rec, code) in enumerate(((b"not json {", "22P02"),
                                         (b'{"s":"nul \\u0000 here"}', "22P05"),
                                         (b'{"unterminated":', "22P02"))):
            at = 40 + i * 97
            jrecs.insert(at, rec)
            jbad[rec] = code
        crecs, cbad = [], {}
        for i in range(200):
            if i % 50 == 7:
                rec, code = b'{"name":"x%d"}' % i, "23502"          # n missing: NOT NULL
            elif i % 50 == 30:
                rec, code = b'{"n":%d,"name":"toolong"}' % i, "22001"   # varchar(5)
            else:
                crecs.append(b'{"n":%d,"name":"v%d"}' % (i, i % 1000))
                continue
            cbad[rec] = code
            crecs.append(rec)
        d.send(jrecs, conns=1, sname="jb")
        d.send(crecs, conns=1, sname="co")
        mj = self.settle(d, "jb", len(jrecs))
        mc = self.settle(d, "co", len(crecs))
        # the neighbours loaded, once
        self.assertLoadedOnce("jb", good)
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM co"), str(200 - len(cbad)))
        self.assertEqual(self.pg.scalar("SELECT count(DISTINCT n) FROM co"),
                         str(200 - len(cbad)))
        for m, s, bad in ((mj, "jb", jbad), (mc, "co", cbad)):
            self.assertEqual(m.sum("sluice_records_backed_up_total", stream=s,
                                   reason="sink_failed"), len(bad))
            self.assertEqual(m.get(ROWS, stream=s, result="rejected"), len(bad))
            self.assertEqual(m.get(ROWS, stream=s, result="loaded"),
                             m.get("sluice_records_delivered_total", stream=s,
                                   sink="postgresql"))
            objects = d.read_envelopes(sname=s)
            envs = [e for _, es in objects for e in es]
            for rel, _ in objects:
                self.assertTrue(rel.startswith("postgresql-failed/"), rel)
            self.assertSameRecords([e["raw"] for e in envs], list(bad), "backed up (%s)" % s)
            for e in envs:
                self.assertEqual(e["errorCode"], bad[e["raw"]], e)
                self.assertEqual(e["sink"], "postgresql")
                self.assertTrue(e["errorMessage"], e)
        msgs = {e["errorCode"]: e["errorMessage"] for _, es in d.read_envelopes(sname="co")
                for e in es}
        self.assertIn("value too long", msgs["22001"])
        self.assertIn("null value", msgs["23502"])
        # the load that refused rows says which in sluice_loads
        details = [json.loads(r[0]) for r in self.pg.rows(
            "SELECT detail FROM sluice_loads WHERE detail IS NOT NULL AND stream = 'co'")]
        refused = sorted(x[1] for dt in details for x in dt["rejected"])
        self.assertEqual(refused, sorted(cbad.values()))
        d.stop()


class OutageTest(PgTestCase):

    def test_server_stopped_and_restarted_mid_load_every_record_once(self):
        self.pg.psql("CREATE TABLE clicks (data jsonb NOT NULL)")
        d = self.sluice({"ou": self.stream(buffer_size="64KiB")})
        first, second = json_records(1500, tag="a"), json_records(1500, tag="b")
        d.send(first, conns=3, sname="ou")
        self.settle(d, "ou", 1500)
        self.pg.stop()                      # SIGINT to the postmaster, by its PID
        d.send(second, conns=3, sname="ou")
        wait_for(lambda: d.metrics().sum("sluice_delivery_retries_total", stream="ou") >= 1, 20,
                 msg="a retry while the server is down")
        m = d.metrics()
        self.assertGreater(m.sum("sluice_records_buffered", stream="ou"), 0)

        def not_ready():
            status, body = d.http_get("/readyz")
            return status == 503 and "sink postgresql" in body
        wait_for(not_ready, 10, msg=lambda: "/readyz while down: %r" % (d.http_get("/readyz"),))
        self.pg.start()
        m = self.settle(d, "ou", 3000, timeout=60)
        self.assertEqual(m.sum("sluice_records_backed_up_total", stream="ou"), 0)
        self.assertGreaterEqual(m.get("sluice_delivery_retries_total", stream="ou",
                                      sink="postgresql", cause="connection"), 1)
        self.assertLoadedOnce("clicks", first + second)
        wait_for(lambda: d.http_get("/readyz")[0] == 200, 10, msg="ready again")
        d.stop()

    def test_no_table_not_ready_logged_once_then_created_loads(self):
        d = self.sluice({"nt": self.stream("later")}, wait="listening")

        def not_ready():
            status, body = d.http_get("/readyz")
            return status == 503 and "stream nt: sink postgresql" in body and "42P01" in body
        wait_for(not_ready, 10, msg=lambda: "/readyz for no table: %r" % (d.http_get("/readyz"),))
        recs = json_records(100, tag="nt")
        d.send(recs, conns=2, sname="nt")
        wait_for(lambda: d.metrics().get("sluice_delivery_retries_total", stream="nt",
                                         sink="postgresql", cause="forbidden", default=0) >= 2,
                 20, msg="retries of cause forbidden")
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM sluice_loads"), "0")
        self.pg.psql("CREATE TABLE later (data jsonb)")
        m = self.settle(d, "nt", 100, timeout=30)
        self.assertEqual(m.sum("sluice_records_backed_up_total", stream="nt"), 0)
        self.assertLoadedOnce("later", recs)
        wait_for(lambda: d.http_get("/readyz")[0] == 200, 10, msg="ready once the table is there")
        log = d.log()
        self.assertEqual(log.count("PostgreSQL refuses the load"), 1, d.log_tail())
        self.assertRegex(log, r"level=error stream=nt sink=postgresql .*sqlstate=42P01")
        d.stop()

    def test_password_file_right_loads_wrong_not_ready(self):
        self.pg.cleanup()
        from pg_server import PgServer
        self.pg = PgServer(password="s3cret-pw")
        self.pg.psql("CREATE TABLE clicks (data jsonb)")
        d = self.sluice({"pw": self.stream(), "bad": self.stream()}, start=False)
        for s, pw in (("pw", "s3cret-pw"), ("bad", "wrong-pw")):
            path = os.path.join(d.dir, "pgpass-" + s)
            with open(path, "w") as f:
                f.write("127.0.0.1:%d:*:sluice:%s\n" % (self.pg.port, pw))
            os.chmod(path, 0o600)
            d.streams[s]["pg.password_file"] = path
        d.start(wait="listening")
        recs = json_records(50, tag="pw")
        d.send(recs, conns=1, sname="pw")
        self.settle(d, "pw", 50)
        self.assertLoadedOnce("clicks", recs)

        def bad_not_ready():
            status, body = d.http_get("/readyz")
            return status == 503 and "stream bad" in body and "password" in body
        wait_for(bad_not_ready, 10, msg=lambda: "/readyz: %r" % (d.http_get("/readyz"),))
        self.assertNotIn("s3cret-pw", d.log())
        self.assertNotIn("wrong-pw", d.log())
        d.stop()


class TlsTest(SluiceTestCase):

    def test_sslmode_verify_full_loads_over_tls_and_a_wrong_ca_is_refused(self):
        pg = PgServer(tls=True)
        try:
            pg.psql("CREATE TABLE clicks (data jsonb)")
            d = self.sluice({"ok": {
                "sink": "postgresql", "file.path": None, "pg.table": "clicks",
                "buffer_interval": "100ms",
                "pg.conninfo": pg.conninfo(sslmode="verify-full", sslrootcert=pg.cert,
                                           application_name="sluice-tls")}})
            d.send([b'{"n":%d}' % i for i in range(50)], conns=1)
            d.wait_records("ok", delivered=50, timeout=30)
            self.assertEqual(pg.scalar("SELECT count(*) FROM clicks"), "50")
            # the sink's sessions are over TLS
            self.assertEqual(pg.scalar(
                "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a "
                "USING (pid) WHERE a.application_name = 'sluice-tls'"), "t")
            d.stop()
            # a certificate its CA did not sign: refused, nothing loaded
            other = PgServer(tls=True, start=False)
            try:
                d2 = self.sluice({"bad": {
                    "sink": "postgresql", "file.path": None, "pg.table": "clicks",
                    "buffer_interval": "100ms",
                    "pg.conninfo": pg.conninfo(sslmode="verify-full", sslrootcert=other.cert)}},
                    wait="listening")
                d2.send([b'{"n":1000}'], conns=1)
                wait_for(lambda: d2.http_get("/readyz")[0] == 503 and
                         "certificate" in d2.http_get("/readyz")[1], 30,
                         msg=lambda: "not ready, naming the certificate: %r"
                         % (d2.http_get("/readyz"),))
                self.assertEqual(pg.scalar("SELECT count(*) FROM clicks"), "50")
            finally:
                other.cleanup()
        finally:
            pg.cleanup()


class CommitCutProxy:
    """A TCP relay to the server that, once, lets a COMMIT through, reads
    the server's answer and throws it away, then closes both sides: the
    commit happened, the client never hears of it."""
    COMMIT = b"Q\x00\x00\x00\x0bCOMMIT\x00"

    def __init__(self, port):
        self.port, self.target = free_port(), port
        self.cut = threading.Event()
        self.ls = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.target))
            drop = threading.Event()       # this connection's COMMIT answer is to go
            threading.Thread(target=self.pipe, args=(c, s, drop, True), daemon=True).start()
            threading.Thread(target=self.pipe, args=(s, c, drop, False), daemon=True).start()

    def pipe(self, src, dst, drop, to_server):
        """Relays src to dst. Toward the server, the first COMMIT seen arms
        <drop>; from the server, what comes once it is armed (the COMMIT's
        answer) is thrown away and both sides are closed."""
        try:
            while True:
                data = src.recv(65536)
                if not data or (not to_server and drop.is_set()):
                    break
                if to_server and self.COMMIT in data and not self.cut.is_set():
                    self.cut.set()
                    drop.set()
                    dst.sendall(data)
                    return                     # the other direction closes
                dst.sendall(data)
        except OSError:
            pass
        for x in (src, dst):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            x.close()

    def close(self):
        self.ls.close()


class CommitLostTest(PgTestCase):

    def test_commit_answer_lost_looked_up_loaded_once(self):
        """The connection is cut after the server committed a load, before
        sluice read the answer: sluice looks the load id up on a fresh
        connection, finds it, and delivers; nothing is loaded twice."""
        self.pg.psql("CREATE TABLE clicks (data jsonb NOT NULL)")
        proxy = CommitCutProxy(self.pg.port)
        self.addCleanup(proxy.close)
        d = self.sluice({"cl": self.stream(**{"pg.conninfo": self.pg.conninfo(
            port=proxy.port)})})
        recs = json_records(500, tag="cl")
        d.send(recs, conns=1, sname="cl")
        m = self.settle(d, "cl", 500)
        self.assertTrue(proxy.cut.is_set(), "no COMMIT went through the proxy")
        self.assertLoadedOnce("clicks", recs)
        self.assertEqual(m.sum("sluice_records_backed_up_total", stream="cl"), 0)
        self.assertEqual(m.get(EXISTING, stream="cl"), 0)
        self.assertIn("the connection was lost during COMMIT: it was committed", d.log())
        d.stop()


class CrashTest(PgTestCase):

    def test_kill_9_during_commit_disk_every_acked_record_once(self):
        """durability = disk: sluice is killed while a COMMIT is under way
        (a deferred trigger holds it); the server finishes it, so the
        replayed batch finds its load id there: counted existing, its rows
        not loaded twice."""
        self.pg.psql("CREATE TABLE clicks (data jsonb NOT NULL)")
        d = self.sluice({"kd": self.stream(durability="disk", buffer_size="64KiB",
                                           **{"wal.segment_size": "1MiB"})})
        # each load's COMMIT takes a while: a deferred trigger on its claim
        self.pg.psql("CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ "
                     "BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$")
        self.pg.psql("CREATE TABLE sluice_loads (load_id varchar(80) PRIMARY KEY, "
                     "stream varchar(128) NOT NULL, records bigint NOT NULL, "
                     "detail varchar(65535), loaded_at timestamp NOT NULL)")
        self.pg.psql("CREATE CONSTRAINT TRIGGER slow AFTER INSERT ON sluice_loads "
                     "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow()")

        def committing():
            return self.pg.scalar("SELECT count(*) FROM pg_stat_activity WHERE "
                                  "query = 'COMMIT' AND state = 'active'") != "0"
        p = Producers(d, "kd", threads=2, per_request=50, pause=0.02, limit=100000,
                      records=lambda t, seq, n: json_records(n, tag="k%d" % t, start=seq))
        p.start()
        try:
            wait_for(lambda: p.acked_count() >= 1000 and
                     int(self.pg.scalar("SELECT count(*) FROM clicks")) >= 300, 30,
                     msg=lambda: "load under way (%d acked)" % p.acked_count())
            wait_for(committing, 20, interval=0.01, msg="a COMMIT under way")
            d.kill()
        finally:
            p.stop()
        wait_for(lambda: not committing(), 10, msg="the COMMIT finished")
        self.pg.psql("DROP TRIGGER slow ON sluice_loads")
        self.assertEqual(p.problems, [])
        acked, sent = list(p.acked), list(p.sent)
        self.assertGreaterEqual(len(acked), 1000)
        d.start()

        def all_there():
            have = set(self.table_json("clicks"))
            return all(canon(r) in have for r in acked)
        wait_for(all_there, 60, msg="every acknowledged record loaded")
        m = d.wait_records("kd", settled=True, until=self.balanced("kd"), timeout=60)
        got = self.table_json("clicks")
        self.assertEqual(len(got), len(set(got)), "a record loaded twice")
        self.assertTrue(set(got) <= {canon(r) for r in sent}, "a row nobody sent")
        self.assertEqual(m.sum("sluice_records_backed_up_total", stream="kd"), 0)
        self.assertGreaterEqual(m.get(EXISTING, stream="kd"), 1,
                                "no replayed load met its earlier commit")
        d.stop()
