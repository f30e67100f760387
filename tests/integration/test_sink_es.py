"""
test_sink_es.py - sink = elasticsearch (issue 15) against the in-repo
`_bulk` double (es_server.py): every record indexed exactly once, read
back byte for byte, under injected item failures (429, 503: retried alone),
whole-request failures (503, 429, a timeout after the double indexed: the
retry meets 409s, counted as exists), a 413 (split in halves; a document
larger than the limit to backup), 401 (not ready, no tight loop, backup
after retry_duration), kill -9 under load with durability = disk. Type
conflicts and records that are not single-line JSON objects go to backup
with the sink's reasons under elasticsearch-failed/ (opensearch-failed/).
Index names per rotation; a reload changing es.index; gzip bodies;
es.document_id = none; es.max_bulk_size; Basic, ApiKey, SigV4 (es, aoss)
and HTTPS with es.tls_ca_file; a dead endpoint; readiness's GET /;
sluice replay of the envelopes. The balance law is checked at each scrape
taken.

Each test starts its own double(s) on free loopback ports (stopped in
tearDown) and its own daemon.
"""
import base64
import http.client
import json
import os
import subprocess
import time

from es_server import EsServer
from harness import BIN, SluiceTestCase, free_port, scaled, wait_for
from test_http import make_cert
from test_wal import Producers

ITEMS = "sluice_es_items_total"


def json_records(n, tag="r", start=0, **fields):
    """<n> distinct single-line JSON objects (bytes, no newline) of about
    60-110 bytes: {"n":i,"tag":TAG,"pad":...} plus <fields>."""
    out = []
    for i in range(start, start + n):
        doc = {"n": i, "tag": tag, "pad": "p" * (i * 7 % 50)}
        doc.update(fields)
        out.append(json.dumps(doc, separators=(",", ":")).encode())
    return out


def utc(fmt, t=None):
    return time.strftime(fmt, time.gmtime(time.time() if t is None else t))


def bulk_lines(srv):
    """What the sink sent, from the double's request log: one (action,
    metadata, source bytes) per document of every _bulk request that got
    as far as being decoded (whatever its answer)."""
    out = []
    for r in srv.requests():
        if not r["path"].endswith("/_bulk") or r.get("body") is None:
            continue
        lines = r["body"].split(b"\n")[:-1]
        for a, s in zip(lines[0::2], lines[1::2]):
            (action, meta), = json.loads(a).items()
            out.append((action, meta, s))
    return out


def ids_sent(srv):
    """{source: {(index, _id) it was sent with}} over every _bulk request."""
    out = {}
    for _, meta, src in bulk_lines(srv):
        out.setdefault(src, set()).add((meta.get("_index"), meta.get("_id")))
    return out


def all_sources(srv):
    """Every document's source in the double's store, all indices."""
    return [src for docs in srv.store().values() for src in docs.values()]


class EsTestCase(SluiceTestCase):

    def setUp(self):
        super().setUp()
        self._servers = []

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            for s in self._servers:
                s.stop()

    def es(self, **kw):
        srv = EsServer(**kw)
        self._servers.append(srv)
        return srv

    @staticmethod
    def stream(srv, index="clicks", **keys):
        conf = {"sink": "elasticsearch", "file.path": None, "es.endpoint": srv.endpoint,
                "es.index": index, "buffer_interval": "100ms", "retry_duration": "30s"}
        conf.update(keys)
        return conf

    def scrape(self, d, sname):
        """One scrape; the balance law must hold in it."""
        m = d.metrics()
        self.assertBalanced(m, sname)
        return m

    def assertIndexedOnce(self, srv, recs, what="documents in the double"):
        """The store holds each of <recs> exactly once, byte for byte, and
        nothing else."""
        self.assertSameRecords(all_sources(srv), recs, what)

    def assertStableIds(self, srv, resent_at_least=1):
        """Every document the sink sent more than once went with the same
        index and _id each time, and at least <resent_at_least> were (a
        slow request enters the double's log once answered: polled)."""
        def resent():
            return len(bulk_lines(srv)) - len(ids_sent(srv))
        wait_for(lambda: resent() >= resent_at_least, 10,
                 msg=lambda: "%d documents sent again, not %d" % (resent(), resent_at_least))
        moved = {s: v for s, v in ids_sent(srv).items() if len(v) != 1}
        self.assertEqual(moved, {}, "documents sent under several ids")

    def write_secret(self, d, name, text):
        path = os.path.join(d.dir, name)
        with open(path, "w") as f:
            f.write(text + "\n")
        return path


# -- 1, 8: exactly once, byte for byte; index names ----------------------------

