#!/bin/sh
# Outage drills: the SMS gateway answering 500, hanging past its timeout and
# refusing connections, each for longer than its retries last, then coming
# back; the SMTP server down, then up; a kill -9 in the middle of an outage;
# a call-out that is no longer wanted when the gateway comes back; and the
# spool on a full file system (a small tmpfs made here; skipped where mount
# is not allowed). Each time beredd keeps running, says what is wrong
# (journal and STATUS=), loses nothing it had accepted, refuses new input it
# cannot persist with a clear error, and recovers by itself.
. "$(dirname "$0")/common.sh"

start_sms() { # [EXTRA-ARGS...]: start fake-sms.py on $SMS_PORT (0: a free one)
        python3 "$top_srcdir/tests/integration/fake-sms.py" --port "${SMS_PORT:-0}" --port-file "$T/sms.port" \
                --log "$T/sms.log" --control "$T/sms.ctl" "$@" >/dev/null 2>&1 &
        SMS_PID=$!
        PIDS="$PIDS $SMS_PID"
        wait_until 10 test -s "$T/sms.port" || fail "fake-sms did not start"
        SMS_PORT=$(cat "$T/sms.port")
        wait_until 10 port_open "$SMS_PORT" || fail "fake-sms is not listening"
}
stop_sms() { kill "$SMS_PID" 2>/dev/null || true; wait "$SMS_PID" 2>/dev/null || true; rm -f "$T/sms.port"; }
control() { printf '%s' "$1" > "$T/sms.ctl.tmp"; mv "$T/sms.ctl.tmp" "$T/sms.ctl"; sleep 0.1; }
# requests KEY [STATUS]: how many requests carried KEY (answered STATUS)
requests() {
        python3 - "$T/sms.log" "$1" "${2:-}" <<'EOP'
import json, os, re, sys
n = 0
# the reference sent is the key and the notification's secret nonce
ref_re = re.compile(re.escape(sys.argv[2]) + r"\.[0-9a-f]{16}")
if os.path.exists(sys.argv[1]):
    for line in open(sys.argv[1]):
        r = json.loads(line)
        if ref_re.fullmatch((r.get("form") or {}).get("ref") or "") and (not sys.argv[3] or r["status"] == int(sys.argv[3])):
            n += 1
print(n)
EOP
}
has_requests() { [ "$(requests "$1" "${3:-}")" -ge "$2" ]; }
notif_state() { # ID PERSON CHANNEL: the state of that person's last notification on CHANNEL
        ctl show "$1" --json | python3 -c "
import json, sys
d = json.load(sys.stdin)
print([n['state'] for p in d['people'] if p['person'] == sys.argv[1] for n in p['notifications'] if n['channel'] == sys.argv[2]][-1])" "$2" "$3"
}
state_is() { [ "$(notif_state "$1" "$2" "$3")" = "$4" ]; }
act_state() { ctl show "$1" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['state'])"; }
status_is() { grep "STATUS=" "$NOTIFY_LOG" | tail -n 1 | grep -q "$1"; }
trigger() { ctl trigger kriseteam --by kari -m "Øvelse: $1" --drill --json |
        python3 -c "import json,sys; d=json.load(sys.stdin); print(d['activation'], d['code'])"; }

echo '{}' > "$T/sms.ctl"
start_sms --reply '{"status":"ok"}'
SMTP_PORT=$(free_port)
mkdir -p "$T/mail" "$T/creds"

write_conf() { # SPOOL
        cat > "$T/beredd.conf" <<EOC
site = "test";
spool = "$1";
people = (
  { id = "kari"; name = "Kari Nordmann"; phone = "+4791234567"; email = "kari@kommune.example"; roles = ["leader"]; },
  { id = "ola";  name = "Ola Nordmann";  phone = "+4791234568"; roles = ["member"]; }
);
gateways = (
  { id = "sms"; channel = "sms"; type = "http"; url = "http://127.0.0.1:$SMS_PORT/send";
    body = "to={to}&msg={text}&ref={ref}"; retries = 2; timeout = "1s"; },
  { id = "mail"; channel = "email"; type = "smtp"; url = "smtp://127.0.0.1:$SMTP_PORT";
    from = "kriseteam@kommune.example"; starttls = false; retries = 2; timeout = "2s"; }
);
chains = (
  { id = "kriseteam"; name = "Kriseteamet"; may_trigger = [ "kari" ]; need = { total = 1; };
    steps = ( { notify = [ "ola" ]; via = [ "sms" ]; wait = "10m"; },
              { notify = [ "kari" ]; via = [ "email" ]; wait = "10m"; } ); }
);
EOC
}
write_conf "$T/spool"
# Backoff base 20 ms: a round of retries is over in well under a second, and
# the next round starts 30 x 20 ms = 600 ms later.
export BEREDD_GW_BACKOFF_MS=20
start_beredd "$T/beredd.conf"

say "the SMS gateway answers 500 for longer than its retries: kept, tried again in rounds, sent when it is back"
control '{"fail_first": -1, "status": 500}'
set -- $(trigger "500")
ID=$1; KEY="$ID.0"
wait_until 10 has_requests "$KEY" 7 || fail "expected several rounds of attempts, got $(requests "$KEY")"
assert_grep "$T/beredd.log" "every sms gateway failed (round"
wait_until 5 status_is "GATEWAY TROUBLE: 1 message" || fail "STATUS= does not say the gateway is in trouble: $(grep STATUS= "$NOTIFY_LOG" | tail -n 1)"
assert_eq "$(ctl status --json | python3 -c "import json,sys; print(json.load(sys.stdin)['notifications_waiting_for_gateway'])")" 1
assert_eq "$(notif_state "$ID" ola sms)" "sending" "a message in an outage must stay in hand"
control '{"fail_first": 0}'
wait_until 10 state_is "$ID" ola sms sent || fail "not sent after the gateway came back"
assert_eq "$(requests "$KEY" 200)" 1 "delivered more than once"
wait_until 5 status_is "running" || fail "STATUS= did not recover"
say "$(requests "$KEY") requests for one message over the outage, 1 delivered"

