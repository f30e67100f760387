"""
(f) Metrics: `promtool check metrics` accepts /metrics; the received counters
equal what was sent; the balance received = delivered + backed_up + dropped
+ buffered holds at every scrape, during load and after; at quiescence
buffered is 0 and delivered equals sent.
"""
import http.client
import json
import shutil
import subprocess
import unittest

from harness import (Metrics, SluiceTestCase, make_records, parse_metrics, producer_records,
                     start_producer)

FIXED = [
    # (family, sample name, labels every sample of the stream must carry)
    ("sluice_records_received_total", {"stream", "source"}),
    ("sluice_bytes_received_total", {"stream", "source"}),
    ("sluice_records_rejected_total", {"stream", "source", "reason"}),
    ("sluice_records_buffered", {"stream"}),
    ("sluice_bytes_buffered", {"stream"}),
    ("sluice_batches_sealed_total", {"stream", "reason"}),
    ("sluice_records_delivered_total", {"stream", "sink"}),
    ("sluice_bytes_delivered_total", {"stream", "sink"}),
    ("sluice_records_backed_up_total", {"stream", "reason"}),
    ("sluice_records_dropped_total", {"stream", "reason"}),
    ("sluice_delivery_retries_total", {"stream", "sink", "cause"}),
    ("sluice_delivery_duration_seconds_bucket", {"stream", "sink", "le"}),
    ("sluice_delivery_duration_seconds_sum", {"stream", "sink"}),
    ("sluice_delivery_duration_seconds_count", {"stream", "sink"}),
    ("sluice_data_freshness_seconds", {"stream"}),
    ("sluice_connections", {"stream", "source"}),
    ("sluice_connections_rejected_total", {"stream", "source"}),
]


def promtool(text):
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p.returncode, p.stdout.decode() + p.stderr.decode()


@unittest.skipUnless(shutil.which("promtool"), "promtool not installed (scripts/deps.sh test)")
class PromtoolTest(SluiceTestCase):

    def test_promtool_accepts_metrics_page(self):
        # one stream here: two streams are covered by test_streams
        d = self.sluice({"pa": {"buffer_interval": "200ms", "compression": "gzip"}})
        rc, out = promtool(d.metrics_text())
        self.assertEqual(rc, 0, "promtool check metrics (idle page):\n" + out)
        d.send(make_records(1000, tag=b"pa-"), conns=2, sname="pa")
        d.wait_records("pa", delivered=1000, settled=True, timeout=10)
        text = d.metrics_text()
        rc, out = promtool(text)
        self.assertEqual(rc, 0, "promtool check metrics (after traffic):\n" + out)
        m = d.metrics()
        for stream in ("pa",):
            for name, labels in FIXED:
                samples = [ls for (n, ls) in m if n == name and ("stream", stream) in ls]
                self.assertTrue(samples, "%s has no sample for stream %s" % (name, stream))
                for ls in samples:
                    self.assertEqual({k for k, _ in ls}, labels, "labels of %s" % name)
        self.assertEqual(m.get("sluice_records_delivered_total", stream="pa", sink="file"), 1000)
        for result in ("success", "failure"):
            self.assertEqual(m.get("sluice_config_reloads_total", result=result), 0)
        info = [(n, ls) for (n, ls) in m if n == "sluice_build_info"]
        self.assertEqual(len(info), 1)
        self.assertEqual(m[info[0]], 1)
        self.assertIn("version", dict(info[0][1]))
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                     "process_open_fds", "process_start_time_seconds"):
            self.assertTrue(m.has(name), name)
        self.assertGreater(m.get("process_resident_memory_bytes"), 0)
        # the histogram counts every delivered batch; its buckets are cumulative
        for stream in ("pa",):
            count = m.get("sluice_delivery_duration_seconds_count", stream=stream, sink="file")
            sealed = m.sum("sluice_batches_sealed_total", stream=stream)
            self.assertEqual(count, sealed)
            self.assertEqual(m.get("sluice_delivery_duration_seconds_bucket", stream=stream,
                                   sink="file", le="+Inf"), count)
        self.assertIn("# TYPE sluice_records_received_total counter", text)
        self.assertIn("# TYPE sluice_records_buffered gauge", text)
        self.assertIn("# TYPE sluice_delivery_duration_seconds histogram", text)
        # health endpoints
        self.assertEqual(d.http_get("/healthz")[0], 200)
        self.assertEqual(d.http_get("/readyz")[0], 200)
        self.assertEqual(d.http_get("/nope")[0], 404)
        d.stop()


