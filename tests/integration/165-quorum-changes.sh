#!/bin/sh
# Issue 14, red-team F1 and F2: a quorum that changes back.
# F1: mobilised (2 of 2), then a yes becomes a no: the activation goes back
# to mobilising (logged, survives kill -9), the leader and report_to (and
# the final step when it had been told anything) hear that the team is no
# longer complete, with the numbers and what is missing; those stood down
# are asked again; the escalation goes on; a later yes mobilises it again.
# F2: the only leader says NEI and a moment later JA: the final step, the
# leader and report_to were told "kan IKKE mobiliseres" and now hear once
# that it can be reached after all; show/JSON/MQTT drop "impossible" (the
# timeline keeps both). Out of reach a second time: told again (after the
# hold for a flapping answer, BEREDD_QUORUM_HOLD_MS). kill -9 right after
# each change: nothing lost, nobody told twice. SMS through
# tests/integration/fake-sms.py, MQTT through mosquitto.
. "$(dirname "$0")/common.sh"
command -v curl >/dev/null || skip "curl is not installed"
command -v mosquitto_sub >/dev/null || skip "mosquitto_sub is not installed"

start_fake_sms
HTTP_PORT=$(free_port)
MQTT_PORT=$(free_port)
H="http://127.0.0.1:$HTTP_PORT"
start_mosquitto "$MQTT_PORT"
write_creds gen.token=gen-secret
HOLD_S=$((2 * ${BEREDD_TIME_SCALE:-1}))
export BEREDD_GW_BACKOFF_MS=20 BEREDD_QUORUM_HOLD_MS=$((1000 * HOLD_S))

write_team_config "$T/beredd.conf"
cat >> "$T/beredd.conf" <<EOC
chains = (
  { id = "kriseteam"; name = "Kriseteamet";
    may_trigger = [ "kari" ];
    report_to = [ "sjef" ];
    need = { total = 2; roles = { leader = 1; }; };
    steps = (
      { notify = [ "kari", "ola", "per" ]; wait = "10m"; },
      { notify = [ "siri" ]; wait = "10m"; },
      { notify = [ "legevakt" ]; final = true; }
    );
  }
);
http = { listen = "127.0.0.1:$HTTP_PORT"; };
mqtt: { host = "127.0.0.1"; port = $MQTT_PORT; base = "beredd/test"; qos = 1; };
EOC
start_beredd "$T/beredd.conf"
wait_until 10 port_open "$HTTP_PORT" || fail "the listener did not open port $HTTP_PORT"

# ---- helpers (as in 160-quorum.sh) ----
texts() { sms_texts "$1"; }
n_texts() { texts "$1" | grep -cE -- "${2:-.}" || true; }
has_text() { [ "$(n_texts "$1" "$2")" -ge "${3:-1}" ]; }
# has_line NUMBER TEXT [N]: at least N texts to NUMBER are exactly TEXT
has_line() { [ "$(texts "$1" | grep -cxF -- "$2" || true)" -ge "${3:-1}" ]; }
sms() {
        code=$(curl -s -o "$T/last" -w '%{http_code}' -X POST -H "X-Beredd-Token: gen-secret" \
                --data-urlencode "msisdn=$1" --data-urlencode "msg=$2" "$H/sms/sms/inbound")
        [ "$code" = 200 ] || fail "the webhook answered $code to '$2' from $1"
}
show_json() { ctl show "$1" --json > "$T/show.json"; }
show_is() { ctl show "$1" --json | python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if str(d$2) == sys.argv[1] else 1)" "$3"; }
retained() { mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -t "$1" -C 1 -W 2 2>/dev/null || true; }
retained_has() { retained "$1" | grep -q -- "$2"; }
counts() { for n in $KARI $OLA $PER $SIRI $SJEF $LEGEVAKT; do printf '%s ' "$(n_texts $n)"; done; }

