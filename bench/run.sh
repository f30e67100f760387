#!/usr/bin/env bash
# make bench: TCP -> file sink throughput, 8 connections, ~300-byte records,
# for each compression. Reports the ingest rate (until sluice has read every
# record) and the end-to-end rate (until every record is in a file).
#   RECORDS=2000000 SIZE=300 CONNS=8 COMPRESSIONS="none zstd gzip"
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
RECORDS=${RECORDS:-2000000}
SIZE=${SIZE:-300}
CONNS=${CONNS:-8}
COMPRESSIONS=${COMPRESSIONS:-none zstd gzip}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
metric() { curl -sf "http://127.0.0.1:$mport/metrics" | awk -v m="$1" '$1 ~ "^"m"[{]" {s+=$2} END {print s+0}'; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for comp in $COMPRESSIONS; do
    dir=$(mktemp -d /tmp/sluice-bench-XXXXXX)
    tport=$(free_port); mport=$(free_port)
    cat > "$dir/sluice.conf" <<CONF
[sluice]
metrics_listen = 127.0.0.1:$mport
data_dir = $dir
log_level = warn
[stream bench]
tcp_listen = 127.0.0.1:$tport
buffer_size = 8MiB
buffer_interval = 200ms
compression = $comp
file.path = $dir/out
CONF
    "./$BUILD/sluice" -c "$dir/sluice.conf" 2>"$dir/log" &
    pid=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$mport/readyz" >/dev/null && break; sleep 0.05; done
    "./$BUILD/loadgen" -p "$tport" -c "$CONNS" -n "$RECORDS" -s "$SIZE" > "$dir/loadgen.out"
    t0=$(awk '/^loadgen: start/ {print $3}' "$dir/loadgen.out")
    grep -v '^loadgen: start' "$dir/loadgen.out" | sed "s/^/$comp: /"
    while [ "$(metric sluice_records_delivered_total)" -lt "$RECORDS" ]; do sleep 0.05; done
    t1=$(date +%s.%N)
    out=$(du -sb "$dir/out" | cut -f1)
    awk -v c="$comp" -v n="$RECORDS" -v s="$SIZE" -v t0="$t0" -v t1="$t1" -v o="$out" \
        'BEGIN { t = t1 - t0; printf "%s: end to end %.3f s: %.0f records/s, %.1f MiB/s in, %.1f MiB written\n", c, t, n/t, n*s/t/1048576, o/1048576 }'
    kill -TERM "$pid"; wait "$pid"
    rm -rf "$dir"
done

# PutRecordBatch over HTTP into the same kind of stream (zstd).
dir=$(mktemp -d /tmp/sluice-bench-XXXXXX)
hport=$(free_port); mport=$(free_port)
cat > "$dir/sluice.conf" <<CONF
[sluice]
metrics_listen = 127.0.0.1:$mport
http_listen = 127.0.0.1:$hport
http_threads = 2
data_dir = $dir
log_level = warn
[stream bench]
buffer_size = 8MiB
buffer_interval = 200ms
compression = zstd
file.path = $dir/out
CONF
"./$BUILD/sluice" -c "$dir/sluice.conf" 2>"$dir/log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$mport/readyz" >/dev/null && break; sleep 0.05; done
python3 bench/http_bench.py "$hport" bench "${HTTP_CONNS:-8}" "${HTTP_REQUESTS:-100}"
kill -TERM "$pid"; wait "$pid"
rm -rf "$dir"

