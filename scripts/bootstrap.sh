#!/usr/bin/env bash
# Installs whatever MiniTCP needs that is missing (Debian, as root). Quiet and idempotent:
# when everything is present it only runs dpkg-query.
set -euo pipefail
pkgs=(
    build-essential cmake ninja-build pkg-config clang libclang-rt-dev libseccomp-dev
    libev-dev libcjson-dev libcriterion-dev
    iproute2 iputils-ping netcat-openbsd curl xxd procps python3 systemd tcpdump iperf3 socat
    man-db lintian
)
[ "${1:-}" = "--bench" ] && pkgs+=(gnuplot-nox liblwip-dev valgrind nftables)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: missing packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
fi
echo "bootstrap: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