class IndexedOnceTest(EsTestCase):

    def test_every_record_indexed_once_byte_for_byte(self):
        day, bare = self.es(), self.es()
        t0 = time.time()
        d = self.sluice({"day": self.stream(day, "clicks"),
                         "bare": self.stream(bare, "plain", **{"es.index_rotation": "none",
                                                               "es.compression": "gzip"})})
        recs = json_records(2000, tag="day")
        brecs = json_records(500, tag="bare")
        d.send(recs, conns=4, sname="day")
        d.send(brecs, conns=2, sname="bare")
        m = self.settle(d, "day", 2000)
        m2 = self.settle(d, "bare", 500)
        t1 = time.time()
        for m_, s, n in ((m, "day", 2000), (m2, "bare", 500)):
            self.assertEqual(m_.get("sluice_records_delivered_total", stream=s,
                                    sink="elasticsearch"), n)
            self.assertEqual(m_.sum("sluice_records_backed_up_total", stream=s), 0)
            self.assertEqual(m_.get(ITEMS, stream=s, result="created"), n)
            self.assertEqual(m_.get(ITEMS, stream=s, result="exists"), 0)
            self.assertEqual(m_.get(ITEMS, stream=s, result="failed"), 0)
        self.assertIndexedOnce(day, recs)
        self.assertIndexedOnce(bare, brecs)
        # es.index_rotation = day (the default): today's UTC date
        names = {"clicks-" + utc("%Y-%m-%d", t0), "clicks-" + utc("%Y-%m-%d", t1)}
        self.assertTrue(set(day.indices()) <= names, (day.indices(), names))
        self.assertEqual(bare.indices(), ["plain"])
        # each document once: created, never a second attempt
        self.assertEqual(day.count_items("create", 201), 2000)
        self.assertEqual(day.count_items(), 2000)
        # stable ids: 20 characters of base64url, sent with create
        ids = [i for docs in day.store().values() for i in docs]
        self.assertTrue(all(len(i) == 20 and base64.urlsafe_b64decode(i) for i in ids), ids[:3])
        # the bodies as the API wants them
        for r in day.requests():
            if r["path"].endswith("_bulk"):
                self.assertEqual(r["headers"].get("Content-Type"), "application/x-ndjson")
                self.assertNotIn("Content-Encoding", r["headers"])
                self.assertIn("filter_path=", r["query"])
        # gzip: every _bulk to <bare> compressed on the wire, fewer bytes than decoded
        bulks = [r for r in bare.requests() if r["path"].endswith("_bulk")]
        self.assertTrue(bulks)
        for r in bulks:
            self.assertEqual(r["headers"].get("Content-Encoding"), "gzip")
        st = bare.stats()
        self.assertLess(st["bytes_received"], st["bytes_decoded"])
        d.stop()

    def test_index_names_per_rotation(self):
        srv = self.es()
        rot = {"hr": "hour", "dy": "day", "wk": "week", "mo": "month", "no": "none"}
        t0 = time.time()
        d = self.sluice({s: self.stream(srv, "ix" + s, **{"es.index_rotation": r})
                         for s, r in rot.items()})
        for s in rot:
            d.send(json_records(20, tag=s), conns=1, sname=s)
        for s in rot:
            self.settle(d, s, 20)
        t1 = time.time()
        fmt = {"hour": "-%Y-%m-%d-%H", "day": "-%Y-%m-%d", "week": "-%G-w%V",
               "month": "-%Y-%m", "none": ""}
        for s, r in rot.items():
            want = {"ix" + s + utc(fmt[r], t) for t in (t0, t1)}
            got = {ix for ix in srv.indices() if ix == "ix" + s or ix.startswith("ix" + s + "-")}
            self.assertTrue(got and got <= want, "rotation %s: %s, not %s" % (r, got, want))
            self.assertEqual(sum(len(srv.docs(ix)) for ix in got), 20)
        d.stop()

    def test_document_id_none_lets_the_cluster_assign_ids(self):
        srv = self.es()
        d = self.sluice({"ni": self.stream(srv, "noid", **{"es.document_id": "none"})})
        recs = json_records(300, tag="ni")
        d.send(recs, conns=2)
        m = self.settle(d, "ni", 300)
        self.assertEqual(m.get(ITEMS, stream="ni", result="created"), 300)
        # index, without _id: the double made each id
        self.assertEqual(srv.count_items("index", 201), 300)
        self.assertEqual(srv.count_items("create"), 0)
        sent = bulk_lines(srv)
        self.assertEqual(len(sent), 300)
        self.assertTrue(all(a == "index" and "_id" not in meta for a, meta, _ in sent))
        self.assertEqual(sum(len(v) for v in srv.store().values()), 300)
        self.assertIndexedOnce(srv, recs)
        d.stop()


# -- 2, 3: item and request failures -------------------------------------------

