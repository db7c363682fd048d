#!/bin/sh
# Crisis team activation end to end through the file gateway: step order and
# timing, parallel vs sequential, quorum with a role minimum, a decline moving
# on at once, stand-down, resolve, exhaustion to the final step, drills,
# may_trigger, bad triggers, `when` with a shifted clock, and kill -9 in the
# middle of an escalation.
. "$(dirname "$0")/common.sh"

write_act_config() { # FILE WAIT1 WAIT2 [WHEN-OF-STEP-2]
        cat > "$1" <<EOC
site = "test";
spool = "$T/spool";
people = (
  { id = "kari"; name = "Kari Nordmann"; phone = "+4791234567"; email = "kari@kommune.example"; roles = ["leader"]; },
  { id = "ola";  name = "Ola Nordmann";  phone = "+4791234568"; roles = ["member"]; },
  { id = "per";  name = "Per Hansen";    phone = "+4791234569"; roles = ["member"]; },
  { id = "siri"; name = "Siri Berg";     phone = "+4791234570"; roles = ["member"]; },
  { id = "nina"; name = "Nina Dahl";     phone = "+4791234571"; email = "nina@kommune.example"; roles = ["member"]; },
  { id = "legevakt"; name = "Legevakten"; phone = "+4773000000"; roles = ["fallback"]; }
);
gateways = ( { id = "outbox"; channel = "any"; type = "file"; } );
chains = (
  { id = "kriseteam"; name = "Kriseteamet";
    may_trigger = [ "kari", "role:fallback" ];
    need = { total = 3; roles = { leader = 1; }; };
    steps = (
      { notify = [ "role:leader" ]; via = [ "sms", "email" ]; wait = "$2"; },
      { notify = [ "ola", "per", "siri", "nina" ]; via = [ "sms" ]; mode = "sequential"; wait = "$3"; when = "${4:-always}"; },
      { notify = [ "legevakt" ]; via = [ "sms" ]; final = true; }
    );
  }
);
EOC
}


act_field() { ctl show "$1" --json | python3 -c "import json,sys; print(json.load(sys.stdin)$2)"; }

# Step 1 ends by kari's answer, not by its wait: a long wait keeps a slow
# machine from ending it first. Step 2's wait is timed below (scaled).
write_act_config "$T/beredd.conf" 60s "$((4 * ${BEREDD_TIME_SCALE:-1}))s"
start_beredd "$T/beredd.conf"

say "a malformed and an unauthorised trigger are refused with clear replies"
rc=0; ctl trigger brann --by kari > "$T/out" 2>&1 || rc=$?
assert_eq "$rc" 1; assert_grep "$T/out" 'chain: no such chain'
rc=0; ctl trigger kriseteam --by ola > "$T/out" 2>&1 || rc=$?
assert_eq "$rc" 1; assert_grep "$T/out" 'by: "ola" may not trigger chain "kriseteam"'
assert_grep "$T/beredd.log" "refused: not in may_trigger"

