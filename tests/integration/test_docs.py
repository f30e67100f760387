"""
test_docs.py - the reference cannot drift from the code: docs/configuration.md
is what `make docs` generates from the key tables, and conf/sluice.conf (the
annotated example `make run` uses) names only keys that exist, each with
its real default unless a comment above it says otherwise.
"""
import os
import re
import subprocess
import unittest

from harness import BIN, ROOT, SluiceTestCase

CONF = os.path.join(ROOT, "conf", "sluice.conf")
KEY = re.compile(r"^\s*(;\s*)?([a-z0-9_]+(?:\.[a-z0-9_]+)*)\s*=\s*(.*?)\s*$")
SECTION = re.compile(r"^\s*(;\s*)?\[([^\]]+)\]\s*$")


def help_defaults():
    """{key: default as --help shows it ("" for empty, None for unset)}."""
    out = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=30).stdout
    keys, section = {}, None
    for line in out.splitlines():
        if line.startswith("["):
            section = line
        elif section and not section.startswith("[transform") and line.startswith("  "):
            m = re.match(r"^  (\S+)\s+default (\S+)\s", line)
            if m:
                d = m.group(2)
                keys[m.group(1)] = "" if d == '""' else None if d == "-" else d
    return keys


class DocsTest(unittest.TestCase):

    def test_configuration_md_is_generated_from_the_key_tables(self):
        out = subprocess.run(["python3", os.path.join(ROOT, "scripts", "gendocs.py"), "--check",
                              BIN], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_configuration_md_lists_every_key_with_its_default(self):
        with open(os.path.join(ROOT, "docs", "configuration.md")) as f:
            page = f.read()
        keys = help_defaults()
        self.assertGreater(len(keys), 40)
        for k, d in keys.items():
            want = "| `%s` | %s |" % (k, "`%s`" % d if d else "empty" if d == "" else "unset")
            self.assertIn(want, page, "docs/configuration.md: %s" % k)

    def test_conf_example_keys_exist_with_their_real_defaults(self):
        keys = help_defaults()
        section, block, checked = None, [], 0
        with open(CONF) as f:
            lines = f.read().splitlines()
        for n, line in enumerate(lines, 1):
            sm = SECTION.match(line)
            if sm:
                section, block = sm.group(2), []
                continue
            km = KEY.match(line)
            if not km or section is None or section.startswith("transform "):
                block = block + [line] if line.lstrip().startswith(";") else []
                continue
            commented, key, value = km.group(1), km.group(2), km.group(3)
            where = "conf/sluice.conf:%d: %s" % (n, key)
            self.assertIn(key, keys, "%s: no such key" % where)
            note = " ".join(block)
            block = []
            if commented:
                continue            # an example: only its name is checked
            stated = re.search(r"\(default ([^:;)\s][^;)]*)", note)
            if stated:
                s = stated.group(1).strip()
                self.assertEqual("" if s == "empty" else s, keys[key],
                                 "%s: the comment states the default %r" % (where, s))
            elif re.search(r"\((no default|unset|required)", note):
                self.assertIsNone(keys[key], "%s: the comment says it has no default" % where)
            else:
                self.assertEqual(value, keys[key],
                                 "%s = %s is not its default, and no comment says so"
                                 % (where, value))
            checked += 1
        self.assertGreater(checked, 20)
        out = subprocess.run([BIN, "--check", "-c", CONF], capture_output=True, text=True,
                             timeout=30, cwd=ROOT)
        self.assertEqual(out.returncode, 0, out.stderr)


if __name__ == "__main__":
    unittest.main()
