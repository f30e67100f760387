#!/usr/bin/env bash
# The fuzz targets of tests/fuzz/ (docs/testing-fuzz.md); make calls it.
#   scripts/fuzz.sh run TARGET...       each under libFuzzer (build-fuzz/fuzz_T) for
#                                       FUZZ_S seconds, one after another; new crash,
#                                       leak, timeout and OOM inputs are saved under
#                                       tests/fuzz/crashes/T/. Fails if any target did.
#   (no TARGET: all of tests/fuzz/fuzz_*.c)
#   scripts/fuzz.sh regress TARGET...   every saved input of tests/fuzz/corpus/T,
#                                       tests/fuzz/crashes/T and tests/fuzz/regress/T
#                                       once through $BUILD/fuzz/T;
#                                       ends with "fuzz: N passed, M failed" (inputs).
set -uo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
shift || true
passed=0
failed=0

inputs_of() {   # the saved inputs of target $1, one per line
    local d
    for d in tests/fuzz/corpus/$1 tests/fuzz/crashes/$1 tests/fuzz/regress/$1; do
        [ -d "$d" ] && find "$d" -maxdepth 1 -type f ! -name '.*' | sort
    done
}

run() {
    local t=$1 bin=build-fuzz/fuzz_$1 log=build-fuzz/logs/$1.log dict=() before after
    mkdir -p "build-fuzz/corpus/$t" "tests/fuzz/corpus/$t" "tests/fuzz/crashes/$t" build-fuzz/logs
    [ -f "tests/fuzz/dict/$t.dict" ] && dict=(-dict="tests/fuzz/dict/$t.dict")
    before=$(ls "tests/fuzz/crashes/$t" | wc -l)
    echo "fuzz: $t for ${FUZZ_S:-60}s"
    # The first corpus directory takes what fuzzing finds (build-fuzz/, not the
    # repository); the saved corpus is read. One process, one job.
    "$bin" -max_total_time="${FUZZ_S:-60}" -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="tests/fuzz/crashes/$t/" \
        "${dict[@]}" "build-fuzz/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1
    local rc=$?
    after=$(ls "tests/fuzz/crashes/$t" | wc -l)
    grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$log" | tail -n 1
    if [ $rc -ne 0 ] || [ "$after" -gt "$before" ]; then
        echo "fuzz: $t FAILED (exit $rc); new inputs in tests/fuzz/crashes/$t/; log $log:"
        grep -A40 -E '==ERROR|runtime error|property failed|Timeout|out-of-memory' "$log" | head -60
        failed=$((failed + 1))
    else
        passed=$((passed + 1))
    fi
}

regress() {
    local t=$1 bin=${BUILD:-build}/fuzz/$1 n f err
    err=$(mktemp)
    mapfile -t files < <(inputs_of "$t")
    n=${#files[@]}
    [ "$n" -eq 0 ] && { echo "fuzz-regress: $t: no saved inputs"; return; }
    if timeout 600 "$bin" "${files[@]}" >/dev/null 2>"$err"; then
        passed=$((passed + n))
        echo "fuzz-regress: $t: $n inputs ok"
    else    # one at a time, to name each input that fails
        for f in "${files[@]}"; do
            if timeout 120 "$bin" "$f" >/dev/null 2>"$err"; then
                passed=$((passed + 1))
            else
                failed=$((failed + 1))
                echo "fuzz-regress: $t: FAILED on $f:"
                grep -v '^standalone:' "$err" | head -40
            fi
        done
    fi
    rm -f "$err"
}

# No target named: every tests/fuzz/fuzz_*.c.
if [ $# -eq 0 ]; then
    set -- $(ls tests/fuzz/fuzz_*.c | sed -E 's|.*/fuzz_(.*)\.c|\1|')
fi

case $mode in
run)     for t in "$@"; do run "$t"; done ;;
regress) for t in "$@"; do regress "$t"; done ;;
*)       echo "usage: scripts/fuzz.sh run|regress TARGET..." >&2; exit 2 ;;
esac
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
