#!/usr/bin/env bash
# make lint: the include-direction and banned-call rules of STYLE.md, by grep.
# Layers: util <- core <- edges <- top; a file may include its own layer or lower.
set -uo pipefail
cd "$(dirname "$0")/.."

util="log units clock backoff buf fsio addr err deadline base64 json_check uuid crc32c"
core="config auth record chunk batch ring compress metrics objkey intake partition transform_json wal"
edges="listener_tcp listener_http sink sink_file sink_s3 aws_s3 http_client aws_creds backup admin_http firehose_api firehose_scan aws_sigv4 transform transform_plugin transform_lambda"
top="stream batcher delivery process daemon main replay"
status=0

layer_of() {
    for m in $util; do [ "$m" = "$1" ] && { echo 0; return; }; done
    for m in $core; do [ "$m" = "$1" ] && { echo 1; return; }; done
    for m in $edges; do [ "$m" = "$1" ] && { echo 2; return; }; done
    for m in $top; do [ "$m" = "$1" ] && { echo 3; return; }; done
    echo 9
}

for f in src/*.c src/*.h; do
    me=$(basename "$f"); me=${me%.*}
    mine=$(layer_of "$me")
    for inc in $(grep -oE '^#include "[a-z0-9_]+\.h"' "$f" | sed -E 's/.*"([a-z0-9_]+)\.h"/\1/'); do
        theirs=$(layer_of "$inc")
        if [ "$theirs" -gt "$mine" ]; then
            echo "lint: $f includes $inc.h from a higher layer"; status=1
        fi
    done
done
# Sources never include sink or batch headers; sinks never listener or ring ones.
grep -lE '#include "(sink|sink_file|batch|batcher)\.h"' src/listener_*.c && { echo "lint: a source includes a sink or batch header"; status=1; }
grep -lE '#include "(listener_[a-z]+|ring)\.h"' src/sink*.c && { echo "lint: a sink includes a listener or ring header"; status=1; }
if grep -nE '\b(sprintf|strcpy|strcat|strtok|atoi|gets)\(' src/*.c src/*.h; then
    echo "lint: banned call (sprintf strcpy strcat strtok atoi gets)"; status=1
fi
[ $status -eq 0 ] && echo "lint: ok"
exit $status
