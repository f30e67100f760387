"""
`sluice --check -c FILE`: exit 0 on a good config; exit 1 with one
`FILE:LINE: [SECTION] KEY: why` line per error on a bad one.
"""
import os
import re
import subprocess
import tempfile
import shutil
import unittest

from harness import BIN, HERE, Sluice, scaled

GOOD = """\
; a good config
[sluice]
metrics_listen = 127.0.0.1:19440
data_dir = {dir}/data

[stream x]
tcp_listen = 127.0.0.1:19441
buffer_size = 4KiB
buffer_interval = 250ms
max_buffered = 64KiB
max_record_size = 1KiB
compression = zstd
file.path = {dir}/out
"""


def check(path):
    p = subprocess.run([BIN, "--check", "-c", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=scaled(30))
    return p.returncode, p.stdout.decode() + p.stderr.decode()


class CheckTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sluice-it-check-", dir="/tmp")
        self.path = os.path.join(self.dir, "sluice.conf")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, text):
        with open(self.path, "w") as f:
            f.write(text.format(dir=self.dir))

    def errors(self, out):
        """The FILE:LINE: [SECTION] KEY: why lines, as (line, section, key, why)."""
        pat = re.compile(r"^%s:(\d+): \[([^\]]+)\] ([A-Za-z_.]+): (.+)$" % re.escape(self.path))
        found = []
        for line in out.splitlines():
            m = pat.match(line)
            if m:
                found.append((int(m.group(1)), m.group(2), m.group(3), m.group(4)))
        return found

    def assertRefused(self, text, expected, only=False):
        """<expected>: (line, section, key, a word the reason must contain),
        each of which must be printed; with <only>, nothing else may be."""
        self.write(text)
        rc, out = check(self.path)
        self.assertEqual(rc, 1, "--check must exit 1:\n" + out)
        errs = self.errors(out)
        lines = [l for l in out.splitlines() if l.strip()]
        self.assertEqual(len(errs), len(lines), "every line is FILE:LINE: [SECTION] KEY: why:\n"
                         + out)
        for line, section, key, word in expected:
            lines_ok = line if isinstance(line, tuple) else (line,)
            hits = [e for e in errs if e[0] in lines_ok and e[1:3] == (section, key)]
            self.assertEqual(len(hits), 1, "expected one error %s:%s: [%s] %s in:\n%s"
                             % (self.path, line, section, key, out))
            self.assertIn(word.lower(), hits[0][3].lower(), "in:\n" + out)
        if only:
            self.assertEqual(len(errs), len(expected),
                             "errors beyond the ones in the file:\n" + out)

    def test_good_config_exits_0(self):
        self.write(GOOD)
        rc, out = check(self.path)
        self.assertEqual(rc, 0, out)

    def test_shipped_example_config_is_valid(self):
        example = os.path.join(HERE, "..", "..", "conf", "sluice.conf")
        rc, out = check(os.path.abspath(example))
        self.assertEqual(rc, 0, out)

    def test_harness_config_is_valid(self):
        d = Sluice(streams={"a": {"compression": "gzip"}, "b": {}})
        try:
            d.write_config()
            rc, out = check(d.conf_path)
            self.assertEqual(rc, 0, out)
        finally:
            d.cleanup()

    def test_bad_size(self):
        self.assertRefused(GOOD.replace("buffer_size = 4KiB", "buffer_size = banana"),
                           [(8, "stream x", "buffer_size", "banana")])

    def test_size_without_unit(self):
        self.assertRefused(GOOD.replace("buffer_size = 4KiB", "buffer_size = 4096"),
                           [(8, "stream x", "buffer_size", "4096")])

    def test_interval_out_of_range(self):
        self.assertRefused(GOOD.replace("buffer_interval = 250ms", "buffer_interval = 901s"),
                           [(9, "stream x", "buffer_interval", "range")])

    def test_unknown_key(self):
        self.assertRefused(GOOD.replace("compression = zstd", "compresion = zstd"),
                           [(12, "stream x", "compresion", "unknown")])

    def test_missing_file_path(self):
        # reported at the stream's header line
        self.assertRefused(GOOD.replace("file.path = {dir}/out\n", ""),
                           [(6, "stream x", "file.path", "required")])

    def test_region_must_look_like_one(self):
        self.assertRefused(GOOD.replace("data_dir = {dir}/data",
                                        "data_dir = {dir}/data\nregion = EU_WEST/1"),
                           [(5, "sluice", "region", "not a region")])

    def test_bad_enum(self):
        self.assertRefused(GOOD.replace("compression = zstd", "compression = lz4"),
                           [(12, "stream x", "compression", "lz4")])

    def test_max_buffered_below_buffer_size(self):
        # a cross-key check: the stream's header line or max_buffered's own line
        self.assertRefused(GOOD.replace("max_buffered = 64KiB", "max_buffered = 2KiB"),
                           [((6, 10), "stream x", "max_buffered", "buffer_size")])

    def test_compression_level_out_of_range(self):
        self.assertRefused(GOOD.replace("compression = zstd",
                                        "compression = gzip\ncompression_level = 12"),
                           [((6, 13), "stream x", "compression_level", "1..9")])

    def test_cross_key_errors_name_the_keys_line(self):
        # the line of the value to fix, not the line of the [stream x] header
        self.assertRefused(GOOD.replace("max_buffered = 64KiB", "max_buffered = 2KiB")
                               .replace("compression = zstd",
                                        "compression = gzip\ncompression_level = 12"),
                           [(10, "stream x", "max_buffered", "buffer_size"),
                            (13, "stream x", "compression_level", "1..9")], only=True)

    def test_bad_value_causes_no_spurious_errors(self):
        # one wrong key, one error: a value that did not parse must not be checked
        # against other keys as if it were the default (5MiB > max_buffered here)
        self.assertRefused(GOOD.replace("buffer_size = 4KiB", "buffer_size = banana"),
                           [(8, "stream x", "buffer_size", "banana")], only=True)

    def test_every_error_reported_at_once(self):
        text = (GOOD.replace("buffer_size = 4KiB", "buffer_size = banana")
                    .replace("buffer_interval = 250ms", "buffer_interval = 901s")
                    .replace("compression = zstd", "frobnicate = 1")
                    .replace("file.path = {dir}/out\n", ""))
        self.assertRefused(text, [(8, "stream x", "buffer_size", "banana"),
                                  (9, "stream x", "buffer_interval", "range"),
                                  (12, "stream x", "frobnicate", "unknown"),
                                  (6, "stream x", "file.path", "required")])

    def test_check_does_not_start_anything(self):
        self.write(GOOD)
        rc, out = check(self.path)
        self.assertEqual(rc, 0, out)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "out")))
        self.assertFalse(os.path.exists(os.path.join(self.dir, "data")))

    def test_missing_file(self):
        rc, out = check(os.path.join(self.dir, "nope.conf"))
        self.assertEqual(rc, 1, out)
        self.assertIn("nope.conf", out)


