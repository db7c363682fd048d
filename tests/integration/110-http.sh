#!/bin/sh
# The HTTP listener with real requests (curl): SMS replies through the
# generic, Twilio (signed) and Link Mobility webhooks in every form people
# write them; a reply without a code; unknown senders; forged Twilio
# signatures; delivery receipts moving a sequential step on; the e-mail
# answer links (GET shows, POST answers, ended and forged tokens refused);
# oversize and malformed requests while the daemon keeps working; /healthz,
# /metrics (promtool) and the outgoing heartbeat. SMS go out to
# tests/integration/fake-sms.py, e-mail to the file gateway.
. "$(dirname "$0")/common.sh"
command -v curl >/dev/null || skip "curl is not installed"

# ---- peers ----
start_fake_sms --twilio-token twilio-secret
python3 "$top_srcdir/tests/integration/fake-sms.py" --port 0 --port-file "$T/hb.port" --log "$T/hb.log" >/dev/null 2>&1 &
PIDS="$PIDS $!"
wait_until 10 test -s "$T/hb.port" || fail "the heartbeat receiver did not start"
HB_PORT=$(cat "$T/hb.port")
HTTP_PORT=$(free_port)
H="http://127.0.0.1:$HTTP_PORT"
PUBLIC="https://beredd.kommune.example"

write_creds twilio.token=twilio-secret gen.token=gen-secret lm.password=lm-password lm.token=lm-secret
export BEREDD_GW_BACKOFF_MS=20

cat > "$T/beredd.conf" <<EOC
site = "test";
spool = "$T/spool";
people = (
  { id = "kari"; name = "Kari Nordmann"; phone = "+4791234567"; email = "kari@kommune.example"; roles = ["leader"]; },
  { id = "ola";  name = "Ola Nordmann";  phone = "+4791234568"; roles = ["member"]; },
  { id = "per";  name = "Per Hansen";    phone = "+4791234569"; roles = ["member"]; },
  { id = "lise"; name = "Lise Berg";     phone = "+4791234570"; roles = ["member"]; }
);
gateways = (
  { id = "sms-main"; type = "twilio"; url = "http://127.0.0.1:$SMS_PORT"; account = "AC0123";
    from = "+4759440000"; token_file = "twilio.token"; },
  { id = "sms-gen"; type = "http"; url = "http://127.0.0.1:$SMS_PORT/generic"; body = "to={to}&msg={text}";
    inbound_from = "msisdn"; inbound_text = "msg"; inbound_token_file = "gen.token"; },
  { id = "sms-lm"; type = "linkmobility"; url = "http://127.0.0.1:$SMS_PORT"; account = "1:2"; from = "Kriseteam";
    username = "kommunen"; password_file = "lm.password"; inbound_token_file = "lm.token"; receipt_gate = "BEREDD01"; },
  { id = "mail"; channel = "email"; type = "file"; }
);
chains = (
  # receipt = false: kari answers a dozen times in a row here; receipts (160-quorum.sh)
  # would use up her texts back for the hour before the ones this test is about.
  { id = "kriseteam"; name = "Kriseteamet"; may_trigger = [ "kari" ]; need = { total = 3; }; receipt = false;
    steps = ( { notify = [ "kari", "ola", "lise" ]; via = [ "sms", "email" ]; wait = "10m"; },
              { notify = [ "per" ]; via = [ "sms" ]; final = true; } ); },
  { id = "seq"; name = "Vaktlaget"; may_trigger = [ "kari" ]; need = { total = 2; };
    steps = ( { notify = [ "ola", "per" ]; via = [ "sms" ]; mode = "sequential"; wait = "10m"; },
              { notify = [ "kari" ]; via = [ "sms" ]; final = true; } ); }
);
http = { listen = "127.0.0.1:$HTTP_PORT"; public_url = "$PUBLIC/";
         heartbeat = { url = "http://127.0.0.1:$HB_PORT/hb/abc123"; every = "1s"; }; };
EOC
start_beredd "$T/beredd.conf"
wait_until 10 port_open "$HTTP_PORT" || fail "the listener did not open port $HTTP_PORT"