class BalanceTest(SluiceTestCase):

    def test_balance_during_and_after_load(self):
        d = self.sluice({"bal": {"buffer_size": "1MiB", "buffer_interval": "200ms",
                                 "compression": "gzip"}})
        # load from another process, in small writes (many small reads inside sluice),
        # while this thread scrapes as fast as it can over one keep-alive connection
        producer = start_producer(d.port("bal"), conns=4, seconds=2.5, piece=256)
        conn = http.client.HTTPConnection("127.0.0.1", d.metrics_port, timeout=10)
        scrapes, during, unbalanced = 0, 0, []
        loaded_page = None
        try:
            while producer.poll() is None:
                conn.request("GET", "/metrics")
                resp = conn.getresponse()
                text = resp.read().decode()
                self.assertEqual(resp.status, 200)
                m = Metrics(parse_metrics(text))         # one page: one point in time
                scrapes += 1
                rec, settled = m.balance("bal")
                if rec > 0:
                    during += 1
                if rec != settled:
                    unbalanced.append(("records", rec, settled))
                brx = m.sum("sluice_bytes_received_total", stream="bal")
                bset = (m.sum("sluice_bytes_delivered_total", stream="bal")
                        + m.sum("sluice_bytes_backed_up_total", stream="bal")
                        + m.sum("sluice_bytes_buffered", stream="bal"))
                if brx != bset:
                    unbalanced.append(("bytes", brx, bset))
                if rec > 0 and loaded_page is None:
                    loaded_page = text     # promtool after the load: it is slow to start
        finally:
            conn.close()
            out, _ = producer.communicate(timeout=60)
        if loaded_page is not None and shutil.which("promtool"):
            rc, pout = promtool(loaded_page)
            self.assertEqual(rc, 0, "promtool on a page under load:\n" + pout)
        self.assertEqual(producer.returncode, 0, "the producer failed")
        counts = json.loads(out)
        sent = sum(counts)
        self.assertGreater(sent, 0)
        self.assertGreaterEqual(during, 20, "too few scrapes under load (%d)" % during)
        if unbalanced:
            self.fail("%d of %d scrapes under load broke received = delivered + backed_up + "
                      "dropped + buffered; first (what, received, right side): %r"
                      % (len(unbalanced), during, unbalanced[:5]))

        m = d.wait_records("bal", settled=True, timeout=10)
        expected = [r for i, n in enumerate(counts) for r in producer_records(i, n)]
        nbytes = sum(map(len, expected))
        self.assertEqual(m.get("sluice_records_received_total", stream="bal", source="tcp"), sent)
        self.assertEqual(m.get("sluice_bytes_received_total", stream="bal", source="tcp"), nbytes)
        self.assertEqual(m.get("sluice_records_delivered_total", stream="bal", sink="file"), sent)
        self.assertEqual(m.get("sluice_bytes_delivered_total", stream="bal", sink="file"), nbytes)
        self.assertEqual(m.get("sluice_bytes_buffered", stream="bal"), 0)
        self.assertEqual(m.get("sluice_data_freshness_seconds", stream="bal"), 0)
        self.assertEqual(m.get("sluice_connections", stream="bal", source="tcp"), 0)
        self.assertBalanced(m, "bal")
        self.assertSameRecords(d.read_records("bal"), expected)
        d.stop()


if __name__ == "__main__":
    unittest.main()
