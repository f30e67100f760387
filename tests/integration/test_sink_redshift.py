"""
The Redshift sink against a real PostgreSQL behind the Redshift front
(tests/integration/redshift_front.py: PostgreSQL's protocol, COPY FROM S3
carried out as Redshift does, no unique keys enforced) and s3rver as the
staging bucket. Rows are read back with psql.

Covered: every record loaded once, objects and manifests where Firehose
puts them, the COPY's shape with its credentials never logged; a failed
COPY retried without a second upload; a bad row failing the COPY until
retry_duration, then the manifest under errors/manifests/, the records to
backup, stl_load_errors written; a COMMIT whose answer is lost, looked up;
kill -9 of sluice mid-COPY (rolled back, loaded once after the restart)
and after COMMIT (the replay finds its load id); a missing table: not
ready, logged once, loaded once the table exists.
"""
import json
import re
import time

from harness import SluiceTestCase, wait_for
from pg_server import WithPg
from redshift_front import RedshiftFront
from s3 import WithS3rver

SECRET = "wJalrXUtnFEMIbPxRfiCYEXAMPLEKEY"
CREDENTIALS = "aws_access_key_id=AKIAEXAMPLE;aws_secret_access_key=" + SECRET


def json_records(n, tag="r", start=0):
    """<n> distinct single-line JSON objects with fields n, tag, pad."""
    return [json.dumps({"n": i, "tag": tag, "pad": "p" * (i % 40)},
                       separators=(",", ":")).encode() for i in range(start, start + n)]


class RedshiftTestCase(WithPg, WithS3rver, SluiceTestCase):

    def setUp(self):
        super().setUp()
        self.pg.psql("CREATE TABLE clicks (n int NOT NULL, tag varchar(8), pad varchar(64))")
        self.front = RedshiftFront(self.pg, self.s3.endpoint)

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            self.front.stop()

    def stream(self, **keys):
        conf = self.s3.stream(**{"sink": "redshift",
                                 "redshift.conninfo": self.front.conninfo(),
                                 "redshift.table": "clicks",
                                 "redshift.credentials": CREDENTIALS, "compression": "gzip",
                                 "buffer_interval": "100ms", "retry_duration": "30s"})
        conf.update(keys)
        return conf

    def rows(self):
        """(count, distinct n) in the table."""
        c, d = self.pg.rows("SELECT count(*), count(DISTINCT n) FROM clicks")[0]
        return int(c), int(d)

    def manifests(self, prefix="manifests/"):
        """{manifest key: its JSON} under <prefix>."""
        return {k: json.loads(self.s3.get(k)) for k in self.s3.keys(prefix=prefix)}

    def assertLoadedOnce(self, n):
        self.assertEqual(self.rows(), (n, n), "every record in the table exactly once")

    def assertNoSecretLogged(self, d):
        self.assertNotIn(SECRET, d.log(), "the credentials reached the log")


class LoadTest(RedshiftTestCase):

    def test_records_loaded_once_manifests_where_firehose_puts_them(self):
        d = self.sluice({"rs": self.stream()})
        recs = json_records(3000)
        for i in range(0, 3000, 1000):          # several batches
            d.send(recs[i:i + 1000], conns=4)
            d.wait_records("rs", delivered=i + 1000, timeout=30)
        self.assertLoadedOnce(3000)
        objects = [k for k in self.s3.keys() if not k.startswith("manifests/")]
        manifests = self.manifests()
        self.assertGreaterEqual(len(objects), 3)
        self.assertEqual(len(manifests), len(objects), "one manifest per object")
        for key in objects:
            self.assertRegex(key, r"^\d{4}/\d\d/\d\d/\d\d/rs-1-[-0-9]+-[0-9a-f-]{36}\.gz$")
            mkey = "manifests/" + key[:-len(".gz")]
            self.assertEqual(manifests[mkey], {"entries": [
                {"url": "s3://logs/" + key, "mandatory": True}]})
        copies = self.front.copies
        self.assertEqual(len(copies), len(objects), "one COPY per batch")
        for c in copies:
            self.assertEqual(c["outcome"], "loaded", c)
            self.assertRegex(c["sql"], r"^COPY \"clicks\" FROM 's3://logs/manifests/\d{4}/\d\d/"
                             r"\d\d/\d\d/rs-1-[^']+' CREDENTIALS '" + re.escape(CREDENTIALS) +
                             r"' MANIFEST JSON 'auto' GZIP$")
        # one load id per batch, written with the rows
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM sluice_loads WHERE stream = 'rs'"),
                         str(len(objects)))
        m = d.metrics()
        self.assertEqual(m.get("sluice_redshift_copies_total", stream="rs", result="ok"),
                         len(objects))
        self.assertEqual(m.get("sluice_redshift_rows_total", stream="rs", result="loaded"),
                         3000)
        self.assertEqual(m.get("sluice_redshift_manifests_total", stream="rs", kind="load"),
                         len(objects))
        self.assertEqual(m.get("sluice_redshift_copy_duration_seconds_count", stream="rs"),
                         len(objects))
        self.assertBalanced(m, "rs")
        self.assertNoSecretLogged(d)
        # Redshift's INFO notices go to the log at debug level, not to stderr
        self.assertNotIn("INFO:  Load into table", d.log())

    def test_columns_and_copy_options_reach_the_copy(self):
        self.pg.psql("ALTER TABLE clicks ADD COLUMN extra text")
        d = self.sluice({"rs": self.stream(**{
            "redshift.columns": "n, tag", "compression": "zstd",
            "redshift.copy_options": "JSON 'auto' ZSTD TRUNCATECOLUMNS"})})
        d.send(json_records(200, tag="a-very-long-tag"), conns=2)
        d.wait_records("rs", delivered=200, timeout=30)
        self.assertLoadedOnce(200)
        # the column list: pad not loaded; TRUNCATECOLUMNS cut the tag to 8
        self.assertEqual(self.pg.rows("SELECT count(pad), max(tag) FROM clicks"),
                         [["0", "a-very-l"]])
        self.assertIn('COPY "clicks" ("n", "tag") FROM', self.front.copies[0]["sql"])
        self.assertTrue(self.front.copies[0]["sql"].endswith(
            "MANIFEST JSON 'auto' ZSTD TRUNCATECOLUMNS"))
        self.assertTrue(all(k.endswith(".zst") for k in self.s3.keys()
                            if not k.startswith("manifests/")))


