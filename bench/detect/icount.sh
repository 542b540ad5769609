#!/bin/sh
# bench/detect/icount.sh — instructions and cache misses per event of
# bench_detect, the figures that do not depend on what else runs on the
# machine: valgrind (cachegrind) counts 1 pass and 1 + N passes over the
# 2,048 events (BENCH_PASSES), and the difference is divided by N * 2,048,
# so that loading and compiling the rules cancel out. The simulated caches
# have a fixed geometry (32 KiB first-level data cache, 2 MiB last level,
# like this project's test machine), so the misses compare across machines.
#
#   bench/detect/icount.sh [REL_BUILD_DIR] [N] [PACK_DIR]
#                                 (default: build/rel, 10, rules)
set -eu
cd "$(dirname "$0")/../.."
rel=${1:-build/rel}
n=${2:-10}
pack=${3:-rules}
if ! command -v valgrind >/dev/null; then
    echo "bench/detect/icount.sh: valgrind is not installed" >&2
    exit 1
fi
if [ ! -d ../shared/sigma/rules ]; then
    echo "bench/detect/icount.sh: no SigmaHQ corpus at ../shared/sigma, skipped"
    exit 0
fi
# prints: instructions, first-level data misses, last-level data misses
counts() {
    BENCH_ID_ONLY=1 BENCH_PASSES=$1 valgrind --tool=cachegrind --cache-sim=yes \
        --D1=32768,8,64 --LL=2097152,16,64 --cachegrind-out-file=/dev/null \
        "$rel/bench/detect/bench_detect" ../shared/sigma 1 "$pack" 2>&1 >/dev/null |
        awk '/I *refs:/ { gsub(",", "", $4); i = $4 }
             /D1 *misses:/ { gsub(",", "", $4); d = $4 }
             /LLd misses:/ { gsub(",", "", $4); l = $4 }
             END { print i, d, l }'
}
one=$(counts 1)
many=$(counts $((n + 1)))
echo "$one $many" | awk -v n="$n" '{
    e = n * 2048
    printf "bench_detect: %d instructions, %.1f first-level and %.2f last-level data cache misses per event (valgrind, %d passes of 2048 events)\n", ($4 - $1) / e, ($5 - $2) / e, ($6 - $3) / e, n
}'
