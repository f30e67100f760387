"""
`type = lambda` transforms against a Lambda-contract function
(lambda_server.py): the event sluice sends, what each answer does to each
record (Ok, Dropped, ProcessingFailed, missing/duplicated/unknown
recordIds, bad results and data), whole-invocation failures and their
retries, timeouts, splitting by max_request_size, many batches through a
small connection pool, SIGTERM during an invocation, SIGHUP to another
function (and a refused one), partition keys, and the config errors of a
[transform] section.

In every test each record sent ends up exactly once: in the output
(transformed), in a backup envelope with the expected errorCode, or
counted as dropped; and the metrics balance.
"""
import base64
import collections
import json
import os
import re
import subprocess
import time
import unittest

from harness import (BIN, Sluice, SluiceTestCase, free_port, make_records, scaled,
                     split_records, wait_for)
import lambda_server as L

UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ERR_PREFIX = "errors/!{firehose:error-output-type}/"


class LambdaSluice(Sluice):
    """A Sluice whose config also has [transform NAME] sections."""

    def __init__(self, streams, tf_sections, **kw):
        super().__init__(streams=streams, **kw)
        self.tf_sections = tf_sections

    def config_text(self):
        text = super().config_text()
        for name, keys in self.tf_sections.items():
            text += "\n[transform %s]\n" % name
            text += "".join("%s = %s\n" % kv for kv in keys.items() if kv[1] is not None)
        return text


class LambdaTestCase(SluiceTestCase):

    def setUp(self):
        super().setUp()
        self._servers = []

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            for s in self._servers:
                s.stop()

    def server(self, handler):
        s = L.LambdaServer(handler)
        self._servers.append(s)
        return s

    def lambda_sluice(self, url, tf=None, stream=None, name="s", process=None, start=True):
        """A daemon with one stream <name> whose chain is [transform fn]
        (type lambda, <url>, timeout 2s, retries 1, then <tf>)."""
        keys = {"type": "lambda", "url": url, "timeout": "2s", "retries": "1"}
        keys.update(tf or {})
        skeys = {"transforms": "fn", "buffer_interval": "1s", "error_prefix": ERR_PREFIX}
        skeys.update(stream or {})
        d = LambdaSluice({name: skeys}, {"fn": keys}, process=process)
        self._daemons.append(d)
        if start:
            d.start()
        return d

    # -- waiting and reading ---------------------------------------------
    def envelopes(self, d, stream="s"):
        """[(object key, envelope dict)] of every backup object."""
        root = d.backup_path(stream)
        out = []
        for rel in d.object_files(root=root):
            for line in split_records(d.read_object(os.path.join(root, rel))):
                out.append((rel, json.loads(line)))
        return out

    def check_envelopes(self, d, url, expected, stream="s", attempts=None,
                        key_prefix="errors/processing-failed/"):
        """The backup holds exactly the records of <expected> (record ->
        errorCode), each once, with Firehose's envelope. Returns
        {record: envelope}."""
        now_ms = time.time() * 1000
        got = {}
        for rel, e in self.envelopes(d, stream):
            raw = base64.b64decode(e["rawData"], validate=True)
            self.assertNotIn(raw, got, "record %r backed up twice" % raw[:40])
            got[raw] = e
            if key_prefix is not None and e["errorCode"].startswith("Lambda."):
                self.assertTrue(rel.startswith(key_prefix), "backup key %r" % rel)
            self.assertEqual(e["stream"], stream)
            if e["errorCode"].startswith("Lambda."):
                self.assertEqual(e.get("transform"), "fn", e)
                self.assertEqual(e.get("lambdaArn"), url, e)
            self.assertTrue(e["errorMessage"], e)
            self.assertIsInstance(e["attemptsMade"], int)
            if attempts is not None and e["errorCode"].startswith("Lambda."):
                self.assertEqual(e["attemptsMade"], attempts, e)
            self.assertLess(abs(e["arrivalTimestamp"] - now_ms), 300000, e)
            self.assertGreaterEqual(e["attemptEndingTimestamp"], e["arrivalTimestamp"], e)
        missing = [r[:40] for r in expected if r not in got]
        extra = [r[:40] for r in got if r not in expected]
        self.assertFalse(missing or extra, "backup: missing %r, unexpected %r"
                         % (missing[:3], extra[:3]))
        for r, code in expected.items():
            self.assertEqual(got[r]["errorCode"], code, "errorCode of %r: %r" % (r[:40], got[r]))
        return got

    def check_metrics(self, m, ok, dropped, failed, stream="s"):
        self.assertBalanced(m, stream)
        self.assertEqual(m.sum("sluice_records_delivered_total", stream=stream), ok)
        self.assertEqual(m.get("sluice_records_dropped_total", stream=stream,
                               reason="transform_dropped"), dropped)
        self.assertEqual(m.sum("sluice_records_backed_up_total", stream=stream), failed)
        for result, n in (("ok", ok), ("dropped", dropped), ("failed", failed)):
            self.assertEqual(m.get("sluice_transform_records_total", stream=stream,
                                   transform="fn", result=result), n, result)

    def event_records(self, srv):
        """[(invocationId, [(recordId, data)])] of every request, in order."""
        out = []
        for ev in srv.events():
            self.assertIsNotNone(ev, "a request that is not JSON")
            out.append((ev["invocationId"],
                        [(r["recordId"], base64.b64decode(r["data"])) for r in ev["records"]]))
        return out

    def assertEachSentOnce(self, srv, recs):
        """Over all requests, each record was sent exactly once (no retry)."""
        sent = [data for _, rs in self.event_records(srv) for _, data in rs]
        self.assertSameRecords(sent, recs, "records sent to the function")


