"""
test_loadgen.py - a smoke run of the benchmark tooling, so that it cannot
rot: build/loadgen's three sending modes into a real daemon, then its
verify mode over the objects, which must find every record once, and must
notice a duplicated object, a corrupted record and a missing one.
"""
import os
import shutil
import subprocess

from harness import LOADGEN, SluiceTestCase, scaled


def loadgen(*args):
    return subprocess.run([LOADGEN, *map(str, args)], capture_output=True, text=True,
                          timeout=scaled(60))


def fields(out):
    last = [l for l in out.stdout.splitlines() if l.startswith("verify:")][-1]
    return {k: int(v) for k, v in (f.split("=") for f in last.split()[1:])}


class LoadgenTest(SluiceTestCase):

    def test_three_modes_then_verify_finds_each_record_once(self):
        d = self.sluice({"lg": {"buffer_interval": "100ms", "compression": "zstd"}})
        runs = [("tcp", "-p", d.port("lg"), "-c", 4, "-n", 3000),
                ("firehose", "-p", d.http_port, "-t", "lg", "-c", 2, "-n", 2000, "-f", 3000),
                ("ndjson", "-p", d.http_port, "-t", "lg", "-c", 2, "-n", 2000, "-f", 5000,
                 "-b", 300)]
        for args in runs:
            out = loadgen(*args)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("records=%d" % args[args.index("-n") + 1], out.stdout)
        d.wait_records("lg", delivered=7000, sink="file", at_least=True, timeout=30)
        d.stop()
        out = loadgen("verify", "-d", d.file_path("lg"), "-n", 7000)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(fields(out), dict(fields(out), records=7000, missing=0,
                                           duplicated=0, corrupted=0, unreadable=0))

        # One more sent than found: missing. An object twice: duplicated.
        # A record with a byte changed: corrupted.
        self.assertEqual(fields(loadgen("verify", "-d", d.file_path("lg"), "-n", 7001))
                         ["missing"], 1)
        objects = d.object_files("lg")
        first = os.path.join(d.file_path("lg"), objects[0])
        shutil.copy(first, first + "-again.zst")
        with open(os.path.join(d.file_path("lg"), "bad"), "wb") as f:
            rec = loadgen("dump", "-f", 42, "-n", 1).stdout.encode()
            f.write(rec.replace(b'"qty":', b'"qtx":'))
        out = loadgen("verify", "-d", d.file_path("lg"), "-n", 7000)
        self.assertEqual(out.returncode, 1)
        found = fields(out)
        self.assertGreater(found["duplicated"], 0)
        self.assertEqual(found["corrupted"], 1)
        self.assertEqual(found["missing"], 0)
