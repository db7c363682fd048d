#!/bin/sh
# Issue 13, items 2, 3, 4 (rate limits) and 8 (follow-up oracle), against
# the real daemon on loopback, answering the way an SMS provider posts
# (the generic webhook, authenticated with its inbound token):
# - an unasked person's JA <code> does not count, is recorded as
#   "unsolicited" (show, report) and gets one SMS back; beredctl reply on
#   their behalf is refused;
# - OK is never a yes to a call-out; a bare OK with a call-out open is asked
#   back; a bare OK answers a contact-list check when only that is open;
# - brute force of the 4-digit code: after 5 wrong codes even the right one
#   is ignored, and the lockout is logged once;
# - an SMS-back storm gets at most 5 texts back per person;
# - the follow-up answer is the same for an unknown code and someone else's.
. "$(dirname "$0")/../integration/common.sh"
command -v curl >/dev/null || skip "curl is not installed"

start_fake_sms
HTTP_PORT=$(free_port)
H="http://127.0.0.1:$HTTP_PORT"
write_creds gen.token=gen-secret
export BEREDD_GW_BACKOFF_MS=20

cat > "$T/beredd.conf" <<EOC
site = "test";
spool = "$T/spool";
people = (
  { id = "kari"; name = "Kari Nordmann"; phone = "+4791234567"; roles = ["leader"]; },
  { id = "ola";  name = "Ola Nordmann";  phone = "+4791234568"; roles = ["member"]; },
  { id = "per";  name = "Per Hansen";    phone = "+4791234569"; roles = ["member"]; },
  { id = "lise"; name = "Lise Berg";     phone = "+4791234570"; roles = ["member"]; },
  { id = "politi"; name = "Politiet";    phone = "+4791234571"; lang = "en"; roles = ["police"]; },
  { id = "mons"; name = "Mons Storm";    phone = "+4791234572"; roles = ["member"]; }
);
gateways = (
  { id = "sms-gen"; type = "http"; url = "http://127.0.0.1:$SMS_PORT/generic"; body = "to={to}&msg={text}";
    inbound_from = "msisdn"; inbound_text = "msg"; inbound_token_file = "gen.token"; }
);
chains = (
  { id = "kriseteam"; may_trigger = [ "kari" ]; need = { total = 2; };
    steps = ( { notify = [ "kari", "ola", "mons" ]; via = [ "sms" ]; wait = "30m"; },
              { notify = [ "per" ]; via = [ "sms" ]; final = true; } ); },
  { id = "vakt"; may_trigger = [ "kari" ]; need = { total = 1; };
    steps = ( { notify = [ "lise" ]; via = [ "sms" ]; wait = "30m"; },
              { notify = [ "kari" ]; via = [ "sms" ]; final = true; } ); }
);
followup: {
  levels = ( { level = 1; name = "lav"; every = "14d"; } );
  remind = "morning";
  coordinator = "kari";
};
http = { listen = "127.0.0.1:$HTTP_PORT"; };
EOC
# Wednesday 2027-01-13 10:00 in Oslo: a case due that day is reminded at once.
start_at 2027-01-13T10:00:00
wait_until 10 port_open "$HTTP_PORT" || fail "the listener did not open port $HTTP_PORT"

req() { curl -s -o "$T/last" -w '%{http_code}' "$@"; }
gen() { req -X POST -H "X-Beredd-Token: gen-secret" --data-urlencode "msisdn=$1" --data-urlencode "msg=$2" "$H/sms/sms-gen/inbound"; }
sms() { [ "$(gen "$1" "$2")" = 200 ] || fail "webhook post refused: HTTP $(cat "$T/last")"; }
show() { ctl show "$1" --json > "$T/show.json"; }
# texts NUMBER: the SMS texts fake-sms was asked to send to NUMBER, one a line
texts() { sms_texts "$1"; }
n_texts() { texts "$1" | wc -l; }
n_texts_above() { [ "$(n_texts "$1")" -gt "$2" ]; }
idle() { ctl status --json | python3 -c "import json,sys; sys.exit(json.load(sys.stdin)['notifications_in_flight'] != 0)"; }

