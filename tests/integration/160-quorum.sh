#!/bin/sh
# Issue 14, items 2 and 3: the fallback service hears at once when the
# quorum can no longer be met (the only leader declines, with 10-minute
# waits), naming the missing role by its display name, with the numbers and
# whom to call, while the call-out goes on; it hears again when the team is
# mobilised after all. The person who triggered and report_to get one SMS
# when the team is mobilised and one when it is short or cannot be; every
# answer by SMS gets a receipt (not with receipt = false). The activation
# state says which requirement is unmet (show, JSON, MQTT flags without
# names). kill -9 right after the decision: nothing lost, nothing sent
# twice. SMS go out through tests/integration/fake-sms.py (the generic HTTP
# profile), answers come in through its webhook, MQTT through mosquitto.
. "$(dirname "$0")/common.sh"
command -v curl >/dev/null || skip "curl is not installed"
command -v mosquitto_sub >/dev/null || skip "mosquitto_sub is not installed"

start_fake_sms
HTTP_PORT=$(free_port)
MQTT_PORT=$(free_port)
H="http://127.0.0.1:$HTTP_PORT"
start_mosquitto "$MQTT_PORT"
write_creds gen.token=gen-secret
export BEREDD_GW_BACKOFF_MS=20

write_team_config "$T/beredd.conf"
cat >> "$T/beredd.conf" <<EOC
chains = (
  { id = "kriseteam"; name = "Kriseteamet";
    may_trigger = [ "kari" ];
    report_to = [ "sjef" ];
    need = { total = 3; roles = { leader = 1; }; };
    steps = (
      { notify = [ "role:leader" ]; wait = "10m"; },
      { notify = [ "ola", "per", "siri" ]; wait = "10m"; },
      { notify = [ "legevakt" ]; final = true; }
    );
  },
  { id = "vakt"; name = "Vaktlaget";
    may_trigger = [ "kari" ];
    contact = "sjef";
    receipt = false;
    need = { total = 2; roles = { leader = 1; }; };
    steps = (
      { notify = [ "kari", "ola" ]; wait = "$((5 * ${BEREDD_TIME_SCALE:-1}))s"; },
      { notify = [ "legevakt" ]; final = true; }
    );
  }
);
http = { listen = "127.0.0.1:$HTTP_PORT"; };
mqtt: { host = "127.0.0.1"; port = $MQTT_PORT; base = "beredd/test"; qos = 1; };
EOC
start_beredd "$T/beredd.conf"
wait_until 10 port_open "$HTTP_PORT" || fail "the listener did not open port $HTTP_PORT"

# ---- helpers ----
# texts NUMBER: the SMS texts fake-sms was asked to send to NUMBER, one a line
texts() { sms_texts "$1"; }
# n_texts NUMBER [PATTERN]: how many (matching PATTERN, a grep -E pattern)
n_texts() { texts "$1" | grep -cE -- "${2:-.}" || true; }
has_text() { [ "$(n_texts "$1" "$2")" -ge "${3:-1}" ]; }
# sms FROM TEXT: an answer by SMS through the generic webhook
sms() {
        code=$(curl -s -o "$T/last" -w '%{http_code}' -X POST -H "X-Beredd-Token: gen-secret" \
                --data-urlencode "msisdn=$1" --data-urlencode "msg=$2" "$H/sms/sms/inbound")
        [ "$code" = 200 ] || fail "the webhook answered $code to '$2' from $1"
}
show_json() { ctl show "$1" --json > "$T/show.json"; }
retained() { # TOPIC: the retained payload (empty when none)
        mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -t "$1" -C 1 -W 2 2>/dev/null || true
}
retained_has() { retained "$1" | grep -q -- "$2"; }

