#!/bin/sh
# Privacy scan (issue 13, item 9). A full scenario against the real daemon on
# loopback, with debug logging (-v):
#   - a real mosquitto, everything on '#' recorded (topics and payloads), MQTT
#     commands on (a drill triggered, answered and resolved over MQTT);
#   - SMS through tests/integration/fake-sms.py (Twilio, a generic HTTP
#     gateway with a password and an inbound token, Link Mobility with its
#     token in the query), e-mail through a real SMTP server (fake-smtp.py,
#     AUTH with a password, one address refused), the HTTP listener on, a
#     heartbeat with a secret URL, an MQTT password;
#   - a call-out: answers by signed Twilio webhooks, by the generic webhook
#     with its token, by an e-mail answer link (GET, then POST), a word beredd
#     does not understand, an SMS from a stranger, a yes from a configured
#     person who was not asked, a forged signature and token, delivery
#     receipts, a resolve, an ended and a forged answer link, malformed
#     requests carrying a token, a number and a code;
#   - wrong values where ids belong, over the control socket and in drop
#     files (a name, a phone number, a case that exists);
#   - a contact-list check (verify) answered by SMS;
#   - follow-up cases with "now" put on a Monday, Wednesday and Thursday
#     (BEREDD_TEST_TIME_OFFSET): first reminders, a check-in by SMS reply, a
#     code sent by someone not a contact of its case, second reminders while
#     the SMS provider fails, the coordinator's escalation;
#   - reloads: a changed phone number and e-mail address, then a file with a
#     malformed phone number and e-mail address;
# and then every MQTT topic and payload beredd published (and what the broker
# still retains), every log line (stderr and every field sent to the journal,
# caught by a preloaded sd_journal_sendv), /metrics, /healthz, the sd_notify
# texts and every file outside the spool (and the spool's failed/ reasons)
# are searched for every configured name (each part of it too), phone number
# (every format), e-mail address, secret (gateway tokens and passwords, SMTP
# and MQTT passwords, basic-auth headers, the heartbeat URL, answer-link
# tokens seen in the e-mails, reply codes seen in the SMS) and case
# reference. Zero hits are required; each hit is printed with where it was
# found and what kind of datum it is, never the value
# (tests/security/privacy-scan.py).
. "$top_srcdir/tests/integration/common.sh"
command -v curl >/dev/null || skip "curl is not installed"
command -v mosquitto_sub >/dev/null || skip "mosquitto-clients is not installed"
command -v mosquitto_pub >/dev/null || skip "mosquitto-clients is not installed"
[ -r /usr/share/zoneinfo/Europe/Oslo ] || skip "no tzdata for Europe/Oslo"

# Waits scale with the daemon's speed (valgrind is ~20x slower).
W=10
[ -n "${BEREDD_WRAPPER:-}" ] && W=60
W=$(( W > ${READY_TIMEOUT:-0} ? W : ${READY_TIMEOUT:-0} ))
SCAN="$top_srcdir/tests/security/privacy-scan.py"
# The test's own files (configuration, secrets, what the peers received) live
# in $X and are not scanned; everything else in $T is.
X="$T/test"
mkdir -p "$X/creds"

# ---- the journal: every field beredd sends, one per line ----
record_journal "$X"

# ---- peers ----
echo '{}' > "$X/sms.ctl"
python3 "$top_srcdir/tests/integration/fake-sms.py" --port 0 --port-file "$X/sms.port" --log "$X/sms.log" \
        --control "$X/sms.ctl" --twilio-token tw-7Qe2kLm9Zr4x >/dev/null 2>&1 &
PIDS="$PIDS $!"
SMTP_PORT=$(free_port)
python3 "$top_srcdir/tests/integration/fake-smtp.py" --port "$SMTP_PORT" --log "$X/smtp.log" \
        --auth "beredd-mail:sm-Vb3nH8qWc1" --reject-rcpt solveig.haraldsrud >/dev/null 2>&1 &
