#!/bin/sh
# Issue 13, item 4: delivery receipts and replays, against the real daemon on
# loopback (SMS to tests/integration/fake-sms.py, webhooks with curl).
#  - a receipt naming beredd's own key "<activation>.<seq>" (derivable from
#    the activation id on MQTT) changes nothing, through any route;
#  - a receipt with the right provider reference through another gateway's
#    route changes nothing; a Twilio webhook for another AccountSid is refused;
#  - the sending gateway with its own reference (Twilio MessageSid, the
#    generic gateway's {ref} = key + secret nonce) is recorded; a later
#    status does not overwrite a final one;
#  - a replayed signed Twilio NEI (same MessageSid), a replayed Link
#    Mobility MO (same messageId) and a replayed generic SMS (same
#    inbound_id) are acknowledged and ignored, also after a restart.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/common.sh"
command -v curl >/dev/null || skip "curl is not installed"

start_fake_sms --twilio-token twilio-secret
HTTP_PORT=$(free_port)
H="http://127.0.0.1:$HTTP_PORT"
PUBLIC="https://beredd.kommune.example"

write_creds twilio.token=twilio-secret gen.token=gen-secret lm.password=lm-password lm.token=lm-secret
export BEREDD_GW_BACKOFF_MS=20

TWILIO_GW="  { id = \"sms-main\"; type = \"twilio\"; url = \"http://127.0.0.1:$SMS_PORT\"; account = \"AC0123\";
    from = \"+4759440000\"; token_file = \"twilio.token\"; },"
GEN_GW="  { id = \"sms-gen\"; type = \"http\"; url = \"http://127.0.0.1:$SMS_PORT/generic\"; body = \"to={to}&msg={text}&ref={ref}\";
    inbound_from = \"msisdn\"; inbound_text = \"msg\"; inbound_id = \"id\"; inbound_token_file = \"gen.token\"; },"
LM_GW="  { id = \"sms-lm\"; type = \"linkmobility\"; url = \"http://127.0.0.1:$SMS_PORT\"; account = \"1:2\"; from = \"Kriseteam\";
    username = \"kommunen\"; password_file = \"lm.password\"; inbound_token_file = \"lm.token\"; receipt_gate = \"BEREDD01\"; },"
# write_conf GATEWAY...: the gateways in that order (the first sends)
write_conf() {
        {
                cat <<EOC
site = "test";
spool = "$T/spool";
people = (
  { id = "kari"; name = "Kari Nordmann"; phone = "+4791234567"; roles = ["leader"]; },
  { id = "ola";  name = "Ola Nordmann";  phone = "+4791234568"; roles = ["member"]; },
  { id = "per";  name = "Per Hansen";    phone = "+4791234569"; roles = ["member"]; }
);
gateways = (
EOC
                for g in "$@"; do printf '%s\n' "$g"; done | sed '$ s/,$//'
                cat <<EOC
);
chains = (
  { id = "seq"; name = "Vaktlaget"; may_trigger = [ "kari" ]; need = { total = 2; };
    steps = ( { notify = [ "ola", "per" ]; via = [ "sms" ]; mode = "sequential"; wait = "10m"; },
              { notify = [ "kari" ]; via = [ "sms" ]; final = true; } ); },
  { id = "team"; name = "Kriseteamet"; may_trigger = [ "kari" ]; need = { total = 2; };
    steps = ( { notify = [ "kari", "ola" ]; via = [ "sms" ]; wait = "10m"; },
              { notify = [ "per" ]; via = [ "sms" ]; final = true; } ); }
);
http = { listen = "127.0.0.1:$HTTP_PORT"; public_url = "$PUBLIC/"; };
EOC
        } > "$T/beredd.conf"
}

