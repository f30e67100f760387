"""
(g) Several streams in one daemon: each has its own listener, buffer and
objects; a stream whose sink fails holds its records (buffered, retried)
without slowing the healthy stream beside it.
"""
import os
import threading
import time
import unittest

from harness import (RECORDS, SluiceTestCase, make_records, scaled, send_payload,
                     join_records, wait_for)

N_B = min(200000, max(2000, RECORDS // 5))   # the healthy stream's records
N_A = 5000                                   # the failing stream's records


class TwoStreamsTest(SluiceTestCase):

    def test_two_streams_deliver_separately(self):
        d = self.sluice({"one": {"buffer_interval": "200ms", "compression": "gzip"},
                         "two": {"buffer_interval": "200ms", "compression": "zstd"}})
        r1 = make_records(300, tag=b"one-")
        r2 = make_records(200, tag=b"two-")
        d.send(r1, conns=2, sname="one")
        d.send(r2, conns=2, sname="two")

        d.wait_records("one", delivered=300, sink="file", settled=True, timeout=10)
        d.wait_records("two", delivered=200, sink="file", settled=True, timeout=10)
        self.assertSameRecords(d.read_records("one"), r1, "stream one")
        self.assertSameRecords(d.read_records("two"), r2, "stream two")
        for rel in d.object_files("one"):
            self.assertKeyLayout(rel, "one", version=1, ext=".gz")
        for rel in d.object_files("two"):
            self.assertKeyLayout(rel, "two", version=1, ext=".zst")
        d.stop()


class FailingStreamIsolationTest(SluiceTestCase):

    def run_pair(self, break_a):
        conf = {"buffer_size": "1MiB", "buffer_interval": "200ms", "compression": "gzip",
                "retry_duration": "600s"}
        d = self.sluice({"a": dict(conf), "b": dict(conf)}, start=False)
        blocker = d.block("a", "a-out", "sub") if break_a else None
        d.start(wait="listening" if break_a else "ready")
        ra = make_records(N_A, tag=b"a-")
        rb = make_records(N_B, tag=b"b-")

        result_a = {}
        ta = threading.Thread(target=lambda: result_a.setdefault(
            "r", send_payload(d.port("a"), join_records(ra))), daemon=True)
        t0 = time.monotonic()
        ta.start()
        d.send(rb, conns=4, sname="b")

        d.wait_records("b", delivered=N_B, sink="file", settled=True, timeout=60, interval=0.05)
        elapsed = time.monotonic() - t0
        ta.join(scaled(30))
        self.assertTrue(result_a["r"].eof, result_a["r"].error)
        return d, ra, rb, elapsed, blocker

    def test_failing_stream_does_not_stall_healthy_one(self):
        # baseline: both healthy
        d, ra, rb, baseline, _ = self.run_pair(break_a=False)
        d.wait_records("a", delivered=N_A, sink="file", timeout=10)
        d.stop()
        self.assertSameRecords(d.read_records("b"), rb, "baseline stream b")
        d.cleanup()

        # stream a's file.path is unusable: b must not notice
        d, ra, rb, elapsed, blocker = self.run_pair(break_a=True)
        self.assertLessEqual(elapsed, 3 * baseline + scaled(2),
                             "stream b took %.2fs beside a failing stream, %.2fs without"
                             % (elapsed, baseline))
        self.assertSameRecords(d.read_records("b"), rb, "stream b beside a failing stream")
        m = wait_for(lambda: (lambda m: m if m.get("sluice_delivery_retries_total", stream="a",
                                                   sink="file", cause="sink") > 0 else None)(
            d.metrics()), 10, msg="stream a retrying")
        self.assertEqual(m.get("sluice_records_received_total", stream="a", source="tcp"), N_A)
        self.assertEqual(m.get("sluice_records_buffered", stream="a"), N_A, "a's records held")
        self.assertEqual(m.get("sluice_records_delivered_total", stream="a", sink="file"), 0)
        self.assertEqual(m.sum("sluice_records_backed_up_total", stream="a"), 0)
        self.assertEqual(m.sum("sluice_records_dropped_total", stream="a"), 0)
        self.assertGreater(m.get("sluice_data_freshness_seconds", stream="a"), 0)
        self.assertEqual(m.get("sluice_delivery_retries_total", stream="b", sink="file",
                               cause="sink"), 0)
        self.assertBalanced(m, "a")
        self.assertBalanced(m, "b")
        self.assertTrue(d.healthy())

        # once a's directory can be made, its held records arrive, each once
        os.remove(blocker)
        d.wait_records("a", delivered=N_A, sink="file", timeout=30)
        d.stop()
        self.assertSameRecords(d.read_records("a"), ra, "stream a after recovery")
        self.assertEqual(d.object_files(root=d.backup_path("a")), [])


if __name__ == "__main__":
    unittest.main()
