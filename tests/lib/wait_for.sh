# wait_for.sh — sourced by the shell tests (tests/*/*.test.sh, run from the
# repository's top directory).
#
#   wait_for TRIES PATTERN CMD...
#       runs CMD every half second, at most TRIES times, until its output
#       (standard output and error) matches the extended regular expression
#       PATTERN; prints the last output; returns 0 when it matched, else 1.
wait_for() {
    local tries=$1 pat=$2 out=""
    shift 2
    for _ in $(seq 1 "$tries"); do
        out=$("$@" 2>&1)
        if grep -qE -- "$pat" <<<"$out"; then
            echo "$out"
            return 0
        fi
        sleep 0.5
    done
    echo "$out"
    return 1
}