class FailuresTest(EsTestCase):

    def test_item_429_and_503_retried_alone(self):
        srv = self.es()
        recs = json_records(400, tag="it")
        m429 = [i for i in range(400) if i % 37 == 5]
        m503 = [i for i in range(400) if i % 41 == 9]
        for i in m429:
            recs[i] = recs[i][:-1] + b',"mk":"mk-four29"}'
        for i in m503:
            recs[i] = recs[i][:-1] + b',"mk":"mk-five03"}'
        srv.fail_items(429, count=len(m429), marker=b"mk-four29")
        srv.fail_items(503, count=len(m503), marker=b"mk-five03")
        d = self.sluice({"it": self.stream(srv, "items")})
        d.send(recs, conns=1)
        m = self.settle(d, "it", 400)
        self.assertEqual(m.get("sluice_records_delivered_total", stream="it",
                               sink="elasticsearch"), 400)
        self.assertEqual(m.sum("sluice_records_backed_up_total", stream="it"), 0)
        self.assertIndexedOnce(srv, recs)
        nfail = len(m429) + len(m503)
        self.assertEqual(srv.count_items("create", 429), len(m429))
        self.assertEqual(srv.count_items("create", 503), len(m503))
        # only the failed ones went again: no 409 for a record that was fine
        self.assertEqual(srv.count_items("create", 409), 0)
        self.assertEqual(srv.count_items("create", 201), 400)
        self.assertEqual(srv.count_items(), 400 + nfail)
        sent = bulk_lines(srv)
        twice = {s for _, _, s in sent if sum(1 for _, _, x in sent if x == s) > 1}
        self.assertEqual(twice, {recs[i] for i in m429 + m503})
        self.assertStableIds(srv, nfail)
        self.assertEqual(m.get(ITEMS, stream="it", result="retried"), nfail)
        self.assertEqual(m.get(ITEMS, stream="it", result="created"), 400)
        self.assertGreater(m.sum("sluice_delivery_retries_total", stream="it"), 0)
        d.stop()

    def test_whole_request_503_then_429_retried_once_each(self):
        srv = self.es()
        srv.fail_requests(503, count=1)
        srv.fail_requests(429, count=1)
        d = self.sluice({"rq": self.stream(srv, "reqs")})
        recs = json_records(600, tag="rq")
        d.send(recs, conns=1)
        m = self.settle(d, "rq", 600)
        self.assertIndexedOnce(srv, recs)
        self.assertEqual(srv.count_requests("_bulk", 503), 1)
        self.assertEqual(srv.count_requests("_bulk", 429), 1)
        # the refused requests indexed nothing: every document created once
        self.assertEqual(srv.count_items("create", 201), 600)
        self.assertEqual(srv.count_items("create", 409), 0)
        self.assertStableIds(srv, 2)           # the refused requests' documents, sent again
        self.assertEqual(m.get(ITEMS, stream="rq", result="created"), 600)
        self.assertGreater(m.get(ITEMS, stream="rq", result="retried"), 0)
        self.assertEqual(m.sum("sluice_records_backed_up_total", stream="rq"), 0)
        self.assertGreaterEqual(m.get("sluice_delivery_retries_total", stream="rq",
                                      sink="elasticsearch", cause="server_error"), 1)
        self.assertGreaterEqual(m.get("sluice_delivery_retries_total", stream="rq",
                                      sink="elasticsearch", cause="throttled"), 1)
        d.stop()

    def test_timeout_after_indexing_retry_meets_409_counted_as_exists(self):
        srv = self.es()
        srv.slow(2.5, count=1)                   # indexed first, answered after es.timeout
        d = self.sluice({"to": self.stream(srv, "slow", **{"es.timeout": "1s",
                                                           "buffer_interval": "200ms"})})
        recs = json_records(500, tag="to")
        d.send(recs, conns=1)
        m = self.settle(d, "to", 500, timeout=30)
        self.assertIndexedOnce(srv, recs)
        exists = m.get(ITEMS, stream="to", result="exists")
        self.assertGreater(exists, 0, "the retry of the timed-out request met no 409")
        # what the double answered 409 is what the sink counted as exists
        self.assertEqual(srv.count_items("create", 409), exists)
        self.assertStableIds(srv, exists)
        self.assertEqual(m.get(ITEMS, stream="to", result="created") + exists, 500)
        self.assertEqual(m.get(ITEMS, stream="to", result="failed"), 0)
        self.assertEqual(m.get("sluice_records_delivered_total", stream="to",
                               sink="elasticsearch"), 500)
        self.assertGreaterEqual(m.get("sluice_delivery_retries_total", stream="to",
                                      sink="elasticsearch", cause="timeout"), 1)
        d.stop()


# -- 4, 5: to backup -------------------------------------------------------------

def conflict_records():
    """(first, later, conflicting indices in later): <first> maps v as a
    long; in <later>, v = "not-a-number" on some records."""
    first = json_records(50, tag="cf", v=1)
    later = json_records(200, start=50, tag="cf", v=2)
    bad = [i for i in range(200) if i % 23 == 4]
    for i in bad:
        later[i] = later[i].replace(b'"v":2', b'"v":"not-a-number"')
    return first, later, bad


