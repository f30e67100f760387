#!/usr/bin/env bash
# Runs the tests: the Check unit suites, the fuzz targets' saved inputs
# (scripts/fuzz.sh regress), lint, the systemd unit check and the
# integration suite against the real daemon. Ends with one line
# "N passed, N failed" and exits non-zero if anything failed.
#   scripts/run-tests.sh [PART...]       PART: unit fuzz lint systemd integration;
#                                        none: all of them (`make test`)
#   BUILD=build|build-asan|build-tsan   which build to test (make sets it)
#   SANITIZE=...                         set under `make asan` / `make tsan`
#   FILTER=substring                     run only matching integration tests
set -uo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(unit fuzz lint systemd integration)
for p in "${parts[@]}"; do
    case $p in
    unit|fuzz|lint|systemd|integration) ;;
    *) echo "run-tests: unknown part '$p' (unit fuzz lint systemd integration)" >&2; exit 2 ;;
    esac
done
passed=0
failed=0

# Adds the counts from a "...: N passed, M failed" line of <log>.
tally() {
    local line
    line=$(grep -E '^[a-z]+: [0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
    if [ -z "$line" ]; then
        echo "run-tests: $2 printed no summary: counted as 1 failure" >&2
        failed=$((failed + 1))
        return
    fi
    passed=$((passed + $(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")))
    failed=$((failed + $(sed -E 's/.*passed, ([0-9]+) failed.*/\1/' <<<"$line")))
}

# Whether <part> was asked for.
wanted() {
    local p
    for p in "${parts[@]}"; do [ "$p" = "$1" ] && return 0; done
    return 1
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT

if [ -n "${SANITIZE:-}" ]; then
    # Sanitized builds are slower: stretch the deadlines, shrink the bulk test.
    export SLUICE_SLOW=${SLUICE_SLOW:-6}
    export SLUICE_RECORDS=${SLUICE_RECORDS:-200000}
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
fi

if wanted unit; then
    echo "== unit tests ($BUILD)"
    "./$BUILD/unit-tests" 2>&1 | tee "$log"
    tally "$log" unit
fi

if wanted fuzz; then
    echo "== fuzz regression ($BUILD): every saved corpus and crash input once"
    BUILD=$BUILD scripts/fuzz.sh regress 2>&1 | tee "$log"
    tally "$log" fuzz
fi

if wanted lint; then
    echo "== lint"
    if scripts/lint.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi

if wanted systemd && command -v systemd-analyze >/dev/null; then
    echo "== systemd unit"
    unit=$(mktemp -d)/sluice.service
    sed "s|@BINDIR@|$PWD/$BUILD|" systemd/sluice.service > "$unit"
    if ! systemd-analyze verify "$unit" >"$log" 2>&1 || [ -s "$log" ]; then
        echo "systemd: 0 passed, 1 failed"; failed=$((failed + 1)); cat "$log"
    else
        echo "systemd: 1 passed, 0 failed"; passed=$((passed + 1))
    fi
    rm -rf "$(dirname "$unit")"
fi

if wanted integration; then
    echo "== integration tests ($BUILD)"
    SLUICE_BIN="$PWD/$BUILD/sluice" python3 tests/integration/run.py ${FILTER:-} 2>&1 \
        | tee "$log"
    tally "$log" integration
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
