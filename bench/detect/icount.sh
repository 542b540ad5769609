#!/bin/sh
# bench/detect/icount.sh — instructions per event of bench_detect, the
# figure that does not depend on what else runs on the machine: valgrind
# counts the instructions of 1 pass and of 1 + N passes over the 2,048
# events (BENCH_PASSES), and the difference is divided by N * 2,048, so that
# loading and compiling the rules cancel out.
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
irefs() {
    BENCH_ID_ONLY=1 BENCH_PASSES=$1 valgrind --tool=cachegrind --cache-sim=no \
        --cachegrind-out-file=/dev/null "$rel/bench/detect/bench_detect" ../shared/sigma 1 \
        "$pack" 2>&1 >/dev/null | sed -n 's/.*I *refs: *//p' | tr -d ,
}
one=$(irefs 1)
many=$(irefs $((n + 1)))
echo "bench_detect: $(((many - one) / (n * 2048))) instructions per event (valgrind, $n passes of 2048 events)"
