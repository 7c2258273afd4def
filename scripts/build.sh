#!/usr/bin/env bash
# Configures and builds MiniTCP into build/ (or $1). Re-running only rebuilds what changed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/build}
shift || true
if [ ! -f "$dir/build.ninja" ]; then
    cmake -S "$root" -B "$dir" -G Ninja "$@" >/dev/null
fi
ninja -C "$dir" >/dev/null || ninja -C "$dir" # on failure, show the errors
