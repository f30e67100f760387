"""
The transform stage through the daemon: a chain of [transform NAME]
sections runs on every batch; Ok records are delivered changed, Dropped ones
counted, failed ones written to backup as Firehose envelopes holding the
source record; backup = all keeps every source record; plugins are loaded
with dlopen and one built for another ABI is refused; config errors name
their line; a reload changes the chain for the next batches.

The plugin is examples/transform_upper.c, built by make next to the daemon.
"""
import os
import subprocess
import threading
import unittest

from harness import (BIN, KEY_RE, SluiceTestCase, join_records, make_records, scaled,
                     send_payload, split_records, wait_for)

PLUGIN = os.path.join(os.path.dirname(BIN), "transform_upper.so")
BADABI = os.path.join(os.path.dirname(BIN), "transform_badabi.so")


class TransformTest(SluiceTestCase):

    def upper(self, **keys):
        t = {"type": "plugin", "path": PLUGIN}
        t.update(keys)
        return t

    def test_plugin_rewrites_and_fails_records(self):
        d = self.sluice({"p": {"transforms": "up", "buffer_interval": "200ms",
                               "compression": "gzip"}},
                        transforms={"up": self.upper(fail_on="poison")})
        good = [b"rec %d abc" % i for i in range(300)]
        bad = [b"poison %d" % i for i in range(7)]
        d.send(good[:150] + bad + good[150:], conns=1)
        m = d.wait_records("p", settled=307, timeout=scaled(20))
        self.assertEqual(m.get("sluice_records_delivered_total", stream="p", sink="file"), 300)
        self.assertEqual(m.get("sluice_records_backed_up_total", stream="p",
                               reason="processing_failed"), 7)
        self.assertEqual(m.get("sluice_bytes_backed_up_total", stream="p",
                               reason="processing_failed"), sum(map(len, bad)))
        # bytes are counted at the source lengths all along
        self.assertEqual(m.get("sluice_bytes_delivered_total", stream="p", sink="file"),
                         sum(map(len, good)))
        self.assertEqual(m.get("sluice_transform_records_total", stream="p", transform="up",
                               result="ok"), 300)
        self.assertEqual(m.get("sluice_transform_records_total", stream="p", transform="up",
                               result="failed"), 7)
        self.assertGreaterEqual(m.get("sluice_transform_duration_seconds_count", stream="p",
                                      transform="up"), 1)
        self.assertBalanced(m, "p")
        self.assertSameRecords(d.read_records("p"), [r.upper() for r in good])
        objects = d.read_envelopes(root=d.backup_path("p"))
        self.assertEqual(len(objects), 1, objects)
        rel, envs = objects[0]
        m = KEY_RE.match(rel)
        self.assertIsNotNone(m, rel)
        self.assertEqual(m.group("prefix"), "processing-failed/")   # no error_prefix set
        self.assertEqual(m.group("ext"), ".gz")
        self.assertSameRecords([e["raw"] for e in envs], bad)        # the source, as it came
        for e in envs:
            self.assertEqual(e["errorCode"], "Upper.Refused")
            self.assertEqual(e["errorMessage"], "the record holds the fail_on text")
            self.assertEqual((e["stream"], e["transform"]), ("p", "up"))
            self.assertEqual(e["attemptsMade"], 1)
            self.assertNotIn("lambdaArn", e)
        d.stop()

    def test_error_prefix_and_partition_keys_from_a_transform(self):
        d = self.sluice({"k": {"transforms": "up", "buffer_interval": "200ms",
                               "prefix": "l=!{partitionKeyFromLambda:letter}/",
                               "error_prefix": "bad/!{firehose:error-output-type}/"}},
                        transforms={"up": self.upper(key="letter", fail_on="zz")})
        recs = [b"%s-%d" % (c, i) for i in range(40) for c in (b"a", b"b", b"c")]
        d.send(recs + [b"azz"], conns=1)
        d.wait_records("k", settled=121, timeout=scaled(20))
        got, per = d.read_records("k", with_objects=True)
        self.assertSameRecords(got, [r.upper() for r in recs])
        for rel, objrecs in per:
            letter = rel.split("/")[0]
            self.assertIn(letter, ("l=A", "l=B", "l=C"), rel)
            self.assertTrue(all(r[:1] == letter[-1].encode() for r in objrecs), rel)
        objects = d.read_envelopes(root=d.backup_path("k"))
        self.assertEqual([rel.split("/")[:2] for rel, _ in objects],
                         [["bad", "processing-failed"]])
        self.assertEqual(objects[0][1][0]["raw"], b"azz")
        d.stop()

    def test_backup_all_keeps_every_source_record(self):
        d = self.sluice({"a": {"transforms": "up", "buffer_interval": "200ms",
                               "backup": "all", "compression": "zstd"}},
                        transforms={"up": self.upper(fail_on="bad")})
        recs = make_records(500, tag=b"all-") + [b"bad one", b"bad two"]
        d.send(recs, conns=2)
        m = d.wait_records("a", settled=502, timeout=scaled(20))
        wait_for(lambda: d.metrics().get("sluice_source_backup_records_total", stream="a")
                 == 502, scaled(10), msg="source backup written")
        m = d.metrics()
        self.assertEqual(m.get("sluice_source_backup_bytes_total", stream="a"),
                         sum(map(len, recs)))
        self.assertEqual(m.get("sluice_records_delivered_total", stream="a", sink="file"), 500)
        self.assertBalanced(m, "a")       # the copies count nowhere else
        root = d.backup_path("a")
        source = [f for f in d.object_files(root=root) if f.startswith("source-records/")]
        self.assertTrue(source)
        for rel in source:
            self.assertIsNotNone(KEY_RE.match(rel), rel)
            self.assertTrue(rel.endswith(".zst"), rel)
        got = [r for f in source for r in split_records(d.read_object(os.path.join(root, f)))]
        self.assertSameRecords(got, recs, "source records, untransformed")
        failed = [e for rel, es in
                  d.read_envelopes(root=os.path.join(root, "processing-failed")) for e in es]
        self.assertSameRecords([e["raw"] for e in failed], [b"bad one", b"bad two"])
        d.stop()

    def test_source_copies_count_toward_max_buffered(self):
        d = self.sluice({"c": {"transforms": "up", "buffer_interval": "100ms",
                               "buffer_size": "64KiB", "max_buffered": "256KiB",
                               "max_record_size": "4KiB", "backup": "all"}},
                        transforms={"up": self.upper()}, start=False)
        blocker = d.block("c", "blocked-backup", "backup", key="backup.path")
        d.start()
        recs = make_records(20000, tag=b"cp-")                 # ~4 MB
        result = {}
        producer = threading.Thread(target=lambda: result.setdefault(
            "r", send_payload(d.port("c"), join_records(recs), chunk=64 * 1024,
                              timeout=scaled(60))), daemon=True)
        producer.start()
        # the records are delivered, but their copies cannot be written: they
        # are held, and the producer is pushed back
        wait_for(lambda: d.metrics().get("sluice_source_backup_pending_bytes", stream="c")
                 >= 128 * 1024, scaled(15), msg="copies held")
        m1 = d.metrics()
        wait_for(lambda: d.metrics().get("sluice_delivery_retries_total", stream="c",
                                         sink="file", cause="backup") >= 3,
                 scaled(15), msg="copies retried")
        m2 = d.metrics()
        got = m2.sum("sluice_bytes_received_total", stream="c")
        self.assertLess(got, 2 << 20, "the producer was not pushed back")
        self.assertEqual(got, m1.sum("sluice_bytes_received_total", stream="c"),
                         "nothing more came in while the copies were held")
        self.assertTrue(producer.is_alive())
        os.remove(blocker)
        producer.join(scaled(60))
        self.assertTrue(result["r"].eof)
        m = d.wait_records("c", settled=20000, timeout=scaled(20))
        wait_for(lambda: d.metrics().get("sluice_source_backup_records_total", stream="c")
                 == 20000, scaled(20), msg="every copy written")
        self.assertEqual(d.metrics().get("sluice_source_backup_pending_bytes", stream="c"), 0)
        self.assertBalanced(m, "c")
        d.stop()

    def test_failed_records_wait_for_a_broken_backup(self):
        d = self.sluice({"w": {"transforms": "up", "buffer_interval": "200ms"}},
                        transforms={"up": self.upper(fail_on="bad")}, start=False)
        blocker = d.block("w", "blocked-backup", "backup", key="backup.path")
        d.start()
        d.send([b"ok 1", b"bad 1", b"ok 2"], conns=1)
        d.wait_records("w", delivered=2, sink="file", timeout=scaled(10),
                       until=lambda m: m.get("sluice_delivery_retries_total", stream="w",
                                             sink="file", cause="backup") >= 1)
        m = d.metrics()
        self.assertEqual(m.get("sluice_records_buffered", stream="w"), 1, "held, not dropped")
        self.assertBalanced(m, "w")
        os.remove(blocker)
        m = d.wait_records("w", settled=3, timeout=scaled(20))
        self.assertEqual(m.get("sluice_records_backed_up_total", stream="w",
                               reason="processing_failed"), 1)
        d.stop()

    def test_reload_changes_the_chain_for_the_next_batches(self):
        d = self.sluice({"r": {"transforms": "up", "buffer_interval": "100ms"}},
                        transforms={"up": self.upper()})
        d.send([b"first"], conns=1)
        d.wait_records("r", settled=1, timeout=scaled(20))
        d.streams["r"]["transforms"] = None          # no chain any more
        d.reload()
        wait_for(lambda: d.metrics().get("sluice_config_reloads_total", result="success") == 1,
                 scaled(10), msg="reloaded")
        # the reload applies to the batches sealed after the batcher takes it:
        # send until one record comes out untouched, then every later one must
        sent = [b"first"]
        def plain():
            sent.append(b"second-%d" % len(sent))
            d.send([sent[-1]], conns=1)
            d.wait_records("r", settled=len(sent), timeout=scaled(20))
            return sent[-1] in d.read_records("r")
        wait_for(plain, scaled(20), interval=0.05, msg="the new chain in use")
        d.send([b"third"], conns=1)
        d.wait_records("r", settled=len(sent) + 1, timeout=scaled(20))
        got = d.read_records("r")
        self.assertIn(b"FIRST", got)
        self.assertIn(b"third", got)
        self.assertEqual(len(got), len(sent) + 1)
        d.stop()

    def test_replay_of_failed_records_delivers_them(self):
        d = self.sluice({"v": {"transforms": "valid", "buffer_interval": "200ms",
                               "compression": "gzip"},
                         "fixed": {"buffer_interval": "200ms"}},
                        transforms={"valid": {"type": "json_validate"}})
        good = [b'{"n":%d}' % i for i in range(100)]
        bad = [b"not json %d" % i for i in range(20)] + [b"{broken"]
        d.send(good[:50] + bad + good[50:], sname="v", conns=1)
        m = d.wait_records("v", settled=121, timeout=scaled(20))
        self.assertEqual(m.get("sluice_records_backed_up_total", stream="v",
                               reason="processing_failed"), 21)
        self.assertSameRecords(d.read_records("v"), good)
        envs = [e for _, es in d.read_envelopes(root=d.backup_path("v")) for e in es]
        self.assertEqual({e["errorCode"] for e in envs}, {"Json.Invalid"})
        r = subprocess.run([BIN, "replay", "--to", "http://127.0.0.1:%d" % d.http_port,
                            "--stream", "fixed", d.backup_path("v")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=scaled(60))
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn("replayed 21 records from 1 files", r.stdout.decode())
        d.wait_records("fixed", settled=21, timeout=scaled(20))
        d.stop()
        self.assertSameRecords(d.read_records("fixed"), bad)

    def check(self, text):
        path = os.path.join(self._daemons[-1].dir if self._daemons else "/tmp",
                            "check-%d.conf" % os.getpid())
        with open(path, "w") as f:
            f.write(text)
        try:
            return subprocess.run([BIN, "--check", "-c", path], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=scaled(30))
        finally:
            os.remove(path)

    def test_config_errors_name_their_lines(self):
        base = ("[stream s]\nfile.path = /tmp/x\ntransforms = %s\n\n"
                "[transform t]\n%s\n")
        cases = [
            ("t", "type = plugin\npath = " + BADABI, ":7: [transform t] path: ",
             "ABI"),
            ("t", "type = plugin\npath = /nonexistent.so", ":7: [transform t] path: ",
             "cannot load"),
            ("t", "type = plugin", ":6: [transform t] path: ", "required when type = plugin"),
            ("t", "type = upper", ":6: [transform t] type: ", "'upper' is not one of"),
            ("t", "path = " + PLUGIN, ":5: [transform t] type: ", "required"),
            ("nope", "type = plugin\npath = " + PLUGIN, ":3: [stream s] transforms: ",
             "no [transform nope] section"),
            ("t", "type = plugin\npath = %s\ncolour = red" % PLUGIN,
             ":8: [transform t] colour: ", "unknown key for the upper plugin"),
            ("t, t", "type = plugin\npath = " + PLUGIN, ":3: [stream s] transforms: ",
             "t is listed twice"),
            ("t", "type = json_validate\npath = " + PLUGIN, ":7: [transform t] path: ",
             "set, but type = json_validate"),
        ]
        for chain, section, where, why in cases:
            r = self.check(base % (chain, section))
            err = r.stderr.decode()
            self.assertEqual(r.returncode, 1, section)
            self.assertIn(where, err, section)
            self.assertIn(why, err, section)
        # a good one passes, and --check never calls a plugin's process()
        r = self.check(base % ("t", "type = plugin\npath = " + PLUGIN))
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        # partition keys from transforms need one that can set them
        r = self.check("[stream s]\nfile.path = /tmp/x\nerror_prefix = e/!{firehose:"
                       "error-output-type}/\nprefix = !{partitionKeyFromLambda:k}/\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn(":4: [stream s] prefix: ", r.stderr.decode())
        self.assertIn("no lambda or plugin transform", r.stderr.decode())


if __name__ == "__main__":
    unittest.main()