say "trigger; the only leader (kari) declines by SMS with 10-minute waits"
ctl trigger kriseteam --by kari -m "Brann i skolen. Møt på rådhuset kl 23." --json > "$T/trig.json"
ID=$(json_get "$T/trig.json" '["activation"]'); CODE=$(json_get "$T/trig.json" '["code"]')
assert_eq "$(json_get "$T/trig.json" '["impossible"]')" false
wait_until 5 has_text $KARI "Svar JA $CODE" || fail "kari got no call-out"
assert_eq "$(n_texts $LEGEVAKT)" 0 "legevakten was told before anyone answered"
t0=$(date +%s%N)
sms $KARI "NEI $CODE"
wait_until 5 has_text $LEGEVAKT "kan IKKE mobiliseres" || fail "legevakten was not told when the leader declined"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
say "legevakten told ${ms} ms after the leader's NEI"
[ "$ms" -lt $((1000 * ${BEREDD_TIME_SCALE:-1})) ] || fail "legevakten told after ${ms} ms (more than a second)"
L=$(texts $LEGEVAKT)
say "legevakten: $L"
echo "$L" | grep -q "Kriseteamet kan IKKE mobiliseres: mangler leder. 0 av 3 bekreftet." || fail "missing role or numbers: $L"
echo "$L" | grep -q "Gi umiddelbar støtte." || fail "no request for support: $L"
echo "$L" | grep -q "Kontakt: $KARI (Kari Nordmann)." || fail "no contact: $L"
echo "$L" | grep -qi "møt på\|rådhuset" && fail "legevakten got the team's own meeting text: $L"
say "the call-out goes on: the members are asked at once"
for n in $OLA $PER $SIRI; do wait_until 5 has_text $n "Svar JA $CODE" || fail "$n not asked after the decline"; done
say "kari gets a receipt for her NEI, and as the one who triggered one report; report_to (sjef) too"
wait_until 5 has_text $KARI "^Registrert: du kommer ikke\.$" || fail "no receipt for kari's NEI: $(texts $KARI)"
wait_until 5 has_text $KARI "kan IKKE mobiliseres" || fail "kari got no report: $(texts $KARI)"
wait_until 5 has_text $SJEF "Kriseteamet can NOT be mobilised: no leader. 0 of 3 confirmed. Told: Legevakten. The call-out goes on. \\($CODE\\)" \
        || fail "sjef (report_to, lang en) got no report: $(texts $SJEF)"
texts $KARI | grep "kan IKKE" | grep -q "Varslet: Legevakten. Utkallingen fortsetter. ($CODE)" || fail "kari's report: $(texts $KARI)"
say "show, JSON and MQTT say which requirement is unmet; MQTT without names"
show_json "$ID"
assert_eq "$(json_get "$T/show.json" '["state"]')" mobilising
assert_eq "$(json_get "$T/show.json" '["impossible"]')" true
json_get "$T/show.json" '["unmet"]' | grep -q '"role:leader"' || fail "unmet lacks the role: $(json_get "$T/show.json" '["unmet"]')"
assert_eq "$(json_get "$T/show.json" '["requirements"][1]["out_of_reach"]')" true
assert_eq "$(json_get "$T/show.json" '["requirements"][1]["name"]')" leder
assert_eq "$(json_get "$T/show.json" '["requirements"][0]["possible"]')" 3
ctl show "$ID" > "$T/show.txt"
assert_grep "$T/show.txt" "Needs role leader (leder): 0 of 1 confirmed, at most 0 possible - OUT OF REACH"
assert_grep "$T/show.txt" "Quorum out of reach after"
wait_until 5 retained_has "beredd/test/activation/$ID" '"impossible":true' || fail "MQTT: $(retained "beredd/test/activation/$ID")"
P=$(retained "beredd/test/activation/$ID")
echo "$P" | grep -q '"unmet_role":true' || fail "MQTT lacks unmet_role: $P"
echo "$P" | grep -q '"unmet_total":true' || fail "MQTT lacks unmet_total: $P"
echo "$P" | grep -qi 'kari\|legevakt\|Nordmann' && fail "MQTT names someone: $P"
# The role minimum by its display name, for the crisis room's dashboard (a
# role, not a person: which role is missing, never who); the role's id not at all.
echo "$P" | grep -q '"roles":\[{"name":"leder","confirmed":0,"needed":1}\]' || fail "MQTT lacks the role minimum: $P"
echo "$P" | grep -q 'leader' && fail "MQTT carries a role id: $P"
assert_grep "$T/beredd.log" "the quorum can no longer be met (role:leader); the final step is told now"