# ================= F1: mobilised, then a yes becomes a no =================
say "F1: kari and ola say JA: mobilised; per is stood down"
ctl trigger kriseteam --by kari -m "Øvelse i morgen" --json > "$T/trig.json"
ID=$(json_get "$T/trig.json" '["activation"]'); CODE=$(json_get "$T/trig.json" '["code"]')
wait_until 5 has_text $PER "Svar JA $CODE" || fail "per got no call-out"
sms $KARI "JA $CODE"
sms $OLA "JA $CODE"
wait_until 5 has_text $KARI "^Kriseteamet er mobilisert: 2 av 2" || fail "kari: $(texts $KARI)"
wait_until 5 has_text $SJEF "^Kriseteamet is mobilised: 2 of 2" || fail "sjef: $(texts $SJEF)"
wait_until 5 has_text $PER "fulltallig - du trenger ikke å møte" || fail "per not stood down: $(texts $PER)"
assert_eq "$(n_texts $LEGEVAKT)" 0 "legevakten was told something before"

say "ola says NEI: mobilising again; kari and sjef are told; per is asked again"
sms $OLA "NEI $CODE"
UNMOB_NB="Kriseteamet er ikke lenger fulltallig: Ola Nordmann (medlem) har trukket sitt ja. 1 av 2 bekreftet, 1 mangler. Utkallingen fortsetter; dere får beskjed når teamet er mobilisert. ($CODE)"
UNMOB_EN="Kriseteamet is no longer complete: Ola Nordmann (member) has withdrawn their yes. 1 of 2 confirmed, 1 missing. The call-out goes on; you will be told when the team is mobilised. ($CODE)"
RECALL="Kriseteamet trenger deg likevel: teamet er ikke lenger fulltallig. Svar JA $CODE eller NEI $CODE"
wait_until 5 has_line $KARI "$UNMOB_NB" || fail "kari was not told: $(texts $KARI)"
# kill -9 right after the change: the rest is on disk
kill_beredd
wait_until 5 has_line $SJEF "$UNMOB_EN" || true
start_beredd "$T/beredd.conf"
wait_until 10 port_open "$HTTP_PORT" || fail "the listener did not come back"
wait_until 5 has_line $SJEF "$UNMOB_EN" || fail "sjef was not told: $(texts $SJEF)"
wait_until 5 has_line $PER "$RECALL" || fail "per was not asked again: $(texts $PER)"
show_json "$ID"
assert_eq "$(json_get "$T/show.json" '["state"]')" mobilising "the change back was lost in the restart"
assert_eq "$(json_get "$T/show.json" '["confirmed"]')" 1
assert_eq "$(json_get "$T/show.json" '["unmobilised"]')" 1
json_get "$T/show.json" '["unmet"]' | grep -q '"total"' || fail "unmet: $(json_get "$T/show.json" '["unmet"]')"
ctl show "$ID" > "$T/show.txt"
assert_grep "$T/show.txt" "No longer complete after .* s (a yes became a no; mobilising again, 1 time(s) in all)"
assert_grep "$T/show.txt" "recall/sms:sent"
assert_grep "$T/show.txt" "report-unmobilised/sms:sent"
wait_until 5 retained_has "beredd/test/activation/$ID" '"state":"mobilising"' || fail "MQTT: $(retained "beredd/test/activation/$ID")"
retained_has "beredd/test/activation/$ID" '"unmet_total":true' || fail "MQTT unmet_total: $(retained "beredd/test/activation/$ID")"
assert_grep "$T/beredd.log" "a yes became a no; the team is no longer complete (total)"
sleep 1 # time for a wrongly repeated message to show up
assert_eq "$(n_texts $KARI "ikke lenger fulltallig")" 1 "kari told twice"
assert_eq "$(n_texts $SJEF "no longer complete")" 1 "sjef told twice"
assert_eq "$(n_texts $PER "trenger deg likevel")" 1 "per asked again twice"
assert_eq "$(n_texts $LEGEVAKT)" 0 "legevakten (told nothing before) was told"
assert_eq "$(n_texts $SIRI)" 0 "siri asked while per may still answer"

