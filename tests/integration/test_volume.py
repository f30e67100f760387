"""
(a) Volume: SLUICE_RECORDS records (default 1,000,000; 100-300 bytes, unique
ids) over 8 concurrent TCP connections, then SIGTERM. Every record must be in
the objects exactly once, for each compression; the objects must pass
`gzip -t` / `zstd -t`.
"""
import unittest

from harness import RECORDS, SluiceTestCase, make_records


class VolumeTest(SluiceTestCase):
    _records = None

    @classmethod
    def records(cls):
        if cls._records is None:
            cls._records = make_records(RECORDS, tag=b"vol-")
        return cls._records

    @classmethod
    def tearDownClass(cls):
        cls._records = None

    def run_volume(self, compression, ext):
        recs = self.records()
        d = self.sluice({"vol": {"compression": compression, "buffer_size": "4MiB",
                                 "buffer_interval": "60s"}})
        d.send(recs, conns=8)
        m = d.metrics()
        self.assertEqual(m.get("sluice_records_received_total", stream="vol", source="tcp"),
                         len(recs))
        self.assertEqual(m.get("sluice_bytes_received_total", stream="vol", source="tcp"),
                         sum(map(len, recs)))
        self.assertEqual(m.sum("sluice_records_rejected_total", stream="vol"), 0)
        self.assertBalanced(m, "vol")
        d.stop()

        files = d.object_files("vol")
        self.assertGreater(len(files), 0, "no object written")
        for rel in files:
            self.assertKeyLayout(rel, "vol", version=1, ext=ext)
        if ext:
            self.assertEqual(d.test_compressed("vol"), len(files))
        got = d.read_records("vol")
        self.assertSameRecords(got, recs, "records after SIGTERM (%s)" % compression)

    def test_volume_gzip(self):
        self.run_volume("gzip", ".gz")

    def test_volume_zstd(self):
        self.run_volume("zstd", ".zst")

    def test_volume_none(self):
        self.run_volume("none", "")


if __name__ == "__main__":
    unittest.main()