PIDS="$PIDS $!"
MQTT_PORT=$(free_port)
start_mosquitto "$MQTT_PORT"
wait_until 10 test -s "$X/sms.port" || fail "fake-sms did not start"
wait_until 10 port_open "$SMTP_PORT" || fail "fake-smtp did not start"
SMS_PORT=$(cat "$X/sms.port")
HTTP_PORT=$(free_port)
H="http://127.0.0.1:$HTTP_PORT"
PUBLIC="https://beredd.kommune.example"
B=beredd/test

# Everything published on the broker: topic, then payload (the test's own
# commands are dropped before the scan).
MQ="$X/mqtt-all.log"
: > "$MQ"
mqtt_sub_bg "$MQ" -h 127.0.0.1 -p "$MQTT_PORT" -V mqttv5 -q 1 -t '#' -F '%t %p'
wait_until 10 sh -c "mosquitto_pub -h 127.0.0.1 -p $MQTT_PORT -t test/probe -m ready; grep -q '^test/probe ' '$MQ'" \
        || fail "the subscriber did not start"

printf 'tw-7Qe2kLm9Zr4x\n' > "$X/creds/twilio.token"
printf 'gi-Hs5dPq0aWe3y\n' > "$X/creds/gen.token"
printf 'gp-Lk8vTn2mRb6u\n' > "$X/creds/gen.password"
printf 'sm-Vb3nH8qWc1\n' > "$X/creds/mail.password"
printf 'mq-Jd4fGz7cXo9i\n' > "$X/creds/mqtt.password"
printf 'lp-Qw3eRt5yUi7o\n' > "$X/creds/lm.password"
printf 'lt-Zx8cVb1nMa4s\n' > "$X/creds/lm.token"
chmod 0600 "$X/creds/"*
export CREDENTIALS_DIRECTORY="$X/creds" BEREDD_GW_BACKOFF_MS=20

CONF="$X/beredd.conf"
cat > "$CONF" <<EOC
site = "test";
timezone = "Europe/Oslo";
spool = "$T/spool";
people = (
  { id = "leder1"; name = "Ingeborg Fjeldstad"; phone = "+47 934 71 258"; email = "ingeborg.fjeldstad@kommune.example";
    roles = ["leader"]; },
  { id = "medlem2"; name = "Torbjørn Skaugrud"; phone = "41592653"; email = "t.skaugrud@kriseteam.example";
    roles = ["member"]; },
  { id = "medlem3"; name = "Solveig Haraldsrud"; phone = "004797531864"; email = "solveig.haraldsrud@helse.example";
    roles = ["member"]; lang = "en"; },
  { id = "vakt4"; name = "Gudbrand Vinjevoll"; phone = "+4746802468"; email = "gudbrand@legevakt.example";
    roles = ["fallback"]; }
);
gateways = (
  { id = "sms-main"; channel = "sms"; type = "twilio"; url = "http://127.0.0.1:$SMS_PORT"; account = "AC0123";
    from = "+4759440000"; token_file = "twilio.token"; },
  { id = "sms-gen"; channel = "sms"; type = "http"; url = "http://127.0.0.1:$SMS_PORT/generic";
    body = "to={to}&msg={text}&ref={ref}"; username = "kommunen"; password_file = "gen.password";
    inbound_from = "msisdn"; inbound_text = "msg"; inbound_token_file = "gen.token"; },
  { id = "sms-lm"; channel = "sms"; type = "linkmobility"; url = "http://127.0.0.1:$SMS_PORT"; account = "1:2";
    from = "Kriseteam"; username = "kommunen-lm"; password_file = "lm.password"; inbound_token_file = "lm.token";
    receipt_gate = "BEREDD01"; },
  { id = "mail"; channel = "email"; type = "smtp"; url = "smtp://127.0.0.1:$SMTP_PORT";
    from = "kriseteam@kommune.example"; username = "beredd-mail"; password_file = "mail.password"; starttls = false; }
);
chains = (
  { id = "kriseteam"; name = "Kriseteamet"; may_trigger = [ "leder1" ]; need = { total = 2; };
    steps = ( { notify = [ "leder1", "medlem2", "medlem3" ]; via = [ "sms", "email" ]; wait = "1h"; },
              { notify = [ "vakt4" ]; via = [ "sms" ]; final = true; } ); }
);
followup: {
  levels = ( { level = 1; name = "lav"; every = "14d"; },
             { level = 2; name = "middels"; every = "7d"; } );
  overdue_after = "1d";
  escalate_after = "2d";
  coordinator = "leder1";
};
http = { listen = "127.0.0.1:$HTTP_PORT"; public_url = "$PUBLIC/";
         heartbeat = { url = "http://127.0.0.1:$SMS_PORT/hb/hb-Ye6sQa1Nf8wz"; every = "2s"; }; };
