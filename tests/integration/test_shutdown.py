"""
SIGTERM / SIGINT: stop accepting, take in what open connections already
sent, seal every batch, wait for deliveries up to shutdown_timeout, exit 0.
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

    def test_shutdown_timeout_bounds_a_failing_sink(self):
        d = self.sluice({"st": {"buffer_interval": "200ms", "retry_duration": "600s"}},
                        process={"shutdown_timeout": "1s"}, start=False)
        blocker = d.block("st", "blocked", "out")
        d.start(wait="listening")
        d.send([b"st-1", b"st-2"], conns=1)
        wait_for(lambda: d.metrics().get("sluice_delivery_retries_total", stream="st",
                                         sink="file", cause="sink") > 0, 10)
        t0 = time.monotonic()
        d.stop(timeout=30)                    # asserts exit code 0
        took = time.monotonic() - t0
        self.assertLess(took, scaled(6), "shutdown_timeout 1s, but exit took %.1fs" % took)
        self.assertIn("undelivered", d.log().lower().replace("not delivered", "undelivered"))

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
        self.assertEqual(d.proc.wait(scaled(30)), 0)


if __name__ == "__main__":
    unittest.main()
