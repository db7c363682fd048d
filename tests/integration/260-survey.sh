#!/bin/sh
# The absence survey before a heightened period (issue 19, item 4), on the
# fake clock (BEREDD_TEST_TIME_OFFSET), the daemon restarted (once with
# kill -9) to move the clock on:
#  - Friday 4 December 2026 10:00, 14 days before "Jul og nyttår"
#    (18.12-3.1, survey_before = "14d"): everyone on the chain is asked once,
#    by SMS (fake-sms.py, the generic HTTP profile) and e-mail with two links
#    (the file gateway's outbox);
#  - answers: an absence through the e-mail link's form, BORTE by SMS, OK and
#    the code by SMS, OK through the e-mail link; a GET of a link changes
#    nothing; a wrong code, JA with the code, an unknown link;
#  - a kill -9 and a restart ask nobody again;
#  - 5 December 22:00: the reminder is due but waits for the morning;
#    6 December 09:05: the second ask, to the one who did not answer;
#  - 6 December 10:30 (twice survey_remind after it opened): the survey
#    closes and the leader (the chain's report_to) gets the forecast naming
#    the days without a leader, by SMS and e-mail; an absence after that
#    which turns another day uncoverable sends the news; a bare OK is then
#    taken (nothing else is open);
#  - beredctl survey (on demand; errors), survey list; the retained MQTT
#    coverage topic carries the survey's counts and no person; the journal
#    never has a code, a token or a phone number; config errors.
. "$(dirname "$0")/common.sh"
command -v curl >/dev/null || skip "curl is not installed"
command -v mosquitto_sub >/dev/null || skip "mosquitto-clients is not installed"

start_fake_sms
HTTP_PORT=$(free_port)
H="http://127.0.0.1:$HTTP_PORT"
MQ_PORT=$(free_port)
B=beredd/test
start_mosquitto "$MQ_PORT"
write_creds gen.token=gen-secret
export BEREDD_GW_BACKOFF_MS=20

TOR=+4791234590 KARI=+4791234567 LISE=+4791234571 OLA=+4791234568 PER=+4791234569 SIRI=+4791234570 KOORD=+4791234580
conf() { # FILE [EXTRA-HEIGHTENED-KEYS]
        cat > "$1" <<EOC
site = "test";
spool = "$T/spool";
timezone = "Europe/Oslo";
calendar: {
  heightened = ( { from = "2026-12-18"; to = "2027-01-03"; name = "Jul og nyttår";
                   survey_before = "14d"; survey_remind = "1d"; survey_chains = [ "kriseteam" ]; ${2:-} } );
};
people = (
  { id = "kari"; name = "Kari Nordmann"; phone = "$KARI"; email = "kari@kommune.example"; roles = ["leader"]; },
  { id = "lise"; name = "Lise Lund";     phone = "$LISE"; roles = ["leader"]; },
  { id = "ola";  name = "Ola Nordmann";  phone = "$OLA"; roles = ["member"]; },
  { id = "per";  name = "Per Hansen";    phone = "$PER"; email = "per@kommune.example"; roles = ["member"]; },
  { id = "siri"; name = "Siri Berg";     phone = "$SIRI"; roles = ["member"]; },
  { id = "koord"; name = "Kari Koordinator"; phone = "$KOORD"; email = "koord@kommune.example"; roles = ["boss"]; },
  { id = "tor";  name = "Tor Stab";      phone = "$TOR"; roles = ["stab"]; },
  { id = "legevakt"; name = "Legevakten"; phone = "+4773000000"; roles = ["fallback"]; }
);
roles = (
  { id = "leader"; name = "leder"; name_en = "leader"; },
  { id = "member"; name = "medlem"; name_en = "member"; }
);
gateways = (
  { id = "sms"; type = "http"; url = "http://127.0.0.1:$SMS_PORT/generic"; body = "to={to}&msg={text}";
    inbound_from = "msisdn"; inbound_text = "msg"; inbound_token_file = "gen.token"; },
  { id = "mail"; channel = "email"; type = "file"; }
);
chains = (
  { id = "kriseteam"; name = "Kriseteamet";
    may_trigger = [ "kari" ];
    need = { total = 3; roles = { leader = 1; }; };
    report_to = [ "koord" ];
    steps = ( { notify = [ "role:leader", "role:member" ]; wait = "10m"; },
              { notify = [ "legevakt" ]; final = true; } );
  },
  { id = "stab"; name = "Staben";
    may_trigger = [ "kari" ];
    need = { total = 1; };
    report_to = [ "koord" ];
    steps = ( { notify = [ "lise", "role:stab" ]; wait = "10m"; } );
  }
);
http = { listen = "127.0.0.1:$HTTP_PORT"; public_url = "https://beredd.kommune.example"; };
mqtt: { host = "127.0.0.1"; port = $MQ_PORT; base = "$B"; qos = 1; };
EOC
}
conf "$T/beredd.conf"
# The survey's file cannot be written at first (a folder in its place):
# nothing may go out before it is on disk.
mkdir -p "$T/spool/surveys/s20261218-20270103.json"
"$BEREDD" --check-config -c "$T/beredd.conf" > "$T/check.out" 2>&1 || { cat "$T/check.out"; fail "config refused"; }