mqtt: { host = "127.0.0.1"; port = $MQTT_PORT; base = "$B"; qos = 1; username = "beredd";
        password_file = "mqtt.password"; trigger_identity = "leder1";
        commands = [ "trigger", "reply", "resolve" ]; homeassistant = true; };
EOC


# ---- helpers ----
req() { curl -s -o "$X/last" -w '%{http_code}' "$@"; }
expect() { [ "$2" = "$1" ] || { head -c 400 "$X/last" >&2; echo >&2; fail "$3: HTTP $2, expected $1"; }; }
# gen FROM TEXT: an SMS through the generic webhook, with its token
gen() { req -X POST -H "X-Beredd-Token: gi-Hs5dPq0aWe3y" --data-urlencode "msisdn=$1" --data-urlencode "msg=$2" \
        "$H/sms/sms-gen/inbound"; }
# tw PATH FIELD=VALUE...: a Twilio webhook, signed as Twilio does (in Python)
tw() {
        p=$1; shift
        twilio_sign "$PUBLIC$p" "tw-7Qe2kLm9Zr4x" "$X" "$@"
        req -X POST -H "Content-Type: application/x-www-form-urlencoded" -H "X-Twilio-Signature: $(cat "$X/tw.sig")" \
                --data-binary @"$X/tw.body" "$H$p"
}
# sms FROM TEXT: an SMS as Twilio posts it, with a fresh MessageSid (the
# counter is a file: sms runs inside $(...), a subshell)
echo 0 > "$X/sid.n"
sms() { n=$(( $(cat "$X/sid.n") + 1 )); echo "$n" > "$X/sid.n"
        tw /sms/sms-main/inbound From="$1" To=+4759440000 Body="$2" MessageSid="$(printf 'SMin%028d' "$n")"; }
answer_is() { [ "$(answer_of "$1" "$2")" = "$3" ]; }
state_is() { ctl --json show "$1" | python3 -c "import json,sys; sys.exit(json.load(sys.stdin)['state'] != sys.argv[1])" "$2"; }
# texts NUMBER [PATTERN]: SMS bodies fake-sms was asked to send to NUMBER
# (through any of the three gateways)
texts() {
        python3 - "$X/sms.log" "$1" "${2:-}" <<'EOP'
import json, re, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    f, j = r.get("form") or {}, r.get("json") or {}
    if r["path"].endswith("/Messages.json"):
        to, body = f.get("To"), f.get("Body")
    elif r["path"] == "/generic":
        to, body = f.get("to"), f.get("msg")
    elif r["path"] == "/sms/send" and isinstance(j, dict):
        to, body = j.get("destination"), j.get("userData")
    else:
        continue
    if r["status"] in (200, 201, 202) and to == sys.argv[2] and body is not None and re.search(sys.argv[3], body):
        print(body.replace("\n", " "))
EOP
}
has_text() { [ "$(texts "$1" "${2:-}" | grep -c .)" -ge "${3:-1}" ]; }
# sid_of NUMBER PATTERN: fake-sms' message id of the last SMS to NUMBER matching PATTERN
sid_of() {
        python3 - "$X/sms.log" "$1" "$2" <<'EOP'
import json, re, sys
sid = ""
for l in open(sys.argv[1]):
    r = json.loads(l)
    f = r.get("form") or {}
    if r["path"].endswith("/Messages.json") and f.get("To") == sys.argv[2] and r["status"] == 201 \
            and re.search(sys.argv[3], f.get("Body", "")):
        sid = "SM%032x" % r["n"]
print(sid)
EOP
}
mails() { [ -s "$X/smtp.log" ] && [ "$(grep -c . "$X/smtp.log")" -ge "$1" ]; }
# link_token N: the answer-link token in the Nth e-mail to ADDRESS
link_token() {
        python3 - "$X/smtp.log" "$1" <<'EOP'
import email, json, re, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if sys.argv[2] not in r["rcpt"]:
        continue
    m = email.message_from_string(r["data"])
    body = m.get_payload(decode=True).decode("utf-8", errors="replace")
    t = re.search(r"/a/([A-Za-z0-9_-]+)/yes", body)
    if t:
        print(t.group(1))
EOP
}

