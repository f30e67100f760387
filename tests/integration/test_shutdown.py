"""
SIGTERM / SIGINT: stop accepting, take in what open connections already
sent, seal every batch, wait for deliveries up to shutdown_timeout, exit 0;
exit 3 when records of a memory stream were lost (the timeout, or a second
signal, which stops at once).
"""
import os
import signal
import socket
import time
import unittest

from harness import SluiceTestCase, join_records, make_records, scaled, wait_for


class ShutdownTest(SluiceTestCase):

    def drain_open_connection(self, sig):
        d = self.sluice({"sd": {"buffer_interval": "900s", "compression": "gzip"}})
        recs = make_records(3000, tag=b"sd-")
        s = d.connect()
        s.sendall(join_records(recs))         # the connection stays open
        wait_for(lambda: d.metrics().get("sluice_records_received_total", stream="sd",
                                         source="tcp") == len(recs), 10)
        t0 = time.monotonic()
        d.signal(sig)
        rc = d.proc.wait(scaled(30))
        took = time.monotonic() - t0
        self.assertEqual(rc, 0, d.log_tail())
        self.assertLess(took, scaled(10), "shutdown took %.1fs" % took)
        s.settimeout(scaled(5))
        try:
            self.assertEqual(s.recv(1), b"", "sluice closes open connections on shutdown")
        except ConnectionResetError:
            pass
        s.close()
        # sealed at shutdown although the interval is 900s
        self.assertEqual(d.test_compressed("sd"), len(d.object_files("sd")))
        self.assertSameRecords(d.read_records("sd"), recs)
        self.assertIn("sluice stopped", d.log())
        # stopped accepting: the listener is gone
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", d.port("sd")), timeout=2).close()

    def test_sigterm_takes_in_open_connections(self):
        self.drain_open_connection(signal.SIGTERM)

    def test_sigint_takes_in_open_connections(self):
        self.drain_open_connection(signal.SIGINT)

    def failing_stream(self, sname, keys=None, shutdown_timeout="60s"):
        """A started daemon whose stream <sname> cannot deliver (its sink
        retries for 600s) and holds two records. Returns (daemon, blocker)."""
        conf = {"buffer_interval": "200ms", "retry_duration": "600s"}
        conf.update(keys or {})
        d = self.sluice({sname: conf}, process={"shutdown_timeout": shutdown_timeout},
                        start=False)
        blocker = d.block(sname, "blocked", "out")
        d.start(wait="listening")
        d.send([b"%s-1" % sname.encode(), b"%s-2" % sname.encode()], conns=1)
        wait_for(lambda: d.metrics().get("sluice_delivery_retries_total", stream=sname,
                                         sink="file", cause="sink") > 0, 10)
        return d, blocker

    def wait_exit(self, d, within):
        """Waits for the daemon to exit within <within> (scaled) seconds
        of now; returns (exit status, seconds taken)."""
        t0 = time.monotonic()
        rc = d.proc.wait(scaled(within) + 30)      # the assertion below says how late
        took = time.monotonic() - t0
        d._close_log()
        self.assertLess(took, scaled(within), "exit took %.1fs:\n%s" % (took, d.log_tail()))
        return rc, took

    def test_shutdown_timeout_bounds_a_failing_sink_and_exits_3(self):
        d, _ = self.failing_stream("st", shutdown_timeout="1s")
        d.signal(signal.SIGTERM)
        rc, _ = self.wait_exit(d, 6)
        self.assertEqual(rc, 3, "records of a memory stream were lost: exit status 3")
        self.assertIn("shutdown_timeout reached with batches undelivered", d.log())
        self.assertRegex(d.log(), r'stream=st msg="records lost at shutdown" '
                                  r'cause="shutdown_timeout" records=2 bytes=\d+')
        self.assertIn("records_lost=2", d.log())

    def test_second_signal_stops_at_once(self):
        for first, second in ((signal.SIGTERM, signal.SIGINT),
                              (signal.SIGINT, signal.SIGINT)):
            with self.subTest(first=first, second=second):
                d, _ = self.failing_stream("ss")       # shutdown_timeout 60s
                d.signal(first)
                wait_for(lambda: "shutting down: draining" in d.log(), 10)
                self.assertIsNone(d.proc.poll(), "drains for up to 60s")
                d.signal(second)
                rc, _ = self.wait_exit(d, 5)
                self.assertEqual(rc, 3, d.log_tail())
                self.assertIn("stopping at once", d.log())
                self.assertRegex(d.log(), r'stream=ss msg="records lost at shutdown" '
                                          r'cause="second signal" records=2 ')

    def test_second_signal_leaves_a_disk_stream_in_its_log(self):
        d, blocker = self.failing_stream("sw", {"durability": "disk"})
        d.signal(signal.SIGTERM)
        wait_for(lambda: "shutting down: draining" in d.log(), 10)
        d.signal(signal.SIGTERM)
        rc, _ = self.wait_exit(d, 5)
        self.assertEqual(rc, 0, "nothing lost: the log keeps the records\n" + d.log_tail())
        self.assertIn("they stay in the write-ahead log for the next start", d.log())
        self.assertNotIn("records lost at shutdown", d.log())
        os.remove(blocker)                           # the sink heals; the next start delivers
        d.start()
        d.wait_records("sw", delivered=2, sink="file", timeout=20)
        d.stop()
        self.assertSameRecords(d.read_records("sw"), [b"sw-1", b"sw-2"])

    def test_no_connection_accepted_while_draining(self):
        # While SIGTERM waits for a failing sink, the listener must refuse new
        # producers, not take them into a backlog nobody reads.
        d = self.sluice({"nd": {"buffer_interval": "100ms", "retry_duration": "600s"}},
                        process={"shutdown_timeout": "5s"}, start=False)
        blocker = d.block("nd", "blocked", "out")
        d.start(wait="listening")
        d.send([b"nd-1"], conns=1)
        wait_for(lambda: d.metrics().get("sluice_delivery_retries_total", stream="nd",
                                         sink="file", cause="sink") > 0, 10)
        d.signal(signal.SIGTERM)
        # metrics are served until the end of the drain: once it is draining,
        # the TCP port refuses (or resets) every new connection
        def refused():
            try:
                s = socket.create_connection(("127.0.0.1", d.port("nd")), timeout=1)
            except ConnectionRefusedError:
                return True
            try:                     # accepted into a backlog nobody reads?
                s.sendall(b"late\n")
                s.settimeout(0.5)
                s.recv(1)
                return False
            except socket.timeout:
                return False             # the connection hangs: not refused
            except (ConnectionResetError, BrokenPipeError):
                return True
            finally:
                s.close()
        wait_for(refused, 3, msg="new connections refused while draining")
        self.assertIsNone(d.proc.poll(), "still draining (shutdown_timeout 5s)")
        self.assertEqual(d.proc.wait(scaled(30)), 3, "its record was lost at the timeout")


if __name__ == "__main__":
    unittest.main()