set -- $(ctl trigger kriseteam --by kari -m "Brann" --json | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['activation'], d['code'])")
ID=$1; CODE=$2
wait_until 10 n_texts_above +4791234568 0 || fail "ola got no call-out"
# a code that is not CODE
WRONG=$(( (CODE + 1) % 10000 )); [ "$WRONG" -ge 1000 ] || WRONG=$((WRONG + 1000))

say "item 2: the police (never asked) answer JA CODE: not counted, unsolicited, one SMS back"
sms +4791234571 "JA $CODE"
wait_until 10 n_texts_above +4791234571 0 || fail "politi got no text back"
texts +4791234571 | grep -q "not asked in this call-out" || fail "politi's text back: $(texts +4791234571)"
show "$ID"
assert_eq "$(json_get "$T/show.json" '["confirmed"]')" 0 "an unasked yes counted"
assert_eq "$(json_get "$T/show.json" '["unsolicited"]')" 1 "show: unsolicited"
say "... per, of a step not reached yet, likewise (Norwegian text)"
sms +4791234569 "JA $CODE"
wait_until 10 sh -c "grep -q 'ikke spurt i denne utkallingen' '$T/sms.log'" || fail "per got no Norwegian text back"
show "$ID"
assert_eq "$(json_get "$T/show.json" '["confirmed"]')" 0 "a yes from a step not reached counted"
assert_eq "$(json_get "$T/show.json" '["unsolicited"]')" 2
ctl show "$ID" | grep -q "not asked (not counted.*: 2" || fail "beredctl show does not tell the leader"
ctl report "$ID" --json > "$T/report.json"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); u=[e for e in d['timeline'] if e.get('t')=='unsolicited']; assert sorted(e['person'] for e in u)==['per','politi'], u" "$T/report.json" \
        || fail "report: no unsolicited events for per and politi"
ctl report "$ID" --csv > "$T/report.csv"
grep -q unsolicited "$T/report.csv" || fail "report --csv does not show the unsolicited answers"
say "... and beredctl reply on politi's behalf is refused, saying why"
rc=0; ctl reply "$CODE" yes --person politi > "$T/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "beredctl reply for an unasked person succeeded"
grep -q "was not asked" "$T/out" || fail "beredctl reply error: $(cat "$T/out")"
assert_eq "$(json_get "$T/show.json" '["confirmed"]')" 0

say "item 3: a bare OK from kari with the call-out open is asked back, not a yes"
sms +4791234567 "OK"
wait_until 10 sh -c "grep -q 'svar med koden' '$T/sms.log'" || fail "kari was not asked for the code"
assert_eq "$(answer_of "$ID" kari)" none "bare OK"
say "... and OK CODE is not a yes either"
sms +4791234567 "OK $CODE"
wait_until 10 sh -c "grep -q 'OK er ikke et svar' '$T/sms.log'" || fail "kari was not told OK is no answer"
assert_eq "$(answer_of "$ID" kari)" none "OK CODE"
say "... JA CODE is"
sms +4791234567 "JA $CODE"
assert_eq "$(answer_of "$ID" kari)" yes "JA CODE"

say "item 3: a bare OK answers a contact-list check when only that is open"
ctl verify vakt --by kari --json > "$T/verify.json" || fail "verify: $(cat "$T/verify.json")"
set -- $(cat "$T/verify.json" | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['activation'], d['code'])")
VID=$1; VCODE=$2
wait_until 10 n_texts_above +4791234570 0 || fail "lise got no check"
sms +4791234570 "OK"
assert_eq "$(answer_of "$VID" lise)" yes "bare OK to a check"
verify_receipt() { texts +4791234570 | grep -q '^Registrert: OK. Takk, nummeret ditt virker for varsling.$'; }
wait_until 10 verify_receipt || fail "no receipt for lise's OK to the check: $(texts +4791234570)"
say "... and OK <code of the check> from kari, who has a call-out open too, answers the check only"
sms +4791234567 "OK $VCODE"
assert_eq "$(answer_of "$VID" kari)" yes "OK VCODE to the check"
assert_eq "$(answer_of "$ID" kari)" yes "kari's call-out answer"

