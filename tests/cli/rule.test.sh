#!/bin/bash
# rule.test.sh — `yamori rule test` and `yamori rule lint`: matches with
# their evidence, rule errors with line and column (exit 1), flat logs,
# lint of the SigmaHQ Linux rules.
set -u
Y="${YAMORI_SAN_BIN:-build/san}/yamori"
T=$(mktemp -d /tmp/yamori-rule-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass() { echo "PASS cli_rule/$1"; }
fail() { echo "FAIL cli_rule/$1: $2"; }

cat > "$T/rule.yml" <<'R'
title: Curl piped to shell
id: 6c1b6f0e-0000-4000-8000-000000000001
logsource: {product: linux, category: process_creation}
detection:
    sel:
        Image|endswith: '/bash'
        CommandLine|contains|all: ['curl', '| bash']
    condition: sel
level: high
R
printf '%s\n' \
  '{"EventType":"process","ActionType":"ProcessCreated","FolderPath":"/usr/bin/bash","ProcessCommandLine":"bash -c curl -s http://x/y | bash"}' \
  '{"EventType":"process","ActionType":"ProcessCreated","FolderPath":"/usr/bin/bash","ProcessCommandLine":"bash -c ls"}' \
  '{"EventType":"file","ActionType":"FileCreated","FolderPath":"/tmp/curl | bash"}' > "$T/ev.jsonl"

out=$("$Y" rule test "$T/rule.yml" "$T/ev.jsonl" 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q '^line 1: Curl piped to shell \[high\]' <<<"$out" && ! grep -q '^line 2' <<<"$out" \
   && ! grep -q '^line 3' <<<"$out" && grep -q "matched '| bash'" <<<"$out"; then
    pass match_with_evidence
else
    fail match_with_evidence "rc=$rc: $out"
fi

printf 'title: bad\nlogsource: {product: linux}\ndetection:\n  sel:\n    a|nomod: x\n  condition: sel\n' > "$T/bad.yml"
out=$("$Y" rule test "$T/bad.yml" "$T/ev.jsonl" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "bad.yml:5:5: error: .*unknown modifier 'nomod'" <<<"$out"; then
    pass rule_error_has_position
else
    fail rule_error_has_position "rc=$rc: $out"
fi

echo 'this is not json' >> "$T/ev.jsonl"
out=$("$Y" rule test "$T/rule.yml" "$T/ev.jsonl" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q 'ev.jsonl:4:' <<<"$out" && grep -q '^line 1:' <<<"$out"; then
    pass bad_event_line_reported
else
    fail bad_event_line_reported "rc=$rc: $out"
fi

printf '%s\n' '{"msg":"Failed password for root","src":"203.0.113.9"}' '{"msg":"Accepted publickey"}' > "$T/flat.jsonl"
printf 'title: flat\nlogsource: {product: anything}\ndetection:\n  sel:\n    msg|contains: Failed password\n    src|cidr: 203.0.113.0/24\n  condition: sel\n' > "$T/flat.yml"
out=$("$Y" rule test "$T/flat.yml" "$T/flat.jsonl" 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q '^line 1: flat' <<<"$out" && ! grep -q '^line 2' <<<"$out" && grep -q 'flat schema' <<<"$out"; then
    pass flat_log
else
    fail flat_log "rc=$rc: $out"
fi

if [ -d ../shared/sigma/rules/linux ]; then
    out=$("$Y" rule lint ../shared/sigma/rules/linux 2>/dev/null); rc=$?
    if [ $rc -eq 0 ] && grep -qE '^[0-9]+ files, [0-9]+ rules loaded, 0 errors' <<<"$out"; then
        pass lint_sigmahq_linux
    else
        fail lint_sigmahq_linux "rc=$rc: $out"
    fi
else
    echo "SKIP cli_rule/lint_sigmahq_linux: no SigmaHQ corpus at ../shared/sigma"
fi
out=$("$Y" rule lint "$T/bad.yml" 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q '1 errors' <<<"$out" && pass lint_reports_errors || fail lint_reports_errors "rc=$rc: $out"
