"""
test_es_server.py - the Elasticsearch / OpenSearch double itself
(es_server.py), driven with urllib and no sluice: the banner per flavor,
create / index / 409, the NDJSON rules (final newline, `_type`, malformed
action lines, Content-Type), gzip bodies, dynamic mapping conflicts,
injected item and request faults, the size limit, slow answers,
filter_path keeping items aligned, Basic / ApiKey / SigV4 accepted and
refused (SigV4 signed by botocore), read-back, counters and the HTTP
control endpoint. Each test starts its own server on a free loopback port.
"""
import base64
import gzip
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from es_server import EsServer, apply_filter_path, sigv4_refusal

ND = {"Content-Type": "application/x-ndjson"}
KEEP_ALIGNED = "filter_path=errors,items.*.status,items.*.error.type,items.*.error.reason"


def ndjson(*pairs):
    """Action/source pairs (dicts or raw bytes) as a bulk body."""
    out = b""
    for p in pairs:
        out += (p if isinstance(p, bytes) else json.dumps(p).encode()) + b"\n"
    return out


def create(index, doc_id, src):
    meta = {"_index": index}
    if doc_id is not None:
        meta["_id"] = doc_id
    return [{"create": meta}, src]


class EsServerCase(unittest.TestCase):
    flavor = "elasticsearch"

    def setUp(self):
        self.es = EsServer(flavor=self.flavor)

    def tearDown(self):
        self.es.stop()

    def call(self, method, path, body=None, headers=None, timeout=5):
        """(status, headers, body bytes); JSON bodies also as self.last."""
        r = urllib.request.Request(self.es.endpoint + path, data=body, method=method,
                                   headers=headers or {})
        try:
            with urllib.request.urlopen(r, timeout=timeout) as f:
                st, h, b = f.status, f.headers, f.read()
        except urllib.error.HTTPError as e:
            st, h, b = e.code, e.headers, e.read()
        try:
            self.last = json.loads(b) if b else None
        except ValueError:
            self.last = None
        return st, h, b

    def bulk(self, body, path="/_bulk", headers=None, **kw):
        """(status, parsed answer)."""
        st, _, _ = self.call("POST", path, body, dict(ND, **(headers or {})), **kw)
        return st, self.last

    def statuses(self, answer):
        return [next(iter(it.values()))["status"] for it in answer["items"]]


