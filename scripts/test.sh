#!/usr/bin/env bash
# Runs every MiniTCP test: builds with gcc and with clang (AddressSanitizer +
# UndefinedBehaviorSanitizer, plus the libFuzzer targets), runs the unit tests on the gcc
# build, then unit, fuzz and integration tests (network namespaces, real ping/nc/curl) on
# the sanitized build. Needs root for the integration tests. Ends with ctest's summary.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/bootstrap.sh
echo "== build (gcc, -Werror)"
CC=gcc bash scripts/build.sh build/gcc
echo "== build (clang, -Werror, ASan+UBSan, fuzzers)"
CC=clang bash scripts/build.sh build/clang-asan -DMINITCP_SANITIZE=ON
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "== unit tests (gcc build)"
ctest --test-dir build/gcc -L unit --output-on-failure -j2
echo "== all tests (sanitized build)"
ctest --test-dir build/clang-asan --output-on-failure
