"""
(b) Sealing: by size (object payloads never exceed buffer_size unless one
record is bigger) and by interval (an object appears without SIGTERM).
"""
import calendar
import time
import unittest

from harness import SluiceTestCase, make_records, scaled, wait_for


class SizeSealTest(SluiceTestCase):
    BUFFER = 4096

    def test_size_triggered_seals(self):
        d = self.sluice({"sz": {"buffer_size": "4KiB", "buffer_interval": "900s",
                                "compression": "gzip", "max_record_size": "64KiB"}})
        small = make_records(1000, tag=b"size-")              # ~200 KB: ~50 batches
        big = b"BIG-" + b"x" * 10000                          # alone over buffer_size
        recs = small[:500] + [big] + small[500:]
        d.send(recs, conns=1)
        m = wait_for(lambda: (lambda m: m if m.get("sluice_batches_sealed_total", stream="sz",
                                                   reason="size") >= 40 else None)(d.metrics()),
                     10, msg="40 size seals")
        # nothing seals by age with a 900s interval; what is not sealed is still open
        self.assertEqual(m.get("sluice_batches_sealed_total", stream="sz", reason="interval"), 0)
        sealed_size = m.get("sluice_batches_sealed_total", stream="sz", reason="size")
        self.assertGreater(sealed_size, 0)
        d.wait_records("sz", delivered=1, sink="file", at_least=True, timeout=10)
        d.stop()

        got, per_object = d.read_records("sz", with_objects=True)
        self.assertSameRecords(got, recs)
        self.assertGreaterEqual(len(per_object), sealed_size)
        big_alone = False
        for rel, objrecs in per_object:
            self.assertKeyLayout(rel, "sz", version=1, ext=".gz")
            self.assertTrue(objrecs, "empty object %s" % rel)
            payload = sum(map(len, objrecs))
            if big in objrecs:
                self.assertEqual(objrecs, [big], "an over-size record must travel alone")
                big_alone = True
                continue
            self.assertLessEqual(payload, self.BUFFER,
                                 "object %s holds %d payload bytes > buffer_size"
                                 % (rel, payload))
        self.assertTrue(big_alone)
        # the size seals fill their batches: on average well over half of buffer_size
        full = [sum(map(len, r)) for _, r in per_object if big not in r]
        self.assertGreater(sum(full) / len(full), self.BUFFER / 2)


class IntervalSealTest(SluiceTestCase):

    def test_interval_triggered_seal(self):
        d = self.sluice({"iv": {"buffer_size": "5MiB", "buffer_interval": "1s",
                                "compression": "zstd"}})
        seen = []
        for round_, recs in enumerate([[b"iv-a", b"iv-b", b"iv-c"], [b"iv-d", b"iv-e"]], 1):
            t0 = time.monotonic()
            wall0 = time.time()
            d.send(recs, conns=1)
            wall1 = time.time()
            files = wait_for(lambda: len(d.object_files("iv")) >= round_ and d.object_files("iv"),
                             3, msg="object sealed by interval (round %d)" % round_)
            elapsed = time.monotonic() - t0
            self.assertEqual(len(files), round_)
            self.assertGreaterEqual(elapsed, 0.8, "sealed before buffer_interval (%.2fs)" % elapsed)
            self.assertLess(elapsed, scaled(3))
            m = d.wait_records("iv", settled=True, timeout=3)
            self.assertEqual(m.get("sluice_batches_sealed_total", stream="iv", reason="interval"),
                             round_)
            self.assertEqual(m.get("sluice_batches_sealed_total", stream="iv", reason="size"), 0)
            self.assertEqual(m.get("sluice_data_freshness_seconds", stream="iv"), 0)
            # the key's time is the oldest record's arrival, not the seal (1s later)
            new = [f for f in files if f not in seen]
            seen.extend(new)
            k = self.assertKeyLayout(new[0], "iv", version=1, ext=".zst")
            key_t = calendar.timegm((int(k.group("y")), int(k.group("mo")), int(k.group("d")),
                                     int(k.group("h")), int(k.group("mi")), int(k.group("s"))))
            self.assertTrue(int(wall0) <= key_t <= int(wall1),
                            "key time %d outside the send window %.3f..%.3f" % (key_t, wall0, wall1))
        got, per_object = d.read_records("iv", with_objects=True)
        self.assertSameRecords(got, [b"iv-a", b"iv-b", b"iv-c", b"iv-d", b"iv-e"])
        for rel, objrecs in per_object:
            self.assertKeyLayout(rel, "iv", version=1, ext=".zst")
        self.assertEqual(sorted(len(r) for _, r in per_object), [2, 3])
        self.assertEqual(d.test_compressed("iv"), 2)
        m = d.metrics()
        self.assertEqual(m.get("sluice_records_delivered_total", stream="iv", sink="file"), 5)
        d.stop()


if __name__ == "__main__":
    unittest.main()