req() { curl -s -o "$T/last" -w '%{http_code}' "$@"; }
expect() { # WANT GOT WHAT
        [ "$2" = "$1" ] || { echo "--- body:" >&2; head -c 600 "$T/last" >&2; echo >&2; fail "$3: HTTP $2, expected $1"; }
}
# tw_sign PATH TOKEN FIELD=VALUE...: sign a Twilio webhook into $T/tw.body
# and $T/tw.sig (HMAC-SHA1 over the URL and the sorted fields, base64)
tw_sign() {
        p=$1; tok=$2; shift 2
        twilio_sign "$PUBLIC$p" "$tok" "$T" "$@"
}
# tw_send PATH: post what tw_sign prepared (again: a replay)
tw_send() {
        req -X POST -H "Content-Type: application/x-www-form-urlencoded" -H "X-Twilio-Signature: $(cat "$T/tw.sig")" \
                --data-binary @"$T/tw.body" "$H$1"
}
tw() { tw_sign "$@"; tw_send "$1"; }
lm() { req -X POST -H "Content-Type: application/json" --data-binary "$2" "$H$1?token=lm-secret"; }
gen() { req -X POST -H "X-Beredd-Token: gen-secret" "$@"; }
states_are() { [ "$(notif_states "$1" "$2")" = "$3" ]; }
trigger() { # CHAIN: prints "ID CODE"
        ctl trigger "$1" --by kari -m "Øvelse" --json | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['activation'], d['code'])"
}
# last_send NUMBER EXPR: EXPR of the last accepted send to NUMBER (r = the record)
last_send() {
        python3 - "$T/sms.log" "$1" "$2" <<'EOP'
import json, sys
last = None
for l in open(sys.argv[1]):
    r = json.loads(l)
    if (r.get("form") or {}).get("To", (r.get("form") or {}).get("to")) == sys.argv[2] and r["status"] < 300:
        last = r
r = last
print(eval(sys.argv[3]) if r else None)
EOP
}

write_conf "$TWILIO_GW" "$GEN_GW" "$LM_GW"
start_beredd "$T/beredd.conf"
wait_until 10 port_open "$HTTP_PORT" || fail "the listener did not open port $HTTP_PORT"

say "Twilio sends: forged receipts by beredd's key change nothing, through any route"
set -- $(trigger seq); ID=$1
wait_until 5 states_are "$ID" ola sent || fail "ola's SMS is not sent: $(notif_states "$ID" ola)"
SID=$(last_send +4791234568 '"SM%032x" % r["n"]')
per_before=$(sms_to +4791234569)
expect 200 "$(gen -d "ref=$ID.0&status=failed" "$H/sms/sms-gen/receipt")" "forged generic receipt"
assert_grep "$T/last" '"known":false'
expect 200 "$(tw /sms/sms-main/receipt twilio-secret MessageSid="$ID.0" MessageStatus=failed)" "forged Twilio receipt by key"
assert_grep "$T/last" '"known":false'
expect 200 "$(lm /sms/sms-lm/receipt "{\"refId\":\"$ID.0\",\"id\":\"x\$0\",\"resultCode\":1006}")" "forged LM receipt by key"
assert_grep "$T/last" '"known":false'

say "the right provider reference through another gateway's route changes nothing"
expect 200 "$(gen -d "ref=$SID&status=failed" "$H/sms/sms-gen/receipt")" "Twilio sid through the generic route"
assert_grep "$T/last" '"known":false'
expect 200 "$(lm /sms/sms-lm/receipt "{\"refId\":null,\"id\":\"$SID\",\"resultCode\":1006}")" "Twilio sid through the LM route"
assert_grep "$T/last" '"known":false'
expect 403 "$(tw /sms/sms-main/receipt twilio-secret MessageSid="$SID" MessageStatus=failed AccountSid=AC9999)" \
        "a receipt for another Twilio account"
states_are "$ID" ola sent || fail "a forged receipt changed ola's SMS: $(notif_states "$ID" ola)"
assert_eq "$(sms_to +4791234569)" "$per_before" "a forged receipt moved the step on"

say "the sending gateway with its own reference is recorded; a late status does not overwrite it"
expect 200 "$(tw /sms/sms-main/receipt twilio-secret MessageSid="$SID" MessageStatus=undelivered ErrorCode=30003 AccountSid=AC0123)" \
        "the right receipt"
assert_grep "$T/last" '"known":true'
wait_until 5 states_are "$ID" ola undeliverable || fail "ola's SMS is not undeliverable: $(notif_states "$ID" ola)"
wait_until 5 sms_to_above +4791234569 "$per_before" || fail "per was not asked"
expect 200 "$(tw /sms/sms-main/receipt twilio-secret MessageSid="$SID" MessageStatus=delivered AccountSid=AC0123)" "a late delivered"
states_are "$ID" ola undeliverable || fail "a later status overwrote a final one: $(notif_states "$ID" ola)"
expect 200 "$(tw /sms/sms-main/receipt twilio-secret MessageSid="$SID" MessageStatus=undelivered ErrorCode=30003 AccountSid=AC0123)" \
        "the receipt replayed"
states_are "$ID" ola undeliverable || fail "a replayed receipt changed something"
ctl resolve "$ID" --by kari > /dev/null