say "per says NEI: the next step asks siri; siri says JA: mobilised again, told again"
sms $PER "NEI $CODE"
wait_until 5 has_text $SIRI "Svar JA $CODE" || fail "the escalation did not go on: $(texts $SIRI)"
sms $SIRI "JA $CODE"
wait_until 5 has_text $KARI "^Kriseteamet er mobilisert: 2 av 2" 2 || fail "kari not told of the mobilisation again: $(texts $KARI)"
wait_until 5 has_text $SJEF "^Kriseteamet is mobilised: 2 of 2" 2 || fail "sjef not told again: $(texts $SJEF)"
texts $KARI | tail -n 1 | grep -qxF "Kriseteamet er mobilisert: 2 av 2 bekreftet. Kommer: Kari Nordmann (leder), Siri Berg (medlem). ($CODE)" \
        || fail "kari's report: $(texts $KARI | tail -n 1)"
show_json "$ID"
assert_eq "$(json_get "$T/show.json" '["state"]')" mobilised
assert_eq "$(n_texts $LEGEVAKT)" 0
ctl resolve "$ID" --by kari > /dev/null

# ================= F2: NEI, then JA a moment later =================
say "F2: kari (the only leader) says NEI: out of reach, told at once"
before_o=$(n_texts $OLA); before_p=$(n_texts $PER)
ctl trigger kriseteam --by kari -m "Brann" --json > "$T/trig2.json"
ID2=$(json_get "$T/trig2.json" '["activation"]'); CODE2=$(json_get "$T/trig2.json" '["code"]')
wait_until 5 has_text $KARI "Svar JA $CODE2" || fail "kari got no call-out"
sms $KARI "NEI $CODE2"
wait_until 5 has_text $LEGEVAKT "kan IKKE mobiliseres" || fail "legevakten not told"
sleep 0.2
sms $KARI "JA $CODE2"
REACH_L="Kriseteamet kan likevel nås: Kari Nordmann (leder) har svart ja. 1 av 2 bekreftet. Utkallingen fortsetter; dere får beskjed når teamet er mobilisert. Kontakt: $KARI (Kari Nordmann). ($CODE2)"
REACH_K="Kriseteamet kan likevel nås: Kari Nordmann (leder) har svart ja. 1 av 2 bekreftet. Utkallingen fortsetter; dere får beskjed når teamet er mobilisert. ($CODE2)"
REACH_S="Kriseteamet is within reach after all: Kari Nordmann (leader) has said yes. 1 of 2 confirmed. The call-out goes on; you will be told when the team is mobilised. ($CODE2)"
wait_until 5 has_line $LEGEVAKT "$REACH_L" || fail "legevakten not told it can be reached: $(texts $LEGEVAKT)"
kill_beredd
start_beredd "$T/beredd.conf"
wait_until 10 port_open "$HTTP_PORT" || fail "the listener did not come back"
wait_until 5 has_line $KARI "$REACH_K" || fail "kari: $(texts $KARI)"
wait_until 5 has_line $SJEF "$REACH_S" || fail "sjef: $(texts $SJEF)"
show_json "$ID2"
assert_eq "$(json_get "$T/show.json" '["impossible"]')" false "impossible not withdrawn (or lost in the restart)"
assert_eq "$(json_get "$T/show.json" '["state"]')" mobilising
assert_eq "$(json_get "$T/show.json" '["requirements"][1]["out_of_reach"]')" false
ctl show "$ID2" > "$T/show2.txt"
assert_grep "$T/show2.txt" "Quorum within reach again after"
assert_no_grep "$T/show2.txt" "Quorum out of reach after"
wait_until 5 retained_has "beredd/test/activation/$ID2" '"impossible":false' || fail "MQTT: $(retained "beredd/test/activation/$ID2")"
ctl report "$ID2" --json > "$T/report2.json"
grep -q '"t": "impossible"' "$T/report2.json" || fail "the timeline lost the impossible event"
grep -q '"t": "reachable"' "$T/report2.json" || fail "the timeline has no reachable event"
sleep 1
assert_eq "$(n_texts $LEGEVAKT "kan IKKE mobiliseres")" 1 "legevakten told impossible twice"
assert_eq "$(n_texts $LEGEVAKT "kan likevel nås")" 1 "legevakten told reachable twice"
assert_eq "$(n_texts $KARI "kan likevel nås")" 1
assert_eq "$(n_texts $SJEF "within reach after all")" 1
assert_grep "$T/beredd.log" "the quorum can be met after all"