L1=+4793471258 L2=+4741592653 L3=+4797531864 L4=+4746802468

say "Monday 2027-01-11 09:00 (Oslo): beredd starts with -v; online on MQTT"
start_at 2027-01-11T09:00:00 "$CONF" -v
wait_until "$W" port_open "$HTTP_PORT" || fail "the listener did not open port $HTTP_PORT"
wait_until "$W" grep -q "^$B/status .*online" "$MQ" || fail "beredd is not online on MQTT"

say "a call-out: SMS by Twilio and e-mail by SMTP to three people (the SMTP server refuses one address)"
OUT=$(ctl --json trigger kriseteam --by leder1 -m "Brann ved skolen. Møt på rådhuset.") || fail "trigger refused"
ID=$(printf '%s' "$OUT" | python3 -c "import json,sys; print(json.load(sys.stdin)['activation'])")
for n in $L1 $L2 $L3; do
        wait_until "$W" has_text "$n" "JA [0-9]{4}|YES [0-9]{4}" || fail "no call-out SMS to a member"
done
wait_until "$W" mails 2 || fail "fewer than two e-mails reached the SMTP server"
unreachable_mail() { ctl --json show "$ID" | grep -q '"state": "unreachable"'; }
wait_until "$W" unreachable_mail || fail "the refused e-mail address is not unreachable"
assert_no_grep "$X/smtp.log" '"auth": null' "an e-mail was sent without SMTP authentication"
CODE=$(texts "$L2" | sed -n 's/.*JA \([0-9]\{4\}\).*/\1/p' | head -n 1)
[ -n "$CODE" ] || fail "no reply code in the SMS"

say "delivery receipts (Twilio status callbacks) for every SMS"
for n in $L1 $L2 $L3; do
        SID=$(sid_of "$n" "[0-9]{4}")
        [ -n "$SID" ] || fail "no message id for an SMS"
        expect 200 "$(tw /sms/sms-main/receipt MessageSid="$SID" MessageStatus=delivered To="$n")" "receipt"
done

say "answers by the generic webhook: a word beredd does not understand, then NEI"
before=$(texts "$L3" | grep -c . || true)
expect 200 "$(gen 004797531864 "kanskje")" "a word beredd does not understand"
wait_until "$W" has_text "$L3" "" $((before + 1)) || fail "no SMS back to a reply that was not understood"
expect 200 "$(gen "97 53 18 64" "NEI $CODE")" "NEI by the generic webhook"
wait_until "$W" answer_is "$ID" medlem3 no || fail "the generic answer was not recorded"
say "a stranger's SMS, a yes from a configured person who was not asked, a forged signature"
expect 200 "$(sms +4799887766 "JA $CODE")" "a stranger"
expect 200 "$(req -X POST -H "Content-Type: application/json" \
        --data-binary "{\"source\":\"$L4\",\"destination\":\"NO-2333\",\"content\":{\"type\":\"SMS\",\"userData\":\"JA $CODE\",\"encoding\":\"TEXT\"}}" \
        "$H/sms/sms-lm/inbound?token=lt-Zx8cVb1nMa4s")" "a yes from someone not asked, by Link Mobility"
expect 200 "$(req -X POST -H "Content-Type: application/json" --data-binary '{"refId":"nosuch.1","id":"lm-x1","resultCode":1001}' \
        "$H/sms/sms-lm/receipt?token=lt-Zx8cVb1nMa4s")" "a Link Mobility receipt for a message beredd does not know"
python3 -c 'import urllib.parse,sys; print(urllib.parse.urlencode({"From":sys.argv[1],"Body":"JA "+sys.argv[2]}), end="")' \
        "$L2" "$CODE" > "$X/forged.body"
