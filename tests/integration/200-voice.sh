#!/bin/sh
# Voice call-outs (issue 16, VOICE.md) end to end: beredd places calls
# through the Twilio stand-in (fake-sms.py, which checks every call request
# against Twilio's OpenAPI description of the Calls operation), and the
# test plays Twilio: status callbacks and key presses signed with the twilio
# npm package's own code (twilio-sign.js). SMS then voice after
# voice_after; voice only; Digits 1 and 2; an invalid digit; no-answer in a
# sequential step; busy, failed, a machine, completed without digits;
# max_calls; forged answers; an answer after the end; a drill; English;
# kill -9 with calls in flight. Every TwiML is parsed as XML and checked.
. "$(dirname "$0")/common.sh"
command -v curl >/dev/null || skip "curl is not installed"
command -v node >/dev/null || skip "node is not installed (the voice test signs with the twilio npm package)"
NODE_PATH=${BEREDD_NODE_PATH:-$top_srcdir/tests/node/node_modules}
export NODE_PATH
SIGN="$top_srcdir/tests/integration/twilio-sign.js"
rc=0; node "$SIGN" validate https://x.example/ t x >/dev/null 2>&1 || rc=$?
[ "$rc" -ne 3 ] || skip "the twilio npm package is not installed (npm ci --prefix tests/node)"
VC() { python3 "$top_srcdir/tests/integration/voice-calls.py" "$T/sms.log" "$@"; }

say "common.sh's Python twilio_sign agrees with Twilio's own code"
node "$SIGN" check-python "$top_srcdir/tests/integration/common.sh" || fail "common.sh's twilio_sign disagrees with the twilio package"

# ---- peers and configuration ----
ACCOUNT=AC0123456789abcdef0123456789abcdef
ACCOUNT2=ACfedcba9876543210fedcba9876543210
TOK=voice-secret
TOK2=other-secret
start_fake_sms --twilio-token "$TOK" --control "$T/sms.ctl" --strict-account
HTTP_PORT=$(free_port)
H="http://127.0.0.1:$HTTP_PORT"
PUBLIC="https://beredd.kommune.example"
write_creds voice.token="$TOK" voice2.token="$TOK2" gen.token=gen-secret
export BEREDD_GW_BACKOFF_MS=20
S=${BEREDD_TIME_SCALE:-1}
VA=$((3 * S))   # voice_after, seconds

KARI=+4791234567 OLA=+4791234568 PER=+4791234569 SIRI=+4791234570 ANNE=+4791234571 BJORN=+4791234572 SJEF=+4791234580
NUMBERS="$KARI,$OLA,$PER,$SIRI,$ANNE,$BJORN,$SJEF"
NAMES="Kari Nordmann,Ola Nordmann,Per Hansen,Siri Berg,Anne Lie,Bjørn Dal,Sigrid Sjef"
cat > "$T/beredd.conf" <<EOC
site = "test";
spool = "$T/spool";
people = (
  { id = "kari"; name = "Kari Nordmann"; phone = "$KARI"; email = "kari@kommune.example"; roles = ["leader"]; },
  { id = "ola";  name = "Ola Nordmann";  phone = "$OLA"; roles = ["member"]; },
  { id = "per";  name = "Per Hansen";    phone = "$PER"; roles = ["member"]; },
  { id = "siri"; name = "Siri Berg";     phone = "$SIRI"; roles = ["member"]; },
  { id = "anne"; name = "Anne Lie";      phone = "$ANNE"; roles = ["member"]; },
  { id = "bjorn"; name = "Bjørn Dal";    phone = "$BJORN"; roles = ["member"]; },
  { id = "sjef"; name = "Sigrid Sjef";   phone = "$SJEF"; roles = ["boss"]; lang = "en"; }
);
gateways = (
  { id = "sms"; type = "http"; url = "http://127.0.0.1:$SMS_PORT/generic"; body = "to={to}&msg={text}";
    inbound_from = "msisdn"; inbound_text = "msg"; inbound_token_file = "gen.token"; },
  { id = "voice"; type = "twilio"; channel = "voice"; url = "http://127.0.0.1:$SMS_PORT"; account = "$ACCOUNT";
    from = "+4759440000"; token_file = "voice.token"; max_calls = 4; ring_timeout = "25s"; call_limit = "2m";
    timeout = "60s";  # the kill -9 scenario holds two call requests: no retry or failover meanwhile
    machine_detection = "enable"; },
  { id = "voice2"; type = "twilio"; channel = "voice"; url = "http://127.0.0.1:$SMS_PORT"; account = "$ACCOUNT2";
    from = "+4759440001"; token_file = "voice2.token"; },
  { id = "mail"; channel = "email"; type = "file"; }
);
chains = (
  { id = "mix"; name = "Kriseteamet"; may_trigger = [ "kari" ]; need = { total = 3; }; receipt = false;
    steps = ( { notify = [ "kari", "ola" ]; via = [ "sms", "voice" ]; voice_after = "${VA}s"; wait = "10m"; },
              { notify = [ "per" ]; via = [ "sms" ]; wait = "10m"; } ); },
  { id = "ring"; name = "Kriseteamet"; may_trigger = [ "kari" ]; need = { total = 4; }; receipt = false;
    steps = ( { notify = [ "ola", "per", "siri", "sjef" ]; via = [ "voice" ]; wait = "10m"; } ); },
  { id = "seq"; name = "Vaktlaget"; may_trigger = [ "kari" ]; need = { total = 1; }; receipt = false;
    steps = ( { notify = [ "ola", "per", "siri" ]; via = [ "voice" ]; mode = "sequential"; wait = "10m"; },
              { notify = [ "kari" ]; via = [ "sms" ]; final = true; } ); },
  { id = "five"; name = "Beredskapen"; may_trigger = [ "kari" ]; need = { total = 5; }; receipt = false;
    steps = ( { notify = [ "ola", "per", "siri", "anne", "bjorn" ]; via = [ "voice" ]; wait = "10m"; } ); },
  { id = "mail"; name = "Kriseteamet"; may_trigger = [ "kari" ]; need = { total = 1; }; receipt = false;
    steps = ( { notify = [ "kari" ]; via = [ "email" ]; wait = "10m"; } ); }
);
http = { listen = "127.0.0.1:$HTTP_PORT"; public_url = "$PUBLIC/"; };
EOC

