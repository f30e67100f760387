"""
(c) Robustness of the TCP listener: oversized lines, binary junk, half-open
and reset connections, idle connections, a connection flood past
max_connections. The daemon stays up and no valid record is lost.
"""
import random
import select
import socket
import struct
import time
import unittest

from harness import (SluiceTestCase, frame_model, join_records, make_records, scaled,
                     send_concurrently, send_payload, wait_for)


def read_until_eof(s, timeout):
    s.settimeout(scaled(timeout))
    while True:
        b = s.recv(65536)
        if not b:
            return


class OversizeTest(SluiceTestCase):

    def test_oversized_lines_rejected_connection_stays_usable(self):
        d = self.sluice({"ov": {"max_record_size": "1KiB", "buffer_interval": "200ms"}})

        def rejected():
            return d.metrics().get("sluice_records_rejected_total", stream="ov", source="tcp",
                                   reason="oversize")

        s = d.connect()
        s.sendall(b"ok-1\n" + b"A" * 5000 + b"\n" + b"ok-2\n"
                  + b"B" * 1024 + b"\n"           # exactly max_record_size: kept
                  + b"C" * 1024 + b"\r\n"         # max_record_size + CRLF: kept, '\r' dropped
                  + b"D" * 1025 + b"\n")          # one byte over: rejected
        wait_for(lambda: rejected() == 2, 5, msg="2 oversize rejections")
        # a line far bigger than any read, in pieces, then more records on the same connection
        s.sendall(b"E" * 100000)
        s.sendall(b"E" * 200000 + b"\nok-3\n")
        wait_for(lambda: rejected() == 3, 5, msg="3rd oversize rejection")
        s.sendall(b"G" * 1024 + b"\r")           # max + '\r' waits in the buffer...
        s.sendall(b"\nok-4\n" + b"F" * 2000)     # ...its '\n' comes later: kept;
                                                 # then an oversize last line without '\n'
        s.shutdown(socket.SHUT_WR)
        read_until_eof(s, 10)
        s.close()
        # a valid last line without newline is kept
        r = send_payload(d.port("ov"), b"ok-5\nok-6")
        self.assertTrue(r.eof, r.error)
        # one byte over at EOF, short enough to wait in the buffer: rejected at close
        r = send_payload(d.port("ov"), b"ok-7\n" + b"H" * 1025)
        self.assertTrue(r.eof, r.error)

        expected = [b"ok-1", b"ok-2", b"B" * 1024, b"C" * 1024, b"ok-3", b"G" * 1024, b"ok-4",
                    b"ok-5", b"ok-6", b"ok-7"]
        m = d.wait_records("ov", settled=len(expected), source="tcp", timeout=10)
        self.assertEqual(rejected(), 5)
        self.assertEqual(m.get("sluice_bytes_received_total", stream="ov", source="tcp"),
                         sum(map(len, expected)))
        self.assertBalanced(m, "ov")
        self.assertTrue(d.healthy())
        self.assertSameRecords(d.read_records("ov"), expected)
        self.assertIn("max_record_size", d.log())      # the rejection is logged
        d.stop()

    def test_records_at_the_default_limit(self):
        # max_record_size defaults to 1000KiB: a record of exactly that size, in
        # small writes, is kept whole; one byte more is rejected
        big = 1000 * 1024
        d = self.sluice({"lim": {"buffer_size": "1MiB", "buffer_interval": "200ms",
                                 "compression": "gzip"}})
        recs = [b"a" * big, b"b" * (big + 1), b"c" * (big - 1) + b"\r", b"small", b"d" * big]
        payload = b"\n".join(recs) + b"\n" + b"e" * big      # the last one at EOF
        r = send_payload(d.port("lim"), payload, chunk=7777)
        self.assertTrue(r.eof, r.error)
        expected = [b"a" * big, b"c" * (big - 1), b"small", b"d" * big, b"e" * big]
        m = d.wait_records("lim", settled=len(expected), source="tcp", timeout=10)
        self.assertEqual(m.get("sluice_records_rejected_total", stream="lim", source="tcp",
                               reason="oversize"), 1)
        self.assertSameRecords(d.read_records("lim"), expected)
        d.stop()


