#!/bin/sh
# The generic voice gateway (type "http", channel "voice"; issue 16 item 6,
# VOICE.md): the call request from the SMS profile's templates with
# {answer_url} {status_url} {lang} {prompt}; the provider posts the key
# pressed to the answer URL and the call's status to the status URL, with
# the gateway's inbound token; answers in JSON. Requests go to fake-sms.py.
. "$(dirname "$0")/common.sh"
command -v curl >/dev/null || skip "curl is not installed"

start_fake_sms
HTTP_PORT=$(free_port)
H="http://127.0.0.1:$HTTP_PORT"
PUBLIC="https://beredd.kommune.example"
write_creds gen.token=gen-secret gvoice.token=gvoice-secret
export BEREDD_GW_BACKOFF_MS=20
OLA=+4791234568 PER=+4791234569 SJEF=+4791234580
cat > "$T/beredd.conf" <<EOC
site = "test";
spool = "$T/spool";
people = (
  { id = "kari"; name = "Kari Nordmann"; phone = "+4791234567"; roles = ["leader"]; },
  { id = "ola";  name = "Ola Nordmann";  phone = "$OLA"; roles = ["member"]; },
  { id = "per";  name = "Per Hansen";    phone = "$PER"; roles = ["member"]; },
  { id = "sjef"; name = "Sigrid Sjef";   phone = "$SJEF"; roles = ["boss"]; lang = "en"; }
);
gateways = (
  { id = "sms"; type = "http"; url = "http://127.0.0.1:$SMS_PORT/generic"; body = "to={to}&msg={text}";
    inbound_from = "msisdn"; inbound_text = "msg"; inbound_token_file = "gen.token"; },
  { id = "gvoice"; type = "http"; channel = "voice"; url = "http://127.0.0.1:$SMS_PORT/call";
    body = "to={to}&lang={lang}&say={text}&prompt={prompt}&answer={answer_url}&status={status_url}";
    inbound_token_file = "gvoice.token"; inbound_digits = "key"; }
);
chains = (
  { id = "seq"; name = "Vaktlaget"; may_trigger = [ "kari" ]; need = { total = 2; }; receipt = false;
    steps = ( { notify = [ "ola", "per", "sjef" ]; via = [ "voice" ]; mode = "sequential"; wait = "10m"; },
              { notify = [ "kari" ]; via = [ "sms" ]; final = true; } ); }
);
http = { listen = "127.0.0.1:$HTTP_PORT"; public_url = "$PUBLIC/"; };
EOC
start_beredd "$T/beredd.conf"
wait_until 10 port_open "$HTTP_PORT" || fail "the listener did not open port $HTTP_PORT"

req() { curl -s -o "$T/last" -w '%{http_code}' "$@"; }
expect() { # WANT GOT WHAT
        [ "$2" = "$1" ] || { echo "--- body:" >&2; head -c 600 "$T/last" >&2; echo >&2; fail "$3: HTTP $2, expected $1"; }
}
# gcall NUMBER: the generic call request to NUMBER, its fields as shell
# variables G_ANSWER, G_STATUS, G_LANG, G_SAY, G_PROMPT (local URLs in
# G_ANSWER_L, G_STATUS_L)
has_gcall() { [ "$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l).get("path") == "/call" and (json.loads(l).get("form") or {}).get("to") == sys.argv[2]))' "$T/sms.log" "$1")" -ge 1 ]; }
gcall() {
        wait_until 10 has_gcall "$1" || fail "no call to $1"
        eval "$(python3 - "$T/sms.log" "$1" "$PUBLIC" "$H" <<'EOP'
import json, shlex, sys
log, to, public, local = sys.argv[1:]
f = [json.loads(l) for l in open(log)]
f = [r["form"] for r in f if r.get("path") == "/call" and (r.get("form") or {}).get("to") == to][-1]
for k, v in (("ANSWER", f["answer"]), ("STATUS", f["status"]), ("LANG", f["lang"]), ("SAY", f["say"]),
             ("PROMPT", f["prompt"])):
    print("G_%s=%s" % (k, shlex.quote(v)))
for k in ("answer", "status"):
    assert f[k].startswith(public + "/voice/gvoice/"), f[k]
    print("G_%s_L=%s" % (k.upper(), shlex.quote(local + f[k][len(public):])))
EOP
)"
}
answer_of_json() { python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get('answer'))" "$T/last"; }

