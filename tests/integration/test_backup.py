"""
Backup path: a batch whose sink keeps failing past retry_duration goes to
backup.path under error_prefix (default: prefix + file-failed/ + the hour),
one Firehose envelope per record saying why; if the backup cannot be
written either, the batch is held and retried, never dropped.
"""
import json
import os
import time
import unittest

from harness import KEY_RE, SluiceTestCase, make_records, split_records, wait_for


class BackupTest(SluiceTestCase):

    def broken_sluice(self, stream, keys, break_backup=False):
        d = self.sluice({stream: keys}, start=False)
        blocker = d.block(stream, "blocked", "out")
        if break_backup:
            bblocker = d.block(stream, "blocked-backup", "backup", key="backup.path")
        d.start(wait="listening")
        return d

    def check_backup(self, d, stream, recs, code, version=1, error_prefix="file-failed/"):
        """One backup object under <error_prefix> holding an envelope per
        record of <recs>, in order, each saying <code>; returns them."""
        root = d.backup_path(stream)
        objects = d.read_envelopes(root=root)
        self.assertEqual(len(objects), 1, "backup objects: %r" % [o for o, _ in objects])
        rel, envs = objects[0]
        m = KEY_RE.match(rel)
        self.assertIsNotNone(m, "backup key %r" % rel)
        self.assertEqual(m.group("prefix"), error_prefix)
        self.assertEqual(m.group("stream"), stream)
        self.assertEqual(int(m.group("version")), version)
        self.assertEqual(m.group("ext"), ".gz")
        self.assertEqual(d.test_compressed(root=root), 1)
        self.assertSameRecords([e["raw"] for e in envs], recs, "records in the backup")
        now_ms = time.time() * 1000
        for e in envs:
            self.assertEqual(list(e)[:6], ["attemptsMade", "arrivalTimestamp", "errorCode",
                                           "errorMessage", "attemptEndingTimestamp",
                                           "rawData"], "Firehose's fields, in its order")
            self.assertEqual(e["errorCode"], code)
            self.assertTrue(e["errorMessage"], "the sink's last error is recorded")
            self.assertEqual((e["stream"], e["sink"]), (stream, "file"))
            self.assertGreaterEqual(e["attemptsMade"], 1)
            self.assertLess(abs(e["arrivalTimestamp"] - now_ms), 120000)
            self.assertLessEqual(e["arrivalTimestamp"], e["attemptEndingTimestamp"])
            self.assertLessEqual(e["attemptEndingTimestamp"], now_ms + 1000)
        return envs

    def test_retries_exhausted_goes_to_backup(self):
        d = self.broken_sluice("bk", {"retry_duration": "1s", "buffer_interval": "200ms",
                                      "compression": "gzip"})
        recs = make_records(10, tag=b"bk-")
        d.send(recs, conns=1)
        m = d.wait_records("bk", backed_up=10, reason="retries_exhausted", timeout=15)
        self.assertEqual(m.get("sluice_bytes_backed_up_total", stream="bk",
                               reason="retries_exhausted"), sum(map(len, recs)))
        self.assertEqual(m.get("sluice_records_backed_up_total", stream="bk",
                               reason="sink_failed"), 0)
        self.assertEqual(m.get("sluice_records_delivered_total", stream="bk", sink="file"), 0)
        self.assertEqual(m.get("sluice_records_buffered", stream="bk"), 0)
        self.assertGreater(m.get("sluice_delivery_retries_total", stream="bk", sink="file",
                                 cause="sink"), 0)
        self.assertBalanced(m, "bk")
        envs = self.check_backup(d, "bk", recs, "File.RetriesExhausted")
        self.assertGreaterEqual(envs[0]["attemptsMade"], 2)
        self.assertIn("backup", d.log())
        self.assertTrue(d.healthy())
        d.stop()

    def test_backup_path_defaults_to_data_dir(self):
        d = self.sluice({"bd": {"retry_duration": "0s", "buffer_interval": "200ms",
                                "compression": "gzip", "backup.path": None}}, start=False)
        blocker = d.block("bd", "blocked", "out")
        d.start(wait="listening")               # backup.path = None: not in the file
        self.assertNotIn("backup.path", d.config_text())
        recs = [b"bd-1", b"bd-2"]
        d.send(recs, conns=1)
        d.wait_records("bd", backed_up=2, timeout=10)
        root = os.path.join(d.process["data_dir"], "backup")
        files = d.object_files(root=root)
        self.assertEqual(len(files), 1, files)
        self.assertTrue(all(f.startswith("file-failed/") for f in files), files)
        d.stop()

    def test_failing_backup_is_retried_not_dropped(self):
        d = self.broken_sluice("bb", {"retry_duration": "0s", "buffer_interval": "200ms",
                                      "compression": "gzip", "error_prefix": "failed/"},
                               break_backup=True)
        recs = make_records(20, tag=b"bb-")
        d.send(recs, conns=1)
        m = wait_for(lambda: (lambda m: m if m.get("sluice_delivery_retries_total", stream="bb",
                                                   sink="file", cause="backup") >= 1 else None)(
            d.metrics()), 10, msg="backup write retried")
        self.assertEqual(m.get("sluice_records_buffered", stream="bb"), 20, "held, not dropped")
        self.assertEqual(m.sum("sluice_records_backed_up_total", stream="bb"), 0)
        self.assertEqual(m.sum("sluice_records_dropped_total", stream="bb"), 0)
        self.assertBalanced(m, "bb")
        # the backup location becomes writable: the batch lands there
        os.remove(os.path.join(d.dir, "blocked-backup"))
        m = d.wait_records("bb", backed_up=20, timeout=15)
        self.assertEqual(m.get("sluice_records_buffered", stream="bb"), 0)
        self.assertEqual(m.get("sluice_records_backed_up_total", stream="bb",
                               reason="retries_exhausted"), 20)
        self.check_backup(d, "bb", recs, "File.RetriesExhausted", error_prefix="failed/")
        d.stop()


if __name__ == "__main__":
    unittest.main()