class BackupTest(EsTestCase):

    def conflict_run(self, flavor):
        srv = self.es(flavor=flavor)
        keys = {"es.flavor": flavor} if flavor == "opensearch" else {}
        d = self.sluice({"cf": self.stream(srv, "conflicts", **keys)})
        first, later, bad = conflict_records()
        d.send(first, conns=1)
        self.settle(d, "cf", 50)
        d.send(later, conns=1)
        m = self.settle(d, "cf", 250)
        return srv, d, m, first, later, bad

    def check_conflicts(self, srv, d, m, first, later, bad):
        badrecs = [later[i] for i in bad]
        good = first + [r for i, r in enumerate(later) if i not in bad]
        self.assertIndexedOnce(srv, good)
        self.assertEqual(m.get("sluice_records_backed_up_total", stream="cf",
                               reason="sink_failed"), len(bad))
        self.assertEqual(m.sum("sluice_records_backed_up_total", stream="cf"), len(bad))
        self.assertEqual(m.get(ITEMS, stream="cf", result="failed"), len(bad))
        self.assertEqual(m.get(ITEMS, stream="cf", result="created"), len(good))
        objects = d.read_envelopes(sname="cf")
        envs = [e for _, es in objects for e in es]
        self.assertSameRecords([e["raw"] for e in envs], badrecs, "records in the backup")
        return objects, envs

    def test_type_conflict_to_backup_and_nothing_else(self):
        srv, d, m, first, later, bad = self.conflict_run("elasticsearch")
        objects, envs = self.check_conflicts(srv, d, m, first, later, bad)
        for rel, _ in objects:
            self.assertTrue(rel.startswith("elasticsearch-failed/"), rel)
        for e in envs:
            self.assertEqual((e["stream"], e["sink"]), ("cf", "elasticsearch"))
            self.assertEqual(e["errorCode"], "document_parsing_exception")
            self.assertGreaterEqual(e["attemptsMade"], 1)
        # a permanent refusal is not retried: each conflicting record sent once
        self.assertEqual(srv.count_items("create", 400), len(bad))
        d.stop()

    def test_replay_sends_refused_documents_back(self):
        """sluice replay reads the Elasticsearch envelopes (their es* fields
        aside), picks them by errorCode, and sends the records again: here
        once the mapping problem is gone, into a fresh index of the same
        stream, where each is indexed once."""
        srv, d, m, first, later, bad = self.conflict_run("elasticsearch")
        badrecs = [later[i] for i in bad]
        root = d.backup_path("cf")
        with open(d.conf_path) as f:                  # a new index: no mapping yet
            text = f.read().replace("es.index = conflicts", "es.index = fixed")
        d.reload(text)
        out = subprocess.run([BIN, "replay", "--to", "tcp://127.0.0.1:%d" % d.port("cf"),
                              "--error-code", "document_parsing_exception", root],
                             capture_output=True, text=True, timeout=scaled(60))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("replayed %d records" % len(bad), out.stdout + out.stderr)
        self.settle(d, "cf", 250 + len(bad))
        fixed = [v for idx, docs in srv.store().items() if idx.startswith("fixed")
                 for v in docs.values()]
        self.assertSameRecords(fixed, [r.rstrip(b"\n") for r in badrecs], "replayed documents")
        d.stop()

    def assertEsEnvelopes(self, srv, envs, code):
        """Per-record errorCode <code> and Firehose's Elasticsearch fields
        esDocumentId, esIndexName, esTypeName before rawData, naming the
        document the sink sent."""
        sent = {s: (meta["_index"], meta.get("_id")) for _, meta, s in bulk_lines(srv)}
        for e in envs:
            self.assertEqual(e["errorCode"], code, e)
            keys = list(e)
            for k in ("esDocumentId", "esIndexName", "esTypeName"):
                self.assertIn(k, keys, "envelope without %s: %s" % (k, keys))
                self.assertLess(keys.index(k), keys.index("rawData"), keys)
            index, doc_id = sent[e["raw"]]
            self.assertEqual(e["esIndexName"], index)
            self.assertEqual(e["esDocumentId"], doc_id)
            self.assertIn(e["esTypeName"], ("", None))     # no es.type_name on 8.x

    def test_type_conflict_envelope_has_es_fields_and_error_type(self):
        # needs the engine's per-record error codes and envelope fields (issue 15 item 5)
        srv, d, m, first, later, bad = self.conflict_run("elasticsearch")
        _, envs = self.check_conflicts(srv, d, m, first, later, bad)
        self.assertEsEnvelopes(srv, envs, "document_parsing_exception")
        d.stop()

    def test_type_conflict_opensearch_to_opensearch_failed(self):
        # needs the engine's per-record error codes and output type (issue 15 item 5)
        srv, d, m, first, later, bad = self.conflict_run("opensearch")
        objects, envs = self.check_conflicts(srv, d, m, first, later, bad)
        for rel, _ in objects:
            self.assertTrue(rel.startswith("opensearch-failed/"), rel)
        self.assertEsEnvelopes(srv, envs, "mapper_parsing_exception")
        d.stop()

    NOT_OBJECTS = [b"plain text, not JSON", b"[1,2,3]", b'{"a":1}\n{"b":2}', b'"a string"',
                   b"42", b'{"a":1} trailing', b'{"a":1,\r"b":2}']

    def send_firehose(self, d, stream, recs):
        """One PutRecordBatch to http_listen (a record may hold a newline there)."""
        payload = json.dumps({"DeliveryStreamName": stream,
                              "Records": [{"Data": base64.b64encode(r).decode()}
                                          for r in recs]}).encode()
        c = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=scaled(10))
        try:
            c.request("POST", "/", body=payload,
                      headers={"Content-Type": "application/x-amz-json-1.1",
                               "X-Amz-Target": "Firehose_20150804.PutRecordBatch"})
            r = c.getresponse()
            body = json.loads(r.read())
        finally:
            c.close()
        self.assertEqual(r.status, 200, body)
        self.assertEqual(body.get("FailedPutCount"), 0, body)

    def invalid_run(self):
        srv = self.es()
        d = self.sluice({"ij": self.stream(srv, "mixed")})
        good = json_records(40, tag="ij")
        # a trailing newline is dropped, not an error
        good[3] = good[3] + b"\n"
        recs = good[:20] + self.NOT_OBJECTS + good[20:]
        self.send_firehose(d, "ij", recs)
        m = self.settle(d, "ij", len(recs))
        n = len(self.NOT_OBJECTS)
        self.assertIndexedOnce(srv, [g.rstrip(b"\n") for g in good])
        self.assertEqual(m.get("sluice_records_backed_up_total", stream="ij",
                               reason="sink_failed"), n)
        self.assertEqual(m.get("sluice_records_delivered_total", stream="ij",
                               sink="elasticsearch"), 40)
        self.assertEqual(m.get(ITEMS, stream="ij", result="failed"), n)
        self.assertEqual(m.get(ITEMS, stream="ij", result="created"), 40)
        # never sent: the double saw only the 40 objects
        self.assertEqual(srv.count_items(), 40)
        self.assertEqual(sorted(s for _, _, s in bulk_lines(srv)),
                         sorted(g.rstrip(b"\n") for g in good))
        objects = d.read_envelopes(sname="ij")
        envs = [e for _, es in objects for e in es]
        self.assertSameRecords([e["raw"] for e in envs], self.NOT_OBJECTS, "records in backup")
        for rel, _ in objects:
            self.assertTrue(rel.startswith("elasticsearch-failed/"), rel)
        return d, envs

    def test_records_not_json_objects_to_backup_rest_indexed(self):
        d, envs = self.invalid_run()
        for e in envs:
            self.assertEqual(e["errorCode"], "InvalidJSON")
        d.stop()

    def test_records_not_json_objects_error_code_invalid_json(self):
        # needs the engine's per-record error codes (issue 15 item 5)
        d, envs = self.invalid_run()
        for e in envs:
            self.assertEqual(e["errorCode"], "InvalidJSON", e)
        d.stop()