say "the call request carries the answer and status URLs (with the inbound token), the language and the prompt"
ID=$(ctl trigger seq --by kari -m "Flom ved elva" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['activation'])")
gcall "$OLA"
assert_eq "$G_LANG" nb-NO
assert_eq "$G_PROMPT" "Trykk 1 hvis du kan komme, trykk 2 hvis du ikke kan."
case $G_SAY in "Dette er en utkalling av Vaktlaget. Flom ved elva"*) ;; *) fail "the call says: $G_SAY" ;; esac
printf '%s\n' "$G_ANSWER" | grep -Eq "^$PUBLIC/voice/gvoice/answer/[0-9a-f]{32}\?token=gvoice-secret$" || fail "answer URL: $G_ANSWER"
printf '%s\n' "$G_STATUS" | grep -Eq "^$PUBLIC/voice/gvoice/status\?ref=[A-Za-z0-9._-]+&token=gvoice-secret$" || fail "status URL: $G_STATUS"
NOTOKEN=${G_ANSWER_L%%\?*}

say "the key press needs the inbound token; an invalid key is no answer"
expect 403 "$(req -X POST -d key=1 "$NOTOKEN")" "no token"
expect 403 "$(req -X POST -d key=1 "$NOTOKEN?token=gvoice-secreT")" "a wrong token"
expect 403 "$(req -X POST -H "X-Beredd-Token: gen-secret" -d key=1 "$NOTOKEN")" "the SMS gateway's token"
expect 200 "$(req -X POST -d key=7 "$G_ANSWER_L")" "key 7"
assert_eq "$(answer_of_json)" none "key 7"
assert_eq "$(answer_of "$ID" ola)" none "an invalid key was recorded"
expect 404 "$(req -X POST -d key=1 "$H/voice/gvoice/answer/$(python3 -c 'import secrets; print(secrets.token_hex(16))')?token=gvoice-secret")" "an unknown token"

say "status no-answer moves the sequential step on at once"
expect 403 "$(req -X POST -d status=no-answer "${G_STATUS_L%%&token=*}")" "status without the token"
expect 200 "$(req -X POST -d status=no-answer "$G_STATUS_L")" "status no-answer"
grep -q '"known":true' "$T/last" || fail "the status was not matched: $(cat "$T/last")"
wait_until 3 has_gcall "$PER" || fail "per was not called at once after ola's no-answer"
grep '"t":"call"' "$T/spool/activations/$ID.log" | grep -q '"status":"no-answer"' || fail "no no-answer in the activation log"

say "1 and 2 as a form, as JSON with the token in a header, in the query"
gcall "$PER"
expect 200 "$(req -X POST -d key=1 "$G_ANSWER_L")" "key 1 (form)"
assert_eq "$(answer_of_json)" yes
assert_eq "$(answer_of "$ID" per)" yes
# a call answers once (main, 595e9a1): a second key press changes nothing
expect 200 "$(req -X POST "$G_ANSWER_L&key=2")" "key 2 in the query, after 1"
assert_eq "$(answer_of "$ID" per)" yes "a second key press in the same call changed the answer"
# need = 2: after per's yes the step goes on to sjef
wait_until 3 has_gcall "$SJEF" || fail "sjef was not called after per"
gcall "$SJEF"
assert_eq "$G_LANG" en-US
assert_eq "$G_PROMPT" "Press 1 if you can come, press 2 if you cannot."
expect 200 "$(req -X POST -H "X-Beredd-Token: gvoice-secret" -H "Content-Type: application/json" -d '{"key":"2"}' "${G_ANSWER_L%%\?*}")" "key 2 (JSON)"
assert_eq "$(answer_of_json)" no
assert_eq "$(answer_of "$ID" sjef)" no

assert_no_grep "$T/beredd.log" "gvoice-secret" "the inbound token reached the log"
for n in $OLA $PER $SJEF; do assert_no_grep "$T/beredd.log" "${n#+47}" "a phone number reached the log"; done
stop_beredd
say "ok"