say "--check-config wants http.public_url with a voice gateway"
"$BEREDD" --check-config -c "$T/beredd.conf" > "$T/check.out" 2>&1 || { cat "$T/check.out" >&2; fail "the configuration is refused"; }
sed 's|public_url = "[^"]*";||' "$T/beredd.conf" > "$T/nopublic.conf"
! "$BEREDD" --check-config -c "$T/nopublic.conf" > "$T/check.out" 2>&1 || fail "a voice gateway without http.public_url passed --check-config"
assert_grep "$T/check.out" "^$T/nopublic.conf:[0-9]*: .*a voice gateway needs http.public_url"

start_beredd "$T/beredd.conf"
wait_until 10 port_open "$HTTP_PORT" || fail "the listener did not open port $HTTP_PORT"

# ---- helpers ----
# later MESSAGE: a failure that does not stop the scenarios after it (the
# test still fails, at the end, with every such message)
later() { echo "FAIL (later): $*" >&2; echo "$*" >> "$T/later"; }
req() { curl -s -o "$T/last" -w '%{http_code}' "$@"; }
expect() { # WANT GOT WHAT
        [ "$2" = "$1" ] || { echo "--- body:" >&2; head -c 800 "$T/last" >&2; echo >&2; fail "$3: HTTP $2, expected $1"; }
}
# tw URL TOKEN FIELD=VALUE...: POST to beredd what Twilio would send to the
# public URL (signed by twilio-sign.js with TOKEN over that URL).
tw() {
        local url=$1 tok=$2; shift 2
        node "$SIGN" sign "$url" "$tok" "$T/tw.body" "$@" > "$T/tw.sig" || fail "twilio-sign.js failed"
        req -X POST -H "Content-Type: application/x-www-form-urlencoded" -H "X-Twilio-Signature: $(cat "$T/tw.sig")" \
                --data-binary @"$T/tw.body" "$H$(local_path "$url")"
}
local_path() { printf '%s' "$1" | sed 's|^https\{0,1\}://[^/]*||'; }   # URL without scheme, host and port
gen() { req -X POST -H "X-Beredd-Token: gen-secret" --data-urlencode "msisdn=$1" --data-urlencode "msg=$2" "$H/sms/sms/inbound"; }
trigger() { # CHAIN [ARGS]: prints "ID CODE"
        local chain=$1; shift
        ctl trigger "$chain" --by kari -m "Brann i rådhuset, møt i kantina" "$@" --json |
                python3 -c "import json,sys; d=json.load(sys.stdin); print(d['activation'], d['code'])"
}
mark() { VC n; }                    # the fake's request count now
has_call() { VC last "$1" "$2" > /dev/null; }   # AFTER NUMBER
# call AFTER NUMBER: wait for beredd's call to NUMBER; its sid, token, status
# callback URL and key in CSID, CTOK, CCB, CKEY, the Gather action in CACT
call() {
        wait_until 10 has_call "$1" "$2" || fail "no call to $2 (after request $1)"
        local j; j=$(VC last "$1" "$2")
        CSID=$(json_str "$j" '["sid"]'); CTOK=$(json_str "$j" '["token"]'); CCB=$(json_str "$j" '["status_callback"]')
        CKEY=$(json_str "$j" '["key"]'); CACT=$(json_str "$j" '["action"]')
}
# status CALLBACK-URL SID STATUS [FIELD=VALUE...]: a signed status callback
status() {
        local cb=$1 sid=$2 st=$3; shift 3
        expect 200 "$(tw "$cb" "$TOK" CallSid="$sid" AccountSid="$ACCOUNT" CallStatus="$st" From=+4759440000 \
                Direction=outbound-api ApiVersion=2010-04-01 CallbackSource=call-progress-events "$@")" "status $st"
        assert_grep "$T/last" '"known":true'
}
# press ACTION SID DIGITS: Twilio's Gather posting the key pressed
press() { tw "$1" "$TOK" AccountSid="$ACCOUNT" CallSid="$2" Digits="$3" FinishedOnKey= CallStatus=in-progress \
        Direction=outbound-api ApiVersion=2010-04-01 msg="Gather End"; }