# -- 6: 413 ----------------------------------------------------------------------

class TooLargeTest(EsTestCase):

    def test_413_splits_and_a_document_over_the_limit_goes_to_backup(self):
        srv = self.es(max_content_length=6000)
        d = self.sluice({"big": self.stream(srv, "split", **{"buffer_interval": "200ms"})})
        recs = json_records(300, tag="big")
        huge = json.dumps({"n": -1, "tag": "huge", "pad": "h" * 7000}).encode()
        d.send(recs[:150] + [huge] + recs[150:], conns=1)
        m = self.settle(d, "big", 301)
        self.assertIndexedOnce(srv, recs)
        self.assertGreater(srv.count_requests("_bulk", 413), 1)
        self.assertGreater(srv.count_requests("_bulk", 200), 1)
        self.assertEqual(srv.count_items("create", 409), 0)
        self.assertEqual(srv.count_items("create", 201), 300)
        self.assertEqual(m.get("sluice_records_backed_up_total", stream="big",
                               reason="sink_failed"), 1)
        self.assertEqual(m.get(ITEMS, stream="big", result="failed"), 1)
        self.assertEqual(m.get(ITEMS, stream="big", result="created"), 300)
        envs = [e for _, es in d.read_envelopes(sname="big") for e in es]
        self.assertEqual([e["raw"] for e in envs], [huge])
        self.assertIn("413", envs[0]["errorMessage"])
        d.stop()


# -- 7: 401 ----------------------------------------------------------------------