class LambdaContractTest(LambdaTestCase):

    def test_ok_dropped_and_processing_failed(self):
        srv = self.server(L.by_marker(upper=True))
        d = self.lambda_sluice(srv.url, tf={"region": "eu-west-1", "account": "123456789012"})
        ok = make_records(30, tag=b"ok-")
        drop = make_records(10, tag=b"DROP-")
        fail = make_records(10, tag=b"FAIL-")
        recs = ok[:10] + drop + ok[10:20] + fail + ok[20:]
        t0_ms = time.time() * 1000
        d.send(recs, conns=1)
        m = d.wait_records("s", settled=len(recs), timeout=30)
        self.check_metrics(m, ok=30, dropped=10, failed=10)
        n_inv = srv.count()
        self.assertEqual(m.get("sluice_transform_invocations_total", stream="s", transform="fn",
                               result="ok"), n_inv)
        self.assertEqual(m.get("sluice_transform_invocations_total", stream="s", transform="fn",
                               result="error"), 0)
        d.stop()

        # the event: Firehose's shape, ids unique, data as sent, ms timestamps
        ids = set()
        for req in srv.invocations():
            self.assertEqual(req["path"], L.PATH)
            self.assertTrue(req["headers"].get("Content-Type", "").startswith("application/json"))
            ev = req["event"]
            self.assertEqual(set(ev), {"invocationId", "deliveryStreamArn", "region", "records"})
            self.assertRegex(ev["invocationId"], UUID4_RE)
            self.assertNotIn(ev["invocationId"], ids, "invocationId reused")
            ids.add(ev["invocationId"])
            self.assertEqual(ev["deliveryStreamArn"],
                             "arn:aws:firehose:eu-west-1:123456789012:deliverystream/s")
            self.assertEqual(ev["region"], "eu-west-1")
            rids = [r["recordId"] for r in ev["records"]]
            self.assertEqual(len(rids), len(set(rids)), "recordIds unique in an invocation")
            for r in ev["records"]:
                self.assertEqual(set(r), {"recordId", "approximateArrivalTimestamp", "data"})
                self.assertIsInstance(r["recordId"], str)
                self.assertIsInstance(r["approximateArrivalTimestamp"], int)
                self.assertLess(abs(r["approximateArrivalTimestamp"] - t0_ms), 120000)
        self.assertEachSentOnce(srv, recs)

        self.assertSameRecords(d.read_records("s"), [r.upper() for r in ok], "delivered")
        envs = self.check_envelopes(d, srv.url, {r: "Lambda.ProcessingFailedStatus" for r in fail},
                                    attempts=1)
        for e in envs.values():
            self.assertIn("ProcessingFailed", e["errorMessage"])

    def test_missing_duplicated_and_unknown_record_ids(self):
        srv = self.server(L.ids(omit=b"OMIT", dup=b"DUP", unknown=3))
        d = self.lambda_sluice(srv.url)
        ok = make_records(20, tag=b"ok-")
        omit = make_records(5, tag=b"OMIT-")
        dup = make_records(5, tag=b"DUP-")
        recs = ok[:7] + omit + ok[7:14] + dup + ok[14:]
        d.send(recs, conns=1)
        m = d.wait_records("s", settled=len(recs), timeout=30)
        self.check_metrics(m, ok=20, dropped=0, failed=10)
        # per-record problems are not retried
        self.assertEqual(m.get("sluice_transform_invocations_total", stream="s", transform="fn",
                               result="error"), 0)
        d.stop()
        self.assertEachSentOnce(srv, recs)
        self.assertSameRecords(d.read_records("s"), ok, "delivered")
        expected = {r: "Lambda.MissingRecordId" for r in omit}
        expected.update({r: "Lambda.DuplicatedRecordId" for r in dup})
        self.check_envelopes(d, srv.url, expected, attempts=1)

    def test_bad_result_and_bad_data_fail_only_their_records(self):
        def fn(rec, data):
            rid = rec["recordId"]
            if b"BADRESULT" in data:
                return [{"recordId": rid, "result": "ok", "data": rec["data"]}]
            if b"NORESULT" in data:
                return [{"recordId": rid, "data": rec["data"]}]
            if b"BADB64" in data:
                return [{"recordId": rid, "result": "Ok", "data": "not base64!"}]
            if b"NODATA" in data:
                return [{"recordId": rid, "result": "Ok"}]
            if b"DROPBARE" in data:                      # Dropped needs no data
                return [{"recordId": rid, "result": "Dropped"}]
            if b"FAILBARE" in data:                      # nor does ProcessingFailed
                return [{"recordId": rid, "result": "ProcessingFailed"}]
            return [L.ok(rec, data[::-1])]
        srv = self.server(L.per_record(fn))
        d = self.lambda_sluice(srv.url)
        ok = make_records(12, tag=b"ok-")
        bad = {}
        for tag in (b"BADRESULT-", b"NORESULT-", b"BADB64-", b"NODATA-"):
            for r in make_records(3, tag=tag):
                bad[r] = "Lambda.FunctionError"
        failbare = make_records(3, tag=b"FAILBARE-")
        bad.update({r: "Lambda.ProcessingFailedStatus" for r in failbare})
        dropbare = make_records(3, tag=b"DROPBARE-")
        recs = ok[:6] + list(bad) + dropbare + ok[6:]
        d.send(recs, conns=1)
        m = d.wait_records("s", settled=len(recs), timeout=30)
        self.check_metrics(m, ok=12, dropped=3, failed=len(bad))
        self.assertEqual(m.get("sluice_transform_invocations_total", stream="s", transform="fn",
                               result="error"), 0)
        d.stop()
        self.assertEachSentOnce(srv, recs)
        self.assertSameRecords(d.read_records("s"), [r[::-1] for r in ok], "delivered")
        envs = self.check_envelopes(d, srv.url, bad, attempts=1)
        for r, e in envs.items():
            if r.startswith(b"BADRESULT"):
                self.assertIn("'ok'", e["errorMessage"])
            if r.startswith(b"BADB64"):
                self.assertIn("base64", e["errorMessage"])