say "a replayed signed Twilio NEI (same MessageSid) does not flip the answer"
set -- $(trigger team); ID2=$1; CODE2=$2
wait_until 5 states_are "$ID2" kari sent || fail "kari's SMS is not sent"
expect 200 "$(tw /sms/sms-main/inbound twilio-secret From=+4791234567 To=+4759440000 Body="NEI $CODE2" \
        MessageSid=SMnei0000000000000000000000000001 AccountSid=AC0123)" "NEI"
assert_eq "$(answer_of "$ID2" kari)" no
cp "$T/tw.body" "$T/nei.body"; cp "$T/tw.sig" "$T/nei.sig"
expect 200 "$(tw /sms/sms-main/inbound twilio-secret From=+4791234567 To=+4759440000 Body="JA $CODE2" \
        MessageSid=SMja00000000000000000000000000001 AccountSid=AC0123)" "JA"
assert_eq "$(answer_of "$ID2" kari)" yes
cp "$T/nei.body" "$T/tw.body"; cp "$T/nei.sig" "$T/tw.sig"
expect 200 "$(tw_send /sms/sms-main/inbound)" "the NEI replayed"
assert_grep "$T/last" "<Response/>"
assert_eq "$(answer_of "$ID2" kari)" yes "a replayed NEI flipped the answer"
assert_grep "$T/beredd.log" "ignored as a replay"

say "a replayed Link Mobility MO (same messageId) is ignored"
expect 200 "$(lm /sms/sms-lm/inbound "{\"source\":\"+4791234568\",\"destination\":\"NO-2333\",\"messageId\":\"lm-mo-1\",\"content\":{\"type\":\"SMS\",\"userData\":\"NEI $CODE2\"}}")" "ola NEI by LM"
assert_eq "$(answer_of "$ID2" ola)" no
expect 200 "$(lm /sms/sms-lm/inbound "{\"source\":\"+4791234568\",\"destination\":\"NO-2333\",\"messageId\":\"lm-mo-2\",\"content\":{\"type\":\"SMS\",\"userData\":\"JA $CODE2\"}}")" "ola JA by LM"
assert_eq "$(answer_of "$ID2" ola)" yes
expect 200 "$(lm /sms/sms-lm/inbound "{\"source\":\"+4791234568\",\"destination\":\"NO-2333\",\"messageId\":\"lm-mo-1\",\"content\":{\"type\":\"SMS\",\"userData\":\"NEI $CODE2\"}}")" "the LM NEI replayed"
assert_grep "$T/last" '"taken":false'
assert_eq "$(answer_of "$ID2" ola)" yes "a replayed LM NEI flipped the answer"

say "after a restart the replays are still ignored"
stop_beredd
start_beredd "$T/beredd.conf"
wait_until 10 port_open "$HTTP_PORT" || fail "the listener did not come back"
cp "$T/nei.body" "$T/tw.body"; cp "$T/nei.sig" "$T/tw.sig"
expect 200 "$(tw_send /sms/sms-main/inbound)" "the NEI replayed after a restart"
assert_grep "$T/last" "<Response/>"
assert_eq "$(answer_of "$ID2" kari)" yes "a replayed NEI flipped the answer after a restart"
expect 200 "$(lm /sms/sms-lm/inbound "{\"source\":\"+4791234568\",\"destination\":\"NO-2333\",\"messageId\":\"lm-mo-1\",\"content\":{\"type\":\"SMS\",\"userData\":\"NEI $CODE2\"}}")" "the LM NEI replayed after a restart"
assert_eq "$(answer_of "$ID2" ola)" yes "a replayed LM NEI flipped the answer after a restart"
# the seen-set holds provider ids only
SEEN="$T/spool/activations/replay.seen"
assert_grep "$SEEN" "^[0-9]* sms-main SMnei0000000000000000000000000001$"
assert_grep "$SEEN" "^[0-9]* sms-lm lm-mo-1$"
assert_no_grep "$SEEN" "9123456" "a phone number in the seen-set"
ctl resolve "$ID2" --by kari > /dev/null
stop_beredd