# ---- helpers ----
# Each request prints the HTTP status; the body is in $T/last.
req() { curl -s -o "$T/last" -w '%{http_code}' "$@"; }
# gen FROM TEXT: an SMS through the generic webhook (form fields msisdn, msg)
gen() { req -X POST -H "X-Beredd-Token: gen-secret" --data-urlencode "msisdn=$1" --data-urlencode "msg=$2" "$H/sms/sms-gen/inbound"; }
# tw PATH TOKEN FIELD=VALUE...: a Twilio webhook signed with TOKEN (signed
# here in Python, independently of the daemon's C code)
tw() {
        p=$1; tok=$2; shift 2
        twilio_sign "$PUBLIC$p" "$tok" "$T" "$@"
        req -X POST -H "Content-Type: application/x-www-form-urlencoded" -H "X-Twilio-Signature: $(cat "$T/tw.sig")" \
                --data-binary @"$T/tw.body" "$H$p"
}
# lm PATH JSON: a Link Mobility webhook with the gate's token in the query
lm() { req -X POST -H "Content-Type: application/json" --data-binary "$2" "$H$1?token=lm-secret"; }
trigger() { # CHAIN: prints "ID CODE"
        ctl trigger "$1" --by kari -m "Øvelse på rådhuset" --json | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['activation'], d['code'])"
}
# twilio_sid NUMBER: the Twilio message id fake-sms gave the last SMS to NUMBER
twilio_sid() {
        python3 - "$T/sms.log" "$1" <<'EOP'
import json, sys
sid = None
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["path"].endswith("/Messages.json") and (r.get("form") or {}).get("To") == sys.argv[2] and r["status"] == 201:
        sid = "SM%032x" % r["n"]
print(sid)
EOP
}
expect() { # WANT GOT WHAT
        [ "$2" = "$1" ] || { echo "--- body:" >&2; head -c 600 "$T/last" >&2; echo >&2; fail "$3: HTTP $2, expected $1"; }
}

say "/healthz, and the heartbeat goes out"
expect 200 "$(req "$H/healthz")" "healthz"
assert_grep "$T/last" "^ok"
wait_until 10 sh -c "[ \$(grep -c '\"path\": \"/hb/abc123\"' '$T/hb.log' 2>/dev/null || echo 0) -ge 2 ]" \
        || fail "fewer than two heartbeats in 10 s"
assert_grep "$T/hb.log" '"method": "GET"'

say "every reply form counts, with and without +47, through all three webhooks"
set -- $(trigger kriseteam); ID1=$1; CODE1=$2
wait_until 5 sms_to_above +4791234567 0 || fail "kari got no SMS"
check() { # STATUS WANT-ANSWER WHAT
        expect 200 "$1" "$3"
        got=$(answer_of "$ID1" kari)
        [ "$got" = "$2" ] || fail "$3: kari's answer is $got, expected $2"
}
check "$(gen +4791234567 "JA")" yes "JA from +4791234567"
check "$(gen 91234567 "NEI $CODE1")" no "NEI CODE from 91234567"
check "$(gen 4791234567 "Ja!")" yes "Ja! from 4791234567"
check "$(gen 004791234567 "nei")" no "nei from 004791234567"
# issue 13: OK is not a yes to a call-out (it was counted as one); it is asked back
check "$(gen "+47 912 34 567" "OK")" no "OK from +47 912 34 567 is not a yes"
check "$(tw /sms/sms-main/inbound twilio-secret From=+4791234567 Body=no To=+4759440000 MessageSid=SMin1)" no "no by Twilio"
assert_grep "$T/last" "<Response/>"
check "$(lm /sms/sms-lm/inbound '{"source":"+4791234567","destination":"NO-2333","content":{"type":"SMS","userData":"yes","encoding":"TEXT"}}')" \
        yes "yes by Link Mobility"
check "$(gen 91234567 "nei")" no "nei"
check "$(gen +4791234567 "ja $CODE1")" yes "ja CODE"
assert_grep "$T/last" '"taken":true'

say "an unknown sender is ignored, and the number is not logged"
expect 200 "$(gen +4799887766 "JA")" "unknown sender"
assert_grep "$T/last" '"taken":false'
assert_eq "$(answer_of "$ID1" kari)" yes
assert_grep "$T/beredd.log" "not in the configuration"
assert_no_grep "$T/beredd.log" "99887766" "a phone number reached the log"

say "a bad Twilio signature is refused (403) and changes nothing"
expect 403 "$(tw /sms/sms-main/inbound wrong-token From=+4791234567 Body=nei)" "forged signature"
assert_eq "$(answer_of "$ID1" kari)" yes
# signed for other fields than the ones sent
python3 -c 'import urllib.parse; print(urllib.parse.urlencode({"From":"+4791234567","Body":"nei"}), end="")' > "$T/other.body"
expect 403 "$(req -X POST -H "Content-Type: application/x-www-form-urlencoded" -H "X-Twilio-Signature: $(cat "$T/tw.sig")" \
        --data-binary @"$T/other.body" "$H/sms/sms-main/inbound")" "signature of another request"