class AuthTest(EsTestCase):

    def test_basic_auth_right_password_indexes(self):
        srv = self.es(auth=("basic", "sluice", "s3cret-pw"))
        d = self.sluice({"au": self.stream(srv, "auth")}, start=False)
        d.streams["au"].update({"es.auth": "basic", "es.username": "sluice",
                                "es.password_file": self.write_secret(d, "pw", "s3cret-pw")})
        d.start()
        recs = json_records(100, tag="au")
        d.send(recs, conns=1)
        self.settle(d, "au", 100)
        self.assertIndexedOnce(srv, recs)
        self.assertEqual(srv.count_requests(status=401), 0)
        want = "Basic " + base64.b64encode(b"sluice:s3cret-pw").decode()
        for r in srv.requests():
            self.assertEqual(r["headers"].get("Authorization"), want)
        self.assertNotIn("s3cret-pw", d.log())
        d.stop()

    def test_api_key_indexes(self):
        srv = self.es(auth=("apikey", "kid", "kvalue"))
        d = self.sluice({"ak": self.stream(srv, "auth")}, start=False)
        encoded = base64.b64encode(b"kid:kvalue").decode()
        d.streams["ak"].update({"es.auth": "apikey",
                                "es.api_key_file": self.write_secret(d, "key", encoded)})
        d.start()
        recs = json_records(100, tag="ak")
        d.send(recs, conns=1)
        self.settle(d, "ak", 100)
        self.assertIndexedOnce(srv, recs)
        self.assertEqual(srv.count_requests(status=401), 0)
        for r in srv.requests():
            self.assertEqual(r["headers"].get("Authorization"), "ApiKey " + encoded)
        self.assertNotIn(encoded, d.log())
        d.stop()

    def test_sigv4_signed_for_es_and_aoss(self):
        """Amazon OpenSearch Service (es) and Serverless (aoss): every
        request signed as the double's independent SigV4 check wants; a
        wrong secret is refused (403) and nothing is indexed."""
        for service in ("es", "aoss"):
            srv = self.es(flavor="opensearch",
                          auth=("sigv4", "AKIDSLUICE", "secret/key+1", "eu-west-1", service))
            d = self.sluice({"sv": self.stream(srv, "signed", **{"es.flavor": "opensearch"})},
                            start=False)
            creds = self.write_secret(d, "creds", "[default]\naws_access_key_id = AKIDSLUICE\n"
                                      "aws_secret_access_key = secret/key+1\n")
            d.streams["sv"].update({"es.auth": "sigv4", "es.region": "eu-west-1",
                                    "es.service": service, "es.credentials_file": creds})
            d.start()
            recs = json_records(100, tag="sv-" + service)
            d.send(recs, conns=1)
            self.settle(d, "sv", 100)
            self.assertIndexedOnce(srv, recs, "documents signed for " + service)
            self.assertEqual(srv.count_requests(status=403), 0)
            for r in srv.requests():
                self.assertIn("AWS4-HMAC-SHA256 Credential=AKIDSLUICE/",
                              r["headers"].get("Authorization", ""))
                self.assertIn("/eu-west-1/%s/aws4_request" % service,
                              r["headers"]["Authorization"])
            d.stop()
        # a wrong secret: refused by the check, nothing indexed
        srv = self.es(flavor="opensearch",
                      auth=("sigv4", "AKIDSLUICE", "the-real-one", "eu-west-1", "es"))
        d = self.sluice({"sw": self.stream(srv, "signed", retry_duration="1s",
                                           **{"es.flavor": "opensearch"})}, start=False)
        creds = self.write_secret(d, "creds", "[default]\naws_access_key_id = AKIDSLUICE\n"
                                  "aws_secret_access_key = not-it\n")
        d.streams["sw"].update({"es.auth": "sigv4", "es.region": "eu-west-1",
                                "es.credentials_file": creds})
        d.start(wait="listening")
        d.send(json_records(10, tag="sw"), conns=1)
        wait_for(lambda: srv.count_requests("_bulk", 403) >= 1, 10, msg="a _bulk refused")
        d.wait_records("sw", backed_up=10, reason="retries_exhausted", timeout=30)
        self.assertEqual(all_sources(srv), [])
        d.stop()

    def test_tls_verified_with_the_ca_file_and_refused_without(self):
        """https: with es.tls_ca_file naming the cluster's certificate every
        record is indexed; without it the certificate is not trusted (the
        check is on by default), nothing is indexed, and the records end in
        backup after retry_duration."""
        d = self.sluice({"tl": {}}, start=False)
        crt, key = make_cert(d.dir, "es")
        srv = self.es(tls=(crt, key))
        self.assertTrue(srv.endpoint.startswith("https://"))
        d.streams["tl"] = dict(d.streams["tl"], **self.stream(srv, "tls",
                                                            **{"es.tls_ca_file": crt}))
        d.start()
        recs = json_records(100, tag="tl")
        d.send(recs, conns=1)
        self.settle(d, "tl", 100)
        self.assertIndexedOnce(srv, recs)
        d.stop()
        d = self.sluice({"tn": self.stream(srv, "tls", retry_duration="1s")},
                        start=False)
        d.start(wait="listening")
        d.send(json_records(10, tag="tn"), conns=1)
        d.wait_records("tn", backed_up=10, reason="retries_exhausted", timeout=30)
        self.assertIndexedOnce(srv, recs, "documents: none from the untrusted run")
        self.assertRegex(d.log(), "(?i)certificate|SSL")
        d.stop()

    def test_401_not_ready_no_tight_loop_then_backup(self):
        srv = self.es(auth=("basic", "sluice", "s3cret-pw"))
        d = self.sluice({"ba": self.stream(srv, "auth", retry_duration="3s")}, start=False)
        d.streams["ba"].update({"es.auth": "basic", "es.username": "sluice",
                                "es.password_file": self.write_secret(d, "pw", "wrong-pw")})
        d.start(wait="listening")
        recs = json_records(50, tag="ba")
        t0 = time.monotonic()
        d.send(recs, conns=1)
        # a _bulk refused with 401 keeps the stream not ready
        wait_for(lambda: srv.count_requests("_bulk", 401) >= 1, 5, msg="a _bulk answered 401")

        def not_ready():
            status, body = d.http_get("/readyz")
            return status == 503 and "stream ba: sink elasticsearch" in body and "401" in body
        wait_for(not_ready, 5, msg=lambda: "/readyz not ready for 401: %r" % (d.http_get("/readyz"),))
        m = d.wait_records("ba", backed_up=50, reason="retries_exhausted", settled=50,
                           until=self.balanced("ba"), timeout=20)
        elapsed = time.monotonic() - t0
        self.assertEqual(srv.store(), {})
        self.assertEqual(srv.count_items(), 0)
        self.assertGreaterEqual(m.get("sluice_delivery_retries_total", stream="ba",
                                      sink="elasticsearch", cause="forbidden"), 1)
        # no tight loop: delivery.c's backoff waits d/2..d, d = 100 ms doubling,
        # so a batch's tries within retry_duration = 3s start at the earliest
        # at 0, 50, 150, 350, 750, 1550 ms and one at >= 3150 ms finds the time
        # up: at most 7 a batch (8 allowed), plus GET / probes (one at start,
        # then at most every 5 s)
        batches = m.sum("sluice_batches_sealed_total", stream="ba")
        self.assertGreaterEqual(batches, 1)
        nbulk, n = srv.count_requests("_bulk"), srv.count_requests()
        self.assertLessEqual(nbulk, 8 * batches, "%d _bulk requests for %d batches in %.1fs"
                             % (nbulk, batches, elapsed))
        self.assertLessEqual(n - nbulk, 3, "GET / probes")
        self.assertGreaterEqual(srv.count_requests("_bulk", 401), 2, "it did retry")
        # logged at error level once for the status, not once per attempt
        self.assertEqual(d.log().count("the cluster refuses _bulk requests"), 1, d.log_tail())
        self.assertNotIn("wrong-pw", d.log())
        envs = [e for _, es in d.read_envelopes(sname="ba") for e in es]
        self.assertSameRecords([e["raw"] for e in envs], recs, "records in backup")
        self.assertEqual(d.http_get("/readyz")[0], 503)
        d.stop()