say "generic gateway sends: its {ref} is the key and a nonce; only that, through it, is taken"
write_conf "$GEN_GW" "$TWILIO_GW" "$LM_GW"
start_beredd "$T/beredd.conf"
wait_until 10 port_open "$HTTP_PORT" || fail "the listener did not come back"
set -- $(trigger seq); ID3=$1; CODE3=$2
wait_until 5 states_are "$ID3" ola sent || fail "ola's SMS is not sent: $(notif_states "$ID3" ola)"
REF=$(last_send +4791234568 'r["form"]["ref"]')
echo "$REF" | grep -Eqx "$ID3\\.0\\.[0-9a-f]{16}" || fail "the reference sent is not the key and a nonce: $REF"
assert_no_grep "$T/beredd.log" "${REF##*.}" "the nonce reached the log"
per_before=$(sms_to +4791234569)
expect 200 "$(gen -d "ref=$ID3.0&status=failed" "$H/sms/sms-gen/receipt")" "the bare key"
assert_grep "$T/last" '"known":false'
expect 200 "$(gen -d "ref=$ID3.0.0000000000000000&status=failed" "$H/sms/sms-gen/receipt")" "a guessed nonce"
assert_grep "$T/last" '"known":false'
expect 200 "$(lm /sms/sms-lm/receipt "{\"refId\":\"$REF\",\"id\":\"y\$0\",\"resultCode\":1006}")" "the right ref through LM"
assert_grep "$T/last" '"known":false'
expect 200 "$(tw /sms/sms-main/receipt twilio-secret MessageSid="$REF" MessageStatus=failed)" "the right ref through Twilio"
assert_grep "$T/last" '"known":false'
states_are "$ID3" ola sent || fail "a forged receipt changed ola's SMS: $(notif_states "$ID3" ola)"
expect 200 "$(gen -d "ref=$REF&status=UNDELIV" "$H/sms/sms-gen/receipt")" "the right receipt"
assert_grep "$T/last" '"known":true'
wait_until 5 states_are "$ID3" ola undeliverable || fail "ola's SMS is not undeliverable"
wait_until 5 sms_to_above +4791234569 "$per_before" || fail "per was not asked"

say "a replayed generic SMS (same inbound_id) is ignored"
wait_until 5 states_are "$ID3" per sent || fail "per's SMS is not sent"
expect 200 "$(gen -d "msisdn=+4791234569&msg=NEI $CODE3&id=g-1" "$H/sms/sms-gen/inbound")" "per NEI"
assert_eq "$(answer_of "$ID3" per)" no
expect 200 "$(gen -d "msisdn=+4791234569&msg=JA $CODE3&id=g-2" "$H/sms/sms-gen/inbound")" "per JA"
assert_eq "$(answer_of "$ID3" per)" yes
expect 200 "$(gen -d "msisdn=+4791234569&msg=NEI $CODE3&id=g-1" "$H/sms/sms-gen/inbound")" "the NEI replayed"
assert_grep "$T/last" '"taken":false'
assert_eq "$(answer_of "$ID3" per)" yes "a replayed generic NEI flipped the answer"
ctl resolve "$ID3" --by kari > /dev/null
stop_beredd

say "Link Mobility sends: refId is the key and a nonce; a report by the bare key changes nothing"
write_conf "$LM_GW" "$TWILIO_GW" "$GEN_GW"
start_beredd "$T/beredd.conf"
wait_until 10 port_open "$HTTP_PORT" || fail "the listener did not come back"
set -- $(trigger seq); ID4=$1
wait_until 5 states_are "$ID4" ola sent || fail "ola's SMS is not sent: $(notif_states "$ID4" ola)"
python3 - "$T/sms.log" > "$T/lm.ref" <<'EOP'
import json, sys
last = None
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["path"] == "/sms/send" and (r.get("json") or {}).get("destination") == "+4791234568" and r["status"] < 300:
        last = r
print(last["json"]["refId"], "lm-%d" % last["n"])
EOP
read -r LMREF LMID < "$T/lm.ref"
echo "$LMREF" | grep -Eqx "$ID4\.0\.[0-9a-f]{16}" || fail "the refId sent is not the key and a nonce: $LMREF"
per_before=$(sms_to +4791234569)
expect 200 "$(lm /sms/sms-lm/receipt "{\"refId\":\"$ID4.0\",\"id\":\"zz\$0\",\"resultCode\":1006}")" "LM report by the bare key"
assert_grep "$T/last" '"known":false'
expect 200 "$(gen -d "ref=$LMREF&status=failed" "$H/sms/sms-gen/receipt")" "the LM refId through the generic route"
assert_grep "$T/last" '"known":false'
states_are "$ID4" ola sent || fail "a forged report changed ola's SMS: $(notif_states "$ID4" ola)"
expect 200 "$(lm /sms/sms-lm/receipt "{\"refId\":null,\"id\":\"$LMID\$0\",\"resultCode\":1006}")" "LM report by its messageId"
assert_grep "$T/last" '"known":true'
wait_until 5 states_are "$ID4" ola undeliverable || fail "ola's SMS is not undeliverable"
wait_until 5 sms_to_above +4791234569 "$per_before" || fail "per was not asked"
assert_no_grep "$T/beredd.log" "9123456" "a phone number reached the log"
stop_beredd
say "ok"