class LambdaInvocationTest(LambdaTestCase):

    def test_non_json_answer_fails_after_retries(self):
        srv = self.server(L.not_json())
        d = self.lambda_sluice(srv.url, tf={"retries": "2"})
        recs = make_records(10, tag=b"nj-")
        d.send(recs, conns=1)
        m = d.wait_records("s", settled=len(recs), timeout=30)
        self.check_metrics(m, ok=0, dropped=0, failed=10)
        n_inv = srv.count()
        self.assertEqual(n_inv % 3, 0, "1 + retries invocations per batch")
        self.assertEqual(m.get("sluice_transform_invocations_total", stream="s", transform="fn",
                               result="error"), n_inv)
        d.stop()
        # retries: the same recordIds and data, each time a new invocationId
        calls = self.event_records(srv)
        self.assertEqual(len({inv for inv, _ in calls}), n_inv)
        tries = collections.Counter(tuple(rs) for _, rs in calls)
        self.assertEqual(set(tries.values()), {3}, "each invocation made 3 times")
        self.assertEqual(d.read_records("s"), [])
        envs = self.check_envelopes(d, srv.url, {r: "Lambda.JsonProcessingException"
                                                 for r in recs}, attempts=3)
        self.assertIn("not JSON", next(iter(envs.values()))["errorMessage"])

    def test_http_500_then_success_is_retried_with_a_new_invocation_id(self):
        handler = L.status_then(1, 500, then=L.echo(upper=True))
        srv = self.server(handler)
        d = self.lambda_sluice(srv.url)
        recs = make_records(25, tag=b"rt-")
        d.send(recs, conns=1)
        m = d.wait_records("s", settled=len(recs), timeout=30)
        self.check_metrics(m, ok=25, dropped=0, failed=0)
        self.assertEqual(m.get("sluice_transform_invocations_total", stream="s", transform="fn",
                               result="error"), 1)
        d.stop()
        calls = self.event_records(srv)
        self.assertGreaterEqual(len(calls), 2)
        self.assertEqual(len(handler.failed), 1)
        first = [rs for inv, rs in calls if inv == handler.failed[0]]
        self.assertEqual(len(first), 1)
        again = [inv for inv, rs in calls if rs == first[0] and inv != handler.failed[0]]
        self.assertEqual(len(again), 1, "the failed invocation is sent again once, with the "
                                        "same recordIds and data and a new invocationId")
        # but for the one that got the 500, each record went once
        sent = [data for inv, rs in calls if inv != handler.failed[0] for _, data in rs]
        self.assertSameRecords(sent, recs, "records sent but with the 500")
        self.assertSameRecords(d.read_records("s"), [r.upper() for r in recs], "delivered")
        self.check_envelopes(d, srv.url, {})

    def test_slow_function_times_out(self):
        srv = self.server(L.slow(3.0))
        d = self.lambda_sluice(srv.url, tf={"timeout": "500ms", "retries": "1"})
        recs = make_records(8, tag=b"slow-")
        d.send(recs, conns=1)
        m = d.wait_records("s", settled=len(recs), timeout=40)
        self.check_metrics(m, ok=0, dropped=0, failed=8)
        n_inv = srv.count()
        self.assertEqual(n_inv % 2, 0, "1 + retries invocations per batch")
        self.assertEqual(m.get("sluice_transform_invocations_total", stream="s", transform="fn",
                               result="error"), n_inv)
        d.stop()
        self.assertEqual(d.read_records("s"), [])
        envs = self.check_envelopes(d, srv.url, {r: "Lambda.FunctionError" for r in recs},
                                    attempts=2)
        for e in envs.values():
            self.assertIn("timeout", e["errorMessage"])

    def test_whole_invocation_failures(self):
        """(handler, keys, errorCode, attempts made with retries = 1, message part)"""
        cases = [
            ("429", L.status_then(99, 429), {}, "Lambda.InvokeLimitExceeded", 2, "429"),
            ("403", L.status_then(99, 403), {}, "Lambda.InvokeAccessDenied", 1, "403"),
            ("404", L.status_then(99, 404), {}, "Lambda.ResourceNotFound", 1, "404"),
            ("400", L.status_then(99, 400), {}, "Lambda.FunctionError", 1, "400"),
            ("503", L.status_then(99, 503), {}, "Lambda.FunctionError", 2, "503"),
            ("function error", L.function_error(), {}, "Lambda.FunctionError", 2,
             "something broke"),
            ("no records", lambda ev: (200, {}, {"result": "Ok"}), {},
             "Lambda.JsonProcessingException", 2, "records"),
            ("answer too big", L.big_answer(100000), {"max_response_size": "64KiB"},
             "Lambda.FunctionError", 2, "max_response_size"),
            ("refused", None, {}, "Lambda.FunctionError", 2, "connect"),
        ]
        for what, handler, keys, code, attempts, part in cases:
            with self.subTest(what):
                if handler is None:
                    srv, url = None, "http://127.0.0.1:%d%s" % (free_port(), L.PATH)
                else:
                    srv = self.server(handler)
                    url = srv.url
                d = self.lambda_sluice(url, tf=keys)
                recs = make_records(6, tag=b"wf-")
                d.send(recs, conns=1)
                m = d.wait_records("s", settled=len(recs), timeout=30)
                self.check_metrics(m, ok=0, dropped=0, failed=6)
                inv = m.get("sluice_transform_invocations_total", stream="s", transform="fn",
                            result="error")
                self.assertEqual(inv % attempts, 0, "%s: %d attempts" % (what, inv))
                if srv is not None:
                    self.assertEqual(srv.count(), inv)
                d.stop()
                self.assertEqual(d.read_records("s"), [])
                envs = self.check_envelopes(d, url, {r: code for r in recs}, attempts=attempts)
                for e in envs.values():
                    self.assertIn(part, e["errorMessage"])

    def test_batch_split_by_max_request_size(self):
        srv = self.server(L.echo())
        d = self.lambda_sluice(srv.url, tf={"max_request_size": "64KiB"},
                               stream={"buffer_size": "5MiB", "buffer_interval": "2s"})
        recs = [b"split-%04d-" % i + bytes([97 + i % 26]) * (2000 + 7 * i) for i in range(150)]
        big = b"TOOBIG-" + b"y" * 60000            # its base64 alone is over 64 KiB
        recs = recs[:70] + [big] + recs[70:]
        d.send(recs, conns=1)
        m = d.wait_records("s", settled=len(recs), timeout=30)
        self.check_metrics(m, ok=150, dropped=0, failed=1)
        d.stop()
        reqs = srv.invocations()
        self.assertGreaterEqual(len(reqs), 6, "~500 KB of base64 in <= 64 KiB requests")
        for req in reqs:
            self.assertLessEqual(len(req["raw"]), 64 * 1024)
            rids = [r["recordId"] for r in req["event"]["records"]]
            self.assertEqual(len(rids), len(set(rids)))
        self.assertEachSentOnce(srv, [r for r in recs if r is not big])
        self.assertSameRecords(d.read_records("s"), [r for r in recs if r is not big],
                               "delivered")
        self.check_envelopes(d, srv.url, {big: "Lambda.RequestTooLarge"}, attempts=0)

    def test_many_batches_share_the_connection_pool(self):
        srv = self.server(L.by_marker(upper=True))
        d = self.lambda_sluice(srv.url, tf={"max_connections": "2"},
                               stream={"buffer_size": "8KiB"}, process={"workers": "4"})
        ok = make_records(1500, tag=b"pool-")
        fail = make_records(100, tag=b"FAIL-")
        drop = make_records(100, tag=b"DROP-")
        recs = []
        for i in range(100):
            recs += ok[15 * i:15 * (i + 1)] + [fail[i], drop[i]]
        d.send(recs, conns=8)
        m = d.wait_records("s", settled=len(recs), timeout=60)
        self.check_metrics(m, ok=1500, dropped=100, failed=100)
        self.assertGreater(srv.count(), 10, "many batches, many invocations")
        d.stop()
        self.assertEachSentOnce(srv, recs)
        self.assertSameRecords(d.read_records("s"), [r.upper() for r in ok], "delivered")
        self.check_envelopes(d, srv.url, {r: "Lambda.ProcessingFailedStatus" for r in fail},
                             attempts=1)

    def test_sigterm_during_an_invocation_waits_for_it(self):
        srv = self.server(L.slow(1.0, then=L.echo(upper=True)))
        d = self.lambda_sluice(srv.url, tf={"timeout": "10s"})
        recs = make_records(20, tag=b"term-")
        d.send(recs, conns=1)
        wait_for(lambda: srv.count() >= 1, 10, msg="an invocation in flight")
        d.stop()                                   # exit 0, after the answer came
        self.assertEachSentOnce(srv, recs)
        self.assertSameRecords(d.read_records("s"), [r.upper() for r in recs], "delivered")
        self.check_envelopes(d, srv.url, {})

    def test_shutdown_timeout_cuts_a_slow_invocation(self):
        srv = self.server(L.slow(30.0, then=L.echo()))
        d = self.lambda_sluice(srv.url, tf={"timeout": "25s", "retries": "2"},
                               process={"shutdown_timeout": "1s"})
        d.send(make_records(5, tag=b"cut-"), conns=1)
        wait_for(lambda: srv.count() >= 1, 10, msg="an invocation in flight")
        t0 = time.monotonic()
        d.stop(expect=3)              # the batch is abandoned, logged, and counted lost
        self.assertLess(time.monotonic() - t0, 10, "shutdown waited for the function")
        self.assertIn("shutdown timed out: batch not delivered", d.log())
        self.assertIn('msg="records lost at shutdown" cause="shutdown_timeout" records=5 ',
                      d.log())
        self.assertEqual(srv.count(), 1, "not invoked again while stopping")

    def test_reload_points_the_transform_at_another_function(self):
        first = self.server(L.echo(upper=True))
        second = self.server(L.per_record(lambda rec, data: [L.ok(rec, data[::-1])]))
        d = self.lambda_sluice(first.url)
        before = make_records(10, tag=b"before-")
        d.send(before, conns=1)
        d.wait_records("s", settled=10, timeout=30)
        d.tf_sections["fn"]["url"] = second.url
        d.tf_sections["fn"]["retries"] = "5"
        d.reload()
        wait_for(lambda: d.metrics().get("sluice_config_reloads_total", result="success") == 1,
                 10, msg="reload counted as success")
        after = make_records(10, tag=b"after-")
        d.send(after, conns=1)
        d.wait_records("s", settled=20, timeout=30)
        # a lambda section create() refuses fails the reload; the running one stays
        d.tf_sections["fn"]["retries"] = "99"
        d.reload()
        wait_for(lambda: d.metrics().get("sluice_config_reloads_total", result="failure") == 1,
                 10, msg="reload counted as failure")
        self.assertIn("retries", d.log())
        after += make_records(5, tag=b"kept-")
        d.send(after[10:], conns=1)
        m = d.wait_records("s", settled=25, timeout=30)
        self.assertBalanced(m, "s")
        d.stop()
        self.assertEachSentOnce(first, before)
        self.assertEachSentOnce(second, after)
        self.assertSameRecords(d.read_records("s"),
                               [r.upper() for r in before] + [r[::-1] for r in after])