# end CALLBACK SID [DURATION]: answered by a human, then completed
end_call() {
        status "$1" "$2" in-progress AnsweredBy=human
        status "$1" "$2" completed AnsweredBy=human CallDuration="${3:-20}"
}
twiml() { VC twiml "$1" "$2" "$3" "$4" "$5" "$PUBLIC" voice || fail "the TwiML of the call to $2 is wrong"; }
reply() { python3 "$top_srcdir/tests/integration/voice-calls.py" - reply "$T/last" "$@" >&2 || fail "the TwiML answer is wrong: $(cat "$T/last")"; }
actlog() { printf '%s\n' "$T/spool/activations/$1.log"; }
has_event() { grep -q -- "$2" "$(actlog "$1")"; }
voice_of() { # ID PERSON: the person's voice column in beredctl show --json
        ctl show "$1" --json | python3 -c "import json,sys; d=json.load(sys.stdin); print([p.get('voice', '?') for p in d['people'] if p['person']==sys.argv[1]][0])" "$2"
}
voice_is() { [ "$(voice_of "$1" "$2")" = "$3" ]; }
calls_to_at_least() { [ "$(VC count "$1" "$2")" -ge "$3" ]; }   # AFTER NUMBER N
# calls_placed AFTER NUMBER...: how many of NUMBERS have a call request after AFTER
calls_placed() {
        local after=$1 n=0 p; shift
        for p in "$@"; do [ "$(VC count "$after" "$p")" -ge 1 ] && n=$((n + 1)); done
        echo "$n"
}
hung_requests_after() { # AFTER N: at least N held requests after request AFTER
        [ "$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l).get("n",0) > int(sys.argv[2]) and json.loads(l).get("status") == "hang"))' "$T/sms.log" "$1")" -ge "$2" ]
}

say "SMS first, the call voice_after later, only to who has not answered"
M=$(mark)
set -- $(trigger mix); ID_MIX=$1
wait_until 5 sms_to_above "$KARI" 0 || fail "kari got no SMS"
wait_until 5 sms_to_above "$OLA" 0 || fail "ola got no SMS"
expect 200 "$(gen "$KARI" JA)" "kari's JA"
assert_eq "$(answer_of "$ID_MIX" kari)" yes
[ "$(VC count "$M" "$OLA")" -eq 0 ] || fail "ola was called before voice_after"
wait_until 5 has_event "$ID_MIX" '"t":"call-later"' || fail "no call-later in the activation log"
call "$M" "$OLA"
twiml "$M" "$OLA" nb-NO Polly.Liv 0
grep '"t":"call-later"' "$(actlog "$ID_MIX")" | grep -q '"person":"ola"' || fail "no call-later for ola"
# kari answered by SMS before voice_after: she is not called
wait_until 5 has_event "$ID_MIX" '"t":"call-skipped".*"person":"kari"\|"person":"kari".*"t":"call-skipped"' ||
        fail "no call-skipped for kari"
grep '"t":"call-skipped"' "$(actlog "$ID_MIX")" | grep '"person":"kari"' | grep -q '"reason":"answered"' || fail "kari's call-skipped is not for having answered"
assert_eq "$(VC count "$M" "$KARI")" 0 "kari was called though she had answered the SMS"
# the Twilio request: Timeout and TimeLimit from the gateway, MachineDetection=Enable
python3 - "$T/sms.log" "$OLA" <<'EOP' || fail "the call request's settings are not the gateway's"
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
r = [x for x in r if x.get("path", "").endswith("/Calls.json") and (x.get("form") or {}).get("To") == sys.argv[2]][-1]
f = r["form"]
assert f["Timeout"] == "25" and f["TimeLimit"] == "120" and f.get("MachineDetection") == "Enable", f
assert f["From"] == "+4759440000", f["From"]
assert r["auth"] == ["AC0123456789abcdef0123456789abcdef", "voice-secret"], "basic auth"
EOP
OLA_MIX_CB=$CCB OLA_MIX_SID=$CSID OLA_MIX_ACT=$CACT
status "$CCB" "$CSID" initiated
status "$CCB" "$CSID" ringing
wait_until 5 voice_is "$ID_MIX" ola ringing ||
        fail "ola's voice column is not ringing: $(voice_of "$ID_MIX" ola)"