expect 403 "$(req -X POST -H "X-Twilio-Signature: bm90IGEgc2lnbmF0dXJl" --data-binary @"$X/forged.body" \
        "$H/sms/sms-main/inbound")" "a forged Twilio signature"
expect 403 "$(req -X POST -H "X-Beredd-Token: wrong" --data-urlencode "msisdn=$L2" --data-urlencode "msg=NEI $CODE" \
        "$H/sms/sms-gen/inbound")" "a wrong inbound token"
say "wrong values where ids belong: over the control socket and in drop files"
ctl trigger kriseteam --by "Ingeborg Fjeldstad" -m x >/dev/null 2>&1 && fail "a trigger by a name was taken"
ctl reply "$CODE" yes --phone +4799887766 >/dev/null 2>&1 && fail "a reply for a stranger's number was taken"
drop byname.json '{"cmd":"trigger","chain":"kriseteam","by":"Ingeborg Fjeldstad","message":"x"}'
drop byphone.json "{\"cmd\":\"reply\",\"code\":\"$CODE\",\"phone\":\"+4799887766\",\"answer\":\"yes\"}"
wait_until "$W" test -f "$T/spool/failed/byname.json.reason" || fail "the trigger by a name was not refused"
wait_until "$W" test -f "$T/spool/failed/byphone.json.reason" || fail "the reply for a stranger's number was not refused"
say "two yeses, by an e-mail link (GET, then POST yes) and by Twilio: mobilised; then resolved"
TOKEN=$(link_token ingeborg.fjeldstad@kommune.example | head -n 1)
[ -n "$TOKEN" ] || fail "no answer link in the e-mail"
expect 200 "$(req "$H/a/$TOKEN/yes")" "GET the answer link"
expect 200 "$(req -X POST -d "" "$H/a/$TOKEN/yes")" "POST yes"
wait_until "$W" answer_is "$ID" leder1 yes || fail "the e-mail answer was not recorded"
expect 200 "$(sms "$L2" "JA $CODE")" "JA by Twilio"
wait_until "$W" answer_is "$ID" medlem2 yes || fail "the Twilio answer was not recorded"
wait_until "$W" state_is "$ID" mobilised || fail "not mobilised with two yeses"
ctl resolve "$ID" --by leder1 >/dev/null || fail "resolve refused"
wait_until "$W" state_is "$ID" resolved || fail "not resolved"
expect 410 "$(req "$H/a/$TOKEN/no")" "an answer link after the resolve"
expect 404 "$(req -X POST "$H/a/${TOKEN%????}AAAA/yes")" "a forged answer link"

say "malformed requests that carry an answer-link token, a phone number or a secret"
status=$(req -H "X-Filler: $(head -c 40000 /dev/zero | tr '\0' 'x')" "$H/a/$TOKEN/yes")
case $status in 4??) ;; *) fail "a 40 kB header got HTTP $status" ;; esac
head -c 100000 /dev/zero | tr '\0' 'a' > "$X/big"
printf 'msisdn=%s&msg=JA+%s&' "$L2" "$CODE" | cat - "$X/big" > "$X/big.body"
expect 413 "$(req -X POST -H "X-Beredd-Token: gi-Hs5dPq0aWe3y" -H "Content-Type: application/x-www-form-urlencoded" \
        --data-binary @"$X/big.body" "$H/sms/sms-gen/inbound")" "a 100 kB webhook body"
expect 400 "$(req -X POST -H "X-Beredd-Token: gi-Hs5dPq0aWe3y" -d "msisdn=$L2&msg=%zzJA" "$H/sms/sms-gen/inbound")" "a bad form"
expect 400 "$(req -X POST -H "X-Beredd-Token: gi-Hs5dPq0aWe3y" -H "Content-Type: application/json" \
        -d "{\"msisdn\":\"$L2\"," "$H/sms/sms-gen/inbound")" "bad JSON"
printf 'GET /a/%s/yes?to=%s HTTP/1.1 NONSENSE\r\n\r\n' "$TOKEN" "$L2" | python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
s.sendall(sys.stdin.buffer.read()); s.settimeout(5)
try:
    s.recv(100)
except Exception:
    pass' "$HTTP_PORT" || true
