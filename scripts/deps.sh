#!/usr/bin/env bash
# Installs the Debian packages that sluice's build and tests need, only the
# ones that are missing, and for the tests the s3rver npm package into
# var/npm. Idempotent; safe to run on every `make`.
#   scripts/deps.sh          build dependencies
#   scripts/deps.sh test     build + test dependencies
#   scripts/deps.sh fuzz     build + clang and its libFuzzer runtime (make fuzz)
set -euo pipefail

build_pkgs=(build-essential pkg-config libinih-dev zlib1g-dev
            libzstd-dev libjansson-dev libmicrohttpd-dev libsystemd-dev libssl-dev check
            libcurl4-openssl-dev libpq-dev librdkafka-dev
            netcat-openbsd curl)   # the last two: to try `make run` as README shows
test_pkgs=(python3 zstd gzip prometheus systemd postgresql   # postgresql: the postgresql and redshift sinks' tests start their own clusters
           kcat)   # kcat: the Kafka tests' independent client (against build/kafka-mock)
fuzz_pkgs=(clang libclang-rt-14-dev)   # clang 14 (Debian 12); the runtime has libFuzzer
S3RVER=s3rver@3.7.1          # the S3 server of the S3 sink's tests

want=("${build_pkgs[@]}")
[ "${1:-}" = test ] && want+=("${test_pkgs[@]}")
[ "${1:-}" = fuzz ] && want+=("${fuzz_pkgs[@]}")

# npm: the machine's own Node.js may carry it (Debian's npm would conflict).
[ "${1:-}" = test ] && ! command -v npm >/dev/null && want+=(nodejs npm)

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${1:-}" = test ] && [ ! -x var/npm/node_modules/.bin/s3rver ]; then
    echo "deps: installing $S3RVER into var/npm" >&2
    npm install --prefix var/npm --no-audit --no-fund --loglevel=error "$S3RVER" >/dev/null
fi