expect 403 "$(req -X POST -d "From=%2B4791234567&Body=nei" "$H/sms/sms-main/inbound")" "no signature"
assert_eq "$(answer_of "$ID1" kari)" yes
assert_grep "$T/beredd.log" "bad or missing X-Twilio-Signature"

say "two open activations: a reply without a code gets an SMS asking for it"
set -- $(trigger kriseteam); ID2=$1; CODE2=$2
before=$(sms_to +4791234567)
expect 200 "$(gen +4791234567 "nei")" "ambiguous reply"
wait_until 5 sms_to_above +4791234567 "$before" || fail "no SMS asking for the code"
python3 - "$T/sms.log" <<'EOP' || fail "the SMS back does not ask for the code"
import json, sys
last = [json.loads(l) for l in open(sys.argv[1]) if (json.loads(l).get("form") or {}).get("To") == "+4791234567"][-1]
assert "koden" in last["form"]["Body"], last["form"]["Body"]
EOP
assert_eq "$(answer_of "$ID1" kari)" yes "an ambiguous reply changed the first activation"
assert_eq "$(answer_of "$ID2" kari)" none "an ambiguous reply changed the second activation"
# through Twilio the question comes back in the TwiML answer
expect 200 "$(tw /sms/sms-main/inbound twilio-secret From=+4791234567 Body=JA)" "ambiguous reply by Twilio"
assert_grep "$T/last" "<Response><Message>.*koden.*</Message></Response>"
expect 200 "$(gen 91234567 "JA $CODE2")" "reply with the code"
assert_eq "$(answer_of "$ID2" kari)" yes
assert_eq "$(answer_of "$ID1" kari)" yes

say "e-mail answer links: GET shows, POST answers"
MAIL=$(grep -l '"channel":"email"' "$T/spool/outbox/$ID2".*.json | head -n 1)
[ -n "$MAIL" ] || fail "no e-mail for $ID2 in the outbox"
TOKEN=$(python3 -c "import json,re,sys; print(re.search(r'/a/([A-Za-z0-9_-]+)/yes', json.load(open(sys.argv[1]))['text']).group(1))" "$MAIL")
grep -q "$PUBLIC/a/$TOKEN/no" "$MAIL" || fail "the e-mail has no NO link under the public URL"
expect 200 "$(req "$H/a/$TOKEN/no")" "GET no"
assert_grep "$T/last" "Bekreft svaret ditt"
assert_grep "$T/last" "Kriseteamet"
assert_grep "$T/last" 'method="post"'
curl -s -D "$T/headers" -o /dev/null "$H/a/$TOKEN/no"
assert_grep "$T/headers" "Referrer-Policy: no-referrer"
expect 200 "$(req -I "$H/a/$TOKEN/yes")" "HEAD yes"
assert_eq "$(answer_of "$ID2" kari)" yes "GET changed the answer"
expect 200 "$(req -X POST "$H/a/$TOKEN/no")" "POST no"
assert_grep "$T/last" "registrert"
assert_eq "$(answer_of "$ID2" kari)" no "POST did not answer"
expect 200 "$(req -X POST -d "" "$H/a/$TOKEN/yes")" "POST yes"
assert_eq "$(answer_of "$ID2" kari)" yes
assert_no_grep "$T/beredd.log" "$TOKEN" "a token reached the log"

say "a token after the activation ended is refused (410); a forged one is unknown (404)"
ctl resolve "$ID2" --by kari > /dev/null
expect 410 "$(req "$H/a/$TOKEN/no")" "GET after resolve"
assert_grep "$T/last" "avsluttet"
expect 410 "$(req -X POST "$H/a/$TOKEN/no")" "POST after resolve"
assert_eq "$(answer_of "$ID2" kari)" yes
FORGED=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
expect 404 "$(req "$H/a/$FORGED/yes")" "GET forged"
expect 404 "$(req -X POST "$H/a/$FORGED/yes")" "POST forged"
expect 404 "$(req -X POST "$H/a/short/yes")" "a token of the wrong shape"
expect 404 "$(req -X POST "$H/a/$TOKEN%2Fx/yes")" "an escaped slash"
expect 405 "$(req -X PUT "$H/a/$FORGED/yes")" "PUT"