status "$CCB" "$CSID" in-progress AnsweredBy=human
expect 200 "$(press "$CACT" "$CSID" 1)" "ola presses 1"
reply "Takk, du er registrert som kommer\." nb-NO
assert_eq "$(answer_of "$ID_MIX" ola)" yes "ola's key press 1 was not recorded as yes"
status "$CCB" "$CSID" completed AnsweredBy=human CallDuration=31
has_event "$ID_MIX" '"t":"keypress"' || fail "no keypress in the activation log"
grep '"t":"reply"' "$(actlog "$ID_MIX")" | grep '"person":"ola"' | grep -q '"via":"voice"' || fail "no reply via voice for ola"
for e in '"ch":"voice"' '"use":"voice"' "\"ref\":\"$CSID\"" '"t":"call"' '"status":"completed"'; do
        has_event "$ID_MIX" "$e" || fail "the activation log lacks $e"
done
ctl show "$ID_MIX" > "$T/show.txt"
grep -q "^PERSON .* VOICE " "$T/show.txt" || fail "beredctl show has no VOICE column"
grep -q "^ola  *yes .* 1  *callout/sms" "$T/show.txt" || fail "beredctl show's VOICE column has not ola's key press: $(grep ^ola "$T/show.txt")"
grep -q "^kari  *yes .* -  *callout/sms" "$T/show.txt" || fail "beredctl show has a call for kari: $(grep ^kari "$T/show.txt")"
ctl report "$ID_MIX" --json > "$T/report.json"
python3 - "$T/report.json" "$CSID" <<'EOP' || fail "the report has no calls for ola"
import json, sys
d = json.load(open(sys.argv[1]))
ola = [p for p in d["people"] if p["person"] == "ola"][0]
calls = ola.get("calls")
assert calls, ola
c = calls[-1]
# VOICE.md names them placed, ringing, ...; the report says when, as *_after_s
for k in ("placed_after_s", "ringing_after_s", "answered_after_s", "ended_after_s", "outcome", "digits",
          "duration_s", "gateway"):
    assert k in c, (k, c)
assert c["placed_after_s"] <= c["ringing_after_s"] <= c["answered_after_s"] <= c["ended_after_s"], c
assert c["placed_after_s"] >= 2.5, "the call was placed before voice_after: %s" % c
assert c["digits"] == "1" and c["gateway"] == "voice" and c["duration_s"] == 31 and c["outcome"] == "completed", c
assert "+47" not in json.dumps(d), "a number in the report"
EOP
ctl resolve "$ID_MIX" --by kari > /dev/null

say "the answer after the activation ended: 'avsluttet', nothing recorded"
expect 200 "$(press "$OLA_MIX_ACT" "$OLA_MIX_SID" 2)" "a key press after the end"
reply "Denne utkallingen er avsluttet\. Takk\." nb-NO
assert_eq "$(answer_of "$ID_MIX" ola)" yes "a key press after the end changed the answer"

say "an SMS refused for good before voice_after: the call goes at once"
M=$(mark)
printf '{"fail_first": 2, "status": 400, "fail_match": "/generic"}\n' > "$T/sms.ctl"
set -- $(trigger mix); ID_REF=$1
call "$M" "$KARI"; K_CB=$CCB K_SID=$CSID
call "$M" "$OLA"; O2_CB=$CCB O2_SID=$CSID
printf '{"fail_first": 0}\n' > "$T/sms.ctl"
ctl report "$ID_REF" --json > "$T/report2.json"
python3 - "$T/report2.json" "$VA" <<'EOP' || fail "the calls after a refused SMS waited for voice_after"
import json, sys
d = json.load(open(sys.argv[1]))
for p in d["people"]:
    if p["person"] in ("kari", "ola"):
        c = p["calls"][0]
        assert c["placed_after_s"] < float(sys.argv[2]) - 1, (p["person"], c)
EOP
case " $(notif_states "$ID_REF" kari) " in *" unreachable "*|*" failed "*) ;; *) fail "kari's SMS is not refused: $(notif_states "$ID_REF" kari)" ;; esac
for cb_sid in "$K_CB $K_SID" "$O2_CB $O2_SID"; do set -- $cb_sid; status "$1" "$2" no-answer; done
ctl resolve "$ID_REF" --by kari > /dev/null

