#!/bin/bash
# live.test.sh — `yamori live HOST` against a real server and agent (`yamori
# up` on this machine): one line (-c), several -c in order, a script (-f)
# with comments and a failing line, a parse error (exit 1, usage on
# stderr), --json, Ctrl-C cancelling a script's command and stopping the
# script, a background command brought back with fg, a second
# person refused while the session is held (the message names the
# holder), getfile downloading a byte-identical file that is never
# overwritten without --force, library upload from a local file; and at
# the prompt, driven through a pseudo-terminal (python3's pty module):
# the prompt follows cd, Tab completes a command and a path of the device,
# Ctrl-C clears the line, Ctrl-C cancels a running findfile and returns to
# the prompt, exit closes the session, and the history file is written
# (0600).
#
# Everything lives in a temporary directory (data, agent configuration and
# state, the CLI's HOME); the server runs as `nobody`. The agent is the real
# sensor (root needed); what it is asked about is planted under $T.
set -u
BIN="${YAMORI_SAN_BIN:-build/san}"
Y="$(cd "$(dirname "$BIN/yamori")" && pwd)/yamori"
pass() { echo "PASS cli_live/$1"; }
fail() { echo "FAIL cli_live/$1: $2"; }
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP cli_live/all: needs root (it starts the sensor)"
    exit 0
