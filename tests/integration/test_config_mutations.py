"""
test_config_mutations.py - a few thousand mutated configs through
`sluice --check -c FILE` (issue 13, "the bad-input matrix").

The seeds are conf/sluice.conf and configs the harness writes (with more
keys and sections); each mutant gets one to four mutations: lines deleted,
duplicated, swapped, uncommented or cut; bytes flipped; huge numbers, odd
units, empty values and special files as values; unknown keys, duplicate
and malformed sections; long lines; NUL bytes; invalid UTF-8; CR line ends.

Every run must end (a hang fails) with exit status 0 or 1, never a signal
or a sanitizer report; exit 0 prints "ok"; exit 1 prints only
`FILE:LINE: ...` lines (the file is the config, or a file it names).
Deterministic: seeded, so a failure names the seed and mutant to replay,
and the mutants that failed are kept in a directory named in the failure.
Two --check processes run at a time. $SLUICE_MUTANTS sets the count
(default 3000; divided by SLUICE_SLOW under the sanitizers).
"""
import os
import random
import re
import shutil
import subprocess
import tempfile
import unittest
from concurrent.futures import ThreadPoolExecutor

from harness import BIN, ROOT, SANITIZER_RE, SLOW, Sluice, scaled

SEED = 13
COUNT = int(os.environ.get("SLUICE_MUTANTS", "0") or "0") or max(300, int(3000 / SLOW))
TIMEOUT = 5                                # seconds per --check, scaled

ERROR_LINE = re.compile(rb"^[^\n]+:\d+: \S")

HUGE = [b"18446744073709551616", b"9223372036854775807", b"9223372036854775808",
        b"-9223372036854775809", b"99999999999999999999999999999999", b"-1", b"0",
        b"1e999", b"0x7fffffffffffffff", b"4294967296", b"2147483648", b"-0", b"+1",
        b"18446744073709551615GiB", b"17179869184GiB", b"1.5", b"NaN", b"inf", b"1_000"]
UNITS = [b"", b"B", b"KiB", b"MiB", b"GiB", b"TiB", b"PiB", b"kb", b"k", b"ms", b"s", b"m",
         b"h", b"d", b"us", b"ns", b"\xc2\xb5s", b"S", b"Mi", b"iB", b" MiB", b"MiB MiB"]
SPECIAL = [b"/dev/null", b"/", b"/proc/self/status", b"/nonexistent/x", b"", b"/tmp",
           b"/dev/urandom", b".", b"..", b"/etc/passwd"]
ODD = [b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80", b"\xf4\x90\x80\x80", b"\0",
       b"\0\0\0\0", b"\r", b"\t", b"\x1b[31m", b"=", b"[", b"]", b";", b"#", b"!{", b"}",
       b"!{timestamp:", b"\"", b"'", b"\\", b"%s%n%x", b",", b" = "]


def seeds():
    """The seed configs (bytes): the shipped example and harness configs."""
    with open(os.path.join(ROOT, "conf", "sluice.conf"), "rb") as f:
        out = [f.read()]
    d = Sluice(streams={
        "a": {"compression": "gzip", "compression_level": "9", "prefix": "a/!{timestamp:yyyy/MM}/",
              "error_prefix": "err/!{firehose:error-output-type}/", "transforms": "check, tidy"},
        "b": {"compression": "zstd", "durability": "disk", "wal.segment_size": "1MiB",
              "wal.max_size": "4MiB", "partition_keys": "user=.user.id, kind=.kind",
              "prefix": "b/!{partitionKeyFromQuery:user}/!{partitionKeyFromQuery:kind}/",
              "error_prefix": "b-err/!{firehose:error-output-type}/!{timestamp:yyyy}/",
              "backup": "all", "max_connections": "10", "idle_timeout": "0"},
        "c": {"sink": "s3", "file.path": None, "s3.bucket": "a-bucket", "s3.region": "eu-west-1",
              "s3.endpoint": "http://127.0.0.1:9000", "s3.path_style": "true",
              "s3.sse": "aws:kms", "s3.part_size": "5MiB", "backup.path": None},
    }, process={"http_max_body": "1MiB", "http_timeout": "5s", "http_auth": "none"})
    d.transforms.update({
        "check": {"type": "json_validate", "require_object": "true"},
        "tidy": {"type": "json_drop", "fields": ".debug, .session.cookie"},
    })
    try:
        out.append(d.config_text().encode())
        out.append(Sluice(streams={"only": {}}).config_text().encode())
    finally:
        d.cleanup()
    return out


def kv(line):
    """(key, value) of a `key = value` line, or None."""
    k, sep, v = line.partition(b"=")
    if not sep or line.lstrip().startswith((b";", b"#", b"[")):
        return None
    return k, v