class LambdaPartitionTest(LambdaTestCase):

    def test_partition_keys_from_lambda(self):
        srv = self.server(L.partition_from_json("customer"))
        d = self.lambda_sluice(srv.url,
                               stream={"prefix": "!{partitionKeyFromLambda:customer}/"})
        by_customer = {"acme": [], "globex": []}
        recs = []
        for i in range(40):
            c = "acme" if i % 3 else "globex"
            r = json.dumps({"customer": c, "n": i}).encode()
            by_customer[c].append(r)
            recs.append(r)
        numeric = [json.dumps({"customer": 7, "n": 100 + i}).encode() for i in range(3)]
        keyless = [json.dumps({"n": 200 + i}).encode() for i in range(2)]
        recs += numeric + keyless
        d.send(recs, conns=1)
        m = d.wait_records("s", settled=len(recs), timeout=30)
        self.assertBalanced(m, "s")
        self.assertEqual(m.sum("sluice_records_delivered_total", stream="s"), 40)
        self.assertEqual(m.sum("sluice_records_backed_up_total", stream="s"), 5)
        self.assertEqual(m.get("sluice_transform_records_total", stream="s", transform="fn",
                               result="failed"), 3)
        d.stop()
        _, per_object = d.read_records("s", with_objects=True)
        got = {"acme": [], "globex": []}
        for rel, objrecs in per_object:
            customer = rel.split("/", 1)[0]
            self.assertIn(customer, got, "object %s outside the customers' prefixes" % rel)
            got[customer].extend(objrecs)
        for c in got:
            self.assertSameRecords(got[c], by_customer[c], c)
        # a non-string key fails the record in the transform; a record with
        # no key fails partitioning (its rawData is the record as it came)
        expected = {r: "Lambda.FunctionError" for r in numeric}
        expected.update({r: "DynamicPartitioning.MetadataExtractionFailed" for r in keyless})
        envs = self.check_envelopes(d, srv.url, expected, attempts=1)
        for r in numeric:
            self.assertIn("not a string", envs[r]["errorMessage"])