class CommandLineTest(unittest.TestCase):
    def run_bin(self, *args):
        return subprocess.run([BIN] + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=scaled(30))

    def test_version(self):
        p = self.run_bin("--version")
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout.decode(), r"^sluice \d+\.\d+\.\d+")

    def test_help_lists_every_key(self):
        p = self.run_bin("--help")
        self.assertEqual(p.returncode, 0)
        out = p.stdout.decode()
        for key in ("metrics_listen", "shutdown_timeout", "buffer_size", "buffer_interval",
                    "max_buffered", "record_delimiter", "compression_level", "file.path",
                    "backup.path", "idle_timeout"):
            self.assertIn(key, out)

    def test_usage_errors_exit_2_with_one_line_and_a_pointer_to_help(self):
        for args, says in (((), "-c FILE is required"),
                           (("--bogus",), "bogus"),
                           (("-x", "-c", "x.conf"), "invalid option"),
                           (("-c", "x.conf", "extra"), "unexpected argument 'extra'"),
                           (("-v",), "-V prints the version")):
            with self.subTest(args=args):
                p = self.run_bin(*args)
                err = p.stderr.decode()
                self.assertEqual(p.returncode, 2, err)
                self.assertIn(says, err)
                self.assertTrue(err.endswith("Try 'sluice --help' for more information.\n"),
                                err)
                self.assertLessEqual(len(err.splitlines()), 2, err)   # not the whole help
                self.assertEqual(p.stdout, b"")

    def test_short_version_flag(self):
        p = self.run_bin("-V")
        self.assertEqual(p.returncode, 0)
        self.assertEqual(p.stdout, self.run_bin("--version").stdout)

    def test_help_states_exit_statuses(self):
        out = self.run_bin("--help").stdout.decode()
        for status in ("0 stopped, nothing lost", "1 config invalid", "2 bad command line",
                       "3 stopped with records"):
            self.assertIn(status, out)

    def test_help_columns_are_aligned(self):
        out = self.run_bin("-h").stdout.decode()
        rows = [l for l in out.splitlines() if l.startswith("  ") and " default " in l]
        self.assertGreater(len(rows), 40)
        cols = {l.index(" default ") for l in rows}
        self.assertEqual(len(cols), 1, "the default column moves:\n" + "\n".join(rows))
        helps = set()
        for l in rows:
            m = re.match(r"  (\S+) +default (\S+) +", l)
            self.assertIsNotNone(m, l)
            helps.add(m.end())
        self.assertEqual(len(helps), 1, "the help column moves")


if __name__ == "__main__":
    unittest.main()