say "voice only: 1, 2, an invalid key asked again once, English, busy"
M=$(mark)
set -- $(trigger ring); ID_RING=$1 CODE_RING=$2
call "$M" "$OLA"; O_CB=$CCB O_SID=$CSID O_ACT=$CACT O_TOK=$CTOK
call "$M" "$PER"; P_CB=$CCB P_SID=$CSID P_ACT=$CACT
call "$M" "$SIRI"; S_CB=$CCB S_SID=$CSID S_ACT=$CACT
call "$M" "$SJEF"; J_CB=$CCB J_SID=$CSID J_ACT=$CACT
twiml "$M" "$OLA" nb-NO Polly.Liv 0
twiml "$M" "$SJEF" en-US Polly.Joanna 0
[ "$O_ACT" != "$P_ACT" ] || fail "two calls share one answer URL"
# ola: 1
status "$O_CB" "$O_SID" in-progress AnsweredBy=human
expect 200 "$(press "$O_ACT" "$O_SID" 1)" "ola presses 1"
reply "Takk, du er registrert som kommer\." nb-NO
assert_eq "$(answer_of "$ID_RING" ola)" yes
cp "$T/tw.body" "$T/ola-1.body"; cp "$T/tw.sig" "$T/ola-1.sig"   # the signed request, as someone on the path would keep it
status "$O_CB" "$O_SID" completed AnsweredBy=human CallDuration=12
# per: 2
status "$P_CB" "$P_SID" in-progress AnsweredBy=human
expect 200 "$(press "$P_ACT" "$P_SID" 2)" "per presses 2"
reply "Takk, du er registrert som ikke kommer\." nb-NO
assert_eq "$(answer_of "$ID_RING" per)" no
status "$P_CB" "$P_SID" completed AnsweredBy=human CallDuration=9
# siri: 7, then 9: asked again once, then only the closing sentence, nothing recorded
status "$S_CB" "$S_SID" in-progress AnsweredBy=human
expect 200 "$(press "$S_ACT" "$S_SID" 7)" "siri presses 7"
reply "Det var ikke et gyldig valg\." nb-NO "$S_ACT?again=1"
expect 200 "$(press "$S_ACT?again=1" "$S_SID" 9)" "siri presses 9"
reply "Vi fikk ikke noe svar\." nb-NO
assert_eq "$(answer_of "$ID_RING" siri)" none "an invalid key press was recorded"
status "$S_CB" "$S_SID" completed AnsweredBy=human CallDuration=20
# sjef (English): answers in English
status "$J_CB" "$J_SID" in-progress AnsweredBy=human
expect 200 "$(press "$J_ACT" "$J_SID" 1)" "sjef presses 1"
reply "Thank you, you are recorded as coming\." en-US
assert_eq "$(answer_of "$ID_RING" sjef)" yes
# a second key in the same call: the first answer stays, and is said again
expect 200 "$(press "$J_ACT" "$J_SID" 2)" "sjef presses 2 after 1"
reply "Thank you, you are recorded as coming\." en-US
assert_eq "$(answer_of "$ID_RING" sjef)" yes "a second key press in one call changed the answer"
status "$J_CB" "$J_SID" completed AnsweredBy=human CallDuration=8
VOICE_OLA=$(voice_of "$ID_RING" ola); VOICE_SIRI=$(voice_of "$ID_RING" siri)
assert_eq "$VOICE_OLA" 1 "ola's voice column"
# completed without a valid key press: "answered, no choice" (VOICE.md)
case $VOICE_SIRI in answered|completed) ;; *) later "siri's VOICE column is $VOICE_SIRI after keys 7 and 9: beredctl(1) shows only 1 or 2 as the key pressed, else completed (answered, no key)" ;; esac

say "a captured key press played back changes nothing (a call answers once)"
expect 200 "$(gen "$OLA" "NEI $CODE_RING")" "ola's NEI by SMS after her 1"
assert_eq "$(answer_of "$ID_RING" ola)" no "ola's NEI by SMS"
keys_before=$(grep -c '"t":"keypress"' "$(actlog "$ID_RING")")
for i in 1 2; do
        expect 200 "$(req -X POST -H "Content-Type: application/x-www-form-urlencoded" -H "X-Twilio-Signature: $(cat "$T/ola-1.sig")" \
                --data-binary @"$T/ola-1.body" "$H$(local_path "$O_ACT")")" "ola's 1 played back"
done
assert_eq "$(answer_of "$ID_RING" ola)" no "a played-back key press changed ola's answer"
assert_eq "$(grep -c '"t":"keypress"' "$(actlog "$ID_RING")")" "$keys_before" "a played-back key press was logged again"
reply "Denne utkallingen er avsluttet\." nb-NO   # the call has ended: its token answers nothing

say "forged answers are refused and change nothing"
expect 403 "$(tw "$O_ACT" wrong-token AccountSid="$ACCOUNT" CallSid="$O_SID" Digits=2)" "a bad signature"
node "$SIGN" sign "$O_ACT" "$TOK" "$T/tw.body" AccountSid="$ACCOUNT" CallSid="$O_SID" Digits=1 > "$T/tw.sig"
sed 's/Digits=1/Digits=2/' "$T/tw.body" > "$T/tampered"
expect 403 "$(req -X POST -H "Content-Type: application/x-www-form-urlencoded" -H "X-Twilio-Signature: $(cat "$T/tw.sig")" \
        --data-binary @"$T/tampered" "$H$(local_path "$O_ACT")")" "tampered Digits"
