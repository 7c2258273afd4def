#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time on a scratch copy of its seed corpus.
# Usage: run_fuzz.sh BINARY SEED_DIR SECONDS. Fails on any crash, leak or UB report.
set -euo pipefail
bin=$1 seeds=$2 secs=$3
work=$(mktemp -d /tmp/minitcp-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/artifacts"
[ -d "$seeds" ] && cp -r "$seeds"/. "$work/corpus/" 2>/dev/null || true
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" 2>"$work/log" || {
    tail -n 60 "$work/log"
    echo "fuzz: $bin found a problem; reproducer(s):"
    for f in "$work"/artifacts/*; do [ -e "$f" ] && { echo "$f"; xxd "$f" | head -20; }; done
    exit 1
}
grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/log" || true
echo "fuzz: $(basename "$bin") clean for ${secs}s"
