"""
test_null_sink.py - sink = null: takes loadgen's records and discards them,
counted as delivered and balanced, with nothing written anywhere; and, as a
record sink answering per record, refuses the records null.refuse names
(to backup, Null.Refused) and retries the ones null.retry names alone,
through the engine's per-record path.
"""
import os
import subprocess

from harness import BIN, LOADGEN, SluiceTestCase, make_records, scaled

NULL = {"sink": "null", "file.path": None, "buffer_interval": "100ms"}


class NullSinkTest(SluiceTestCase):

    def test_loadgen_records_are_delivered_and_balanced(self):
        d = self.sluice({"nl": dict(NULL, compression="zstd")})
        out = subprocess.run([LOADGEN, "tcp", "-p", str(d.port("nl")), "-c", "4",
                              "-n", "20000"], capture_output=True, text=True,
                             timeout=scaled(60))
        self.assertEqual(out.returncode, 0, out.stderr)
        m = d.wait_records("nl", settled=20000, timeout=30)
        self.assertEqual(m.get("sluice_records_delivered_total", stream="nl", sink="null"),
                         20000)
        self.assertEqual(m.sum("sluice_records_backed_up_total", stream="nl"), 0)
        self.assertBalanced(m, "nl")
        self.assertEqual(m.get("sluice_records_buffered", stream="nl"), 0)
        # a record sink takes the records themselves: no object, no compression
        self.assertEqual(m.get("sluice_sink_bytes_total", stream="nl", sink="null"),
                         m.get("sluice_bytes_delivered_total", stream="nl", sink="null"))
        self.assertGreater(m.get("sluice_sink_writes_total", stream="nl", sink="null",
                                 result="ok"), 0)
        self.assertEqual(m.get("sluice_sink_writes_total", stream="nl", sink="null",
                               result="error"), 0)
        self.assertFalse(m.has("sluice_s3_uploads_total"), "no other sink's families")
        d.stop()
        files = [f for _, _, fs in os.walk(d.dir) for f in fs
                 if f not in ("sluice.conf", "sluice.log")]
        self.assertEqual(files, [], "the null sink writes nothing")

    def test_refused_records_go_to_backup_and_retried_ones_alone(self):
        d = self.sluice({"nr": dict(NULL, **{"null.refuse": "REFUSE-ME",
                                             "null.retry": "RETRY-ME",
                                             "compression": "gzip"})})
        recs = make_records(200, tag=b"nr-")
        refuse = [i for i in range(200) if i % 40 == 3]          # 5 records
        retry = [i for i in range(200) if i % 25 == 7]           # 8 records
        for i in refuse:
            recs[i] = recs[i][:20] + b"REFUSE-ME" + recs[i][20:]
        for i in retry:
            recs[i] = recs[i][:20] + b"RETRY-ME" + recs[i][20:]
        d.send(recs, conns=1)
        m = d.wait_records("nr", settled=200, timeout=30)
        self.assertEqual(m.get("sluice_records_delivered_total", stream="nr", sink="null"),
                         200 - len(refuse))
        self.assertEqual(m.get("sluice_records_backed_up_total", stream="nr",
                               reason="sink_failed"), len(refuse))
        self.assertEqual(m.get("sluice_records_backed_up_total", stream="nr",
                               reason="retries_exhausted"), 0)
        self.assertBalanced(m, "nr")
        self.assertGreater(m.get("sluice_delivery_retries_total", stream="nr", sink="null",
                                 cause="sink"), 0)
        self.assertGreater(m.get("sluice_sink_errors_total", stream="nr", sink="null",
                                 **{"class": "refused"}), 0)
        objects = d.read_envelopes(sname="nr")
        envs = [e for _, es in objects for e in es]
        self.assertSameRecords([e["raw"] for e in envs], [recs[i] for i in refuse],
                               "records in the backup")
        for e in envs:
            self.assertEqual(e["errorCode"], "Null.Refused")
            self.assertEqual((e["stream"], e["sink"]), ("nr", "null"))
            # the sink's own words for each record (its notes), not the batch's
            self.assertEqual(e["errorMessage"], "the record holds null.refuse's text")
        for rel, _ in objects:
            self.assertTrue(rel.startswith("null-failed/"), rel)
        d.stop()

    def test_keys_of_the_null_sink_are_its_own(self):
        d = self.sluice({"nk": {"null.refuse": "x"}}, start=False)   # sink = file
        d.write_config()
        out = subprocess.run([BIN, "--check", "-c", d.conf_path], capture_output=True,
                             text=True, timeout=scaled(30))
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("[stream nk] null.refuse: set, but sink = file", out.stderr)