expect 403 "$(req -X POST -d "AccountSid=$ACCOUNT&CallSid=$O_SID&Digits=2" "$H$(local_path "$O_ACT")")" "no signature"
# another account's signature (valid for its own token) on our URL
expect 403 "$(tw "$O_ACT" "$TOK2" AccountSid="$ACCOUNT2" CallSid="$O_SID" Digits=2)" "signed with voice2's token"
# our token, validly signed, but on the other gateway's URL: voice2 does not know it
OTHER="$PUBLIC/voice/voice2/answer/$O_TOK"
st=$(tw "$OTHER" "$TOK" AccountSid="$ACCOUNT" CallSid="$O_SID" Digits=2)
case $st in 403|404) ;; *) fail "a token on another gateway's URL got HTTP $st" ;; esac
st=$(tw "$OTHER" "$TOK2" AccountSid="$ACCOUNT2" CallSid="$O_SID" Digits=2)
expect 404 "$st" "a voice token on another gateway (signed by it)"
# a voice token is no e-mail link token, and a random token is unknown
expect 404 "$(req -X POST "$H/a/$O_TOK/no")" "a voice token on /a/.../no"
expect 404 "$(req "$H/a/$O_TOK/yes")" "a voice token on /a/.../yes"
# signed with our token, but for another account
expect 403 "$(tw "$O_ACT" "$TOK" AccountSid="$ACCOUNT2" CallSid="$O_SID" Digits=2)" "another AccountSid"
expect 404 "$(tw "$PUBLIC/voice/voice/answer/$(python3 -c 'import secrets; print(secrets.token_hex(16))')" "$TOK" \
        AccountSid="$ACCOUNT" CallSid="$O_SID" Digits=2)" "an unknown token"
# a signature over the URL with :443 is accepted, as Twilio's validator does
node "$SIGN" validate "$O_ACT" "$TOK" "$(node "$SIGN" sign "${PUBLIC}:443${O_ACT#"$PUBLIC"}" "$TOK" "$T/tw.body" Digits=1)" Digits=1 ||
        fail "twilio's validateRequest does not take :443 (test bug)"
expect 200 "$(tw "${PUBLIC}:443${O_ACT#"$PUBLIC"}" "$TOK" AccountSid="$ACCOUNT" CallSid="$O_SID" Digits=1)" "signed with :443"
assert_eq "$(answer_of "$ID_RING" ola)" no "a forged answer changed ola's answer"
M=$(mark)
set -- $(trigger mail); ID_MAIL=$1
has_mail() { grep -q '"channel":"email"' "$T/spool/outbox/$ID_MAIL".*.json; }
wait_until 5 has_mail || fail "no e-mail"
MAIL=$(grep -l '"channel":"email"' "$T/spool/outbox/$ID_MAIL".*.json | head -n 1)
ETOKEN=$(python3 -c "import json,re,sys; print(re.search(r'/a/([A-Za-z0-9_-]+)/yes', json.load(open(sys.argv[1]))['text']).group(1))" "$MAIL")
expect 404 "$(tw "$PUBLIC/voice/voice/answer/$ETOKEN" "$TOK" AccountSid="$ACCOUNT" CallSid=CA1 Digits=1)" "an e-mail token on /voice/"
assert_eq "$(answer_of "$ID_MAIL" kari)" none "an e-mail token answered by voice"
ctl resolve "$ID_MAIL" --by kari > /dev/null
ctl resolve "$ID_RING" --by kari > /dev/null

say "sequential: no-answer moves to the next person at once; busy and failed too"
M=$(mark)
set -- $(trigger seq); ID_SEQ=$1
call "$M" "$OLA"
assert_eq "$(VC count "$M" "$PER")" 0 "per was called before ola's call ended"
status "$CCB" "$CSID" ringing
status "$CCB" "$CSID" no-answer CallDuration=0
wait_until 3 has_call "$M" "$PER" || fail "per was not called at once after ola's no-answer"
has_event "$ID_SEQ" '"status":"no-answer"' || fail "no no-answer in the activation log"
call "$M" "$PER"
status "$CCB" "$CSID" busy
wait_until 3 has_call "$M" "$SIRI" || fail "siri was not called at once after per's busy"
call "$M" "$SIRI"
kari_before=$(sms_to "$KARI")
status "$CCB" "$CSID" failed
# nobody reached by voice: the final step (an SMS to kari) comes at once
wait_until 3 sms_to_above "$KARI" "$kari_before" || fail "the final step did not come at once after siri's call failed"
has_event "$ID_SEQ" '"status":"busy"' || fail "no busy in the activation log"
has_event "$ID_SEQ" '"status":"failed"' || fail "no failed in the activation log"
assert_eq "$(voice_of "$ID_SEQ" ola)" no-answer "ola's voice column"
ctl resolve "$ID_SEQ" --by kari > /dev/null

say "a status callback before beredd has the call's sid (it came by its ref) still counts"
# Twilio may post a status while beredd still waits for the 201 (the call
# request held here): matched by the ref in the StatusCallback URL.
M=$(mark)
printf '{"hang_first": 1, "hang_seconds": %s, "hang_match": "/Calls.json"}\n' "$((3 * S))" > "$T/sms.ctl"
set -- $(trigger seq); ID_EARLY=$1
wait_until 10 hung_requests_after "$M" 1 || fail "the call request did not reach the fake"
set -- $(python3 - "$T/sms.log" "$M" <<'EOP'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("n", 0) > int(sys.argv[2]) and r.get("status") == "hang":
        print(r["form"]["StatusCallback"], r["call_sid"])
EOP
)
EARLY_CB=$1 EARLY_SID=$2
EARLY_KEY=${EARLY_CB##*ref=}; EARLY_KEY=${EARLY_KEY%.*}
st=$(tw "$EARLY_CB" "$TOK" CallSid="$EARLY_SID" AccountSid="$ACCOUNT" CallStatus=busy \
        From=+4759440000 Direction=outbound-api ApiVersion=2010-04-01)
expect 200 "$st" "an early status"
grep -q '"known":true' "$T/last" || later "a status callback that came before the 201 was answered $(cat "$T/last") and dropped"
wait_until $((3 * S + 5)) has_call "$M" "$PER" || later "per was not called after ola's early busy (the call's end was lost)"
printf '{"hang_first": 0}\n' > "$T/sms.ctl"
# the call's end again once beredd has its 201: the first final status stays
wait_until $((3 * S + 10)) has_event "$ID_EARLY" "\"t\":\"sent\",\"key\":\"$EARLY_KEY\"" || fail "ola's held call was never sent"
status "$EARLY_CB" "$EARLY_SID" no-answer
for p in $PER $SIRI; do
        wait_until 3 has_call "$M" "$p" || break
        call "$M" "$p"; status "$CCB" "$CSID" no-answer
done
ctl resolve "$ID_EARLY" --by kari > /dev/null

say "a machine is not reached; completed without digits is answered, no choice; max_calls = 4"
M=$(mark)
set -- $(trigger five); ID_FIVE=$1
four_placed() { [ "$(calls_placed "$M" $OLA $PER $SIRI $ANNE $BJORN)" -ge 4 ]; }
wait_until 10 four_placed || fail "fewer than 4 calls placed"
placed=0; waiting=""
for p in $OLA $PER $SIRI $ANNE $BJORN; do
        if has_call "$M" "$p"; then placed=$((placed + 1)); else waiting=$p; fi
done
assert_eq "$placed" 4 "max_calls = 4: $placed calls placed at once"
case $waiting in "$OLA") wid=ola ;; "$PER") wid=per ;; "$SIRI") wid=siri ;; "$ANNE") wid=anne ;; *) wid=bjorn ;; esac
# the fifth waits for a line, and beredd says so (then it surely was not placed)
wait_until 5 voice_is "$ID_FIVE" "$wid" queued || fail "the fifth call is not queued: $(voice_of "$ID_FIVE" "$wid")"
assert_eq "$(calls_placed "$M" $OLA $PER $SIRI $ANNE $BJORN)" 4 "more than max_calls = 4 calls placed"
curl -s "$H/metrics" > "$T/metrics"
assert_grep "$T/metrics" '^beredd_calls_in_flight 4' "beredd_calls_in_flight is not 4"
# the first one placed: a machine (detection is on) -> not reached, frees a slot
first=""
for p in $OLA $PER $SIRI $ANNE $BJORN; do has_call "$M" "$p" && { first=$p; break; }; done
call "$M" "$first"
status "$CCB" "$CSID" in-progress AnsweredBy=machine_start
status "$CCB" "$CSID" completed AnsweredBy=machine_start CallDuration=4
wait_until 5 has_call "$M" "$waiting" || fail "the queued call did not go when a slot freed"
has_event "$ID_FIVE" '"answered_by":"machine_start"' || fail "no answered_by machine_start in the activation log"
# the others: answered without a key press
for p in $OLA $PER $SIRI $ANNE $BJORN; do
        [ "$p" = "$first" ] && continue
        call "$M" "$p"
        end_call "$CCB" "$CSID" 15