# -- 9: kill -9 under load, durability = disk ------------------------------------

class ClusterTest(EsTestCase):

    def test_a_batch_over_max_bulk_size_goes_in_several_requests(self):
        """es.max_bulk_size (here its least, 1MiB): a batch of about 2 MB is
        sent as several _bulk bodies, none over the limit, every record
        indexed once."""
        srv = self.es()
        d = self.sluice({"mb": self.stream(srv, "big", buffer_interval="2s",
                                           **{"es.max_bulk_size": "1MiB"})})
        recs = json_records(6000, tag="mb", pad="x" * 300)
        d.send(recs, conns=1)
        m = self.settle(d, "mb", 6000)
        self.assertIndexedOnce(srv, recs)
        self.assertEqual(m.sum("sluice_batches_sealed_total", stream="mb"), 1,
                         "one batch, so the split is the sink's")
        bulks = [r for r in srv.requests() if r["path"].endswith("_bulk")]
        self.assertGreaterEqual(len(bulks), 2)
        for r in bulks:
            self.assertLessEqual(r["body_len"], 1 << 20)
        d.stop()

    def test_readiness_tells_flavor_and_version_and_a_mismatch(self):
        """/readyz asks the cluster (GET /) once nothing is known: a matching
        flavor is logged with its version; es.flavor naming the other one is
        an error line, and records still go through."""
        for flavor, other in (("elasticsearch", "opensearch"), ("opensearch", "elasticsearch")):
            srv = self.es(flavor=flavor)
            d = self.sluice({"fl": self.stream(srv, "flav", **{"es.flavor": flavor}),
                             "fm": self.stream(srv, "flav2", **{"es.flavor": other})})
            wait_for(lambda: srv.count_requests("/", 200) >= 2, 10, msg="GET / per stream")
            log = d.log()
            self.assertRegex(log, r'stream=fl sink=elasticsearch msg="cluster reached" '
                                  r'flavor=%s version=%s' % (flavor, srv.version))
            self.assertRegex(log, r'stream=fm .*es.flavor = %s, but the cluster says it is '
                                  r'(Elasticsearch|OpenSearch) %s' % (other, srv.version))
            recs = json_records(20, tag="fm-" + flavor)
            d.send(recs, sname="fm", conns=1)
            self.settle(d, "fm", 20)
            d.stop()

    def test_a_dead_endpoint_is_skipped(self):
        """es.endpoint lists a dead node first: every record still indexed
        once, through the live one."""
        srv = self.es()
        d = self.sluice({"ep": self.stream(srv, "nodes")}, start=False)
        d.streams["ep"]["es.endpoint"] = "http://127.0.0.1:%d,%s" % (free_port(), srv.endpoint)
        d.start(wait="listening")
        recs = json_records(500, tag="ep")
        for k in range(5):                       # several batches: both endpoints tried
            d.send(recs[k * 100:(k + 1) * 100], conns=1)
            self.settle(d, "ep", (k + 1) * 100, timeout=30)
        self.assertIndexedOnce(srv, recs)
        m = self.scrape(d, "ep")
        self.assertEqual(m.get(ITEMS, stream="ep", result="created"), 500)
        d.stop()


