#!/usr/bin/env python3
"""
run.py - runs every integration test module in this directory (test_*.py).

  python3 tests/integration/run.py [SUBSTRING...]

With arguments, only tests whose id (module.Class.test_name) contains one of
the substrings run. Prints one line per test and ends with exactly one line
    integration: N passed, M failed
(M counts failures and errors); exits 0 only if M == 0.
Environment: see harness.py (SLUICE_BIN, SLUICE_SLOW, SLUICE_RECORDS).
"""
import os
import sys
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def iter_tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from iter_tests(t)
        else:
            yield t


class LineResult(unittest.TestResult):
    """Prints one line per test as it finishes, details of failures after."""

    def __init__(self):
        super().__init__()
        self.passed = 0
        self.bad = []
        self._t0 = {}
        self.logs = {}

    def attach_log(self, test, path, text):
        """Called by the harness's tearDown on failure: the daemon's log."""
        self.logs.setdefault(test.id(), []).append((path, text))

    def startTest(self, test):
        super().startTest(test)
        self._t0[test.id()] = time.monotonic()

    def _line(self, test, word):
        dt = time.monotonic() - self._t0.get(test.id(), time.monotonic())
        print("%-4s %-78s %6.1fs" % (word, test.id(), dt), flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1
        self._line(test, "ok")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.bad.append((test, "FAIL", self._exc_info_to_string(err, test)))
        self._line(test, "FAIL")

    def addError(self, test, err):
        super().addError(test, err)
        self.bad.append((test, "ERROR", self._exc_info_to_string(err, test)))
        self._line(test, "ERR")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line(test, "skip")

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.passed += 1
        self._line(test, "xfail")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.bad.append((test, "UNEXPECTED SUCCESS", ""))
        self._line(test, "FAIL")


def main(argv):
    sys.path.insert(0, HERE)
    loader = unittest.TestLoader()
    try:
        suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    except Exception:
        traceback.print_exc()
        print("integration: 0 passed, 1 failed")
        return 1
    tests = list(iter_tests(suite))
    if argv:
        tests = [t for t in tests if any(a in t.id() for a in argv)]
    result = LineResult()
    t0 = time.monotonic()
    for t in tests:
        t(result)
        if result.shouldStop:
            break
    for test, kind, text in result.bad:
        print("\n%s: %s\n%s" % (kind, test.id(), text), end="")
        for path, log in result.logs.get(test.id(), []):
            print("---- sluice log %s (last 200 lines) ----\n%s\n---- end of log ----"
                  % (path, log))
    # import errors of a module show up as _FailedTest cases: counted as failures
    failed = len(result.bad)
    print("\n(%d tests in %.1fs)" % (len(tests), time.monotonic() - t0))
    print("integration: %d passed, %d failed" % (result.passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