say "kill -9 after the decision, restart: nothing lost, nothing sent twice"
before_l=$(n_texts $LEGEVAKT); before_k=$(n_texts $KARI); before_s=$(n_texts $SJEF)
kill_beredd
start_beredd "$T/beredd.conf"
wait_until 10 port_open "$HTTP_PORT" || fail "the listener did not come back"
show_json "$ID"
assert_eq "$(json_get "$T/show.json" '["impossible"]')" true "the decision was lost in the restart"
assert_eq "$(json_get "$T/show.json" '["state"]')" mobilising
sleep 1 # give a wrongly repeated message the time to show up
assert_eq "$(n_texts $LEGEVAKT)" "$before_l" "legevakten was told again after the restart"
assert_eq "$(n_texts $KARI)" "$before_k" "kari got a message again after the restart"
assert_eq "$(n_texts $SJEF)" "$before_s" "sjef got a message again after the restart"

say "members say JA by SMS: each gets a receipt with the numbers"
sms $OLA "JA $CODE"
wait_until 5 has_text $OLA "^Registrert: du kommer\. 1 av 3 bekreftet\.$" || fail "ola's receipt: $(texts $OLA)"
sms $PER "ja"
wait_until 5 has_text $PER "^Registrert: du kommer\. 2 av 3 bekreftet\.$" || fail "per's receipt: $(texts $PER)"
assert_eq "$(json_get "$T/trig.json" '["state"]')" mobilising

say "kari changes her mind: mobilised; legevakten hears it, the leader and report_to get who is coming"
sms $KARI "JA $CODE"
wait_until 5 has_text $LEGEVAKT "er likevel mobilisert" || fail "legevakten was not told of the mobilisation"
L2=$(texts $LEGEVAKT | tail -n 1)
say "legevakten: $L2"
echo "$L2" | grep -q "Kriseteamet er likevel mobilisert: 3 av 3 bekreftet. Teamet tar over. Kontakt: $KARI (Kari Nordmann)." || fail "update: $L2"
wait_until 5 has_text $KARI "Teamet er mobilisert, 3 har bekreftet" || fail "kari's receipt: $(texts $KARI)"
wait_until 5 has_text $KARI "Kriseteamet er mobilisert: 3 av 3" || fail "kari got no mobilised report: $(texts $KARI)"
wait_until 5 has_text $SJEF "Kriseteamet is mobilised: 3 of 3" || fail "sjef got no mobilised report"
R=$(texts $SJEF | tail -n 1)
say "sjef: $R"
echo "$R" | grep -q "Coming: Kari Nordmann (leader), Ola Nordmann (member), Per Hansen (member). ($CODE)" || fail "who is coming: $R"
texts $KARI | grep -q "^Kriseteamet er mobilisert: 3 av 3 bekreftet. Kommer: Kari Nordmann (leder), Ola Nordmann (medlem), Per Hansen (medlem). ($CODE)$" \
        || fail "kari's report: $(texts $KARI | tail -n 2)"
wait_until 5 has_text $SIRI "fulltallig - du trenger ikke å møte" || fail "siri got no stand-down: $(texts $SIRI)"
assert_eq "$(n_texts $LEGEVAKT)" 2 "legevakten: one message when short, one when mobilised"
assert_eq "$(n_texts $SJEF)" 2 "sjef: one report when short, one when mobilised"
assert_eq "$(n_texts $KARI "^Kriseteamet (kan IKKE|er mobilisert)")" 2 "kari: one report each"
for n in $OLA $PER $SIRI $KARI; do
        assert_eq "$(n_texts $n "kalles inn")" 1 "$n got the call-out more than once"
