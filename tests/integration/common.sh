# common.sh - shared helpers for beredd's integration tests (sourced).
#
# Each test gets its own folder $T (spool, control socket, logs) and its own
# free loopback ports; every process it starts is stopped by PID on exit.
# BEREDD_VALGRIND=1 runs the daemon under valgrind memcheck: any error, or a
# leak definitely lost at exit, makes a clean stop fail. BEREDD_WRAPPER runs
# it under another tool.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
BEREDD="$top_builddir/beredd"
BEREDCTL="$top_builddir/beredctl"
TESTNAME=$(basename "$0" .sh)
T=$(mktemp -d "/tmp/beredd-$TESTNAME.XXXXXX")
PIDS=""
BEREDD_PID=""
if [ "${BEREDD_VALGRIND:-}" = 1 ]; then
        : "${BEREDD_TIME_SCALE:=4}"
        BEREDD_WRAPPER="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite"
fi

cleanup() {
        rc=$?
        for p in $BEREDD_PID $PIDS; do kill -KILL "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        if [ "$rc" -eq 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# test files kept in $T"; fi
}
trap cleanup EXIT

say() { echo "# $*"; }
fail() {
        echo "FAIL: $*" >&2
        if [ -f "$T/beredd.log" ]; then echo "--- beredd.log (last 40 lines)" >&2; tail -n 40 "$T/beredd.log" >&2; fi
        exit 1
}
skip() { echo "SKIP: $*"; exit 77; }

# wait_until SECONDS COMMAND... : poll COMMAND every 50 ms until it succeeds.
# SECONDS is multiplied by BEREDD_TIME_SCALE (default 1, 4 under valgrind):
# a limit only matters when the condition never comes, so a slow machine
# gets more time without making a passing test slower.
wait_until() {
        local limit=$1; shift
        local end=$(( $(date +%s%N) + limit * ${BEREDD_TIME_SCALE:-1} * 1000000000 ))
        until "$@" >/dev/null 2>&1; do
                [ "$(date +%s%N)" -lt "$end" ] || return 1
                sleep 0.05
        done
}

# testlib COMMAND ARGS...: the Python test library's commands (see
# tests/lib/beredd_test/__main__.py).
testlib() { PYTHONDONTWRITEBYTECODE=1 python3 "$top_srcdir/tests/lib/beredd_test" "$@"; }

# free_port: a port free now, below the kernel's ephemeral range (tests run
# in parallel).
free_port() { testlib free-port; }