class JunkTest(SluiceTestCase):

    def test_binary_junk(self):
        max_len = 256
        d = self.sluice({"junk": {"max_record_size": "256B", "buffer_size": "64KiB",
                                  "buffer_interval": "200ms", "compression": "gzip"}})
        rnd = random.Random(1234)
        payloads = []
        for i in range(4):
            raw = bytearray(rnd.randbytes(300000))
            # plenty of NULs, CRs, CRLFs and empty lines among the random bytes
            for _ in range(3000):
                pos = rnd.randrange(len(raw))
                raw[pos:pos + 1] = rnd.choice([b"\0", b"\r", b"\r\n", b"\n\n", b"\n\r\n"])
            payloads.append(bytes(raw))
        payloads.append(b"\0" * 1000 + b"\r" * 1000)   # one line, over max, without '\n'
        payloads.append(b"\r\n\r\n\n\n")                  # only empty lines
        expected, rejected = [], 0
        for p in payloads:
            recs, rej = frame_model(p, max_len)
            expected += recs
            rejected += rej
        self.assertGreater(rejected, 10)
        self.assertGreater(len(expected), 1000)

        results = send_concurrently(d.port("junk"), payloads)
        for r in results:
            self.assertTrue(r.eof and r.error is None, (r.error, r.eof))
        self.assertTrue(d.healthy())
        # a clean producer afterwards is served as usual
        clean = make_records(100, tag=b"clean-", min_len=50, max_len=200)
        d.send(clean, conns=2)
        expected += clean

        m = d.wait_records("junk", settled=len(expected), source="tcp", timeout=10)
        self.assertEqual(m.get("sluice_records_rejected_total", stream="junk", source="tcp",
                               reason="oversize"), rejected)
        self.assertBalanced(m, "junk")
        d.stop()
        self.assertEqual(d.test_compressed("junk"), len(d.object_files("junk")))
        self.assertSameRecords(d.read_records("junk"), expected, "junk records")


class HalfOpenTest(SluiceTestCase):

    def test_half_open_and_reset_connections(self):
        d = self.sluice({"ho": {"buffer_interval": "200ms", "idle_timeout": "300s"}})
        port = d.port("ho")
        # 1: sends, shuts its write side at once, keeps reading: sluice answers with EOF
        a = d.connect()
        a.sendall(b"h-1\nh-2\r\nh-3-no-newline")
        a.shutdown(socket.SHUT_WR)
        t0 = time.monotonic()
        read_until_eof(a, 5)
        self.assertLess(time.monotonic() - t0, scaled(3))
        a.close()
        # 2: shuts its write side without sending anything
        b = d.connect()
        b.shutdown(socket.SHUT_WR)
        read_until_eof(b, 5)
        b.close()
        # 3: several half-open connections left open on our side (not closed, not read)
        held = []
        for i in range(5):
            s = d.connect()
            s.sendall(b"held-%d\n" % i)
            s.shutdown(socket.SHUT_WR)
            held.append(s)
        for s in held:
            read_until_eof(s, 5)
        # 4: sends, then resets the connection (SO_LINGER 0) with a partial line pending
        c = d.connect()
        c.sendall(b"h-4\n")
        wait_for(lambda: d.metrics().get("sluice_records_received_total", stream="ho",
                                         source="tcp") == 9, 5, msg="h-4 received")
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        # 5: connects and resets at once
        for _ in range(5):
            e = socket.create_connection(("127.0.0.1", port))
            e.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            e.close()
        for s in held:
            s.close()

        wait_for(lambda: d.metrics().get("sluice_connections", stream="ho", source="tcp") == 0,
                 5, msg="every connection closed by sluice")
        self.assertTrue(d.healthy())
        r = send_payload(port, b"h-5\n")
        self.assertTrue(r.eof, r.error)
        expected = [b"h-1", b"h-2", b"h-3-no-newline", b"h-4", b"h-5"] + \
                   [b"held-%d" % i for i in range(5)]
        m = d.wait_records("ho", settled=len(expected), source="tcp", timeout=10)
        self.assertBalanced(m, "ho")
        self.assertSameRecords(d.read_records("ho"), expected)
        d.stop()