class BulkTest(EsServerCase):

    def test_banner_elasticsearch(self):
        st, h, _ = self.call("GET", "/")
        self.assertEqual(st, 200)
        self.assertEqual(h["X-Elastic-Product"], "Elasticsearch")
        self.assertTrue(self.last["version"]["number"].startswith("8."))
        self.assertNotIn("distribution", self.last["version"])
        self.assertEqual(self.last["tagline"], "You Know, for Search")
        st, h, b = self.call("HEAD", "/")
        self.assertEqual((st, b), (200, b""))

    def test_create_index_and_conflict(self):
        body = ndjson(*create("logs", "a", {"n": 1}),
                      *create("logs", "a", {"n": 2}),
                      {"index": {"_index": "logs", "_id": "b"}}, {"n": 3},
                      {"index": {"_index": "logs", "_id": "b"}}, {"n": 4},
                      {"index": {"_index": "logs"}}, {"n": 5})
        st, a = self.bulk(body)
        self.assertEqual(st, 200)
        self.assertTrue(a["errors"])
        self.assertEqual(self.statuses(a), [201, 409, 201, 200, 201])
        self.assertEqual([list(it)[0] for it in a["items"]],
                         ["create", "create", "index", "index", "index"])
        c = a["items"][1]["create"]
        self.assertEqual(c["error"]["type"], "version_conflict_engine_exception")
        self.assertIn("document already exists (current version [1])", c["error"]["reason"])
        self.assertEqual([a["items"][i][k]["result"] for i, k in ((0, "create"), (2, "index"),
                                                                   (3, "index"))],
                         ["created", "created", "updated"])
        self.assertEqual(a["items"][3]["index"]["_version"], 2)
        auto = a["items"][4]["index"]["_id"]
        self.assertEqual(len(auto), 20)
        docs = self.es.docs("logs")
        self.assertEqual(docs, {"a": b'{"n": 1}', "b": b'{"n": 4}', auto: b'{"n": 5}'})
        self.assertEqual(self.es.count_items("create", 409), 1)
        self.assertEqual(self.es.count_items("index"), 3)
        # the index in the URL is the default for lines without one
        st, a = self.bulk(ndjson({"create": {"_id": "c"}}, {"n": 6}), path="/other/_bulk")
        self.assertEqual((st, self.statuses(a)), (200, [201]))
        self.assertEqual(self.es.doc("other", "c"), b'{"n": 6}')
        self.assertEqual(self.es.count_requests("_bulk", 200), 2)
        self.assertEqual(self.es.count_requests("/{index}/_bulk"), 1)

    def test_sources_kept_byte_for_byte_and_crlf(self):
        raw = b'{ "b":"\\u00e9",  "a" : [1, 2.50] }'
        body = b'{"create":{"_index":"x","_id":"1"}}\r\n' + raw + b"\r\n"
        st, a = self.bulk(body)
        self.assertEqual((st, self.statuses(a)), (200, [201]))
        self.assertEqual(self.es.store(), {"x": {"1": raw}})
        st, _, b = self.call("GET", "/x/_doc/1")
        self.assertEqual(st, 200)
        self.assertIn(b'"_source":' + raw + b"}", b)

    def test_final_newline_required(self):
        st, a = self.bulk(ndjson(*create("logs", "a", {"n": 1}))[:-1])
        self.assertEqual(st, 400)
        self.assertEqual(a["error"]["type"], "illegal_argument_exception")
        self.assertEqual(a["error"]["reason"],
                         "The bulk request must be terminated by a newline [\\n]")
        self.assertEqual(a["status"], 400)
        self.assertEqual(self.es.store(), {})

    def test_type_refused_whole_request(self):
        body = ndjson(*create("logs", "a", {"n": 1}),
                      {"index": {"_index": "logs", "_type": "_doc", "_id": "b"}}, {"n": 2})
        st, a = self.bulk(body)
        self.assertEqual(st, 400)
        self.assertEqual(a["error"]["type"], "illegal_argument_exception")
        self.assertEqual(a["error"]["reason"],
                         "Action/metadata line [3] contains an unknown parameter [_type]")
        self.assertEqual(self.es.store(), {}, "nothing of a refused request is indexed")

    def test_type_accepted_by_es7(self):
        with EsServer(version="7.17.22") as es7:
            r = urllib.request.Request(es7.endpoint + "/_bulk", method="POST", headers=ND,
                                       data=ndjson({"index": {"_index": "l", "_type": "_doc"}},
                                                   {"n": 1}))
            with urllib.request.urlopen(r, timeout=5) as f:
                item = json.loads(f.read())["items"][0]["index"]
            self.assertEqual((item["status"], item["_type"]), (201, "_doc"))

    def test_malformed_action_lines(self):
        cases = [(b'{"create":{"_index":"l"\n{}\n', "x_content_parse_exception", "[1:"),
                 (b'{"upsert":{"_index":"l"}}\n{}\n', "illegal_argument_exception",
                  "expected one of [create, delete, index, update] but found [upsert]"),
                 (b'{"create":"l"}\n{}\n', "illegal_argument_exception",
                  "line [3], expected START_OBJECT but found [VALUE_STRING]"),
                 (b'{"create":{},"index":{}}\n{}\n', "illegal_argument_exception", "line [3]"),
                 (b'{"create":{"_id":"1"}}\n{}\n', "action_request_validation_exception",
                  "index is missing"),
                 (b'{"create":{"_index":"l","_id":""}}\n{}\n',
                  "action_request_validation_exception", "must not be empty"),
                 (b'{"create":{"_index":"l","_id":"' + b"x" * 513 + b'"}}\n{}\n',
                  "action_request_validation_exception", "is too long"),
                 (b'{"index":{"_index":"l"}}\n', "action_request_validation_exception",
                  "source is missing"),
                 (b'{"update":{"_index":"l","_id":"ok"}}\n{"doc":{}}\n',
                  "illegal_argument_exception", "not implemented")]
        for body, etype, reason in cases:
            st, a = self.bulk(ndjson(*create("l", "ok", {"n": 1})) + body)
            self.assertEqual(st, 400, body)
            self.assertEqual(a["error"]["type"], etype, body)
            self.assertIn(reason, a["error"]["reason"], body)
            self.assertEqual(a["error"]["root_cause"][0]["type"], etype)
        st, a = self.bulk(b"\n\n")
        self.assertEqual((st, a["error"]["reason"]),
                         (400, "Validation Failed: 1: no requests added;"))
        self.assertEqual(self.es.store(), {})
        self.assertEqual(self.es.count_requests("_bulk", 400), len(cases) + 1)

    def test_content_type(self):
        body = ndjson(*create("l", "1", {"n": 1}))
        st, _, _ = self.call("POST", "/_bulk", body, {"Content-Type": "text/plain"})
        self.assertEqual(st, 406)
        self.assertEqual(self.last, {"error": "Content-Type header [text/plain] is not supported",
                                     "status": 406})
        st, _ = self.bulk(body, headers={"Content-Type": "application/json"})
        self.assertEqual(st, 200)

    def test_gzip_body(self):
        plain = ndjson(*create("z", "1", {"n": 1}), *create("z", "2", {"n": 2}))
        st, a = self.bulk(gzip.compress(plain), headers={"Content-Encoding": "gzip"})
        self.assertEqual((st, self.statuses(a)), (200, [201, 201]))
        self.assertEqual(self.es.docs("z"), {"1": b'{"n": 1}', "2": b'{"n": 2}'})
        s = self.es.stats()
        self.assertEqual(s["bytes_decoded"], len(plain))
        self.assertEqual(s["bytes_received"], len(gzip.compress(plain)))
        st, a = self.bulk(b"\x1f\x8bnot gzip", headers={"Content-Encoding": "gzip"})
        self.assertEqual(st, 400)

    def test_chunked_body_on_a_kept_alive_connection(self):
        c = http.client.HTTPConnection("127.0.0.1", self.es.port, timeout=5)
        for i in range(2):
            body = ndjson(*create("k", str(i), {"n": i}))
            c.request("POST", "/_bulk", body=iter([body[:7], body[7:]]), headers=ND,
                      encode_chunked=True)
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(self.statuses(json.loads(r.read())), [201])
        c.close()
        self.assertEqual(sorted(self.es.docs("k")), ["0", "1"])

    def test_mapping_conflicts(self):
        body = ndjson(*create("m", "1", {"n": 1, "s": "x", "o": {"k": 1}, "b": True}),
                      *create("m", "2", {"n": "not a number"}),   # long: fails
                      *create("m", "3", {"n": "12"}),             # coerced
                      *create("m", "4", {"s": 5}),                # text takes a number
                      *create("m", "5", {"o": "flat"}),           # object given a value
                      *create("m", "6", {"s": {"k": 1}}),         # text given an object
                      *create("m", "7", {"o": {"k": "x"}}),       # o.k is long
                      *create("m", "8", {"b": "yes"}),            # boolean
                      *create("m", "9", {"n": [1, 2], "new": None}))
        st, a = self.bulk(body)
        self.assertEqual(st, 200)
        self.assertEqual(self.statuses(a), [201, 400, 201, 201, 400, 400, 400, 400, 201])
        errs = [next(iter(it.values())).get("error") for it in a["items"]]
        self.assertEqual({e["type"] for e in errs if e}, {"document_parsing_exception"})
        self.assertIn("failed to parse field [n] of type [long]", errs[1]["reason"])
        self.assertIn("object mapping for [o] tried to parse field [o] as object",
                      errs[4]["reason"])
        self.assertIn("[o.k] of type [long]", errs[6]["reason"])
        self.assertEqual(sorted(self.es.docs("m")), ["1", "3", "4", "9"])
        self.assertEqual(self.es.mappings("m"), {"n": "long", "s": "text", "o": "object",
                                                 "o.k": "long", "b": "boolean"})

    def test_mapping_strict_mode(self):
        self.es.stop()
        self.es = EsServer(mapping="strict")
        st, a = self.bulk(ndjson(*create("m", "1", {"s": "x"}), *create("m", "2", {"s": 1}),
                                 *create("m", "3", {"f": 1}), *create("m", "4", {"f": 1.5})))
        self.assertEqual(self.statuses(a), [201, 400, 201, 201])

    def test_source_not_an_object(self):
        body = ndjson({"create": {"_index": "p", "_id": "1"}}, b"not json",
                      {"create": {"_index": "p", "_id": "2"}}, b"[1,2]",
                      {"create": {"_index": "p", "_id": "3"}}, b'{"a":1,"a":2}',
                      {"create": {"_index": "p", "_id": "4"}}, b'{"a":1} trailing',
                      {"create": {"_index": "p", "_id": "5"}}, b'{"a":1}',
                      {"create": {"_index": "Upper", "_id": "6"}}, b'{"a":1}')
        st, a = self.bulk(body)
        self.assertEqual(self.statuses(a), [400, 400, 400, 400, 201, 400])
        types = [next(iter(it.values())).get("error", {}).get("type") for it in a["items"]]
        self.assertEqual(types, ["document_parsing_exception"] * 4 +
                         [None, "invalid_index_name_exception"])
        self.assertIn("failed to parse", a["items"][1]["create"]["error"]["reason"])
        self.assertEqual(self.es.indices(), ["p"])