expect 200 "$(req "$H/healthz")" "healthz after the malformed requests"

say "a contact-list check, answered by SMS"
OUT=$(ctl --json verify kriseteam --by leder1) || fail "verify refused"
VID=$(printf '%s' "$OUT" | python3 -c "import json,sys; print(json.load(sys.stdin)['activation'])")
wait_until "$W" has_text "$L2" "OK [0-9]{4}" || fail "no verify SMS"
VCODE=$(texts "$L2" "OK [0-9]{4}" | sed -n 's/.*OK \([0-9]\{4\}\).*/\1/p' | tail -n 1)
expect 200 "$(sms "$L2" "OK $VCODE")" "OK to the check"
wait_until "$W" answer_is "$VID" medlem2 yes || fail "the check answer was not recorded"

say "MQTT commands: a drill triggered, answered and resolved over MQTT"
pub() { mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 "$@"; }
pub -t "$B/cmd/trigger" -m '{"id":"m1","chain":"kriseteam","message":"Øvelse","drill":true}'
wait_until "$W" grep -q "^$B/reply/m1 " "$MQ" || fail "no reply to the MQTT trigger"
MID=$(grep "^$B/reply/m1 " "$MQ" | head -n 1 | cut -d' ' -f2- | python3 -c "import json,sys; print(json.load(sys.stdin)['activation'])")
MCODE=$(ctl --json show "$MID" | python3 -c "import json,sys; print(json.load(sys.stdin)['code'])")
pub -t "$B/cmd/reply" -m "{\"id\":\"m2\",\"code\":\"$MCODE\",\"person\":\"medlem2\",\"answer\":\"yes\"}"
wait_until "$W" grep -q "^$B/reply/m2 " "$MQ" || fail "no reply to the MQTT reply"
wait_until "$W" answer_is "$MID" medlem2 yes || fail "the MQTT answer was not recorded"
pub -t "$B/cmd/resolve" -m "{\"id\":\"m3\",\"activation\":\"$MID\"}"
wait_until "$W" state_is "$MID" resolved || fail "the MQTT resolve did not resolve"

say "follow-up: two cases due today; reminders by SMS, a check-in by SMS reply"
ctl case open K-QX4471 --contact leder1 --contact medlem2 --level 1 --due 2027-01-11 >/dev/null || fail "case open refused"
ctl case open K-ZW9035 --contact medlem3 --level 2 --due 2027-01-11 --children >/dev/null || fail "case open refused"
wait_until "$W" has_text "$L1" "K-QX4471" || fail "no reminder to the first contact"
wait_until "$W" has_text "$L2" "K-QX4471" || fail "no reminder to the second contact"
wait_until "$W" has_text "$L3" "K-ZW9035" || fail "no reminder for the second case"
FCODE=$(texts "$L1" "K-QX4471" | sed -n 's/.*OK \([0-9]\{5\}\).*/\1/p' | head -n 1)
[ -n "$FCODE" ] || fail "no code in the reminder"
expect 200 "$(sms "$L1" "OK $FCODE")" "the check-in by SMS"
checked_in() { ctl --json case show K-QX4471 | python3 -c "import json,sys; sys.exit(not json.load(sys.stdin).get('history'))"; }
wait_until "$W" checked_in || fail "the SMS check-in was not recorded"
say "a check-in with the code of a case the sender is not a contact of"
expect 200 "$(gen "$L3" "OK $FCODE")" "someone else's code"
say "drop files: a phone number where a person id belongs, a case that exists"
drop wrong.json '{"cmd":"case.open","case":"K-QX4471","contacts":["+4741592653"],"level":1}'
drop dup.json '{"cmd":"case.open","case":"K-QX4471","contacts":["medlem2"],"level":1}'
wait_until "$W" test -f "$T/spool/failed/wrong.json.reason" || fail "the drop file was not refused"
wait_until "$W" test -f "$T/spool/failed/dup.json.reason" || fail "the duplicate case was not refused"
ctl case checkin K-NOSUCH --outcome needs --by leder1 >/dev/null 2>&1 && fail "a check-in of an unknown case was taken"