class FailureTest(RedshiftTestCase):

    def test_failed_copy_retried_without_a_second_upload(self):
        self.front.fail_copies(2, "internal")
        d = self.sluice({"rs": self.stream()})
        d.send(json_records(500), conns=2)
        m = d.wait_records("rs", delivered=500, timeout=60)
        self.assertLoadedOnce(500)
        outcomes = [c["outcome"] for c in self.front.copies]
        self.assertEqual(len(outcomes), 3, outcomes)
        self.assertEqual(outcomes[-1], "loaded")
        # every attempt named the same manifest: the object was staged once
        self.assertEqual(len({c["sql"] for c in self.front.copies}), 1)
        self.assertEqual(len(self.manifests()), 1)
        self.assertEqual(m.get("sluice_redshift_copies_total", stream="rs", result="error"), 2)
        self.assertEqual(m.get("sluice_redshift_manifests_total", stream="rs", kind="load"), 1)
        self.assertEqual(m.sum("sluice_delivery_retries_total", stream="rs"), 2)

    def test_bad_row_fails_copy_until_retry_duration_then_errors_manifest_and_backup(self):
        d = self.sluice({"rs": self.stream(retry_duration="3s")})
        recs = json_records(300)
        recs[150] = b'{"n":150,"tag":"far-too-long-for-eight","pad":""}'
        d.send(recs, conns=1)
        m = d.wait_records("rs", backed_up=300, settled=300, timeout=60)
        self.assertEqual(self.rows(), (0, 0), "a failed COPY loads nothing")
        copies = self.front.copies
        self.assertGreaterEqual(len(copies), 2, "retried before giving up")
        self.assertTrue(all(c["outcome"] == "failed" and c["sqlstate"] == "XX000"
                            for c in copies), copies)
        # Redshift's record of the bad row
        errs = self.front.load_errors()
        self.assertTrue(errs and all("far-too-long" in e["raw_field_value"] for e in errs), errs)
        # the manifest, kept for a backfill under errors/
        objects = [k for k in self.s3.keys() if not k.startswith(("manifests/", "errors/"))]
        self.assertEqual(len(objects), 1)
        name = objects[0].rsplit("/", 1)[1][:-len(".gz")]
        errs_m = self.manifests("errors/manifests/")
        self.assertEqual(len(errs_m), 1)
        (key, body), = errs_m.items()
        self.assertRegex(key, r"^errors/manifests/\d{4}/\d\d/\d\d/\d\d/" + re.escape(name) + "$")
        self.assertEqual(body["entries"][0]["url"], "s3://logs/" + objects[0])
        # the records in backup, with Redshift's words
        envs = [e for _, es in d.read_envelopes(sname="rs") for e in es]
        self.assertEqual(sorted(e["raw"] for e in envs), sorted(recs))
        self.assertEqual({e["errorCode"] for e in envs}, {"Redshift.RetriesExhausted"})
        self.assertIn("Load into table 'clicks' failed", envs[0]["errorMessage"])
        self.assertEqual(m.get("sluice_redshift_loads_failed_total", stream="rs"), 1)
        self.assertEqual(m.get("sluice_redshift_manifests_total", stream="rs", kind="error"), 1)
        self.assertEqual(m.get("sluice_redshift_rows_total", stream="rs", result="rejected"), 300)
        self.assertIn("manifest is kept for a backfill", d.log())
        self.assertNoSecretLogged(d)

    def test_key_a_copy_cannot_name_safely_goes_to_backup_not_into_sql(self):
        d = self.sluice({"rs": self.stream(**{
            "prefix": "c=!{partitionKeyFromQuery:c}/", "partition_keys": "c=.c",
            "error_prefix": "err/!{firehose:error-output-type}/"})})
        good = [b'{"n":1,"c":"plain"}', b'{"n":2,"c":"plain"}']
        bad = [b'{"n":3,"c":"x\'; DROP TABLE clicks; --"}', b'{"n":4,"c":"back\\\\slash"}']
        d.send(good + bad, conns=1)
        d.wait_records("rs", delivered=2, backed_up=2, settled=4, timeout=30)
        self.assertLoadedOnce(2)
        self.assertEqual(len(self.front.copies), 1, "no COPY named the bad keys")
        envs = [e for _, es in d.read_envelopes(sname="rs") for e in es]
        self.assertEqual(sorted(e["raw"] for e in envs), sorted(bad))
        self.assertEqual({e["errorCode"] for e in envs}, {"Redshift.Refused"})
        self.assertIn("quote or a backslash", envs[0]["errorMessage"])

    def test_missing_table_not_ready_logged_once_then_loads(self):
        self.pg.psql("DROP TABLE clicks")
        d = self.sluice({"rs": self.stream(retry_duration="120s")}, wait="listening")
        d.send(json_records(100), conns=1)

        def not_ready():
            status, body = d.http_get("/readyz")
            return status == 503 and "42P01" in body and body
        wait_for(not_ready, 30, msg=lambda: "readyz says the table is missing: %r"
                 % (d.http_get("/readyz"),))
        wait_for(lambda: len(self.front.copies) >= 2, 30, msg="the COPY retried")
        self.assertEqual(d.log().count("Redshift refuses the load"), 1, "logged once")
        self.pg.psql("CREATE TABLE clicks (n int NOT NULL, tag varchar(8), pad varchar(64))")
        d.wait_records("rs", delivered=100, timeout=60)
        self.assertLoadedOnce(100)
        wait_for(lambda: d.http_get("/readyz")[0] == 200, 30, msg="ready again")