class FaultTest(EsServerCase):

    def test_item_faults_next_n_and_marker(self):
        self.es.fail_items(429, count=2)
        self.es.fail_items(503, marker=b"SICK")
        docs = [create("f", str(i), {"i": i, "tag": "SICK" if i in (4, 5) else "ok"})
                for i in range(7)]
        st, a = self.bulk(ndjson(*[x for d in docs for x in d]))
        self.assertEqual(st, 200)
        self.assertEqual(self.statuses(a), [429, 429, 201, 201, 503, 503, 201])
        self.assertEqual(a["items"][0]["create"]["error"]["type"],
                         "es_rejected_execution_exception")
        self.assertEqual(a["items"][4]["create"]["error"]["type"],
                         "unavailable_shards_exception")
        self.assertEqual(sorted(self.es.docs("f")), ["2", "3", "6"])
        # the 429s are spent, the marker rule is not: a retry of the same items
        st, a = self.bulk(ndjson(*[x for d in docs for x in d]))
        self.assertEqual(self.statuses(a), [201, 201, 409, 409, 503, 503, 409])
        self.es.clear_faults()
        st, a = self.bulk(ndjson(*docs[4], *docs[5]))
        self.assertEqual(self.statuses(a), [201, 201])
        self.assertEqual(self.es.count_items(status=429), 2)
        self.assertEqual(self.es.count_items(status=503), 4)

    def test_concurrent_requests_share_the_faults(self):
        self.es.fail_items(429, count=25)
        results = [None] * 8

        def send(t):
            body = ndjson(*[x for i in range(20) for x in create("cc", "%d-%d" % (t, i), {"i": i})])
            results[t] = self.bulk(body)[1]
        threads = [threading.Thread(target=send, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(10)
        got = [s for a in results for s in self.statuses(a)]
        self.assertEqual((got.count(429), got.count(201)), (25, 135))
        self.assertEqual(len(self.es.docs("cc")), 135)
        self.assertEqual(self.es.count_requests("_bulk", 200), 8)

    def test_injected_item_400_and_custom_type(self):
        self.es.fail_items(400, marker="BAD", count=1)
        self.es.fail_items(403, marker="RO")
        self.es.fail_items(500, marker="BOOM", type="illegal_state_exception", reason="boom")
        st, a = self.bulk(ndjson(*create("f", "1", {"v": "BAD"}), *create("f", "2", {"v": "RO"}),
                                 *create("f", "3", {"v": "BAD"}), *create("f", "4", {"v": "BOOM"})))
        self.assertEqual(self.statuses(a), [400, 403, 201, 500])
        self.assertEqual(a["items"][3]["create"]["error"],
                         {"type": "illegal_state_exception", "reason": "boom",
                          "index_uuid": a["items"][3]["create"]["error"]["index_uuid"],
                          "shard": "0", "index": "f"})
        self.assertEqual(a["items"][0]["create"]["error"]["type"], "document_parsing_exception")
        self.assertEqual(a["items"][1]["create"]["error"]["type"], "cluster_block_exception")

    def test_request_faults(self):
        body = ndjson(*create("r", "1", {"n": 1}))
        self.es.fail_requests(429, count=1)
        self.es.fail_requests(503, count=2)
        self.es.fail_requests(413, count=1)
        got = []
        for _ in range(5):
            st, a = self.bulk(body)
            got.append(st)
            if st == 429:
                self.assertEqual(a["error"]["type"], "es_rejected_execution_exception")
                self.assertEqual(a["status"], 429)
            if st == 503:
                self.assertEqual(a["status"], 503)
        self.assertEqual(got, [429, 503, 503, 413, 200])
        self.assertEqual(self.es.docs("r"), {"1": b'{"n": 1}'})
        self.assertEqual(self.es.count_requests("_bulk", 503), 2)
        # other paths are not hit by a _bulk fault
        self.es.fail_requests(503, count=1)
        self.assertEqual(self.call("GET", "/")[0], 200)
        self.assertEqual(self.bulk(body)[0], 503)

    def test_size_limit_413(self):
        self.es.max_content_length = 200
        small = ndjson(*create("s", "1", {"n": 1}))
        big = ndjson(*[x for i in range(10) for x in create("s", str(i + 2), {"pad": "x" * 50})])
        st, _, b = self.call("POST", "/_bulk", big, ND)
        self.assertEqual((st, b), (413, b""))
        self.assertEqual(self.bulk(small)[0], 200)
        # gzip gets the same documents under the limit (the limit is on the wire size)
        st, a = self.bulk(gzip.compress(big), headers={"Content-Encoding": "gzip"})
        self.assertEqual((st, len(a["items"])), (200, 10))
        self.assertEqual(self.es.count_requests("_bulk", 413), 1)

    def test_size_limit_413_opensearch_and_expect_continue(self):
        self.es.stop()
        self.es = EsServer(flavor="opensearch", max_content_length=100)
        big = ndjson(*[x for i in range(10) for x in create("s", str(i), {"pad": "x" * 50})])
        st, _, _ = self.call("POST", "/_bulk", big, ND)
        self.assertEqual(st, 413)
        self.assertEqual(self.last, {"Message": "Request size exceeded 100 bytes"})
        # Expect: 100-continue over the limit: answered before the body is sent
        s = socket.create_connection(("127.0.0.1", self.es.port), timeout=5)
        s.sendall(b"POST /_bulk HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
                  b"Content-Length: 100000\r\nExpect: 100-continue\r\n\r\n")
        self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 413"))
        s.close()

    def test_slow_answer_after_indexing(self):
        self.es.slow(0.5, count=1)
        body = ndjson(*create("w", "1", {"n": 1}))
        t0 = time.monotonic()
        with self.assertRaises(OSError):            # socket.timeout / URLError
            self.call("POST", "/_bulk", body, ND, timeout=0.2)
        # the cluster went on indexing: a retry meets a 409
        time.sleep(0.4)
        st, a = self.bulk(body)
        self.assertEqual(self.statuses(a), [409])
        self.assertLess(time.monotonic() - t0, 0.9 + 0.5)

    def test_control_endpoint(self):
        spec = {"items": [{"status": 429, "count": 1}], "requests": [{"status": 503}],
                "max_content_length": 1 << 20, "slow": {"seconds": 0.01, "count": 1}}
        st, _, _ = self.call("POST", "/_test/faults", json.dumps(spec).encode(),
                             {"Content-Type": "application/json"})
        self.assertEqual(st, 200)
        body = ndjson(*create("c", "1", {"n": 1}), *create("c", "2", {"n": 2}))
        self.assertEqual(self.bulk(body)[0], 503)
        st, a = self.bulk(body)
        self.assertEqual(self.statuses(a), [429, 201])
        st, _, _ = self.call("GET", "/_test/stats")
        self.assertEqual(self.last["items"], {"create 429": 1, "create 201": 1})
        self.assertEqual(self.last["requests"], {"/_bulk 503": 1, "/_bulk 200": 1})
        st, _, _ = self.call("GET", "/_test/store")
        self.assertEqual(self.last, {"c": {"2": '{"n": 2}'}})
        self.call("POST", "/_test/auth", json.dumps({"mode": "basic", "user": "u",
                                                     "password": "p"}).encode())
        self.assertEqual(self.call("GET", "/")[0], 401)
        self.call("POST", "/_test/reset", b"")
        self.call("POST", "/_test/auth", json.dumps({"mode": "none"}).encode())
        self.assertEqual(self.call("GET", "/")[0], 200)
        self.assertEqual(self.es.store(), {})
        st, _, _ = self.call("POST", "/_test/faults", b'{"items":[{"stauts":1}]}')
        self.assertEqual(st, 400)


class FilterPathTest(EsServerCase):

    def test_filter_keeps_items_aligned(self):
        self.es.fail_items(429, marker="X")
        body = ndjson(*create("a", "1", {"v": "ok"}), *create("a", "2", {"v": "X"}),
                      *create("a", "1", {"v": "ok"}))
        st, a = self.bulk(body, path="/_bulk?" + KEEP_ALIGNED)
        self.assertEqual(a, {"errors": True, "items": [
            {"create": {"status": 201}},
            {"create": {"status": 429, "error": {
                "type": "es_rejected_execution_exception",
                "reason": a["items"][1]["create"]["error"]["reason"]}}},
            {"create": {"status": 409, "error": {
                "type": "version_conflict_engine_exception",
                "reason": "[1]: version conflict, document already exists (current version [1])"
            }}}]})
        # the trap: items.*.error alone drops the successful items
        body = ndjson(*create("a", "5", {"v": "ok"}), *create("a", "2", {"v": "X"}),
                      *create("a", "1", {"v": "ok"}))
        st, a = self.bulk(body, path="/_bulk?filter_path=items.*.error")
        self.assertEqual([it["create"]["error"]["type"] for it in a["items"]],
                         ["es_rejected_execution_exception", "version_conflict_engine_exception"])
        # all succeeded, errors only: an empty answer, as ES gives
        st, a = self.bulk(ndjson(*create("a", "9", {"v": 1})),
                          path="/_bulk?filter_path=items.*.error")
        self.assertEqual(a, {})

    def test_filter_path_forms(self):
        doc = {"took": 3, "errors": False, "items": [{"index": {"_id": "1", "status": 201,
                                                                "_shards": {"total": 2}}}]}
        self.assertEqual(apply_filter_path(doc, "took"), {"took": 3})
        self.assertEqual(apply_filter_path(doc, "items.*._id"),
                         {"items": [{"index": {"_id": "1"}}]})
        self.assertEqual(apply_filter_path(doc, "**.total"),
                         {"items": [{"index": {"_shards": {"total": 2}}}]})
        self.assertEqual(apply_filter_path(doc, "items.index.st*"),
                         {"items": [{"index": {"status": 201}}]})
        self.assertEqual(apply_filter_path(doc, "-items,-took"), {"errors": False})
        self.assertEqual(apply_filter_path(doc, "nothing"), {})


class ReadBackTest(EsServerCase):

    def test_count_search_doc_cat(self):
        self.bulk(ndjson(*[x for i in range(5) for x in create("rb-1", str(i), {"i": i})],
                         *create("rb-2", "z", {"i": 9})))
        self.call("GET", "/rb-1/_count")
        self.assertEqual(self.last["count"], 5)
        self.call("GET", "/rb-*/_count")
        self.assertEqual(self.last["count"], 6)
        st, _, _ = self.call("POST", "/rb-1/_search", json.dumps(
            {"query": {"match_all": {}}, "size": 3}).encode(), {"Content-Type": "application/json"})
        self.assertEqual(st, 200)
        self.assertEqual(self.last["hits"]["total"], {"value": 5, "relation": "eq"})
        self.assertEqual([h["_id"] for h in self.last["hits"]["hits"]], ["0", "1", "2"])
        self.assertEqual(self.last["hits"]["hits"][2]["_source"], {"i": 2})
        self.call("GET", "/rb-1,rb-2/_search?size=100")
        self.assertEqual(len(self.last["hits"]["hits"]), 6)
        st, _, _ = self.call("GET", "/rb-1/_doc/3")
        self.assertEqual((st, self.last["found"], self.last["_source"]), (200, True, {"i": 3}))
        st, _, _ = self.call("GET", "/rb-1/_doc/nope")
        self.assertEqual((st, self.last["found"]), (404, False))
        st, _, _ = self.call("GET", "/nope/_count")
        self.assertEqual((st, self.last["error"]["type"]), (404, "index_not_found_exception"))
        self.call("GET", "/_cat/indices?format=json")
        self.assertEqual({r["index"]: r["docs.count"] for r in self.last},
                         {"rb-1": "5", "rb-2": "1"})
        st, _, b = self.call("GET", "/_cat/indices")
        self.assertEqual(len(b.splitlines()), 2)
        self.assertEqual(self.es.count_requests("/{index}/_count", 200), 2)
        self.assertEqual(self.es.count_requests("/_cat/indices"), 2)
        st, _, _ = self.call("POST", "/rb-1/_search", b'{"query":{"term":{"i":1}}}',
                             {"Content-Type": "application/json"})
        self.assertEqual(st, 400)

    def test_delete_action(self):
        self.bulk(ndjson(*create("d", "1", {"n": 1})))
        st, a = self.bulk(ndjson({"delete": {"_index": "d", "_id": "1"}},
                                 {"delete": {"_index": "d", "_id": "1"}}))
        self.assertEqual(self.statuses(a), [200, 404])
        self.assertFalse(a["errors"], "a delete's not_found is not an error")
        self.assertEqual(self.es.docs("d"), {})

    def test_unknown_path(self):
        st, _, _ = self.call("GET", "/_nodes/stats")
        self.assertEqual(st, 400)
        self.assertIn("no handler found", self.last["error"])


class OpenSearchTest(EsServerCase):
    flavor = "opensearch"

    def test_banner_and_parse_error_type(self):
        st, h, _ = self.call("GET", "/")
        self.assertIsNone(h.get("X-Elastic-Product"))
        self.assertEqual(self.last["version"]["distribution"], "opensearch")
        self.assertTrue(self.last["version"]["number"].startswith("2."))
        st, a = self.bulk(ndjson(*create("o", "1", {"n": 1}), *create("o", "2", {"n": "x"}),
                                 {"index": {"_index": "o", "_type": "_doc"}}, {"n": 1})[:-1] +
                          b"\n")
        self.assertEqual(st, 400)
        self.assertIn("unknown parameter [_type]", a["error"]["reason"])
        st, a = self.bulk(ndjson(*create("o", "1", {"n": 1}), *create("o", "2", {"n": "x"})))
        self.assertEqual(a["items"][1]["create"]["error"]["type"], "mapper_parsing_exception")


class AuthTest(EsServerCase):

    def basic(self, user, pw):
        return {"Authorization": "Basic " + base64.b64encode(
            ("%s:%s" % (user, pw)).encode()).decode()}

    def test_basic(self):
        self.es.set_auth("basic", "elastic", "s3cret")
        st, h, _ = self.call("GET", "/")
        self.assertEqual(st, 401)
        self.assertEqual(self.last["error"]["type"], "security_exception")
        self.assertEqual(self.last["status"], 401)
        self.assertIn("missing authentication credentials", self.last["error"]["reason"])
        self.assertIn('Basic realm="security"', h["WWW-Authenticate"])
        st, _, _ = self.call("GET", "/", headers=self.basic("elastic", "wrong"))
        self.assertEqual(st, 401)
        self.assertIn("unable to authenticate user [elastic]", self.last["error"]["reason"])
        body = ndjson(*create("a", "1", {"n": 1}))
        self.assertEqual(self.bulk(body, headers=self.basic("elastic", "wrong"))[0], 401)
        self.assertEqual(self.es.store(), {})
        st, a = self.bulk(body, headers=self.basic("elastic", "s3cret"))
        self.assertEqual((st, self.statuses(a)), (200, [201]))
        self.assertEqual(self.es.count_requests(status=401), 3)

    def test_apikey(self):
        self.es.set_auth("apikey", "VuaCfGcBCdbkQm-e5aOx", "ui2lp2axTNmsyakw9tvNnw")
        good = base64.b64encode(b"VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw").decode()
        bad = base64.b64encode(b"VuaCfGcBCdbkQm-e5aOx:nope").decode()
        self.assertEqual(self.call("GET", "/", headers={"Authorization": "ApiKey " + good})[0],
                         200)
        st, _, _ = self.call("GET", "/", headers={"Authorization": "ApiKey " + bad})
        self.assertEqual((st, self.last["error"]["type"]), (401, "security_exception"))
        self.assertEqual(self.call("GET", "/", headers=self.basic("a", "b"))[0], 401)

    def test_opensearch_refusal_and_no_apikey(self):
        self.es.stop()
        self.es = EsServer(flavor="opensearch", auth=("basic", "admin", "pw"))
        st, h, b = self.call("GET", "/")
        self.assertEqual((st, b), (401, b"Unauthorized"))
        self.assertIn("OpenSearch Security", h["WWW-Authenticate"])
        self.assertEqual(self.call("GET", "/", headers=self.basic("admin", "pw"))[0], 200)
        self.es.set_auth("apikey", "id", "key")
        key = base64.b64encode(b"id:key").decode()
        self.assertEqual(self.call("GET", "/", headers={"Authorization": "ApiKey " + key})[0],
                         401)

    def signed(self, method, path, body, service="es", region="eu-west-1", key="AKIDEXAMPLE",
               secret="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", headers=None):
        try:
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials
        except ImportError:
            self.skipTest("botocore is not installed")
        h = dict(headers or {})
        if service == "aoss":
            import hashlib
            h["X-Amz-Content-Sha256"] = hashlib.sha256(body or b"").hexdigest()
        r = AWSRequest(method=method, url=self.es.endpoint + path, data=body, headers=h)
        SigV4Auth(Credentials(key, secret), service, region).add_auth(r)
        return dict(r.headers.items())

    def test_sigv4(self):
        secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
        self.es.set_auth("sigv4", "AKIDEXAMPLE", secret, "eu-west-1", "es")
        body = ndjson(*create("v", "1", {"n": 1}))
        # the query encoded on the wire, as clients do (botocore signs it as it is)
        fp = KEEP_ALIGNED.split("=", 1)[1]
        path = "/_bulk?filter_path=" + urllib.parse.quote(fp, safe="")
        st, a = self.bulk(body, path=path, headers=self.signed("POST", path, body, headers=ND))
        self.assertEqual((st, self.statuses(a)), (200, [201]))
        self.assertEqual(self.call("GET", "/", headers=self.signed("GET", "/", None))[0], 200)
        gz = gzip.compress(body)
        gh = dict(ND, **{"Content-Encoding": "gzip"})
        st, a = self.bulk(gz, headers=self.signed("POST", "/_bulk", gz, headers=gh))
        self.assertEqual((st, self.statuses(a)), (200, [409]))
        refusals = [
            ({}, "anonymous is not authorized"),
            (self.signed("POST", "/_bulk", body, secret="wrong", headers=ND), "does not match"),
            (self.signed("POST", "/_bulk", body, key="AKIDOTHER", headers=ND),
             "security token included in the request is invalid"),
            (self.signed("POST", "/_bulk", body, region="us-east-1", headers=ND), "region"),
            (self.signed("POST", "/_bulk", body, service="aoss", headers=ND), "service"),
            (self.signed("POST", "/_bulk", body + b"\n", headers=ND), "does not match"),
        ]
        for headers, why in refusals:
            st, a = self.bulk(body, headers=headers)
            self.assertEqual(st, 403, why)
            self.assertIn(why, a["message"])
        self.assertEqual(self.es.docs("v"), {"1": b'{"n": 1}'})

    def test_sigv4_aoss_and_stale_date(self):
        self.es.set_auth("sigv4", "AK", "SK", region="us-east-1", service="aoss")
        body = ndjson(*create("v", "1", {"n": 1}))
        h = self.signed("POST", "/_bulk", body, service="aoss", region="us-east-1", key="AK",
                        secret="SK", headers=ND)
        self.assertEqual(self.bulk(body, headers=h)[0], 200)
        h.pop("X-Amz-Content-Sha256")
        st, a = self.bulk(body, headers=h)
        self.assertEqual(st, 403)
        # a request signed 10 minutes ago: expired
        h = self.signed("POST", "/_bulk", body, service="aoss", region="us-east-1", key="AK",
                        secret="SK", headers=ND)
        hl = [(k, v) for k, v in h.items()] + [("Host", "127.0.0.1:%d" % self.es.port)]
        cfg = {"access_key": "AK", "secret": "SK", "region": "us-east-1", "service": "aoss"}
        self.assertIsNone(sigv4_refusal(cfg, "POST", "/_bulk", "", hl, body))
        self.assertIn("Signature expired",
                      sigv4_refusal(cfg, "POST", "/_bulk", "", hl, body, now=time.time() + 600))


class ScriptTest(unittest.TestCase):

    def test_runs_as_a_script(self):
        from harness import free_port
        port = free_port()
        p = subprocess.Popen([sys.executable, __import__("es_server").__file__, "--port",
                              str(port), "--flavor", "opensearch"], stdout=subprocess.PIPE,
                             text=True)
        try:
            self.assertEqual(p.stdout.readline().strip(), "listening http://127.0.0.1:%d" % port)
            with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5) as f:
                self.assertEqual(json.loads(f.read())["version"]["distribution"], "opensearch")
        finally:
            p.terminate()
            p.wait(10)
            p.stdout.close()
