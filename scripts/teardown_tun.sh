#!/usr/bin/env bash
# Removes the namespace made by setup_tun.sh (and with it its TUN devices).
# Usage: teardown_tun.sh [--netns NAME]
set -euo pipefail
ns=minitcp
[ "${1:-}" = "--netns" ] && ns=$2
case $ns in minitcp*) ;; *) echo "teardown_tun.sh: namespace name must start with minitcp" >&2; exit 2 ;; esac
if ip netns list | grep -qw "^$ns"; then
    # Processes still inside would keep the devices alive; list them rather than kill.
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -n "$pids" ] && echo "teardown_tun.sh: processes still in $ns: $pids" >&2
    ip netns del "$ns"
fi