done
P1=$(ctl show "$ID_FIVE" --json | python3 -c "
import json,sys
d = json.load(sys.stdin)
print(' '.join('%s=%s/%s' % (p['person'], p['answer'], p.get('voice')) for p in d['people']))")
say "after: $P1"
case " $P1 " in *"=none/machine "*) ;; *) fail "the machine-answered call is not shown as machine: $P1" ;; esac
case " $P1 " in *"=none/answered "*|*"=none/completed "*) ;; *) fail "a call completed without digits is not 'answered': $P1" ;; esac
curl -s "$H/metrics" > "$T/metrics"
assert_grep "$T/metrics" 'beredd_calls_total{outcome="machine"} 1'
assert_grep "$T/metrics" 'beredd_calls_total{outcome="no-answer"} [1-9]'
assert_grep "$T/metrics" 'beredd_calls_total{outcome="busy"} [1-9]'
assert_grep "$T/metrics" 'beredd_voice_keypresses_total{digits="1"}'
assert_grep "$T/metrics" '^beredd_calls_in_flight 0' "calls still in flight after every call ended"
if command -v promtool >/dev/null; then
        promtool check metrics < "$T/metrics" > "$T/promtool.out" 2>&1 || { cat "$T/promtool.out" >&2; fail "promtool rejects /metrics"; }
fi
ctl resolve "$ID_FIVE" --by kari > /dev/null