say "a drill says so on the page"
DRILL=$(ctl trigger kriseteam --by kari -m "Øvelse" --drill --json | python3 -c "import json,sys; print(json.load(sys.stdin)['activation'])")
wait_until 5 sh -c "grep -l '\"channel\":\"email\"' '$T/spool/outbox/$DRILL'.*.json" || fail "no e-mail for the drill"
MAIL=$(grep -l '"channel":"email"' "$T/spool/outbox/$DRILL".*.json | head -n 1)
DTOKEN=$(python3 -c "import json,re,sys; print(re.search(r'/a/([A-Za-z0-9_-]+)/yes', json.load(open(sys.argv[1]))['text']).group(1))" "$MAIL")
expect 200 "$(req "$H/a/$DTOKEN/yes")" "GET drill link"
assert_grep "$T/last" "ØVELSE"
ctl resolve "$DRILL" --by kari > /dev/null

say "receipts: an undelivered SMS moves a sequential step on at once"
ola_before=$(sms_to +4791234568)
set -- $(trigger seq); ID3=$1
wait_until 5 sms_to_above +4791234568 "$ola_before" || fail "ola got no SMS"
wait_until 5 sh -c "\"$BEREDCTL\" -s \"$T/control\" show $ID3 --json | grep -q '\"state\": \"sent\"'" || fail "ola's SMS is not sent"
SID=$(twilio_sid +4791234568)
[ "$SID" != None ] || fail "no Twilio message id for ola's SMS"
# Twilio is told where to send the status callbacks: the public receipt URL
python3 - "$T/sms.log" "$PUBLIC/sms/sms-main/receipt" <<'EOP' || fail "the Twilio sends do not carry the StatusCallback URL"
import json, sys
sends = [json.loads(l) for l in open(sys.argv[1])]
sends = [r for r in sends if r["path"].endswith("/Messages.json")]
sys.exit(0 if sends and all((r.get("form") or {}).get("StatusCallback") == sys.argv[2] for r in sends) else 1)
EOP
per_before=$(sms_to +4791234569)
expect 200 "$(tw /sms/sms-main/receipt twilio-secret MessageSid="$SID" MessageStatus=sent)" "intermediate status"
assert_grep "$T/last" '"ignored":true'
expect 403 "$(tw /sms/sms-main/receipt nope MessageSid="$SID" MessageStatus=undelivered ErrorCode=30003)" "forged receipt"
sleep 0.3
assert_eq "$(sms_to +4791234569)" "$per_before" "the step moved on before any receipt"
expect 200 "$(tw /sms/sms-main/receipt twilio-secret MessageSid="$SID" MessageStatus=undelivered ErrorCode=30003)" "undelivered"
assert_grep "$T/last" '"known":true'
wait_until 3 sms_to_above +4791234569 "$per_before" || fail "per was not asked after ola's SMS was undeliverable"
notif_states "$ID3" ola | grep -q undeliverable || fail "ola's notification is not undeliverable: $(notif_states "$ID3" ola)"
# per's SMS delivered: not through another gateway's receipt route (it was
# sent by sms-main), only through the sending gateway's
PSID=$(twilio_sid +4791234569)
expect 200 "$(req -X POST -H "X-Beredd-Token: gen-secret" -d "ref=$PSID&status=DELIVRD" "$H/sms/sms-gen/receipt")" "generic receipt"
assert_grep "$T/last" '"known":false'
expect 200 "$(tw /sms/sms-main/receipt twilio-secret MessageSid="$PSID" MessageStatus=delivered)" "delivered"
wait_until 3 sh -c "\"$BEREDCTL\" -s \"$T/control\" show $ID3 --json | grep -q '\"state\": \"delivered\"'" || fail "per's SMS is not delivered"
# a Link Mobility report for a message we do not know: acknowledged
expect 200 "$(lm /sms/sms-lm/receipt '{"refId":"nosuch.1","id":"abc$0","resultCode":1001}')" "unknown LM receipt"
assert_grep "$T/last" '"known":false'
expect 200 "$(lm /sms/sms-lm/receipt '{"refId":null,"id":"abc","resultCode":1005}')" "queued LM receipt"
assert_grep "$T/last" '"ignored":true'

say "oversize, malformed and misdirected requests get a 4xx; the daemon keeps working"
head -c 100000 /dev/zero | tr '\0' 'a' > "$T/big"
expect 413 "$(req -X POST -H "X-Beredd-Token: gen-secret" -H "Content-Type: application/x-www-form-urlencoded" \
        --data-binary @"$T/big" "$H/sms/sms-gen/inbound")" "100 kB body"
