"""
test_notify.py - what sluice tells systemd through sd_notify: READY at
start, RELOADING then READY around a SIGHUP, WATCHDOG pings while
WATCHDOG_USEC is set, STOPPING at SIGTERM. A datagram socket in the test
plays systemd's part (NOTIFY_SOCKET).
"""
import os
import signal
import socket
import time

from harness import SluiceTestCase, scaled


class NotifyTest(SluiceTestCase):
    def setUp(self):
        super().setUp()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.path = "/tmp/sluice-notify-%d-%d.sock" % (os.getpid(), id(self))
        self.sock.bind(self.path)
        self.saved = {k: os.environ.get(k) for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}

    def tearDown(self):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self.sock.close()
        os.unlink(self.path)
        super().tearDown()

    def expect(self, word, timeout=10):
        """Reads notifications until one holds the line <word>; returns all seen."""
        seen = []
        deadline = time.monotonic() + scaled(timeout)
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            seen.append(msg)
            if word in msg.split("\n"):
                return seen
        self.fail("no %s notification; got %r" % (word, seen))

    def test_notify_ready_reloading_watchdog_stopping(self):
        os.environ["NOTIFY_SOCKET"] = self.path
        os.environ["WATCHDOG_USEC"] = "400000"
        d = self.sluice()
        self.expect("READY=1")
        self.expect("WATCHDOG=1", timeout=3)
        d.reload()
        self.expect("RELOADING=1")
        self.expect("READY=1")
        d.signal(signal.SIGTERM)
        self.expect("STOPPING=1")
        self.assertEqual(d.proc.wait(timeout=scaled(30)), 0)

    def test_notify_nothing_without_socket(self):
        os.environ.pop("NOTIFY_SOCKET", None)
        d = self.sluice()
        self.sock.settimeout(0.3)
        with self.assertRaises(socket.timeout):
            self.sock.recv(4096)
        d.stop()


if __name__ == "__main__":
    import unittest
    unittest.main()