say "item 3: OK with a call-out and a reminder open is asked back"
before=$(n_texts +4791234568)
R=$(sock '{"cmd":"case.open","case":"K-7","contacts":["ola"],"level":1,"due":"2027-01-13"}')
echo "$R" | grep -q '"ok":true' || fail "case.open: $R"
wait_until 15 n_texts_above +4791234568 "$before" || fail "ola got no reminder"
FCODE=$(sock '{"cmd":"show","case":"K-7"}' | python3 -c "import json,sys; print(json.load(sys.stdin).get('code') or '')")
before=$(n_texts +4791234568)
sms +4791234568 "OK"
wait_until 10 n_texts_above +4791234568 "$before" || fail "ola got no answer to a bare OK"
texts +4791234568 | tail -1 | grep -q "svar med koden" || fail "ola's bare OK: $(texts +4791234568 | tail -1)"
assert_eq "$(answer_of "$ID" ola)" none "bare OK with a reminder open"

say "item 8: the follow-up answer is the same for someone else's code and an unknown one (lise: not a contact)"
if [ -n "$FCODE" ]; then
        OTHER=$(( FCODE == 99999 ? 10000 : FCODE + 1 ))
        b=$(n_texts +4791234570)
        sms +4791234570 "OK $FCODE"
        wait_until 10 n_texts_above +4791234570 "$b" || fail "no answer to someone else's code"
        sms +4791234570 "OK $OTHER"
        wait_until 10 n_texts_above +4791234570 $((b + 1)) || fail "no answer to an unknown code"
        texts +4791234570 | tail -2 > "$T/two"
        assert_eq "$(sort -u "$T/two" | wc -l)" 1 "two different answers: $(cat "$T/two")"
        r1=$(sock "{\"cmd\":\"reply\",\"code\":\"$FCODE\",\"person\":\"lise\",\"answer\":\"yes\"}" | sed 's/"code":"[0-9]*"//')
        r2=$(sock "{\"cmd\":\"reply\",\"code\":\"$OTHER\",\"person\":\"lise\",\"answer\":\"yes\"}" | sed 's/"code":"[0-9]*"//')
        assert_eq "$(echo "$r1" | sed "s/$FCODE/N/g")" "$(echo "$r2" | sed "s/$OTHER/N/g")" "socket answers differ"
else
        fail "case K-7 has no reply code"
fi

say "item 4: brute force from mons: after 5 wrong codes even the right one is ignored, logged once"
for i in 1 2 3 4 5 6 7 8; do
        c=$(( (WRONG + i * 7) % 10000 )); [ "$c" -ge 1000 ] || c=$((c + 1000))
        [ "$c" = "$CODE" ] || [ "$c" = "$VCODE" ] && c=$((c + 1))
        sms +4791234572 "JA $c"
done
sms +4791234572 "JA $CODE"
assert_eq "$(answer_of "$ID" mons)" none "the right code after the lockout counted"
wait_until 10 sh -c "grep -q 'wrong reply codes from mons' '$T/beredd.log'" || fail "the lockout was not logged"
assert_eq "$(grep -c 'wrong reply codes from mons' "$T/beredd.log")" 1 "the lockout was logged more than once"

say "item 4: 200 wrong-code posts from per: at most 5 texts back in the hour"
b=$(n_texts +4791234569)
i=0
while [ $i -lt 200 ]; do
        c=$(( 1000 + (i * 37) % 9000 )); [ "$c" = "$CODE" ] || [ "$c" = "$VCODE" ] && c=$((c + 1))
        sms +4791234569 "NEI $c"
        i=$((i + 1))
done
wait_until 20 idle || fail "texts still in flight"
got=$(( $(n_texts +4791234569) - b ))
[ "$got" -le 5 ] || fail "per got $got texts back"
say "... and garbage (no code) from politi: 1 + 20 posts, 5 texts back"
i=0; while [ $i -lt 20 ]; do sms +4791234571 "hei"; i=$((i + 1)); done
wait_until 20 idle || fail "texts still in flight"
assert_eq "$(n_texts +4791234571)" 5 "politi's texts back"
# the fifth says why the sixth never comes; the ones before do not
assert_eq "$(texts +4791234571 | grep -c 'For the next hour you get no more replies')" 1 "the last text back does not say it is the last"
texts +4791234571 | tail -n 1 | grep -q 'For the next hour you get no more replies' || fail "the note is not on the last text back"
assert_eq "$(grep -c 'texts were sent back to politi' "$T/beredd.log")" 1 "the back limit was not logged once"
assert_no_grep "$T/beredd.log" "91234" "a phone number reached the log"

stop_beredd
say "ok"