def mutate(rnd, text):
    """One mutation of <text> (bytes)."""
    lines = text.split(b"\n")
    i = rnd.randrange(len(lines))
    keyed = [j for j, l in enumerate(lines) if kv(l)]
    k = rnd.choice(keyed) if keyed else i
    op = rnd.randrange(20)
    if op == 0:
        del lines[i]
    elif op == 1:
        lines.insert(rnd.randrange(len(lines) + 1), lines[i])
    elif op == 2:
        j = rnd.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == 3:                                           # flip bytes
        b = bytearray(text)
        for _ in range(rnd.randint(1, 8)):
            if b:
                b[rnd.randrange(len(b))] ^= 1 << rnd.randrange(8)
        return bytes(b)
    elif op == 4:                                           # a huge number
        key, _ = kv(lines[k]) or (b"buffer_size", b"")
        lines[k] = key + b"= " + rnd.choice(HUGE) + rnd.choice(UNITS)
    elif op == 5:                                           # another unit
        key, v = kv(lines[k]) or (b"buffer_interval", b"1")
        num = re.match(rb"\s*[-+0-9.]*", v).group(0).strip() or b"1"
        lines[k] = key + b"= " + num + rnd.choice(UNITS)
    elif op == 6:                                           # an empty value
        key, _ = kv(lines[k]) or (b"sink", b"")
        lines[k] = key + rnd.choice([b"=", b"= ", b"=\t", b"= ;comment"])
    elif op == 7:                                           # unknown keys
        lines.insert(i, rnd.choice([b"frobnicate = 1", b"s3.nope = x", b"file. = y",
                                    b"tcp_listen.x = 1", b"= value", b"key_without_value",
                                    b"UPPER_CASE = 1", b"http_auth_file.x = 1"]))
    elif op == 8:                                           # sections twice
        heads = [j for j, l in enumerate(lines) if l.startswith(b"[")]
        j = rnd.choice(heads) if heads else 0
        end = next((x for x in range(j + 1, len(lines)) if lines[x].startswith(b"[")),
                   len(lines))
        lines[rnd.randrange(len(lines) + 1):0] = lines[j:end]
    elif op == 9:                                           # odd section headers
        lines.insert(i, rnd.choice([b"[stream ]", b"[]", b"[stream a b]", b"[stream",
                                    b"[transform]", b"[transform x", b"[sluice] trailing",
                                    b"[stream " + b"n" * rnd.randint(60, 300) + b"]",
                                    b"[STREAM up]", b"[stream \xff]", b"[unknown]",
                                    b"[stream a/b]", b"[ stream  sp ]", b"[[stream x]]"]))
    elif op == 10:                                          # a long line
        key, _ = kv(lines[k]) or (b"prefix", b"")
        n = rnd.choice([190, 197, 198, 199, 200, 256, 4096, 70000])
        lines[k] = rnd.choice([key + b"= " + b"x" * n, b"k" * n + b" = 1",
                               key + b"= !{timestamp:" + b"y" * n + b"}/"])
    elif op == 11:                                          # NUL bytes
        p = rnd.randrange(len(text) + 1)
        return text[:p] + b"\0" * rnd.randint(1, 3) + text[p:]
    elif op == 12:                                          # invalid UTF-8 and odd bytes
        p = rnd.randrange(len(text) + 1)
        return text[:p] + rnd.choice(ODD) + text[p:]
    elif op == 13:                                          # uncomment a key line
        com = [j for j, l in enumerate(lines) if re.match(rb"^;\s*[a-z_.0-9]+\s*=", l)]
        if com:
            j = rnd.choice(com)
            lines[j] = lines[j].lstrip(b"; ")
    elif op == 14:                                          # cut the file short
        return text[:rnd.randrange(len(text) + 1)]
    elif op == 15:                                          # another line's value
        a, b = kv(lines[k]), kv(lines[rnd.choice(keyed)] if keyed else b"")
        if a and b:
            lines[k] = a[0] + b"=" + b[1]
    elif op == 16:                                          # a special file as a value
        key, _ = kv(lines[k]) or (b"file.path", b"")
        lines[k] = key + b"= " + rnd.choice(SPECIAL)
    elif op == 17:                                          # CR line ends
        return text.replace(b"\n", rnd.choice([b"\r\n", b"\r", b"\n\r"]))
    elif op == 18:                                          # odd bytes inside a value
        key, v = kv(lines[k]) or (b"prefix", b"x")
        p = rnd.randrange(len(v) + 1)
        lines[k] = key + b"=" + v[:p] + rnd.choice(ODD) + v[p:]
    else:                                                   # a key from another section
        lines.insert(i, rnd.choice([b"http_listen = 127.0.0.1:1", b"tcp_listen = 127.0.0.1:2",
                                    b"type = json_drop", b"workers = 0", b"sink = s3",
                                    b"transforms = nope", b"durability = disk",
                                    b"s3.bucket = b", b"file.path = /tmp/x",
                                    b"partition_keys = a=.a", b"tcp_listen = [::1]:99999"]))
    return b"\n".join(lines)