say "kari says NEI again: out of reach at once in show; told again after the hold"
sms $KARI "NEI $CODE2"
wait_until 5 show_is "$ID2" '["impossible"]' True || fail "impossible not set again"
wait_until $((HOLD_S + 5)) has_text $LEGEVAKT "kan IKKE mobiliseres" 2 || fail "legevakten not told again: $(texts $LEGEVAKT)"
wait_until 5 has_text $SJEF "can NOT be mobilised" 2 || fail "sjef not told again: $(texts $SJEF)"
say "kari flaps JA, NEI, JA: within reach; legevakten hears it once more, nothing else"
sms $KARI "JA $CODE2"; sms $KARI "NEI $CODE2"; sms $KARI "JA $CODE2"
wait_until 5 has_line $LEGEVAKT "$REACH_L" 2 || fail "legevakten: $(texts $LEGEVAKT)"
wait_until 5 show_is "$ID2" '["impossible"]' False || fail "impossible not withdrawn after the flapping"
sleep $((HOLD_S + 1)) # the hold ends: nothing more may come
assert_eq "$(n_texts $LEGEVAKT "kan IKKE mobiliseres")" 2 "legevakten: impossible once per round"
assert_eq "$(n_texts $LEGEVAKT "kan likevel nås")" 2 "legevakten: reachable once per round"
assert_eq "$(n_texts $SJEF "can NOT be mobilised")" 2
assert_eq "$(n_texts $SJEF "within reach after all")" 2

say "ola says JA: mobilised; legevakten hears it; then ola NEI: legevakten hears that too"
sms $OLA "JA $CODE2"
wait_until 5 has_line $LEGEVAKT "Kriseteamet er likevel mobilisert: 2 av 2 bekreftet. Teamet tar over. Kontakt: $KARI (Kari Nordmann). ($CODE2)" \
        || fail "legevakten not told of the mobilisation: $(texts $LEGEVAKT)"
wait_until 5 has_text $PER "fulltallig - du trenger ikke å møte" 2 || fail "per not stood down: $(texts $PER)"
sms $OLA "NEI $CODE2"
wait_until 5 has_line $LEGEVAKT "Kriseteamet er ikke lenger fulltallig: Ola Nordmann (medlem) har trukket sitt ja. 1 av 2 bekreftet, 1 mangler. Utkallingen fortsetter; dere får beskjed når teamet er mobilisert. Kontakt: $KARI (Kari Nordmann). ($CODE2)" \
        || fail "legevakten not told the team is no longer complete: $(texts $LEGEVAKT)"
wait_until 5 has_text $PER "trenger deg likevel" 2 || fail "per not asked again: $(texts $PER)"
show_json "$ID2"
assert_eq "$(json_get "$T/show.json" '["state"]')" mobilising
c1=$(counts)
kill_beredd
start_beredd "$T/beredd.conf"
wait_until 10 port_open "$HTTP_PORT" || fail "the listener did not come back"
sleep 1
assert_eq "$(counts)" "$c1" "a message was sent again after the restart"
show_json "$ID2"
assert_eq "$(json_get "$T/show.json" '["state"]')" mobilising "the change back was lost in the restart"
say "per says JA: mobilised again; legevakten hears it once"
sms $PER "JA $CODE2"
wait_until 5 has_text $LEGEVAKT "er likevel mobilisert" 2 || fail "legevakten: $(texts $LEGEVAKT)"
show_json "$ID2"
assert_eq "$(json_get "$T/show.json" '["state"]')" mobilised
assert_no_grep "$T/beredd.log" "Nordmann"
assert_no_grep "$T/spool/activations/$ID2.log" "Nordmann"
ctl resolve "$ID2" --by kari > /dev/null
stop_beredd
say "ok"