class CrashTest(EsTestCase):

    def test_kill_9_under_load_disk_no_record_missing_none_twice(self):
        srv = self.es()
        d = self.sluice({"kd": self.stream(srv, "crash", durability="disk",
                                           buffer_interval="100ms", buffer_size="64KiB",
                                           **{"wal.segment_size": "1MiB"})})
        p = Producers(d, "kd", threads=2, per_request=50, pause=0.05, limit=3000,
                      records=lambda t, seq, n: json_records(n, tag="k%d" % t, start=seq))
        p.start()
        try:
            wait_for(lambda: (self.scrape(d, "kd") and p.acked_count() >= 1500
                              and len(all_sources(srv)) >= 500), 20,
                     msg=lambda: "load under way (%d acked, %d indexed)"
                     % (p.acked_count(), len(all_sources(srv))))
            # requests from now on are indexed, then answered late: the kill
            # comes while some are indexed and not yet answered
            srv.slow(1.5)
            time.sleep(0.3)   # requests already past the slow check finish (not a sync)
            before = len(all_sources(srv))
            wait_for(lambda: len(all_sources(srv)) > before, 10,
                     msg="a request indexed and held by the slow rule")
            d.kill()
            srv.clear_faults()
        finally:
            p.stop()
        self.assertEqual(p.problems, [])
        acked, sent = list(p.acked), list(p.sent)
        self.assertGreaterEqual(len(acked), 1500)
        before_409 = srv.count_items("create", 409)
        d.start()

        def all_there():
            self.scrape(d, "kd")
            have = set(all_sources(srv))
            return all(r in have for r in acked)
        wait_for(all_there, 60, msg=lambda: "every acknowledged record indexed (%d of %d)"
                 % (len(set(all_sources(srv)) & set(acked)), len(acked)))
        m = d.wait_records("kd", settled=True, until=self.balanced("kd"), timeout=60)
        got = all_sources(srv)
        # none twice (the store holds each id once; no source under two ids)
        self.assertEqual(len(got), len(set(got)), "a record indexed twice")
        self.assertTrue(set(got) <= set(sent), "a document nobody sent")
        self.assertEqual(m.sum("sluice_records_backed_up_total", stream="kd"), 0)
        # what was indexed before the kill and replayed answers 409: exists
        exists = m.get(ITEMS, stream="kd", result="exists")
        self.assertEqual(srv.count_items("create", 409) - before_409, exists)
        self.assertGreater(exists, 0, "no replayed record met its earlier copy")
        # the log's sequence numbers: the same id before the kill and after
        self.assertStableIds(srv, exists)
        d.stop()


# -- 10: reload ------------------------------------------------------------------

class ReloadTest(EsTestCase):

    def test_reload_changing_index_sends_later_records_to_it(self):
        srv = self.es()
        d = self.sluice({"rl": self.stream(srv, "before", **{"es.index_rotation": "none"})})
        a = json_records(100, tag="a")
        d.send(a, conns=1)
        self.settle(d, "rl", 100)
        d.streams["rl"]["es.index"] = "after"
        d.reload()
        wait_for(lambda: d.metrics().get("sluice_config_reloads_total", result="success") == 1,
                 5, msg="reload counted as success")
        b = json_records(100, start=100, tag="b")
        d.send(b, conns=1)
        m = self.settle(d, "rl", 200)
        self.assertEqual(sorted(srv.indices()), ["after", "before"])
        self.assertSameRecords(list(srv.docs("before").values()), a, "index before")
        self.assertSameRecords(list(srv.docs("after").values()), b, "index after")
        self.assertEqual(m.get(ITEMS, stream="rl", result="created"), 200)
        d.stop()