fi
T=$(mktemp -d /tmp/yamori-live-cli.XXXXXX)
chmod 755 "$T"
UP= HELD=
cleanup() {
    exec 7>&- 2>/dev/null
    [ -n "$HELD" ] && kill -TERM "$HELD" 2>/dev/null && wait "$HELD" 2>/dev/null
    [ -n "$UP" ] && kill -TERM "$UP" 2>/dev/null && wait "$UP" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
PORT=$((20000 + RANDOM % 20000))
export HOME="$T/home"
mkdir -p "$HOME"

. tests/lib/wait_for.sh

"$Y" up --data-dir "$T/data" --listen "127.0.0.1:$PORT" --server-user nobody \
    --agent-config-dir "$T/etc" --agent-state-dir "$T/state" >"$T/up.log" 2>&1 &
UP=$!
if ! wait_for 120 '^Yamori is running' cat "$T/up.log" >/dev/null; then
    fail setup "yamori up did not start: $(tail -20 "$T/up.log" "$T/data/server.log" 2>/dev/null)"
    exit 0
fi
host=$(hostname)
# a session opens once the agent's heartbeat or command poll reached the server
if ! wait_for 120 '"online": *true' "$Y" devices --json >/dev/null \
   || ! wait_for 120 '"health": *"active"' "$Y" devices --json >/dev/null; then
    fail setup "the local agent did not become active: $(tail -5 "$T/up.log")"
    exit 0
fi
live() { "$Y" live "$host" "$@"; }

# what the device is asked about
mkdir -p "$T/plant" "$T/dl"
planted="yamori-live-planted-$$.txt"
echo "planted by live.test.sh $$" >"$T/plant/$planted"
planted_sha=$(sha256sum "$T/plant/$planted" | cut -c1-64)
head -c 300000 /dev/urandom >"$T/plant/blob.bin"

# ---------------------------------------------------------------- one line, several lines
out=$(live -c "help" 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q 'getfile' <<<"$out" && grep -q 'findfile' <<<"$out" && grep -q 'processes' <<<"$out"; then
    pass help
else
    fail help "rc=$rc: $(head -c 1500 <<<"$out")"
fi

out=$(live -c "dir $T/plant" 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q "$planted" <<<"$out"; then
    pass dir_shows_planted_file
else
    fail dir_shows_planted_file "rc=$rc: $(head -c 1500 <<<"$out")"
fi

out=$(live -c "cd $T/plant" -c "fileinfo $planted" 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q "$planted_sha" <<<"$out"; then
    pass several_c_in_order_keep_the_cwd
else
    fail several_c_in_order_keep_the_cwd "rc=$rc: $(head -c 1500 <<<"$out")"
fi

out=$(live --json -c "dir $T/plant" 2>/dev/null); rc=$?
if [ $rc -eq 0 ] && python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if any(sys.argv[1] in json.dumps(r) for r in d["rows"]) else 1)' "$planted" <<<"$out" 2>/dev/null; then
    pass json_output
else
    fail json_output "rc=$rc: $(head -c 1500 <<<"$out")"
fi

# ---------------------------------------------------------------- scripts
cat >"$T/script" <<EOF
# a comment, then a blank line

cd $T/plant
   # an indented comment
dir
fileinfo $planted
EOF
out=$(live -f "$T/script" 2>"$T/script.err"); rc=$?
if [ $rc -eq 0 ] && grep -q "$planted_sha" <<<"$out" && grep -q "$planted" <<<"$out" \
   && ! grep -q 'comment' <<<"$out" && [ ! -s "$T/script.err" ]; then
    pass script_runs_each_line
else
    fail script_runs_each_line "rc=$rc: $(head -c 1500 <<<"$out") / $(cat "$T/script.err")"
fi

printf 'fileinfo %s/no-such-file\ndir %s\n' "$T/plant" "$T/plant" >"$T/script2"
out=$(live -f "$T/script2" 2>"$T/script2.err"); rc=$?
if [ $rc -eq 1 ] && grep -q 'no-such-file' "$T/script2.err" && grep -q "$planted" <<<"$out"; then
    pass script_failure_exits_1_and_goes_on
else
    fail script_failure_exits_1_and_goes_on "rc=$rc: $(head -c 800 <<<"$out") / $(cat "$T/script2.err")"
fi

out=$(live -c "dir -x" 2>"$T/parse.err"); rc=$?
if [ $rc -eq 1 ] && grep -q 'Usage: dir \[path\] \[-full_path\]' "$T/parse.err" && [ -z "$out" ]; then
    pass parse_error_exits_1_with_usage
else
    fail parse_error_exits_1_with_usage "rc=$rc: $out / $(cat "$T/parse.err")"
fi

out=$(live -c "dir /tmp; rm -rf $T/plant" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -qi 'shell' <<<"$out" && [ -e "$T/plant/$planted" ]; then
    pass metacharacters_refused
else
    fail metacharacters_refused "rc=$rc: $out"
fi

out=$("$Y" live "no-such-device-$$" -c help 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "no-such-device-$$" <<<"$out"; then
    pass unknown_device
else
    fail unknown_device "rc=$rc: $out"
fi

# SIGINT (Ctrl-C) during a script cancels the running command and runs no more lines
"$Y" live "$host" -c "findfile * -path / -max 100000" -c "connect" >"$T/int.out" 2>"$T/int.err" &
INT=$!
if wait_for 120 '^/' head -c 4096 "$T/int.out" >/dev/null; then
    kill -INT "$INT"
fi
wait "$INT"; rc=$?
if [ $rc -eq 1 ] && grep -q 'cancelling command' "$T/int.err" && grep -q 'cancelled' "$T/int.err" \
   && ! grep -q 'connected to' "$T/int.out"; then
    pass sigint_cancels_and_stops_a_script
else
    fail sigint_cancels_and_stops_a_script "rc=$rc: $(tail -c 600 "$T/int.out") / $(cat "$T/int.err")"
fi

# ---------------------------------------------------------------- getfile
out=$(cd "$T/dl" && live -c "getfile $T/plant/blob.bin" 2>&1); rc=$?
if [ $rc -eq 0 ] && cmp -s "$T/dl/blob.bin" "$T/plant/blob.bin" && grep -q "$T/dl/blob.bin" <<<"$out" \
   && [ -z "$(find "$T/dl" -name '.blob.bin.*')" ]; then
    pass getfile_downloads_identical_copy
else
    fail getfile_downloads_identical_copy "rc=$rc: $out; $(ls -la "$T/dl")"
fi
echo "local copy" >"$T/dl/$planted"
out=$(cd "$T/dl" && live -c "getfile $T/plant/$planted" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q 'exists' <<<"$out" && [ "$(cat "$T/dl/$planted")" = "local copy" ]; then
    pass getfile_never_overwrites
else
    fail getfile_never_overwrites "rc=$rc: $out"
fi
out=$(cd "$T/dl" && live -c "getfile $T/plant/$planted --force" 2>&1); rc=$?
if [ $rc -eq 0 ] && cmp -s "$T/dl/$planted" "$T/plant/$planted"; then
    pass getfile_force_replaces
else
    fail getfile_force_replaces "rc=$rc: $out"
fi

# ---------------------------------------------------------------- library upload (admin)
printf '#!/bin/sh\necho "hello from the library: $*"\n' >"$T/hello.sh"
hello_sha=$(sha256sum "$T/hello.sh" | cut -c1-64)
out=$(live -c "library upload hello.sh -file $T/hello.sh" -c "library" 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q "uploaded hello.sh .*$hello_sha" <<<"$out" && grep -qE '^hello.sh +[0-9]+ ' <<<"$out"; then
    pass library_upload_sends_local_file
else
    fail library_upload_sends_local_file "rc=$rc: $out"
fi
out=$(live -c "library upload nofile.sh" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q -- '-file' <<<"$out"; then
    pass library_upload_needs_file
else
    fail library_upload_needs_file "rc=$rc: $out"
fi
out=$(live -c 'run hello.sh -parameters "a b"' 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q 'hello from the library: a b' <<<"$out"; then
    pass run_streams_script_output
else
    fail run_streams_script_output "rc=$rc: $out"
fi

# ---------------------------------------------------------------- a held session: background, fg, a second person
echo "bob-password-$RANDOM$RANDOM" >"$T/bob-password"
if ! "$Y" users add bob --role analyst --password-file "$T/bob-password" >"$T/bob.log" 2>&1 \
   || ! HOME="$T/bob" "$Y" login "https://127.0.0.1:$PORT" --user bob --password-file "$T/bob-password" \
        --ca "$T/data/tls/ca.pem" >>"$T/bob.log" 2>&1; then
    fail second_user_setup "$(cat "$T/bob.log")"
fi
mkfifo "$T/in"
"$Y" live "$host" -f "$T/in" >"$T/held.out" 2>"$T/held.err" &
HELD=$!
exec 7<>"$T/in"   # read-write: never blocks, even when the client has gone
echo "findfile yamori-live-planted-* -path $T/plant &" >&7
if id=$(wait_for 120 '^\[[0-9]+\] started in the background' cat "$T/held.out") \
   && id=$(grep -oE '^\[[0-9]+\]' <<<"$id" | tr -d '[]') && [ -n "$id" ]; then
    echo "fg $id" >&7
    if wait_for 120 "^$T/plant/$planted" cat "$T/held.out" >/dev/null; then
        pass background_then_fg
    else
        fail background_then_fg "$(cat "$T/held.out" "$T/held.err")"
    fi
else
    fail background_then_fg "no background id: $(cat "$T/held.out" "$T/held.err")"
fi
out=$(HOME="$T/bob" "$Y" live "$host" -c status 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q 'admin' <<<"$out"; then
    pass second_person_gets_holders_name
else
    fail second_person_gets_holders_name "rc=$rc: $out"
fi
exec 7>&-
wait "$HELD"; rc=$?; HELD=
out=$(HOME="$T/bob" "$Y" live "$host" -c status 2>&1); rc2=$?
if [ $rc -eq 0 ] && [ $rc2 -eq 0 ]; then
    pass session_closed_at_end_of_script
else
    fail session_closed_at_end_of_script "holder rc=$rc ($(cat "$T/held.err")), bob rc=$rc2: $out"
fi

# ---------------------------------------------------------------- the prompt, through a pseudo-terminal
if ! python3 -c 'import pty' 2>/dev/null; then
    echo "SKIP cli_live/prompt: python3 with its pty module is not installed"
    exit 0
fi
cat >"$T/live_prompt.py" <<'PY'
import os, pty, re, select, sys, time

yamori, host, plant, planted = sys.argv[1:5]
log = open(os.environ["PTY_LOG"], "wb")

def result(name, ok, why=""):
    print(("PASS cli_live/%s" % name) if ok else ("FAIL cli_live/%s: %s" % (name, why)), flush=True)

pid, fd = pty.fork()
if pid == 0:
    os.environ["TERM"] = "xterm"
    os.execv(yamori, [yamori, "live", host])

buf = b""
def read_until(pattern, timeout=60):
    """Reads until pattern (a regex on bytes) is in what came since the mark; returns the match or None."""
    global buf
    end = time.time() + timeout
    rx = re.compile(pattern)
    while time.time() < end:
        m = rx.search(buf)
        if m:
            got, buf = buf[:m.end()], buf[m.end():]
            return got
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return None
            if not chunk:
                return None
            log.write(chunk); log.flush()
            buf += chunk
    return None

def send(s):
    os.write(fd, s.encode())

prompt = rb":(/[^\r\n>]*)> $"
prompt_any = rb":(/[^\r\n>]*)> "
first = read_until(prompt_any)
result("prompt_shows_host_and_cwd", first is not None and (host + ":/").encode() in first, repr(first)[-300:])

send("cd %s\r" % plant)
got = read_until((":%s> " % re.escape(plant)).encode())
result("prompt_follows_cd", got is not None, repr(buf)[-300:])

# Tab completes a command name, then the device's own file name (asking the
# device for the directory): only the beginnings are typed
send("filei\t")
time.sleep(1)
send("yamori-live-pl\t")
time.sleep(3)
send("\r")
got = read_until(prompt_any)
ok = got is not None and ("path: %s/%s" % (plant, planted)).encode() in got and b"sha256" in got
result("tab_completes_command_and_remote_path", ok, repr(got)[-600:])

# Ctrl-C at the prompt drops the line: a new prompt, and what was typed is gone
send("frobnicate-this")
read_until(rb"frobnicate-this")
send("\x03")
fresh = read_until(prompt_any)
send("connect\r")
got = read_until(prompt_any)
result("ctrl_c_clears_the_line", fresh is not None and got is not None and b"frobnicate" not in got
       and b"unknown" not in got and b"connected to" in got, repr((fresh, got))[-400:])
# the same with Ctrl-C right behind the keys (libedit may still be drawing them, or the
# terminal may drop them before they are read)
send("frobnicate-that\x03")
fresh = read_until(prompt_any)
send("connect\r")
got = read_until(prompt_any)
result("ctrl_c_right_after_typing_clears_the_line", fresh is not None and got is not None
       and b"frobnicate" not in got and b"connected to" in got, repr((fresh, got))[-400:])

# Ctrl-C while findfile runs cancels it and returns to the prompt
send("findfile * -path / -max 100000\r")
started = read_until(rb"\r\n/[^\r\n]*\r\n", 120)
send("\x03")
got = read_until(prompt_any, 90)
cancelled = got is not None and b"cancelling command" in got and b"cancelled" in got
result("ctrl_c_cancels_running_findfile", started is not None and cancelled,
       "started=%r got=%r" % (started is not None, (got or b"")[-600:]))
send("status\r")
got = read_until(prompt_any)
result("status_shows_it_cancelled", got is not None and b"cancelled" in got, repr(got)[-600:])

send("exit\r")
end = time.time() + 30
status = None
while time.time() < end:
    wpid, st = os.waitpid(pid, os.WNOHANG)
    if wpid:
        status = os.waitstatus_to_exitcode(st)
        break
    try:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            log.write(os.read(fd, 65536))
    except OSError:
        pass
result("exit_leaves_with_status_0", status == 0, "status %r" % status)
PY
PTY_LOG="$T/prompt.log" python3 "$T/live_prompt.py" "$Y" "$host" "$T/plant" "$planted" 2>&1 | tee "$T/prompt.out"
grep -q "^FAIL" "$T/prompt.out" && { echo "    (transcript:"; tr -d "\r" <"$T/prompt.log" | grep -v "^/" | sed "s/^/    | /"; echo "    )"; }

hist="$HOME/.yamori/live_history"
# libedit's format: a header line, then one line per entry, blanks written \040
if [ -f "$hist" ] && [ "$(stat -c %a "$hist")" = 600 ] && grep -q '^findfile' "$hist" && grep -q '^cd' "$hist" \
   && grep -q '^connect$' "$hist"; then
    pass history_file_written_0600
else
    fail history_file_written_0600 "$(ls -la "$HOME/.yamori" 2>&1): $(cat "$hist" 2>&1)"
fi
out=$(HOME="$T/bob" "$Y" live "$host" -c status 2>&1); rc=$?
if [ $rc -eq 0 ]; then
    pass exit_closes_the_session
else
    fail exit_closes_the_session "bob rc=$rc: $out"
fi