say "/healthz and /metrics"
curl -s -D "$T/healthz.headers" -o "$T/healthz" "$H/healthz" || fail "no /healthz"
curl -s -D "$T/metrics.headers" -o "$T/metrics" "$H/metrics" || fail "no /metrics"
# The Date header is libmicrohttpd's clock, never our data: a reply code
# that happens to be this year ("2026") must not count as a leak.
sed -i '/^Date: /d' "$T/healthz.headers" "$T/metrics.headers"
assert_grep "$T/metrics" "beredd_"
stop_beredd

say "Wednesday 2027-01-13 09:30: the second reminder for the case nobody checked in; the SMS provider fails at first"
printf '{"fail_first": 2, "status": 503}' > "$X/sms.ctl.tmp" && mv "$X/sms.ctl.tmp" "$X/sms.ctl"
start_at 2027-01-13T09:30:00 "$CONF" -v
wait_until "$W" has_text "$L3" "K-ZW9035" 2 || fail "no second reminder for K-ZW9035"
stop_beredd
say "Thursday 2027-01-14 10:00: the coordinator is told"
start_at 2027-01-14T10:00:00 "$CONF" -v
wait_until "$W" has_text "$L1" "K-ZW9035" || fail "the coordinator was not told about K-ZW9035"
say "reloads: a new phone number and e-mail address, then a file with a malformed phone number and e-mail address"
count() { grep -c -- "$1" "$T/beredd.log" || true; }
count_above() { [ "$(count "$1")" -gt "$2" ]; }
n=$(count "Reloaded ")
sed -e 's/"+4746802468"/"+4746802479"/' -e 's/gudbrand@legevakt.example/g.vinjevoll@legevakt.example/' "$CONF" > "$CONF.new"
mv "$CONF.new" "$CONF"
kill -HUP "$BEREDD_PID"
wait_until "$W" count_above "Reloaded " "$n" || fail "the reload did not finish"
cp "$CONF" "$X/good.conf"
sed -e 's/"+4746802479"/"+47 4680 2X79"/' -e 's/solveig.haraldsrud@helse.example/solveig.haraldsrud.helse.example/' "$X/good.conf" > "$CONF"
n=$(count "failed with")
kill -HUP "$BEREDD_PID"
wait_until "$W" count_above "failed with" "$n" || fail "no word on the bad configuration"
cp "$X/good.conf" "$CONF"
ctl status >/dev/null || fail "not running after a bad reload"
curl -s -o "$T/metrics2" "$H/metrics" || fail "no /metrics"
curl -s -o "$T/healthz2" "$H/healthz" || fail "no /healthz"
stop_beredd
# Whatever the broker still holds (retained), as a fresh subscriber sees it.
mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -t '#' -F '%t %p' -W 2 > "$X/mqtt-retained.log" 2>/dev/null || true
grep -v -e "^$B/cmd/" -e '^test/probe ' "$MQ" > "$T/mqtt.log" || true
grep -v -e "^$B/cmd/" -e '^test/probe ' "$X/mqtt-retained.log" > "$T/mqtt-retained.log" || true

# ---- the data to look for ----
python3 - "$CONF" "$X/sms.log" "$X/smtp.log" "$X/needles.json" <<'EOP'
import base64, email, json, re, sys
conf, smslog, smtplog, out = sys.argv[1:]
n = []
def add(kind, label, value, match="text"):
    if value and not any(x["value"] == value and x["match"] == match for x in n):
        n.append({"kind": kind, "label": label, "value": value, "match": match})
text = open(conf).read()
for m in re.finditer(r'id = "([^"]+)"; name = "([^"]+)"; phone = "([^"]+)"; email = "([^"]+)"', text):
    pid, name, phone, mail = m.groups()
    add("name", pid, name)
    for part in name.split():
        add("name part", pid, part)
    digits = re.sub(r"\D", "", phone)
    if digits.startswith("0047"): digits = digits[4:]
    if digits.startswith("47") and len(digits) == 10: digits = digits[2:]
    add("phone number", pid, "+47" + digits, "phone")
    add("e-mail address", pid, mail)
    add("e-mail local part", pid, mail.split("@")[0])