class LambdaConfigTest(LambdaTestCase):

    def check(self, tf_keys):
        d = self.lambda_sluice("http://127.0.0.1:9/x", start=False)
        d.tf_sections["fn"] = dict({"type": "lambda"}, **tf_keys)
        d.write_config()
        p = subprocess.run([BIN, "--check", "-c", d.conf_path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=scaled(30))
        return p.returncode, p.stdout.decode()

    def test_good_config_passes_check(self):
        rc, out = self.check({"url": "https://example.com/2015-03-31/functions/f/invocations",
                              "timeout": "250ms", "retries": "0", "max_request_size": "1MiB",
                              "max_response_size": "32MiB", "region": "ap-south-1",
                              "account": "111122223333", "max_connections": "16"})
        self.assertEqual(rc, 0, out)

    def test_bad_keys_are_refused_by_name(self):
        url = "http://127.0.0.1:9/x"
        cases = [
            ({}, "url"),
            ({"url": "ftp://example.com/f"}, "url"),
            ({"url": url, "timeout": "soon"}, "timeout"),
            ({"url": url, "timeout": "0"}, "timeout"),
            ({"url": url, "retries": "11"}, "retries"),
            ({"url": url, "max_request_size": "1KiB"}, "max_request_size"),
            ({"url": url, "max_response_size": "64MiB"}, "max_response_size"),
            ({"url": url, "region": "Mars 1"}, "region"),
            ({"url": url, "account": "42"}, "account"),
            ({"url": url, "max_connections": "0"}, "max_connections"),
            ({"url": url, "function_name": "f"}, "function_name"),
        ]
        for keys, key in cases:
            with self.subTest(key=key, keys=keys):
                rc, out = self.check(keys)
                self.assertNotEqual(rc, 0, out)
                self.assertRegex(out, r":\d+: \[transform fn\]:? %s: " % re.escape(key))
        rc, out = self.check({"url": url, "function_name": "f"})
        self.assertIn("unknown key for lambda", out)


if __name__ == "__main__":
    unittest.main()
