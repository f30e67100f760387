"""
(e) Backpressure: while the sink fails (a regular file sits where file.path
needs a directory), the stream fills up to max_buffered and sluice stops
reading: the producer blocks, nothing is dropped or backed up. Once the
directory can be made, every record arrives exactly once.
"""
import os
import threading
import time
import unittest

from harness import (SLOW, SluiceTestCase, join_records, make_records, proc_status, send_payload,
                     wait_for)

MAX_BUFFERED = 64 * 1024
SLACK = 128 * 1024          # one read (64 KiB) per I/O thread may land past the limit


class BackpressureTest(SluiceTestCase):

    def test_blocked_producer_then_recovery(self):
        d = self.sluice({"bp": {"max_buffered": "64KiB", "buffer_size": "16KiB",
                                "buffer_interval": "200ms", "retry_duration": "600s",
                                "max_record_size": "1KiB", "compression": "gzip"}},
                        start=False)
        blocker = d.block("bp", "out", "sub")
        d.start(wait="listening")
        status, body = d.http_get("/readyz")
        self.assertEqual(status, 503, "readyz must report the unusable sink")
        self.assertIn("not a directory", body.lower())

        recs = make_records(10000, tag=b"bp-")      # ~2 MB
        payload = join_records(recs)
        total = sum(map(len, recs))
        result = {}
        producer = threading.Thread(
            target=lambda: result.setdefault("r", send_payload(d.port("bp"), payload,
                                                               chunk=64 * 1024,
                                                               sndbuf=32 * 1024, timeout=120)),
            daemon=True)
        producer.start()

        def held():
            return d.metrics().get("sluice_bytes_buffered", stream="bp")

        wait_for(lambda: held() >= MAX_BUFFERED, 10, msg="stream filled to max_buffered")
        wait_for(lambda: d.metrics().get("sluice_delivery_retries_total", stream="bp",
                                         sink="file", cause="sink") > 0, 10,
                 msg="delivery retried")
        # observe for a while: the producer stays blocked, the stream stays bounded
        t_end = time.monotonic() + 1.5
        peak = 0
        while time.monotonic() < t_end:
            m = d.metrics()
            b = m.get("sluice_bytes_buffered", stream="bp")
            peak = max(peak, b)
            self.assertLessEqual(b, MAX_BUFFERED + SLACK, "bytes_buffered over the limit")
            self.assertLess(m.get("sluice_bytes_received_total", stream="bp", source="tcp"),
                            total)
            self.assertEqual(m.get("sluice_records_delivered_total", stream="bp", sink="file"), 0)
            self.assertEqual(m.sum("sluice_records_backed_up_total", stream="bp"), 0)
            self.assertEqual(m.sum("sluice_records_dropped_total", stream="bp"), 0)
            self.assertBalanced(m, "bp")
            self.assertTrue(producer.is_alive(), "the producer was not blocked")
            time.sleep(0.05)       # pacing of the observation, not synchronisation
        self.assertTrue(d.healthy())
        self.assertGreater(d.metrics().get("sluice_data_freshness_seconds", stream="bp"), 0.5)

        os.remove(blocker)         # the sink can make its directory again
        deadline_ok = False

        def producer_done(m):
            nonlocal peak
            peak = max(peak, m.get("sluice_bytes_buffered", stream="bp"))
            return not producer.is_alive()

        d.wait_records("bp", delivered=len(recs), sink="file", settled=True, until=producer_done,
                       timeout=60, interval=0.05)
        deadline_ok = True
        self.assertTrue(deadline_ok)
        self.assertLessEqual(peak, MAX_BUFFERED + SLACK)
        r = result["r"]
        self.assertIsNone(r.error)
        self.assertTrue(r.eof)
        m = d.metrics()
        self.assertEqual(m.get("sluice_records_received_total", stream="bp", source="tcp"),
                         len(recs))
        self.assertEqual(m.sum("sluice_records_backed_up_total", stream="bp"), 0)
        self.assertBalanced(m, "bp")
        self.assertEqual(d.http_get("/readyz")[0], 200)
        d.stop()
        self.assertEqual(d.object_files(root=d.backup_path("bp")), [], "backup written")
        self.assertEqual(d.test_compressed("bp"), len(d.object_files("bp")))
        self.assertSameRecords(d.read_records("bp"), recs)

    def test_many_producers_bounded(self):
        d = self.sluice({"bm": {"max_buffered": "64KiB", "buffer_size": "16KiB",
                                "buffer_interval": "200ms", "retry_duration": "600s",
                                "max_record_size": "1KiB"}}, start=False)
        blocker = d.block("bm", "out", "sub")
        d.start(wait="listening")
        recs = [make_records(2500, start=i * 100000, tag=b"bm-") for i in range(4)]
        results = [None] * 4

        def produce(i):
            results[i] = send_payload(d.port("bm"), join_records(recs[i]), chunk=16 * 1024,
                                      sndbuf=32 * 1024, timeout=120)

        threads = [threading.Thread(target=produce, args=(i,), daemon=True) for i in range(4)]
        for t in threads:
            t.start()
        wait_for(lambda: d.metrics().get("sluice_bytes_buffered", stream="bm") >= MAX_BUFFERED,
                 10, msg="stream filled to max_buffered")
        t_end = time.monotonic() + 1.0
        while time.monotonic() < t_end:
            m = d.metrics()
            self.assertLessEqual(m.get("sluice_bytes_buffered", stream="bm"),
                                 MAX_BUFFERED + SLACK)
            self.assertTrue(all(t.is_alive() for t in threads), "a producer was not blocked")
            time.sleep(0.05)       # pacing of the observation, not synchronisation
        os.remove(blocker)
        peak = 0

        def producers_done(m):
            nonlocal peak
            peak = max(peak, m.get("sluice_bytes_buffered", stream="bm"))
            return not any(t.is_alive() for t in threads)

        d.wait_records("bm", settled=True, until=producers_done, timeout=60, interval=0.05)
        self.assertLessEqual(peak, MAX_BUFFERED + SLACK)
        for r in results:
            self.assertTrue(r.eof and r.error is None, (r.error, r.eof))
        d.stop()
        self.assertSameRecords(d.read_records("bm"), [r for rs in recs for r in rs])

    def test_reset_while_paused_does_not_spin(self):
        # A producer that resets its connection while sluice is not reading it
        # (backpressure) must not leave an I/O thread spinning on the error.
        import socket
        import struct
        d = self.sluice({"rs": {"max_buffered": "64KiB", "buffer_size": "16KiB",
                                "buffer_interval": "100ms", "retry_duration": "600s",
                                "max_record_size": "1KiB"}}, start=False)
        blocker = d.block("rs", "out", "sub")
        d.start(wait="listening")
        s = d.connect()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
        s.setblocking(False)
        data = join_records(make_records(3000, tag=b"rs-"))
        sent = 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:       # fill until sluice stops reading
            try:
                sent += s.send(data[sent:sent + 65536])
            except BlockingIOError:
                if d.metrics().get("sluice_bytes_buffered", stream="rs") >= MAX_BUFFERED:
                    break
                time.sleep(0.01)
        self.assertGreaterEqual(d.metrics().get("sluice_bytes_buffered", stream="rs"),
                                MAX_BUFFERED)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()                                # RST while paused

        def cpu_seconds():
            with open("/proc/%d/stat" % d.proc.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        c0 = cpu_seconds()
        time.sleep(2)                            # measuring CPU use over 2 s, not syncing
        used = cpu_seconds() - c0
        self.assertLess(used, 1.0, "sluice used %.2f CPU-s in 2 s with a reset, paused "
                        "connection (a spinning I/O thread uses 2)" % used)
        # once the sink works, what was taken in is delivered and the dead
        # connection is noticed and closed
        os.unlink(blocker)
        d.wait_records("rs", settled=True, timeout=30)
        wait_for(lambda: d.metrics().get("sluice_connections", stream="rs", source="tcp") == 0,
                 10, msg="the reset connection closed")
        d.stop()


if __name__ == "__main__":
    unittest.main()


class MemoryBackTest(SluiceTestCase):
    """
    Once a backlog is delivered, the daemon gives the memory it held back
    to the kernel (main.c, tidy_memory): chunks live in the heap, of which
    glibc returns only the top by itself.
    """

    @unittest.skipIf(SLOW > 1, "the sanitizers' allocator keeps what is freed as it likes")
    def test_memory_given_back_after_a_backlog(self):
        d = self.sluice({"mb": {"max_buffered": "256MiB", "buffer_size": "8MiB",
                                "buffer_interval": "200ms", "retry_duration": "600s",
                                "compression": "none"}}, start=False)
        blocker = d.block("mb", "out", "sub")
        d.start(wait="listening")
        recs = make_records(300000, tag=b"mb-")      # ~60 MB, under max_buffered
        total = sum(map(len, recs))
        send_payload(d.port("mb"), join_records(recs), timeout=120)
        wait_for(lambda: d.metrics().get("sluice_bytes_buffered", stream="mb") >= total, 30,
                 msg="the backlog held")
        # a backlog that lasts, as backlogs do: the main thread sees what the
        # streams hold once a second
        wait_for(lambda: d.metrics().get("sluice_data_freshness_seconds", stream="mb") >= 2.5,
                 30, msg="the backlog held for 2.5 s")
        full = proc_status(d.proc.pid, "VmRSS")
        self.assertGreater(full, total, "the backlog is not in memory")
        os.remove(blocker)
        d.wait_records("mb", delivered=len(recs), sink="file", settled=True, timeout=120)
        # at least half the backlog's bytes back (the workers keep their
        # output buffers, up to a batch each)
        wait_for(lambda: proc_status(d.proc.pid, "VmRSS") < full - total / 2, 10,
                 msg="memory given back: VmRSS under %d bytes, from %d with the backlog held"
                     % (full - total / 2, full))