sms() { # FROM TEXT: a text through the generic webhook
        code=$(curl -s -o "$T/last" -w '%{http_code}' -X POST -H "X-Beredd-Token: gen-secret" \
                --data-urlencode "msisdn=$1" --data-urlencode "msg=$2" "$H/sms/sms/inbound")
        [ "$code" = 200 ] || fail "the webhook answered $code to '$2' from $1"
}
has_text() { sms_texts "$1" | grep -qF -- "$2"; }
n_text() { sms_texts "$1" | grep -cF -- "$2" || true; }
# mail PERSON: the texts (subject, body) of PERSON's e-mails in the outbox
mail() {
        python3 - "$T/spool/outbox" "$1" <<'EOP'
import json, os, sys
d, person = sys.argv[1:]
for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
    if f.endswith(".json"):
        m = json.load(open(os.path.join(d, f)))
        if m.get("person") == person and m.get("channel") == "email":
            print("SUBJECT: " + m.get("subject", "")); print(m.get("text", "")); print("----")
EOP
}
code_of() { sms_texts "$1" | sed -n 's/.*eller OK \([0-9]\{6\}\) hvis.*/\1/p' | head -n 1; }
link_of() { mail "$1" | sed -n "s|^  https://beredd.kommune.example\(/s/[0-9a-f]*/$2\)$|\1|p" | head -n 1; }
survey_field() { ctl survey list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["surveys"][0][sys.argv[1]])' "$1"; }
answer_of_p() { ctl survey list --json | python3 -c '
import json,sys
[p] = [p for p in json.load(sys.stdin)["surveys"][0]["people"] if p["person"] == sys.argv[1]]
print(p["answer"], p["asks"])' "$1"; }
answer_is() { [ "$(answer_of "$1" "$2")" = "$3" ]; } # ACTIVATION PERSON ANSWER
http_code() { curl -s -o "$T/page" -w '%{http_code}' "$@"; }
saved_all_sent() { python3 -c '
import json, glob, sys
fs = glob.glob(sys.argv[1] + "/surveys/*.json")
sys.exit(0 if fs and all(m["state"] == "sent" for f in fs for m in json.load(open(f))["messages"]) else 1)' "$T/spool"; }

say "4 December 10:00: the survey opens 14 days ahead and asks everyone on the chain once"
start_at 2026-12-04T10:00:00
wait_until 10 port_open "$HTTP_PORT" || fail "the listener did not open port $HTTP_PORT"
wait_until 10 grep -q "could not be saved; nothing sent" "$T/beredd.log" || fail "the failed save was not logged"
sleep "$((1 * ${BEREDD_TIME_SCALE:-1}))"
[ "$(sms_to "$OLA")" = 0 ] || fail "an ask went out before the survey was on disk"
rmdir "$T/spool/surveys/s20261218-20270103.json"
kill -HUP "$BEREDD_PID" # a reload runs the survey's check: saved now, then sent
# (Until the spool probe finds it writable again, new input is refused.)
wait_until 20 grep -q "is writable again" "$T/beredd.log" || fail "the spool probe did not clear the error"
for n in "$KARI" "$LISE" "$OLA" "$PER" "$SIRI"; do
        wait_until 10 has_text "$n" "hvilke dager er du borte" || fail "no survey SMS to $n: $(cat "$T/sms.log")"
done
has_text "$KOORD" "borte" && fail "the leader (not on the chain's steps) was asked"
has_text "$TOR" "borte" && fail "tor (only on a chain outside survey_chains) was asked"
has_text "+4773000000" "borte" && fail "the final step's legevakt was asked"
sms_texts "$OLA" > "$T/ola.txt"
cat "$T/ola.txt"
assert_grep "$T/ola.txt" "^Kriseteamet - Jul og nyttår 18\.12-3\.1: hvilke dager er du borte? Svar BORTE og datoene, f\.eks\. BORTE 23\.12-26\.12, eller OK [0-9]\{6\} hvis du kan nås hele perioden\.$"
wait_until 10 sh -c "[ -n \"\$(ls '$T/spool/outbox' 2>/dev/null)\" ]" || fail "no e-mail in the outbox"
wait_until 10 saved_all_sent || fail "the survey's messages were not all marked sent"
mail kari > "$T/kari.mail"
cat "$T/kari.mail"
assert_grep "$T/kari.mail" "^SUBJECT: Kriseteamet – Jul og nyttår 18\.12–3\.1: hvilke dager er du borte?$"
assert_grep "$T/kari.mail" "^  https://beredd.kommune.example/s/[0-9a-f]\{32\}/ok$"
assert_grep "$T/kari.mail" "^  https://beredd.kommune.example/s/[0-9a-f]\{32\}/away$"
assert_grep "$T/kari.mail" "Du kan også svare på SMS: BORTE og datoene (f\.eks\. BORTE 23\.12-26\.12), eller OK [0-9]\{6\}\.$"
[ -z "$(mail ola)" ] || fail "ola (no e-mail address) got an e-mail"
assert_eq "$(survey_field asked)" 5 "not 5 asked"

say "answers: kari by the e-mail link's form, lise BORTE by SMS, ola OK and the code, per OK by the link"
KARI_AWAY=$(link_of kari away)
[ -n "$KARI_AWAY" ] || fail "no away link for kari"
assert_eq "$(http_code "$H$KARI_AWAY")" 200 "GET of the away link"
assert_grep "$T/page" 'type="date" name="from"'
assert_grep "$T/page" 'min="2026-12-04" max="2027-01-17"'
assert_grep "$T/page" "Kriseteamet – Jul og nyttår"
assert_eq "$(answer_of_p kari)" "none 1" "a GET changed kari's answer"
assert_eq "$(http_code -X POST --data 'from=2026-12-26&to=2026-12-24' "$H$KARI_AWAY")" 400 "reversed dates"
assert_grep "$T/page" "Ingenting er registrert"
assert_eq "$(http_code -X POST --data 'from=24.12&to=26.12' "$H$KARI_AWAY")" 400 "dates not YYYY-MM-DD"
assert_eq "$(http_code -X POST --data 'from=2026-12-05&to=2027-12-01' "$H$KARI_AWAY")" 400 "a year away by a mis-tap"
assert_grep "$T/page" "velg dager mellom 4\.12 og 17\.1 som berører perioden"
assert_eq "$(http_code -X POST --data 'from=2026-12-05&to=2026-12-06' "$H$KARI_AWAY")" 400 "days that miss the period"
[ "$(ctl away list --person kari --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["absences"]))')" = 0 ] ||
        fail "a refused form registered an absence"
assert_eq "$(http_code -X POST --data 'from=2026-12-24&to=2026-12-26' "$H$KARI_AWAY")" 200 "POST of the away form"
assert_grep "$T/page" "Takk, svaret er registrert"
assert_eq "$(answer_of_p kari)" "away 1"
ctl away list --person kari --json > "$T/kari-away.json"
assert_eq "$(json_get "$T/kari-away.json" '["absences"][0]["from"]')" "2026-12-24 00:00"
assert_eq "$(json_get "$T/kari-away.json" '["absences"][0]["to"]')" "2026-12-27 00:00"
assert_eq "$(json_get "$T/kari-away.json" '["absences"][0]["source"]')" "email"

sms "$LISE" "BORTE 24.12-27.12"
wait_until 10 has_text "$LISE" "Registrert: borte fra torsdag 24.12 til og med søndag 27.12." || fail "no receipt to lise"
assert_eq "$(answer_of_p lise)" "away 1"

# texted FROM TEXT BACK WHO STATE: FROM texts TEXT, gets BACK, and WHO's
# answer to the survey is then STATE ("answer asks")
texted() {
        sms "$1" "$2"
        wait_until 10 has_text "$1" "$3" || fail "'$2' got no '$3': $(sms_texts "$1" | tail -n 1)"
        assert_eq "$(answer_of_p "$4")" "$5" "after '$2' from $4"
}
OLA_CODE=$(code_of "$OLA")
SIRI_CODE=$(code_of "$SIRI")
texted "$OLA" "OK 123456" "den koden hører ikke til noe spørsmål om fravær til deg" ola "none 1"
texted "$OLA" "JA $OLA_CODE" "svar OK $OLA_CODE hvis du kan nås hele perioden" ola "none 1"
texted "$OLA" "ok $OLA_CODE" "Takk. Registrert for Kriseteamet - Jul og nyttår 18.12-3.1: du kan nås hele perioden." ola "ok 1"
texted "$PER" "OK $SIRI_CODE" "den koden hører ikke til" siri "none 1" # another's code

say "a bare JA from someone who has not answered: the survey's without a call-out; the call-out's when it came after the ask"
sms "$SIRI" "Ja"
wait_until 10 has_text "$SIRI" "beredd: svar OK $SIRI_CODE hvis du kan nås hele perioden, eller BORTE og datoene, f.eks. BORTE 23.12-26.12." ||
        fail "a bare JA to the survey was not explained: $(sms_texts "$SIRI")"
ctl trigger kriseteam --by kari -m "Øvelse" --drill --json > "$T/trig.json"
ACT=$(json_get "$T/trig.json" '["activation"]')
wait_until 10 has_text "$SIRI" "kalles inn" || fail "no call-out to siri"
sms "$SIRI" "JA"
wait_until 10 answer_is "$ACT" siri yes ||
        fail "siri's bare JA to a call-out that came after the survey's ask was not counted"
ctl resolve "$ACT" --by kari > /dev/null
assert_eq "$(answer_of_p siri)" "none 1"

PER_OK=$(link_of per ok)
assert_eq "$(http_code "$H$PER_OK")" 200 "GET of the ok link"
assert_eq "$(answer_of_p per)" "none 1" "a GET of the ok link changed per's answer"
assert_eq "$(http_code -X POST "$H$PER_OK")" 200 "POST of the ok link"
assert_eq "$(answer_of_p per)" "ok 1"
assert_eq "$(http_code "$H/s/0123456789abcdef0123456789abcdef/ok")" 404 "an unknown link"
assert_eq "$(http_code "$H/s/../ok")" 404 "a link of the wrong shape"

say "on demand: the survey of a period is extended, nobody is asked twice; errors name the field"
ctl survey kriseteam --period "Jul og nyttår" --by kari > "$T/demand.out"
cat "$T/demand.out"
assert_grep "$T/demand.out" "extended: 0 asked now, 5 asked before"
ctl survey kriseteam --period "Påske" --by kari > "$T/err.out" 2>&1 && fail "an unknown period was taken"
assert_grep "$T/err.out" "period: no heightened period of that name"
ctl survey nosuch --period "Jul og nyttår" --by kari > "$T/err.out" 2>&1 && fail "an unknown chain was taken"
assert_grep "$T/err.out" "chain: no such chain"

say "kill -9 and a restart (5 December 22:00): nobody is asked again; the reminder waits for 09:00"
wait_until 10 saved_all_sent || fail "the survey's messages were not all marked sent"
N_OLA=$(sms_to "$OLA")
kill_beredd
start_at 2026-12-05T22:00:00
sleep "$((1 * ${BEREDD_TIME_SCALE:-1}))"
has_text "$SIRI" "Påminnelse" && fail "the reminder went out at 22:00"
assert_eq "$(sms_to "$OLA")" "$N_OLA" "ola got another text after the restart"
assert_eq "$(survey_field reminded_usec)" 0 "reminded at night"
# A call-out at 22:00 that is still open when the reminder goes in the morning.
ctl trigger kriseteam --by kari -m "Øvelse 2" --drill --json > "$T/trig2.json"
ACT2=$(json_get "$T/trig2.json" '["activation"]'); CODE2=$(json_get "$T/trig2.json" '["code"]')
wait_until 10 has_text "$SIRI" "Øvelse 2" || fail "no second call-out to siri"
stop_beredd

say "6 December 09:05: the second ask, only to siri who did not answer"
start_at 2026-12-06T09:05:00
wait_until 10 has_text "$SIRI" "Påminnelse: Kriseteamet - Jul og nyttår 18.12-3.1: hvilke dager er du borte?" || fail "no reminder to siri"
for n in "$KARI" "$LISE" "$OLA" "$PER"; do
        has_text "$n" "Påminnelse" && fail "a reminder to $n, who had answered"
done
assert_eq "$(n_text "$SIRI" "Påminnelse")" 1 "not one reminder to siri"
say "a bare JA after a survey reminder newer than the open call-out: which one is not guessed"
texted "$SIRI" "JA" "beredd: svar med koden: JA $CODE2 eller NEI $CODE2 for utkallingen. Fravær svarer du på med BORTE og datoene." siri "none 2"
assert_eq "$(answer_of "$ACT2" siri)" "none" "siri's ambiguous bare JA was counted as a yes to the call-out"
sms "$SIRI" "JA $CODE2"
wait_until 10 answer_is "$ACT2" siri yes ||
        fail "JA with the call-out's code was not counted"
ctl resolve "$ACT2" --by kari > /dev/null
assert_eq "$(survey_field closed_usec)" 0 "closed too early"
ctl survey list > "$T/list.out"
cat "$T/list.out"
assert_grep "$T/list.out" "Jul og nyttår 2026-12-18 to 2027-01-03  open: 4 of 5 answered, 2 away"
assert_grep "$T/list.out" "not answered: siri$"
stop_beredd

say "6 December 10:30: the survey closes; the leader gets the forecast naming the days without a leader"
start_at 2026-12-06T10:30:00
wait_until 10 has_text "$KOORD" "har svart på spørsmålet om fravær" || fail "no forecast to the leader: $(sms_texts "$KOORD")"
sms_texts "$KOORD" > "$T/koord.txt"
cat "$T/koord.txt"
assert_grep "$T/koord.txt" "^Kriseteamet - Jul og nyttår 18\.12-3\.1: 3 dager kan ikke dekkes: to\. 24\.12 (mangler leder), fr\. 25\.12 (mangler leder), lø\. 26\.12 (mangler leder)\. 4 av 5 har svart på spørsmålet om fravær, 2 melder fravær\. De som ikke har svart, er regnet som tilgjengelige\.$"
# (the counts are never what a long list cuts: they are outside the shortened part)
wait_until 10 sh -c "python3 -c 'import os,json,sys; sys.exit(0 if any(json.load(open(os.path.join(sys.argv[1],f))).get(\"person\")==\"koord\" for f in os.listdir(sys.argv[1])) else 1)' '$T/spool/outbox'" || fail "no e-mail forecast to the leader"
mail koord > "$T/koord.mail"
cat "$T/koord.mail"
assert_grep "$T/koord.mail" "^SUBJECT: Dekning Kriseteamet – Jul og nyttår 18\.12–3\.1$"
assert_grep "$T/koord.mail" "^to\. 24\.12 .*KAN IKKE DEKKES: mangler leder (0 av 1)"
assert_eq "$(n_text "$KOORD" "har svart")" 1 "not one forecast"
[ "$(survey_field closed_usec)" != 0 ] || fail "not closed"

say "after the close: an absence that turns 27.12 uncoverable sends the news; a bare OK is taken"
sms "$KARI" "BORTE 27.12"
wait_until 10 has_text "$KOORD" "Nytt fravær" || fail "no news to the leader: $(sms_texts "$KOORD")"
sms_texts "$KOORD" | grep "Nytt fravær" > "$T/news.txt"
cat "$T/news.txt"
assert_grep "$T/news.txt" "^Nytt fravær: sø\. 27\.12 (mangler leder) kan ikke lenger dekkes\. Oppdatert oversikt: Kriseteamet - Jul og nyttår 18\.12-3\.1: 4 dager kan ikke dekkes: to\. 24\.12 (mangler leder), fr\. 25\.12 (mangler leder), lø\. 26\.12 (mangler leder), sø\. 27\.12 (mangler leder)\.$"
ctl away kari --from 2026-12-28 --to 2026-12-28 > /dev/null
sleep "$((1 * ${BEREDD_TIME_SCALE:-1}))"
assert_eq "$(n_text "$KOORD" "Nytt fravær")" 1 "news for an absence that leaves every day as it was"
sms "$SIRI" "OK"
wait_until 10 has_text "$SIRI" "Takk. Registrert for Kriseteamet" || fail "siri's bare OK was not taken"
assert_eq "$(answer_of_p siri)" "ok 2"

say "a chain added after the close gets a round of its own; the first chain's leader is not told again"
ctl survey stab --period "Jul og nyttår" --by kari > "$T/stab.out"
cat "$T/stab.out"
assert_grep "$T/stab.out" "extended: 1 asked now, 1 asked before"
wait_until 10 has_text "$TOR" "Staben – Jul og nyttår" 2>/dev/null || wait_until 10 has_text "$TOR" "Staben - Jul og nyttår" ||
        fail "tor was not asked: $(sms_texts "$TOR")"
assert_eq "$(survey_field closed_usec)" 0 "the survey is not open again for stab"
stop_beredd
start_at 2026-12-07T11:00:00
wait_until 10 has_text "$TOR" "Påminnelse: Staben - Jul og nyttår" || fail "no reminder to tor"
has_text "$OLA" "Påminnelse" && fail "a reminder to ola, who had answered"
stop_beredd
start_at 2026-12-08T11:00:00
wait_until 10 has_text "$KOORD" "Staben - Jul og nyttår 18.12-3.1: alle dager kan dekkes. 1 av 2 har svart" ||
        fail "no forecast for stab: $(sms_texts "$KOORD")"
assert_eq "$(n_text "$KOORD" "Kriseteamet - Jul og nyttår 18.12-3.1: 3 dager")" 1 "kriseteam's forecast went again"
assert_eq "$(n_text "$TOR" "Påminnelse")" 1 "not one reminder to tor"

say "MQTT: the coverage topic carries the survey's counts and no person"
mosquitto_sub -h 127.0.0.1 -p "$MQ_PORT" -t "$B/coverage/kriseteam" -C 1 -W 5 > "$T/mq.json" 2>/dev/null || true
python3 - "$T/mq.json" <<'EOP' || fail "the coverage topic's survey is wrong: $(cat "$T/mq.json")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["period"] == "Jul og nyttår", o
assert o["survey"] == {"state": "closed", "asked": 5, "answered": 5, "away": 2}, o["survey"]
EOP
for w in kari lise ola per siri koord Nordmann "+47" "$OLA_CODE"; do
        grep -qw -- "$w" "$T/mq.json" && fail "the coverage topic names '$w'"
done

say "the journal has no code, token, phone number or e-mail address"
for w in "$OLA_CODE" "$SIRI_CODE" "$(echo "$KARI_AWAY" | cut -d/ -f3)" "$OLA" "$KARI" "kari@kommune.example" "Nordmann"; do
        grep -qF -- "$w" "$T/beredd.log" && fail "the journal has '$w': $(grep -F -- "$w" "$T/beredd.log" | head -3)"
done
stop_beredd

say "config errors name the file and line"
conf "$T/bad1.conf"
sed -i 's/survey_chains = \[ "kriseteam" \];/survey_chains = [ "nosuch" ];/' "$T/bad1.conf"
"$BEREDD" --check-config -c "$T/bad1.conf" > "$T/bad1.out" 2>&1 && fail "an unknown survey chain was taken"
cat "$T/bad1.out"
assert_grep "$T/bad1.out" "bad1.conf:[0-9]*: .*survey_chains.*unknown chain \"nosuch\""
conf "$T/bad2.conf"
sed -i 's/    report_to = \[ "koord" \];//' "$T/bad2.conf"
"$BEREDD" --check-config -c "$T/bad2.conf" > "$T/bad2.out" 2>&1 && fail "a survey without anyone to get the forecast was taken"
cat "$T/bad2.out"
assert_grep "$T/bad2.out" "bad2.conf:[0-9]*: .*survey_before.*nobody would get the forecast"
conf "$T/bad3.conf"
sed -i 's/survey_remind = "1d";/survey_remind = "soon";/' "$T/bad3.conf"
"$BEREDD" --check-config -c "$T/bad3.conf" > "$T/bad3.out" 2>&1 && fail "a bad survey_remind was taken"
assert_grep "$T/bad3.out" "bad3.conf:[0-9]*: .*survey_remind"
conf "$T/bad4.conf"
sed -i 's/survey_before = "14d";/survey_before = "2h";/' "$T/bad4.conf"
"$BEREDD" --check-config -c "$T/bad4.conf" > "$T/bad4.out" 2>&1 && fail "survey_before of 2h was taken"
assert_grep "$T/bad4.out" "bad4.conf:[0-9]*: .*survey_before: must be at least a day"
conf "$T/bad5.conf" '}, { from = "2026-12-18"; to = "2027-01-03"; name = "Jul";'
"$BEREDD" --check-config -c "$T/bad5.conf" > "$T/bad5.out" 2>&1 && fail "two periods with the same dates were taken"
cat "$T/bad5.out"
assert_grep "$T/bad5.out" "bad5.conf:[0-9]*: .*from: the same dates as the period on line 5"
say "ok"
