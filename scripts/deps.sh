#!/usr/bin/env bash
# Installs the Debian packages that sluice's build and tests need, only the
# ones that are missing. Idempotent; safe to run on every `make`.
#   scripts/deps.sh          build dependencies
#   scripts/deps.sh test     build + test dependencies
set -euo pipefail

build_pkgs=(build-essential pkg-config libinih-dev zlib1g-dev
            libzstd-dev libjansson-dev libmicrohttpd-dev libsystemd-dev libssl-dev check
            netcat-openbsd curl)   # the last two: to try `make run` as README shows
test_pkgs=(python3 zstd gzip prometheus systemd)

want=("${build_pkgs[@]}")
[ "${1:-}" = test ] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