port_open() { python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$1"; }

assert_grep() { # FILE PATTERN [MESSAGE]
        grep -q -- "$2" "$1" || fail "${3:-expected /$2/ in $1}"
}
assert_no_grep() {
        ! grep -q -- "$2" "$1" || fail "${3:-did not expect /$2/ in $1}"
}
assert_eq() { [ "$1" = "$2" ] || fail "${3:-expected '$2', got '$1'}"; }

# json_get FILE EXPR: print a value from a JSON file, e.g. json_get f '["incoming"]["accepted"]'
# (objects, lists, booleans and null as JSON); json_str TEXT EXPR: the same from JSON text.
json_get() { testlib json-get "$1" "$2"; }
json_str() { testlib json-str "$1" "$2"; }

# ---- the daemon's clock (BEREDD_TEST_TIME_OFFSET) ----
# offset_to WHEN: the offset that puts the daemon at Europe/Oslo wall time
# WHEN (e.g. 2027-01-13T10:00:00) now; oslo_clock OFFSET FORMAT: the
# daemon's Oslo clock under OFFSET, as strftime FORMAT.
offset_to() { testlib offset-to "$1"; }
oslo_clock() { testlib oslo-clock "$1" "$2"; }

# ---- mosquitto ----
# start_mosquitto PORT: a private broker on PORT, without persistence (see
# start_mosquitto_conf).
start_mosquitto() { start_mosquitto_conf "$1" "persistence false"; }
stop_mosquitto() { kill -TERM "$MOSQUITTO_PID" 2>/dev/null || true; wait "$MOSQUITTO_PID" 2>/dev/null || true; }

# ---- configuration ----
# write_config FILE [MQTT_PORT]: a small valid configuration with a file gateway.
write_config() {
        local file=$1 mqtt_port=${2:-}
        cat > "$file" <<EOC
site = "test";
timezone = "Europe/Oslo";
spool = "$T/spool";
people = (
  { id = "kari"; name = "Kari Nordmann"; phone = "+4791234567"; email = "kari@kommune.example"; roles = ["leader"]; },
  { id = "ola"; name = "Ola Nordmann"; phone = "+4791234568"; roles = ["member"]; },
  { id = "legevakt"; name = "Legevakten"; phone = "+4773000000"; roles = ["fallback"]; }
);
gateways = ( { id = "outbox"; channel = "any"; type = "file"; } );
chains = (
  { id = "kriseteam";
    may_trigger = [ "kari", "role:fallback" ];
    need = { total = 2; roles = { leader = 1; }; };
    steps = (
      { notify = [ "role:leader" ]; via = [ "sms", "email" ]; wait = "5s"; },
      { notify = [ "role:member" ]; via = [ "sms" ]; wait = "5s"; },
      { notify = [ "legevakt" ]; via = [ "sms" ]; final = true; }
    );
  }
);
EOC
        if [ -n "$mqtt_port" ]; then
                cat >> "$file" <<EOC
mqtt: { host = "127.0.0.1"; port = $mqtt_port; base = "beredd/test"; qos = 1; };
EOC
        fi
}

# write_team_config FILE: the first half of a configuration (site, spool,
# six people with roles, a leader/member role naming, one generic HTTP SMS
# gateway on $SMS_PORT taking answers with gen.token); the caller appends
# its chains. The people's numbers are left in $KARI, $OLA, $PER, $SIRI,
# $SJEF and $LEGEVAKT.
write_team_config() {
        KARI=+4791234567 OLA=+4791234568 PER=+4791234569 SIRI=+4791234570 SJEF=+4791234580 LEGEVAKT=+4773000000
        cat > "$1" <<EOC
site = "test";
spool = "$T/spool";
people = (
  { id = "kari"; name = "Kari Nordmann"; phone = "$KARI"; roles = ["leader"]; },
  { id = "ola";  name = "Ola Nordmann";  phone = "$OLA"; roles = ["member"]; },
  { id = "per";  name = "Per Hansen";    phone = "$PER"; roles = ["member"]; },
  { id = "siri"; name = "Siri Berg";     phone = "$SIRI"; roles = ["member"]; },
  { id = "sjef"; name = "Sigrid Sjef";   phone = "$SJEF"; roles = ["boss"]; lang = "en"; },
  { id = "legevakt"; name = "Legevakten"; phone = "$LEGEVAKT"; roles = ["fallback"]; }
);
roles = (
  { id = "leader"; name = "leder"; name_en = "leader"; },
  { id = "member"; name = "medlem"; name_en = "member"; }
);
gateways = (
  { id = "sms"; type = "http"; url = "http://127.0.0.1:$SMS_PORT/generic"; body = "to={to}&msg={text}";
    inbound_from = "msisdn"; inbound_text = "msg"; inbound_token_file = "gen.token"; }
);
EOC
}

# ---- the daemon ----
# start_beredd CONFIG [ARGS...]: start in the foreground with a private notify
# socket and wait for READY=1.
start_beredd() {
        local conf=$1; shift
        NOTIFY_LOG="$T/notify.log"
        if [ -z "${NOTIFY_PID:-}" ]; then
                : > "$NOTIFY_LOG"
                python3 "$top_srcdir/tests/integration/notify-listen.py" "$T/notify.sock" "$NOTIFY_LOG" &
                NOTIFY_PID=$!
                PIDS="$PIDS $NOTIFY_PID"
                wait_until 5 grep -q LISTENING "$NOTIFY_LOG" || fail "notify listener did not start"
        fi
        local ready_before
        ready_before=$(grep -c 'READY=1' "$NOTIFY_LOG" || true)
        NOTIFY_SOCKET="$T/notify.sock" ${BEREDD_WRAPPER:-} "$BEREDD" -f -c "$conf" -s "$T/control" "$@" >>"$T/beredd.log" 2>&1 &
        BEREDD_PID=$!
        wait_until "${READY_TIMEOUT:-20}" ready_count_above "$ready_before" || fail "beredd did not report READY=1"
}
ready_count_above() { [ "$(grep -c 'READY=1' "$NOTIFY_LOG" || true)" -gt "$1" ]; }

# stop_beredd [SIGNAL]: stop and require a clean exit (status 0).
stop_beredd() {
        local sig=${1:-TERM} rc=0
        kill -"$sig" "$BEREDD_PID"
        wait "$BEREDD_PID" || rc=$?
        BEREDD_PID=""
        [ "$rc" -eq 0 ] || fail "beredd exited with status $rc after SIG$sig"
}

# kill_beredd: SIGKILL, as a crash would.
kill_beredd() {
        kill -KILL "$BEREDD_PID"
        wait "$BEREDD_PID" 2>/dev/null || true
        BEREDD_PID=""
}

ctl() { "$BEREDCTL" -s "$T/control" "$@"; }

# start_at LOCAL-TIME [CONFIG [ARGS...]]: start_beredd (CONFIG default
# $T/beredd.conf) with the daemon's clock at that Europe/Oslo wall-clock
# time; the offset is left in $OFFSET.
start_at() {
        OFFSET=$(offset_to "$1"); shift
        [ $# -gt 0 ] || set -- "$T/beredd.conf"
        BEREDD_TEST_TIME_OFFSET=$OFFSET start_beredd "$@"
}

# sock JSON: send one raw command line over the control socket, print the
# reply line; ok JSON: the command must succeed, its reply is left in $R.
sock() { testlib ctl-raw "$T/control" "$1"; }
ok() { R=$(sock "$1"); [ "$(json_str "$R" '["ok"]')" = true ] || fail "command $1 failed: $R"; }

# case_file REF: the path of follow-up case REF's file (cases/<bucket>/REF.json)
case_file() { testlib case-path "$T/spool" "$1"; }

# ---- the file gateway's spool/outbox ----
# outbox PERSON [PATTERN]: how many messages PERSON got (whose text matches PATTERN)
outbox() {
        python3 - "$T/spool/outbox" "$1" "${2:-}" <<'EOP'
import json, os, sys, re
d, person, pat = sys.argv[1:]
n = 0
for f in os.listdir(d) if os.path.isdir(d) else []:
    if not f.endswith(".json"): continue
    m = json.load(open(os.path.join(d, f)))
    if m.get("person") == person and (not pat or re.search(pat, m.get("text", ""))):
        n += 1
print(n)
EOP
}
has_outbox() { [ "$(outbox "$1" "${2:-}")" -ge "${3:-1}" ]; }

# ---- the fake SMS provider ----
# start_fake_sms [ARGS...]: fake-sms.py on a port of its own choosing, its
# request log in $T/sms.log, ARGS passed on; waits for its port (in $SMS_PORT).
start_fake_sms() {
        python3 "$top_srcdir/tests/integration/fake-sms.py" --port 0 --port-file "$T/sms.port" --log "$T/sms.log" \
                "$@" >/dev/null 2>&1 &
        PIDS="$PIDS $!"
        wait_until 10 test -s "$T/sms.port" || fail "fake-sms did not start"
        SMS_PORT=$(cat "$T/sms.port")
}

# write_creds NAME=SECRET...: each SECRET, with a newline, in $T/creds/NAME
# (mode 0600), and CREDENTIALS_DIRECTORY pointed there.
write_creds() {
        local kv
        mkdir -p "$T/creds"
        for kv in "$@"; do
                printf '%s\n' "${kv#*=}" > "$T/creds/${kv%%=*}"
                chmod 0600 "$T/creds/${kv%%=*}"
        done
        export CREDENTIALS_DIRECTORY="$T/creds"
}

# ---- reading an activation and the fake SMS provider's log ----
answer_of() { # ID PERSON: the person's answer in activation ID ("-" when not a member)
        ctl show "$1" --json | python3 -c "import json,sys; d=json.load(sys.stdin); print(([p['answer'] for p in d['people'] if p['person']==sys.argv[1]] or ['-'])[0])" "$2"
}
notif_states() { # ID PERSON: the states of the person's notifications
        ctl show "$1" --json | python3 -c "import json,sys; d=json.load(sys.stdin); print(' '.join(n['state'] for p in d['people'] if p['person']==sys.argv[1] for n in p['notifications']))" "$2"
}
# sms_to NUMBER: how many SMS fake-sms (log $SMS_LOG, default $T/sms.log) was
# asked to send to NUMBER (any profile)
sms_to() {
        python3 - "${SMS_LOG:-$T/sms.log}" "$1" <<'EOP'
import json, sys
n = 0
for l in open(sys.argv[1]):
    r = json.loads(l)
    to = (r.get("form") or {}).get("To") or (r.get("form") or {}).get("to") or (r.get("json") or {}).get("destination")
    n += to == sys.argv[2]
print(n)
EOP
}
sms_to_above() { [ "$(sms_to "$1")" -gt "$2" ]; }
# sms_texts NUMBER: the texts of the SMS asked for to NUMBER in $SMS_LOG
# (default $T/sms.log: fake-sms.py's log; Twilio, generic or Link Mobility
# body), one a line, line breaks as spaces.
sms_texts() {
        python3 - "${SMS_LOG:-$T/sms.log}" "$1" <<'EOP'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    f, j = r.get("form") or {}, r.get("json") or {}
    if (f.get("To") or f.get("to") or j.get("destination")) == sys.argv[2]:
        print((f.get("Body") or f.get("msg") or j.get("userData") or "").replace("\n", " "))
EOP
}
# twilio_sign URL TOKEN DIR FIELD=VALUE...: a Twilio webhook's form body in
# DIR/tw.body and its X-Twilio-Signature in DIR/tw.sig: base64 HMAC-SHA1 with
# TOKEN over the URL and the fields sorted by name (in Python, independently
# of the daemon's C code)
twilio_sign() {
        local url=$1 tok=$2 dir=$3
        shift 3
        python3 - "$tok" "$url" "$dir/tw.body" "$@" > "$dir/tw.sig" <<'EOP'
import base64, hashlib, hmac, sys, urllib.parse
tok, url, out = sys.argv[1:4]
fields = [tuple(a.split("=", 1)) for a in sys.argv[4:]]
open(out, "w").write(urllib.parse.urlencode(fields))
data = url + "".join(k + v for k, v in sorted(fields))
print(base64.b64encode(hmac.new(tok.encode(), data.encode(), hashlib.sha1).digest()).decode())
EOP
}

# drop FILE-NAME JSON: write JSON to a temporary name in incoming/, then rename in.
drop() {
        printf '%s' "$2" > "$T/spool/incoming/.$1.tmp"
        mv "$T/spool/incoming/.$1.tmp" "$T/spool/incoming/$1"
}

# ---- more brokers (MQTT tests) ----
# start_mosquitto_conf PORT [EXTRA]: like start_mosquitto, with EXTRA
# configuration lines after the plain listener on PORT (more listeners:
# TLS, websockets; or "persistence true" with a persistence_location).
# Waits for every listener named in EXTRA too.
start_mosquitto_conf() {
        command -v mosquitto >/dev/null || skip "mosquitto is not installed"
        local port=$1 extra=${2:-} p
        # "user": as root, mosquitto would otherwise switch to its own user,
        # which cannot read the test's files; as anyone else it is ignored.
        printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser %s\nlog_dest file %s/mosquitto.log\n%s\n' \
                "$port" "$(id -un)" "$T" "$extra" > "$T/mosquitto.conf"
        mosquitto -c "$T/mosquitto.conf" >>"$T/mosquitto.out" 2>&1 &
        MOSQUITTO_PID=$!
        PIDS="$PIDS $MOSQUITTO_PID"
        for p in $port $(printf '%s\n' "$extra" | sed -n 's/^listener \([0-9]*\).*/\1/p'); do
                wait_until 10 port_open "$p" || fail "mosquitto did not start on port $p"
        done
}

# mqtt_sub_bg FILE ARGS...: a background mosquitto_sub (topic and payload per
# line) that is stopped with the test; its PID in SUB_PID.
mqtt_sub_bg() {
        local file=$1; shift
        mosquitto_sub "$@" >>"$file" 2>>"$T/mosquitto_sub.err" &
        SUB_PID=$!
        PIDS="$PIDS $SUB_PID"
}

# record_journal DIR: every journal entry the daemon sends goes, a field per
# line and a blank line after each entry, to $JOURNAL ($T/journal.log)
# instead of the journal: a preloaded sd_journal_sendv built into DIR.
# Skips without a C compiler.
record_journal() {
        local dir=$1
        CC_=${CC:-cc}
        command -v "$CC_" >/dev/null || CC_=gcc
        command -v "$CC_" >/dev/null || skip "no C compiler for the journal shim"
        cat > "$dir/jshim.c" <<'EOC'
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>
int sd_journal_sendv(const struct iovec *iov, int n) {
        const char *path = getenv("BEREDD_TEST_JOURNAL");
        FILE *f = path ? fopen(path, "a") : NULL;
        if (!f)
                return -EIO;
        for (int i = 0; i < n; i++) {
                const char *p = iov[i].iov_base;
                for (size_t j = 0; j < iov[i].iov_len; j++)
                        fputs(p[j] == '\n' ? "\\n" : (char[2]) { p[j], 0 }, f);
                fputc('\n', f);
        }
        fputc('\n', f);
        fclose(f);
        return 0;
}
EOC
        "$CC_" -shared -fPIC -O1 -o "$dir/jshim.so" "$dir/jshim.c" || fail "cannot build the journal shim"
        JOURNAL="$T/journal.log"
        : > "$JOURNAL"
        export BEREDD_TEST_JOURNAL="$JOURNAL"
        export LD_PRELOAD="$dir/jshim.so${LD_PRELOAD:+ $LD_PRELOAD}"
        export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
}