add("phone number", "stranger", "+4799887766", "phone")
add("phone number", "vakt4 (after the reload)", "+4746802479", "phone")
add("phone number", "vakt4 (malformed)", "+47 4680 2X79")
add("e-mail address", "vakt4 (after the reload)", "g.vinjevoll@legevakt.example")
for label, secret in [("twilio token", "tw-7Qe2kLm9Zr4x"), ("inbound token", "gi-Hs5dPq0aWe3y"),
                      ("gateway password", "gp-Lk8vTn2mRb6u"), ("SMTP password", "sm-Vb3nH8qWc1"),
                      ("MQTT password", "mq-Jd4fGz7cXo9i"), ("heartbeat URL", "hb-Ye6sQa1Nf8wz"),
                      ("Link Mobility password", "lp-Qw3eRt5yUi7o"), ("Link Mobility inbound token", "lt-Zx8cVb1nMa4s")]:
    add("secret", label, secret)
for label, up in [("gateway basic auth", "kommunen:gp-Lk8vTn2mRb6u"), ("twilio basic auth", "AC0123:tw-7Qe2kLm9Zr4x"),
                  ("Link Mobility basic auth", "kommunen-lm:lp-Qw3eRt5yUi7o"),
                  ("SMTP AUTH", "\0beredd-mail\0sm-Vb3nH8qWc1")]:
    add("secret", label, base64.b64encode(up.encode()).decode())
for ref in ("K-QX4471", "K-ZW9035", "K-NOSUCH"):
    add("case reference", ref, ref)
codes = set()
for l in open(smslog):
    r = json.loads(l)
    j = r.get("json") if isinstance(r.get("json"), dict) else {}
    body = (r.get("form") or {}).get("Body") or (r.get("form") or {}).get("msg") or j.get("userData") or ""
    codes.update(re.findall(r"\b(?:JA|NEI|YES|NO|OK)\s+(\d{4,6})\b", body))
for c in sorted(codes):
    add("reply code", "from an SMS text", c, "code")
tokens = set()
for l in open(smtplog):
    m = email.message_from_string(json.loads(l)["data"])
    body = m.get_payload(decode=True).decode("utf-8", errors="replace")
    tokens.update(re.findall(r"/a/([A-Za-z0-9_-]{16,})/", body))
for t in sorted(tokens):
    add("answer-link token", "from an e-mail", t)
json.dump(n, open(out, "w"), indent=1)
print("# looking for %d data: %d reply codes, %d answer-link tokens" % (len(n), len(codes), len(tokens)))
EOP
[ "$(grep -c '"reply code"' "$X/needles.json")" -ge 3 ] || fail "too few reply codes were collected"
grep -q '"answer-link token"' "$X/needles.json" || fail "no answer-link token was collected"

say "the scan finds each kind of datum where it belongs (what the peers received)"
python3 "$SCAN" "$X/needles.json" "$X/sms.log" "$X/smtp.log" > "$X/control.out" || true
for k in "name part" "phone number" "e-mail address" "secret" "case reference" "reply code" "answer-link token"; do
        grep -q ": $k (" "$X/control.out" || fail "the scan does not find any $k in what the peers received"
done

say "privacy: the scan"
# Every file in $T but the test's own ($X) and the spool (its failed/ reasons
# do count), so a file beredd writes anywhere here is searched too.
find "$T" -path "$X" -prune -o -path "$T/spool" -prune -o -type f -print | sort > "$X/files"
find "$T/spool/failed" -type f -name '*.reason' 2>/dev/null | sort >> "$X/files"
for f in beredd.log journal.log mqtt.log mqtt-retained.log metrics metrics2 healthz healthz2 notify.log; do
        grep -qx "$T/$f" "$X/files" || fail "$f is missing from the scan"
done
[ "$(grep -c . "$T/mqtt.log")" -gt 20 ] || fail "too few MQTT messages were recorded"
[ "$(grep -c . "$JOURNAL")" -gt 20 ] || fail "too few journal fields were recorded"
set --
while read -r f; do set -- "$@" --label "${f#"$T/"}=$f"; done < "$X/files"
python3 "$SCAN" "$X/needles.json" "$@" || fail "personal data or secrets found (above: where, and what kind)"
say "ok"