class IdleTest(SluiceTestCase):

    def test_idle_connection_closed(self):
        d = self.sluice({"idle": {"idle_timeout": "1s", "buffer_interval": "200ms"}})
        s = d.connect()
        s.sendall(b"idle-1\n")
        t0 = time.monotonic()
        read_until_eof(s, 6)                 # sluice closes it: recv sees EOF
        waited = time.monotonic() - t0
        s.close()
        self.assertGreaterEqual(waited, 0.9, "closed before idle_timeout (%.2fs)" % waited)
        self.assertLess(waited, scaled(3.5), "idle connection closed after %.2fs" % waited)

        # a connection that keeps talking is not idle, even past idle_timeout
        busy = d.connect()
        recs = []
        t0 = time.monotonic()
        i = 0
        while time.monotonic() - t0 < 2.5:
            rec = b"busy-%d" % i
            busy.sendall(rec + b"\n")
            recs.append(rec)
            i += 1
            r, _, _ = select.select([busy], [], [], 0.3)   # pacing: 300 ms between records
            self.assertFalse(r, "sluice closed a connection that was not idle")
        busy.shutdown(socket.SHUT_WR)
        read_until_eof(busy, 5)
        busy.close()

        m = d.wait_records("idle", settled=1 + len(recs), source="tcp", timeout=10)
        self.assertEqual(m.get("sluice_connections", stream="idle", source="tcp"), 0)
        self.assertSameRecords(d.read_records("idle"), [b"idle-1"] + recs)
        self.assertTrue(d.healthy())
        d.stop()

    def test_incomplete_line_is_not_a_record(self):
        # Only the producer's EOF completes a last line without '\n'. A line cut
        # short because sluice closed an idle connection, or because the producer
        # reset it, is not a record: delivering it would hand on a truncated record.
        d = self.sluice({"cut": {"idle_timeout": "1s", "buffer_interval": "200ms"}})
        s = d.connect()
        s.sendall(b"cut-whole-1\n{\"half\": \"a JSON obj")
        read_until_eof(s, 6)                         # closed for being idle
        s.close()
        base = d.metrics().get("sluice_records_received_total", stream="cut", source="tcp")
        r = d.connect()
        r.sendall(b"cut-whole-2\n{\"half\": \"another")
        wait_for(lambda: d.metrics().get("sluice_records_received_total", stream="cut",
                                         source="tcp") >= base + 1, 5, msg="cut-whole-2 read")
        r.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        r.close()                                    # reset mid-record
        wait_for(lambda: d.metrics().get("sluice_connections", stream="cut",
                                         source="tcp") == 0, 5)
        m = d.wait_records("cut", settled=True, timeout=10)
        got = d.read_records("cut")
        self.assertSameRecords(got, [b"cut-whole-1", b"cut-whole-2"],
                               "records after idle close and reset (truncated ones must not "
                               "be delivered)")
        self.assertEqual(m.get("sluice_records_received_total", stream="cut", source="tcp"), 2)
        d.stop()


class FloodTest(SluiceTestCase):

    def test_connection_flood_past_max_connections(self):
        d = self.sluice({"fl": {"max_connections": "5", "buffer_interval": "200ms"}})
        socks = [socket.create_connection(("127.0.0.1", d.port("fl")), timeout=scaled(10))
                 for _ in range(50)]

        def closed_by_sluice():
            r, _, _ = select.select(socks, [], [], 0)
            return r if len(r) >= 45 else None

        refused = wait_for(closed_by_sluice, 10, msg="45 connections closed at once")
        self.assertEqual(len(refused), 45)
        accepted = [s for s in socks if s not in refused]
        m = d.metrics()
        self.assertEqual(m.get("sluice_connections_rejected_total", stream="fl", source="tcp"), 45)
        self.assertEqual(m.get("sluice_connections", stream="fl", source="tcp"), 5)
        self.assertTrue(d.healthy())

        for i, s in enumerate(refused):          # what refused producers send never enters
            try:
                s.sendall(b"refused-%d\n" % i)
            except OSError:
                pass
        expected = []
        for i, s in enumerate(accepted):
            recs = make_records(200, start=i * 1000, tag=b"flood-")
            s.sendall(join_records(recs))
            s.shutdown(socket.SHUT_WR)
            expected += recs
        for s in accepted:
            read_until_eof(s, 10)
        for s in socks:
            s.close()

        m = d.wait_records("fl", settled=len(expected), source="tcp", timeout=10)
        self.assertEqual(m.get("sluice_connections", stream="fl", source="tcp"), 0)
        self.assertBalanced(m, "fl")
        # slots are free again: a new producer gets in
        r = send_payload(d.port("fl"), b"after-flood\n")
        self.assertTrue(r.eof, r.error)
        expected.append(b"after-flood")
        d.wait_records("fl", settled=len(expected), source="tcp", timeout=10)
        self.assertTrue(d.healthy())
        self.assertSameRecords(d.read_records("fl"), expected)
        d.stop()


if __name__ == "__main__":
    unittest.main()
