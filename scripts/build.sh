#!/usr/bin/env bash
# Configures and builds MiniTCP into build/ (or $1). Re-running only rebuilds what changed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/build}
shift || true
# Configuring again is cheap and picks up new folders and options.
cmake -S "$root" -B "$dir" -G Ninja "$@" >/dev/null
ninja -C "$dir" >/dev/null || ninja -C "$dir" # on failure, show the errors