say "the SMS gateway hangs past its timeout: kept, and sent when it answers again"
control '{"hang_first": 4, "hang_seconds": 3}'
set -- $(trigger "hang")
ID=$1; KEY="$ID.0"
wait_until 20 state_is "$ID" ola sms sent || fail "not sent after the hangs ended"
assert_grep "$T/beredd.log" "Timeout"
hung=$(requests "$KEY")
say "$hung requests reached the gateway for one message (the hung ones arrived too: a provider without idempotency keys would deliver $((hung - 1)) duplicate(s))"

say "the SMS gateway refuses connections, beredd is killed (-9) in the outage; the message goes when both are back"
stop_sms
set -- $(trigger "refused")
ID=$1; KEY="$ID.0"
wait_until 10 grep -q "every sms gateway failed (round 2)" "$T/beredd.log" || fail "no second round while refused"
kill_beredd
start_beredd "$T/beredd.conf"
sleep 1
start_sms --reply '{"status":"ok"}'
wait_until 10 state_is "$ID" ola sms sent || fail "the message accepted before the crash was not sent"
assert_eq "$(requests "$KEY" 200)" 1 "delivered more than once"

say "a call-out that is no longer wanted when the gateway comes back is not sent"
control '{"fail_first": -1, "status": 503}'
set -- $(trigger "stale")
ID=$1; CODE=$2; KEY="$ID.0"
wait_until 10 has_requests "$KEY" 3 || fail "no attempts"
ctl resolve "$ID" --by kari >/dev/null || fail "resolve refused"
control '{"fail_first": 0}'
wait_until 10 grep -q "Message $KEY (person ola): no longer needed" "$T/beredd.log" || fail "the stale call-out was not dropped"
assert_eq "$(requests "$KEY" 200)" 0 "a call-out went out after the activation was resolved"

say "the SMTP server is down, then up: the e-mail is kept and sent"
set -- $(trigger "smtp")
ID=$1; CODE=$2
ctl reply "$CODE" no --person ola >/dev/null        # step 2: kari by e-mail
wait_until 10 grep -q "every email gateway failed (round 2)" "$T/beredd.log" || fail "no second round while SMTP is down"
if /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; then
        /usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$T/mail/box" >/dev/null 2>&1 &
else
        python3 "$top_srcdir/tests/integration/fake-smtp.py" --port "$SMTP_PORT" --log "$T/mail/log" >/dev/null 2>&1 &
fi
PIDS="$PIDS $!"
wait_until 10 port_open "$SMTP_PORT" || fail "SMTP server did not start"
wait_until 10 sh -c "ls '$T/mail/box/new/'* >/dev/null 2>&1 || test -s '$T/mail/log'" || fail "no e-mail after SMTP came back"
wait_until 5 state_is "$ID" kari email sent || fail "the e-mail is not recorded as sent"
stop_beredd

# ---- a full spool ----
MNT="$T/small"
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=2m,mode=0755 tmpfs "$MNT" 2>/dev/null; then
        say "SKIP the full-spool drill: cannot mount a tmpfs here (not root?)"
        say "ok"
        exit 0
fi
# the mount goes with the test, whatever happens (cleanup sees the test's status)
trap 'rc=$?; umount -l "$MNT" 2>/dev/null || true; (exit $rc); cleanup' EXIT
write_conf "$MNT/spool"
start_beredd "$T/beredd.conf"

say "a full spool: new input refused with a clear error, nothing accepted lost, back by itself when there is room"
set -- $(trigger "before full")
ID1=$1
dd if=/dev/zero of="$MNT/filler" bs=64k 2>/dev/null || true
OUT=$(ctl trigger kriseteam --by kari -m "full" --drill 2>&1) && fail "a trigger was accepted on a full spool: $OUT"
echo "$OUT" | grep -q "No space left on device" || fail "the refusal does not say why: $OUT"
say "refused: $OUT"
wait_until 5 status_is "SPOOL ERROR" || fail "STATUS= does not say the spool is full: $(grep STATUS= "$NOTIFY_LOG" | tail -n 1)"
assert_eq "$(ctl status --json | python3 -c "import json,sys; print(json.load(sys.stdin)['state'])")" "spool-error"
assert_grep "$T/beredd.log" "refusing new input"
OUT=$(ctl reply "$(ctl show "$ID1" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['code'])")" yes --person ola 2>&1) &&
        fail "a reply was accepted on a full spool: $OUT"
assert_eq "$(act_state "$ID1")" "mobilising" "the open activation changed while the spool was full"
rm -f "$MNT/filler"
wait_until 15 status_is "running" || fail "STATUS= did not recover after space came back"
set -- $(trigger "after full")
ID3=$1
[ -n "$ID3" ] || fail "no trigger accepted after recovery"
kill_beredd
start_beredd "$T/beredd.conf"
assert_eq "$(act_state "$ID1")" "mobilising" "the activation from before the outage is gone"
assert_eq "$(act_state "$ID3")" "mobilising" "the activation from after the outage is gone"
stop_beredd
umount "$MNT"
say "ok"