done
show_json "$ID"
assert_eq "$(json_get "$T/show.json" '["state"]')" mobilised
assert_eq "$(json_get "$T/show.json" '["unmet"]')" "[]"
wait_until 5 retained_has "beredd/test/activation/$ID" '"state":"mobilised"' || fail "MQTT not mobilised"
retained_has "beredd/test/activation/$ID" '"unmet_role":false' || fail "MQTT unmet_role: $(retained "beredd/test/activation/$ID")"
say "the journal and the activation log name no one by name or number"
assert_no_grep "$T/beredd.log" "Nordmann"
assert_no_grep "$T/beredd.log" "91234"
assert_no_grep "$T/spool/activations/$ID.log" "Nordmann"
ctl resolve "$ID" --by kari > /dev/null
wait_until 5 has_text $OLA "Utkallingen av Kriseteamet er avsluttet. Takk for innsatsen!" || fail "ola not thanked: $(texts $OLA)"

say "short at the end (a 5 s wait): legevakten hears it with the chain's contact; receipt = false"
ctl trigger vakt --by kari --drill --json > "$T/trig2.json"
ID2=$(json_get "$T/trig2.json" '["activation"]'); CODE2=$(json_get "$T/trig2.json" '["code"]')
wait_until 5 has_text $OLA "Svar JA $CODE2" || fail "ola not asked in vakt"
sms $OLA "JA $CODE2"
wait_until 5 sh -c "ctl() { \"$BEREDCTL\" -s \"$T/control\" \"\$@\"; }; ctl show $ID2 --json | grep -q '\"answer\": \"yes\"'" || fail "ola's JA not counted"
wait_until 10 has_text $LEGEVAKT "Vaktlaget kunne IKKE" || fail "legevakten was not told at the end"
L3=$(texts $LEGEVAKT | grep "Vaktlaget kunne IKKE")
say "legevakten: $L3"
echo "$L3" | grep -q "^ØVELSE: Vaktlaget kunne IKKE mobiliseres: 1 av 2 bekreftet, 1 mangler, og ingen leder. Gi umiddelbar støtte. Kontakt: $SJEF (Sigrid Sjef). Dere får beskjed hvis teamet likevel mobiliseres. ($CODE2)$" || fail "short: $L3"
wait_until 5 has_text $KARI "Vaktlaget kunne IKKE" || fail "kari (who triggered) got no report"
texts $KARI | grep "Vaktlaget kunne IKKE" | grep -q "Kommer: Ola Nordmann (medlem). Varslet: Legevakten. ($CODE2)" || fail "kari's report: $(texts $KARI | tail -n 1)"
assert_eq "$(n_texts $OLA "Registrert")" 1 "a receipt in a chain with receipt = false"
assert_eq "$(n_texts $SJEF "Vaktlaget")" 0 "sjef is not report_to of vakt"
assert_eq "$(json_get "$T/trig2.json" '["impossible"]')" false
show_json "$ID2"
assert_eq "$(json_get "$T/show.json" '["state"]')" short
assert_eq "$(json_get "$T/show.json" '["impossible"]')" false

say "a late JA mobilises it: legevakten and kari hear it once"
sms $KARI "JA $CODE2"
wait_until 5 has_text $LEGEVAKT "Vaktlaget er likevel mobilisert: 2 av 2" || fail "legevakten not told: $(texts $LEGEVAKT | tail -n 1)"
wait_until 5 has_text $KARI "Vaktlaget er mobilisert: 2 av 2" || fail "kari got no report"
sleep 0.5
assert_eq "$(n_texts $LEGEVAKT Vaktlaget)" 2
assert_eq "$(n_texts $KARI "Vaktlaget (kunne IKKE|er mobilisert)")" 2
stop_beredd
say "ok"