say "trigger: the first messages are in the outbox at once, SMS and e-mail"
t0=$(date +%s%N)
ctl trigger kriseteam --by kari -m "Brann på Heimdal skole. Møt på rådhuset." --json > "$T/trig.json"
ID=$(json_get "$T/trig.json" '["activation"]'); CODE=$(json_get "$T/trig.json" '["code"]')
say "activation $ID, code $CODE"
assert_eq "$(json_get "$T/trig.json" '["state"]')" mobilising
wait_until 2 has_outbox kari "Svar JA $CODE eller NEI $CODE" 2 || fail "kari did not get SMS and e-mail"
ms=$(( ($(date +%s%N) - t0) / 1000000 )); say "first messages within ${ms} ms"
grep -l '"channel": *"email"' "$T"/spool/outbox/*.json > /dev/null || fail "no e-mail in the outbox"
assert_eq "$(outbox ola)" 0 "step 2 started before step 1 ended"
[ -f "$T/spool/activations/$ID.log" ] || fail "no activation log"

say "kari says yes: step 1 is done at once, step 2 (sequential) starts with ola"
ctl reply "$CODE" yes --person kari > /dev/null
wait_until 2 has_outbox ola "Svar JA" || fail "ola not asked after kari answered"
assert_eq "$(outbox per)" 0 "sequential step asked per at the same time as ola"

say "ola says no: per is asked at once"
ctl reply "$CODE" nei --person ola > /dev/null
wait_until 1 has_outbox per "Svar JA" || fail "a decline did not move on at once"

say "per does not answer: after the wait, siri is asked"
sleep 1
assert_eq "$(outbox siri)" 0 "siri asked before per's wait ended"
wait_until 8 has_outbox siri "Svar JA" || fail "siri not asked after per's wait"

say "siri answers by phone number (another format), nina is asked next"
ctl reply "$CODE" yes --phone "912 34 570" > /dev/null
wait_until 2 has_outbox nina "Svar JA" || fail "nina not asked"
assert_eq "$(act_field "$ID" '["confirmed"]')" 2

say "nina says yes: quorum 3 with a leader -> mobilised; per gets a stand-down"
ctl reply "$CODE" yes --person nina > "$T/out"
assert_grep "$T/out" "mobilised"
wait_until 2 has_outbox per "fulltallig" || fail "per got no stand-down"
assert_eq "$(outbox ola fulltallig)" 0 "ola (who said no) got a stand-down"
assert_eq "$(outbox kari fulltallig)" 0 "kari (who said yes) got a stand-down"
sleep 2.5
assert_eq "$(outbox legevakt)" 0 "the final step was told although the team was mobilised"

say "a repeated answer changes nothing; an unknown code is refused"
ctl reply "$CODE" yes --person nina > "$T/out"; assert_grep "$T/out" "already recorded"
rc=0; ctl reply 0000 yes --person nina > "$T/out" 2>&1 || rc=$?
assert_eq "$rc" 1; assert_grep "$T/out" 'no activation with this reply code'

say "resolve: those who said yes are told"
ctl resolve "$ID" --by kari > /dev/null
wait_until 2 has_outbox nina "avsluttet" || fail "nina not told of the resolve"
has_outbox kari "avsluttet" || fail "kari not told of the resolve"
assert_eq "$(outbox ola avsluttet)" 0
rc=0; ctl reply "$CODE" yes --person ola > "$T/out" 2>&1 || rc=$?
assert_eq "$rc" 1; assert_grep "$T/out" "already resolved"

say "the report has the timeline and time to quorum"
ctl report "$ID" > "$T/report.txt"
assert_grep "$T/report.txt" "Time to quorum"
assert_grep "$T/report.txt" "mobilised"
ctl report "$ID" --csv > "$T/report.csv"
assert_grep "$T/report.csv" "^after_s,event,step,person,channel,detail"
assert_grep "$T/report.csv" ",reply,.*,nina,,yes"

say "a drill nobody answers ends short, and legevakt is told with the numbers"
stop_beredd
rm -f "$T"/spool/outbox/*
write_act_config "$T/beredd.conf" 1s 1s
start_beredd "$T/beredd.conf"
ctl trigger kriseteam --by legevakt --drill -m "Øvelse" --json > "$T/trig.json"
ID2=$(json_get "$T/trig.json" '["activation"]')
wait_until 15 has_outbox legevakt "kunne IKKE mobiliseres" || fail "legevakt was not told"
has_outbox legevakt "^ØVELSE" || fail "drill message to legevakt lacks the ØVELSE prefix"
has_outbox kari "^ØVELSE: Kriseteamet kalles inn" || fail "drill call-out lacks the ØVELSE prefix"
has_outbox legevakt "0 av 3 bekreftet, 3 mangler" || fail "numbers missing in the final message"
assert_eq "$(act_field "$ID2" '["state"]')" short
assert_eq "$(act_field "$ID2" '["drill"]')" True
for p in ola per siri nina; do has_outbox $p "Svar JA" || fail "$p was never asked"; done

say "kill -9 in the middle of a sequential step, then restart: it continues, nothing sent twice"
rm -f "$T"/spool/outbox/*
write_act_config "$T/beredd.conf" 1s 3s
kill -HUP "$BEREDD_PID"
wait_until 5 sh -c "\"$BEREDCTL\" -s \"$T/control\" status --json | grep -q '\"reloads\": 1'" || fail "reload not seen"
ctl trigger kriseteam --by kari --json > "$T/trig.json"
ID3=$(json_get "$T/trig.json" '["activation"]')
wait_until 4 has_outbox ola || fail "ola not asked"
kill_beredd
before=$(ls "$T/spool/outbox" | wc -l)
start_beredd "$T/beredd.conf"
wait_until 6 has_outbox per || fail "per not asked after the restart"
assert_eq "$(outbox ola)" 1 "ola was asked twice"
assert_eq "$(outbox kari)" 2 "kari got her messages twice"
after=$(ls "$T/spool/outbox" | wc -l)
[ "$after" -gt "$before" ] || fail "nothing happened after the restart"
assert_eq "$(act_field "$ID3" '["state"]')" mobilising

say "kill -9 before a new log's rename was durable: the log under its spare's name in tmp/ is put back"
kill_beredd
mv "$T/spool/activations/$ID3.log" "$T/spool/tmp/spare.1.2.0123456789abcdef"
printf '{"t":"created","id":"torn' > "$T/spool/tmp/spare.1.3.0123456789abcdef"
start_beredd "$T/beredd.conf"
assert_grep "$T/beredd.log" "1 activation log(s) moved from tmp/ into activations/ after a crash; 1 unfinished one(s) removed"
[ -e "$T/spool/activations/$ID3.log" ] || fail "the log was not put back"
assert_eq "$(ls "$T/spool/tmp" | grep -c -v '^spare\.[0-9]*\.[0-9]*\.[0-9a-f]*$')" 0 "tmp/ holds something else"
assert_eq "$(act_field "$ID3" '["state"]')" mobilising
assert_eq "$(outbox ola)" 1 "ola was asked twice"

say "a trigger through the drop folder is accepted once"
drop trig.json '{"cmd":"trigger","chain":"kriseteam","by":"kari","message":"Fra fagsystemet"}'
wait_until 5 sh -c "! test -e '$T/spool/incoming/trig.json'" || fail "drop file not consumed"
[ ! -e "$T/spool/failed/trig.json" ] || fail "a good trigger went to failed/: $(cat "$T/spool/failed/trig.json.reason")"
ctl list > "$T/list.txt"
assert_eq "$(grep -c kriseteam "$T/list.txt")" 4 "expected four activations in the list"

say "verify: everyone the chain can reach is asked to answer; the check lists who did not"
rm -f "$T"/spool/outbox/*
ctl verify kriseteam --by kari --window "$((8 * ${BEREDD_TIME_SCALE:-1}))s" --json > "$T/verify.json"
VID=$(json_get "$T/verify.json" '["activation"]'); VCODE=$(json_get "$T/verify.json" '["code"]')
assert_eq "$(json_get "$T/verify.json" '["asked"]')" 6
for p in ola per siri nina legevakt; do wait_until 2 has_outbox $p "Svar OK $VCODE" || fail "$p not asked to verify"; done
wait_until 2 has_outbox kari "IKKE en utkalling" 2 || fail "kari not asked on both channels"
for p in kari ola nina legevakt; do ctl reply "$VCODE" yes --person $p > /dev/null; done
wait_until 20 sh -c "\"$BEREDCTL\" -s \"$T/control\" show $VID --json | grep -q '\"state\": \"verified\"'" || fail "the check did not end"
ctl show "$VID" > "$T/verify.txt"
assert_grep "$T/verify.txt" "2 not answered: .*per"
assert_grep "$T/verify.txt" "siri"
rc=0; ctl reply "$VCODE" yes --person per > "$T/out" 2>&1 || rc=$?
assert_eq "$rc" 1; assert_grep "$T/out" "has ended"
stop_beredd
say "ok"