class CrashTest(RedshiftTestCase):

    def test_lost_commit_answer_looked_up_not_loaded_twice(self):
        self.front.drop_after_commit(1)
        d = self.sluice({"rs": self.stream()})
        d.send(json_records(400), conns=2)
        m = d.wait_records("rs", delivered=400, timeout=60)
        self.assertLoadedOnce(400)
        self.assertTrue(self.front.copies[0].get("commit", "").startswith("dropped"),
                        self.front.copies)
        self.assertEqual(len(self.front.copies), 1, "the lookup found the load: no second COPY")
        self.assertEqual(m.sum("sluice_delivery_retries_total", stream="rs"), 0)

    def test_kill_9_mid_copy_rolled_back_then_loaded_once(self):
        self.front.hold_copies(60)
        d = self.sluice({"rs": self.stream(durability="disk")})
        d.send(json_records(600), conns=2)
        self.assertTrue(self.front.wait_held(30), "a COPY in progress")
        d.kill()
        wait_for(lambda: self.front.copies[0]["outcome"] == "client-gone", 30,
                 msg="the front saw sluice go")
        self.front.clear_faults()
        self.assertEqual(self.rows(), (0, 0), "the interrupted COPY was rolled back")
        d.start()
        d.wait_records("rs", delivered=600, timeout=60)
        self.assertLoadedOnce(600)
        self.assertNoSecretLogged(d)

    def test_kill_9_after_commit_replay_finds_its_load_id(self):
        self.front.drop_after_commit(1, hold=60)
        d = self.sluice({"rs": self.stream(durability="disk")})
        d.send(json_records(600), conns=2)
        self.assertTrue(self.front.wait_held(30), "a COMMIT done, its answer held")
        d.kill()
        self.front.clear_faults()
        self.assertLoadedOnce(600)             # committed before the kill
        d.start()
        m = d.wait_records("rs", delivered=600, settled=True, timeout=60)
        self.assertLoadedOnce(600)             # and not again after the replay
        self.assertGreaterEqual(
            m.get("sluice_redshift_copies_total", stream="rs", result="existing"), 1)
        self.assertEqual(m.get("sluice_redshift_copies_total", stream="rs", result="ok"), 0)
        self.assertEqual(len(self.front.copies), 1, "no second COPY of the batch")
