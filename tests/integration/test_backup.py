"""
Backup path: a batch whose sink keeps failing past retry_duration goes to
backup.path under error_prefix, with a .json sidecar saying why; if the
backup cannot be written either, the batch is held and retried, never
dropped.
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

    def check_backup(self, d, stream, recs, reason, version=1, error_prefix="errors/"):
        root = d.backup_path(stream)
        files = d.object_files(root=root)
        objects = [f for f in files if not f.endswith(".json")]
        sidecars = [f for f in files if f.endswith(".json")]
        self.assertEqual(len(objects), 1, "backup objects: %r" % files)
        self.assertEqual(sidecars, [objects[0] + ".json"], "sidecar beside the object")
        rel = objects[0]
        m = KEY_RE.match(rel)
        self.assertIsNotNone(m, "backup key %r" % rel)
        self.assertEqual(m.group("prefix"), error_prefix)
        self.assertEqual(m.group("stream"), stream)
        self.assertEqual(int(m.group("version")), version)
        self.assertEqual(m.group("ext"), ".gz")
        self.assertEqual(d.test_compressed(root=root), 1)   # the .json is not an object
        self.assertSameRecords(split_records(d.read_object(os.path.join(root, rel))), recs,
                               "records in the backup")
        with open(os.path.join(root, sidecars[0])) as f:
            side = json.load(f)
        self.assertEqual(side["reason"], reason)
        self.assertEqual(side["records"], len(recs))
        self.assertEqual(side["bytes"], sum(map(len, recs)))
        self.assertEqual(side["stream"], stream)
        self.assertEqual(side["version"], version)
        self.assertTrue(side["error"], "the sink's last error is recorded")
        self.assertGreaterEqual(side["attempts"], 2)
        okey = KEY_RE.match(side["object_key"])
        self.assertIsNotNone(okey, "object_key %r" % side["object_key"])
        self.assertEqual(okey.group("prefix"), "")
        # the backup keeps the object's name (same uuid and time)
        self.assertEqual(okey.group("uuid"), m.group("uuid"))
        now_ms = time.time() * 1000
        for k in ("first_attempt_ms", "last_attempt_ms", "oldest_arrival_ms"):
            self.assertLess(abs(side[k] - now_ms), 120000, k)
        self.assertLessEqual(side["oldest_arrival_ms"], side["first_attempt_ms"])
        self.assertLessEqual(side["first_attempt_ms"], side["last_attempt_ms"])
        return side

    def test_retries_exhausted_goes_to_backup(self):
        d = self.broken_sluice("bk", {"retry_duration": "1s", "buffer_interval": "200ms",
                                      "compression": "gzip"})
        recs = make_records(10, tag=b"bk-")
        d.send(recs, conns=1)
        m = wait_for(lambda: (lambda m: m if m.get("sluice_records_backed_up_total", stream="bk",
                                                   reason="retries_exhausted") == 10 else None)(
            d.metrics()), 15, msg="10 records backed up")
        self.assertEqual(m.get("sluice_bytes_backed_up_total", stream="bk",
                               reason="retries_exhausted"), sum(map(len, recs)))
        self.assertEqual(m.get("sluice_records_backed_up_total", stream="bk",
                               reason="sink_failed"), 0)
        self.assertEqual(m.get("sluice_records_delivered_total", stream="bk", sink="file"), 0)
        self.assertEqual(m.get("sluice_records_buffered", stream="bk"), 0)
        self.assertGreater(m.get("sluice_delivery_retries_total", stream="bk", sink="file",
                                 cause="sink"), 0)
        self.assertBalanced(m, "bk")
        self.check_backup(d, "bk", recs, "retries_exhausted")
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
        wait_for(lambda: d.metrics().sum("sluice_records_backed_up_total", stream="bd") == 2,
                 10, msg="backed up")
        root = os.path.join(d.process["data_dir"], "backup")
        files = d.object_files(root=root)
        self.assertEqual(len(files), 2, files)
        self.assertTrue(all(f.startswith("errors/") for f in files), files)
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
        m = wait_for(lambda: (lambda m: m if m.sum("sluice_records_backed_up_total",
                                                   stream="bb") == 20 else None)(d.metrics()),
                     15, msg="backup written once possible")
        self.assertEqual(m.get("sluice_records_buffered", stream="bb"), 0)
        self.assertEqual(m.get("sluice_records_backed_up_total", stream="bb",
                               reason="retries_exhausted"), 20)
        self.check_backup(d, "bb", recs, "retries_exhausted", error_prefix="failed/")
        d.stop()


if __name__ == "__main__":
    unittest.main()