say "a drill says so first"
M=$(mark)
set -- $(trigger ring --drill); ID_DRILL=$1
for p in $OLA $PER $SIRI $SJEF; do call "$M" "$p"; end_call "$CCB" "$CSID" 5; done
twiml "$M" "$OLA" nb-NO Polly.Liv 1
twiml "$M" "$SJEF" en-US Polly.Joanna 1
ctl resolve "$ID_DRILL" --by kari > /dev/null

say "kill -9 with calls in flight: only the calls not placed yet go again"
# The next two call requests hang: two calls are logged "sending" and never
# get their answer; the other two are sent (one answered by a key press).
quiet() { a=$(wc -l < "$T/sms.log"); sleep 0.3; [ "$(wc -l < "$T/sms.log")" -eq "$a" ]; }
M=$(mark)
printf '{"hang_first": 2, "hang_seconds": 120, "hang_match": "/Calls.json"}\n' > "$T/sms.ctl"
set -- $(trigger ring); ID_CRASH=$1
wait_until 10 hung_requests_after "$M" 2 || fail "the calls did not reach the fake"
SENT=""; HUNG=""
for p in $OLA $PER $SIRI $SJEF; do
        wait_until 10 calls_to_at_least "$M" "$p" 1 || fail "no call request to $p"
        if has_call "$M" "$p"; then SENT="$SENT $p"; else HUNG="$HUNG $p"; fi
done
set -- $SENT; [ $# -eq 2 ] || fail "expected two calls sent and two hanging, sent:$SENT hanging:$HUNG"
A=$1 R=$2
call "$M" "$A"; A_CB=$CCB A_SID=$CSID
status "$CCB" "$CSID" in-progress AnsweredBy=human
expect 200 "$(press "$CACT" "$CSID" 1)" "a key press before the crash"
call "$M" "$R"; R_CB=$CCB R_SID=$CSID
status "$CCB" "$CSID" ringing
kill_beredd
printf '{"hang_first": 0}\n' > "$T/sms.ctl"
M2=$(mark)
start_beredd "$T/beredd.conf"
for p in $HUNG; do
        wait_until 10 has_call "$M2" "$p" || fail "an in-flight call (to $p) was not placed again after the restart"
        if [ "$p" = "$SJEF" ]; then twiml "$M2" "$p" en-US Polly.Joanna 0; else twiml "$M2" "$p" nb-NO Polly.Liv 0; fi
        call "$M2" "$p"; end_call "$CCB" "$CSID" 3
done
wait_until 10 quiet || fail "the fake never went quiet after the restart"
for p in $SENT; do
        assert_eq "$(VC count "$M2" "$p")" 0 "a call sent before the crash (to $p) was placed again"
done
for p in $HUNG; do
        assert_eq "$(VC count "$M2" "$p")" 1 "a call was placed more than once after the restart"
done
python3 - "$(actlog "$ID_CRASH")" <<'EOP' || fail "the activation log of the crash is not as VOICE.md has it"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
sending = [e["key"] for e in ev if e.get("t") == "sending" and e.get("ch") == "voice"]
tokens = [e["key"] for e in ev if e.get("t") == "token" and e.get("use") == "voice"]
sent = [e["key"] for e in ev if e.get("t") == "sent"]
# four calls, logged "sending" once each; the two placed again keep their
# key and get a new token; every call is "sent" exactly once in the end
assert len(sending) == 4 and len(set(sending)) == 4, sending
again = {k for k in sending if tokens.count(k) == 2}
assert len(again) == 2 and all(tokens.count(k) == 1 for k in set(sending) - again), tokens
assert sorted(sent) == sorted(sending), (sent, sending)
EOP
PA=$(ctl show "$ID_CRASH" --json | python3 -c "
import json,sys
d = json.load(sys.stdin)
print(sum(p['answer'] == 'yes' for p in d['people']))")
assert_eq "$PA" 1 "the key press before the crash was lost (or another appeared)"
# the calls left from before the crash end (Twilio sends their status anyway)
status "$R_CB" "$R_SID" no-answer
status "$A_CB" "$A_SID" completed AnsweredBy=human CallDuration=10
ctl resolve "$ID_CRASH" --by kari > /dev/null

say "every call request was valid for Twilio, and its TwiML well-formed, without a name or number"
VC check-all "$PUBLIC" voice "$NUMBERS" "$NAMES" || fail "a call request or its TwiML is wrong"
if grep -q schema_errors "$T/sms.log"; then grep schema_errors "$T/sms.log" | head -3 >&2; fail "beredd sent a call request Twilio would refuse"; fi

say "no phone number, token or secret in beredd's log"
for n in $(echo "$NUMBERS" | tr , ' '); do
        assert_no_grep "$T/beredd.log" "${n#+47}" "a phone number reached beredd's log"
done
assert_no_grep "$T/beredd.log" "$O_TOK" "a voice token reached the log"
assert_no_grep "$T/beredd.log" "$TOK" "the Twilio token reached the log"
stop_beredd
[ ! -s "$T/later" ] || fail "$(wc -l < "$T/later") failures above: $(tr '\n' ';' < "$T/later")"
say "ok"