head -c 3000000 /dev/zero | tr '\0' 'a' > "$T/huge"
expect 413 "$(req -X POST -H "Content-Type: application/json" --data-binary @"$T/huge" "$H/sms/sms-lm/inbound?token=lm-secret")" "3 MB body"
expect 400 "$(req -X POST -H "X-Beredd-Token: gen-secret" -d 'msisdn=%zz&msg=JA' "$H/sms/sms-gen/inbound")" "bad form"
expect 400 "$(req -X POST -H "X-Beredd-Token: gen-secret" -d 'msisdn=91234567' "$H/sms/sms-gen/inbound")" "no text"
expect 400 "$(req -X POST -H "X-Beredd-Token: gen-secret" -H "Content-Type: application/json" -d '{"msisdn":' "$H/sms/sms-gen/inbound")" "bad JSON"
expect 400 "$(lm /sms/sms-lm/inbound '{"source":"+4791234567"}')" "LM without text"
expect 400 "$(lm /sms/sms-lm/receipt '[1,2,3]')" "LM receipt not an object"
expect 400 "$(tw /sms/sms-main/receipt twilio-secret MessageStatus=delivered)" "Twilio receipt without a sid"
expect 415 "$(req -X POST -H "X-Beredd-Token: gen-secret" -H "Content-Type: text/plain" -d 'JA' "$H/sms/sms-gen/inbound")" "text/plain"
expect 415 "$(req -X POST -H "Content-Type: application/json" -d '{}' "$H/sms/sms-main/inbound")" "JSON to Twilio"
expect 403 "$(req -X POST -d 'msisdn=91234567&msg=JA' "$H/sms/sms-gen/inbound")" "generic without its token"
expect 403 "$(req -X POST -H "X-Beredd-Token: gen-secreT" -d 'msisdn=91234567&msg=JA' "$H/sms/sms-gen/inbound")" "wrong token"
expect 403 "$(req -X POST -H "Content-Type: application/json" -d '{}' "$H/sms/sms-lm/inbound")" "LM without its token"
expect 404 "$(req -X POST -d 'a=b' "$H/sms/nosuch/inbound")" "unknown gateway"
expect 404 "$(req -X POST -d 'a=b' "$H/sms/mail/inbound")" "a gateway that takes no webhooks"
expect 404 "$(req "$H/")" "/"
expect 404 "$(req "$H/healthz/")" "/healthz/"
expect 404 "$(req "$H/sms/sms-gen/inbound/x")" "too deep"
expect 405 "$(req "$H/sms/sms-gen/inbound")" "GET on a webhook"
expect 405 "$(req -X POST "$H/metrics")" "POST /metrics"
status=$(req -H "X-Filler: $(head -c 40000 /dev/zero | tr '\0' 'x')" "$H/healthz")
case $status in 4??) ;; *) fail "a 40 kB header got HTTP $status" ;; esac
printf 'NONSENSE\r\n\r\n' | python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2)
s.sendall(sys.stdin.buffer.read()); s.settimeout(2)
try:
    print(s.recv(100).decode(errors="replace").splitlines()[0])
except Exception:
    pass' "$HTTP_PORT" > "$T/raw" || true
kill -0 "$BEREDD_PID" || fail "beredd died"
expect 200 "$(req "$H/healthz")" "healthz after the abuse"
set -- $(trigger seq); ID4=$1; CODE4=$2
expect 200 "$(gen 91234568 "JA $CODE4")" "an answer after the abuse"
assert_eq "$(answer_of "$ID4" ola)" yes

say "/metrics is valid Prometheus text"
curl -s -D "$T/mheaders" -o "$T/metrics" "$H/metrics"
assert_grep "$T/mheaders" "Content-Type: text/plain; version=0.0.4"
assert_grep "$T/metrics" 'beredd_http_responses_total{code="413"} 2'
if command -v promtool >/dev/null; then
        promtool check metrics < "$T/metrics" > "$T/promtool.out" 2>&1 || { cat "$T/promtool.out" >&2; fail "promtool rejects /metrics"; }
else
        say "promtool is not installed: the format check is skipped"
fi

say "a reload keeps the listener; a new listen address needs a restart"
sed "s/127.0.0.1:$HTTP_PORT/127.0.0.1:1/" "$T/beredd.conf" > "$T/beredd.conf.new" && mv "$T/beredd.conf.new" "$T/beredd.conf"
kill -HUP "$BEREDD_PID"
wait_until 5 grep -q "restart beredd to apply it" "$T/beredd.log" || fail "no restart notice"
expect 200 "$(req "$H/healthz")" "healthz after reload"
expect 200 "$(gen 91234568 "nei $CODE4")" "an answer after reload"
assert_eq "$(answer_of "$ID4" ola)" no

assert_no_grep "$T/beredd.log" "twilio-secret" "a secret reached the log"
assert_no_grep "$T/beredd.log" "gen-secret" "a secret reached the log"
assert_no_grep "$T/beredd.log" "abc123" "the heartbeat URL reached the log"
stop_beredd
say "ok"
