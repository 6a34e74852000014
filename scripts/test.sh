#!/usr/bin/env bash
# Run the whole test suite on a fresh Debian 12 machine: installs the host packages and a venv,
# then runs pytest. This is the command README.md names and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    mapfile -t pkgs < <(sed -e 's/#.*//' -e '/^\s*$/d' scripts/ci-packages.txt | awk '{print $1}')
    missing=()
    for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "test.sh: installing Debian packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi

# Real 5.10 and 6.12 Kconfig trees (Debian bullseye's and trixie's linux-source: the series
# linux-renesas is on, and the Debian tree closest to linux-yocto 6.6) for the kernel-fragment
# tests; without them those tests skip and say why.
cache="${RCAR_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rcar-k8s}/linux-source"
for minor in 5.10 6.12; do
    if [ "$(id -u)" = 0 ] && ! ls "$cache/linux-source-$minor.tar.xz" >/dev/null 2>&1; then
        tests/kernel/fixtures/fetch.sh "source-$minor" >/dev/null \
            || echo "test.sh: warning: could not download linux-source-$minor; its Kconfig tests will be skipped"
    fi
done

# The board-command-set U-Boot oracle for tests/flash (renesas-rcar/u-boot at meta-renesas' SRCREV, built
# from the local mirrors; cached). Without the mirrors those tests skip and say why.
if [ -d "${MIRROR_ROOT:-/work/.mirror}/renesas-rcar+u-boot/repo" ]; then
    scripts/build-board-uboot.sh >/dev/null \
        || echo "test.sh: warning: build-board-uboot.sh failed; the board U-Boot tests will be skipped"
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

.venv/bin/ruff check --quiet .
.venv/bin/rcar-k8s generate --check
.venv/bin/python -m pytest -q -ra "$@"