def run_check(path):
    """(returncode or "hang", stdout, stderr) of `sluice --check -c <path>`."""
    try:
        p = subprocess.run([BIN, "--check", "-c", path], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=scaled(TIMEOUT))
    except subprocess.TimeoutExpired as e:
        return "hang", e.stdout or b"", e.stderr or b""
    return p.returncode, p.stdout, p.stderr


def problem(rc, out, err):
    """What is wrong with one --check run, or None."""
    if rc == "hang":
        return "no exit within %.0fs" % scaled(TIMEOUT)
    if rc < 0:
        return "killed by signal %d" % -rc
    if rc not in (0, 1):
        return "exit status %d" % rc
    if SANITIZER_RE.search(err.decode("utf-8", "replace")):
        return "sanitizer report"
    if rc == 0:
        return None if b": ok" in out else "exit 0 without 'ok'"
    lines = [l for l in err.split(b"\n") if l.strip()]
    if not lines:
        return "exit 1 without an error"
    bad = [l for l in lines if not ERROR_LINE.match(l)]
    if bad:
        return "an error without FILE:LINE: %r" % bad[0][:200]
    return None


class ConfigMutationTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sluice-it-mut-", dir="/tmp")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def check_all(self, mutants):
        """Runs --check on every (name, bytes) mutant, two at a time; fails
        listing the first problems, keeping those mutants for replay."""
        paths = []
        for name, text in mutants:
            path = os.path.join(self.dir, name)
            with open(path, "wb") as f:
                f.write(text)
            paths.append(path)
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(run_check, paths))
        bad = [(p, problem(*r), r) for p, r in zip(paths, results) if problem(*r)]
        if bad:
            keep = tempfile.mkdtemp(prefix="sluice-mutants-failed-", dir="/tmp")
            for p, _, _ in bad:
                shutil.copy(p, keep)
            self.fail("%d of %d mutated configs went wrong (kept in %s):\n%s"
                      % (len(bad), len(paths), keep, "\n".join(
                          "%s: %s; stderr: %r" % (os.path.basename(p), why, r[2][-300:])
                          for p, why, r in bad[:10])))
        return results

    def test_mutated_configs_never_crash_hang_or_lose_the_line(self):
        rnd = random.Random(SEED)
        base = seeds()
        results = self.check_all([("seed%d.conf" % i, s) for i, s in enumerate(base)])
        self.assertEqual([r[0] for r in results], [0] * len(base), "the seeds are valid")
        mutants = []
        for n in range(COUNT):
            text = rnd.choice(base)
            for _ in range(rnd.choice((1, 1, 1, 2, 2, 3, 4))):
                text = mutate(rnd, text)
            mutants.append(("m%05d.conf" % n, text))
        results = self.check_all(mutants)
        refused = sum(1 for r in results if r[0] == 1)
        # the mutations mostly break the config, but not always
        self.assertGreater(refused, COUNT // 3)
        self.assertGreater(COUNT - refused, COUNT // 50)

    def test_special_files_as_path_values(self):
        # issue 13 item 14: http_auth_file = /dev/zero made --check spin forever;
        # a FIFO blocks its open() forever
        base = seeds()[1]
        fifo = os.path.join(self.dir, "fifo")
        os.mkfifo(fifo)                     # opening it for reading blocks without a writer
        mutants = []
        for value in (b"/dev/zero", b"/dev/urandom", b"/dev/null", b"/", self.dir.encode(),
                      b"/nonexistent", fifo.encode()):
            for auth in (b"sigv4", b"token"):
                mutants.append(("auth-%s-%d.conf" % (auth.decode(), len(mutants)), base.replace(
                    b"[sluice]\n", b"[sluice]\nhttp_auth = %s\nhttp_auth_file = %s\n"
                    % (auth, value), 1)))
            mutants.append(("tls-%d.conf" % len(mutants), base.replace(
                b"[sluice]\n", b"[sluice]\nhttp_tls_cert = %s\nhttp_tls_key = %s\n"
                % (value, value), 1)))
        results = self.check_all(mutants)
        self.assertTrue(all(r[0] == 1 for r in results), "every special file is refused")


if __name__ == "__main__":
    unittest.main()
