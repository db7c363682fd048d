#!/bin/sh
# Watchful-waiting follow-up end to end, raw JSON over the control socket and
# drop files, messages through the file gateway (spool/outbox), "now" put on
# chosen days with BEREDD_TEST_TIME_OFFSET:
#   - a case due on a Monday is not reminded at 07:59, and is at 08:00;
#   - a malformed and a duplicate case.open drop file go to failed/ with
#     their reasons, other cases untouched; a good one is accepted;
#   - a case due while the daemon was stopped is reminded once at start, and
#     not again after another restart; then the second reminder and the
#     escalation to the coordinator, each once;
#   - check-ins, level, close, the work list and the summary;
#   - a case file edited by hand with a name where an id belongs is refused
#     as damaged, not rewritten, and the name is not logged.
. "$(dirname "$0")/common.sh"

[ -r /usr/share/zoneinfo/Europe/Oslo ] || skip "no tzdata for Europe/Oslo"

cat > "$T/beredd.conf" <<EOC
site = "test";
timezone = "Europe/Oslo";
spool = "$T/spool";
calendar: { office_hours = "Mon-Fri 08:00-15:30"; holidays = "no"; };
people = (
  { id = "kari"; name = "Kari Nordmann"; phone = "+4791234567"; email = "kari@kommune.example"; roles = ["leader"]; },
  { id = "ola";  name = "Ola Nordmann";  phone = "+4791234568"; roles = ["member"]; },
  { id = "ann";  name = "Ann Smith";     email = "ann@kommune.example"; lang = "en"; roles = ["member"]; }
);
gateways = ( { id = "outbox"; channel = "any"; type = "file"; } );
chains = (
  { id = "kriseteam"; may_trigger = [ "kari" ]; need = { total = 1; };
    steps = ( { notify = [ "kari" ]; via = [ "sms" ]; wait = "5m"; } ); }
);
followup: {
  levels = ( { level = 1; name = "lav"; every = "14d"; },
             { level = 2; name = "middels"; every = "7d"; },
             { level = 3; name = "intensiv"; every = "2d"; } );
  remind = "office-hours";
  overdue_after = "1d";
  escalate_after = "2d";
  coordinator = "kari";
  retention = "90d";
};
EOC




# The daemon starts 15 s before office hours (more under valgrind or the
# sanitizers: BEREDD_TIME_SCALE), so that a slow start is still before 08:00.
lead=$((15 * ${BEREDD_TIME_SCALE:-1})); [ "$lead" -le 50 ] || lead=50
say "Monday 2027-01-11, ${lead} s before 08:00: a case due today is not reminded before office hours"
start_at "2027-01-11T07:59:$(printf %02d $((60 - lead)))"
ok '{"cmd":"case.open","case":"K-2041","contacts":["kari","ola"],"level":1,"factors":["loneliness"],"children":true,"due":"2027-01-11"}'
assert_eq "$(json_str "$R" '["due"]')" 2027-01-11
assert_eq "$(json_str "$R" '["next_action"]')" "2027-01-11 08:00"
# Durable at once in the case journal; in its own file after the next fold
# (which a slow machine may already have run by now).
grep -q '"ref": "K-2041"' "$T"/spool/cases/journal.* 2>/dev/null || grep -q '"ref": "K-2041"' "$(case_file K-2041)" 2>/dev/null ||
        fail "K-2041 is neither in the case journal nor in its case file"
wait_until 3 test -f "$(case_file K-2041)" || fail "no case file for K-2041"
sleep 1
now=$(oslo_clock "$OFFSET" '%H:%M:%S')
case "$now" in 07:59:*) ;; *) fail "the test was too slow: it is $now already" ;; esac
assert_eq "$(outbox kari)" 0 "reminded at $now, before office hours"
say "... and is at 08:00, each contact person once, naming only the case ref"
wait_until 30 has_outbox kari "oppfølging av K-2041" || fail "no reminder to kari after 08:00"
wait_until 5 has_outbox ola "oppfølging av K-2041" || fail "no reminder to ola after 08:00"
sleep 1
assert_eq "$(outbox kari)" 1
assert_eq "$(outbox ola)" 1
CODE=$(json_str "$(sock '{"cmd":"show","case":"K-2041"}')" '["code"]')
say "reply code $CODE"
case "$CODE" in [1-9][0-9][0-9][0-9][0-9]) ;; *) fail "reply code '$CODE' is not 5 digits" ;; esac
assert_eq "$(outbox kari "Svar OK $CODE")" 1
for bad in loneliness lav Nordmann 91234567; do
        [ "$(outbox kari "$bad")" = 0 ] || fail "a reminder names '$bad'"
done

say "drop files: a malformed and a duplicate case.open go to failed/ with reasons; a good one is accepted"
no_journal() { ! ls "$T"/spool/cases/journal.* >/dev/null 2>&1; }
wait_until 5 no_journal || fail "the case journal was not folded into the case files"
sum_before=$(md5sum < "$(case_file K-2041)")
drop bad.json '{"cmd":"case.open","case":"K-7","contacts":[]}'
drop dup.json '{"cmd":"case.open","case":"K-2041","contacts":["ann"],"level":3}'
drop good.json '{"cmd":"case.open","case":"K-2050","contacts":["ann"],"level":2,"due":"2027-01-20"}'
wait_until 5 test -f "$T/spool/failed/bad.json.reason" || fail "bad.json not rejected"
wait_until 5 test -f "$T/spool/failed/dup.json.reason" || fail "dup.json not rejected"
assert_grep "$T/spool/failed/bad.json.reason" "contacts: expected a list of one or two person ids"
assert_grep "$T/spool/failed/dup.json.reason" "case: a case with this reference exists already; not overwritten"
wait_until 5 test ! -e "$T/spool/incoming/good.json" || fail "good.json not consumed"
wait_until 5 test -f "$(case_file K-2050)" || fail "K-2050 not opened from its drop file"
assert_eq "$(md5sum < "$(case_file K-2041)")" "$sum_before" "the duplicate changed K-2041"
[ ! -f "$(case_file K-7)" ] || fail "the malformed drop file opened a case"

say "a case due tomorrow, then the daemon stops"
ok '{"cmd":"case.open","case":"K-3000","contacts":["ola","ann"],"level":2,"due":"2027-01-12"}'
stop_beredd

say "start on Tuesday 2027-01-12 09:00: K-3000, due while stopped, is reminded at start, once"
start_at 2027-01-12T09:00:00
wait_until 5 has_outbox ola "K-3000" || fail "K-3000 not reminded at start"
wait_until 5 has_outbox ann "follow-up of K-3000 is due today" || fail "ann (lang en) not reminded in English"
sleep 1
assert_eq "$(outbox ola K-3000)" 1
assert_eq "$(outbox ann K-3000)" 1
# K-2041 (first reminder Monday 08:00) had its second reminder due at 08:00 today.
assert_eq "$(outbox kari "Påminnelse 2: oppfølging av K-2041")" 1
stop_beredd
start_at 2027-01-12T09:00:05
sleep 1.5
assert_eq "$(outbox ola K-3000)" 1 "K-3000 reminded again after a restart"
assert_eq "$(outbox ann K-3000)" 1 "K-3000 reminded again after a restart"

say "the work list and the summary (no refs in the summary)"
R=$(sock '{"cmd":"due"}')
assert_eq "$(json_str "$R" '["ok"]')" true
printf '%s' "$R" | grep -q '"K-3000"' || fail "K-3000 not on the work list: $R"
R=$(sock '{"cmd":"due","contact":"ann"}')
printf '%s' "$R" | grep -q '"K-2041"' && fail "K-2041 on ann's work list: $R"
R=$(sock '{"cmd":"followup.summary"}')
assert_eq "$(json_str "$R" '["ok"]')" true
assert_eq "$(json_str "$R" '["open"]')" 3
assert_eq "$(json_str "$R" '["by_level"]["2"]')" 2
printf '%s' "$R" | grep -q 'K-' && fail "the summary names a case: $R"

say "check-ins: needs steps up and schedules the new level's interval; history is kept"
ok '{"cmd":"case.checkin","case":"K-2041","by":"kari","outcome":"needs"}'
say "kill -9 right after the check-in: only the case journal has it, and it comes back"
kill_beredd
in_journal=
if grep -q '"outcome": "needs"' "$T"/spool/cases/journal.* 2>/dev/null; then
        in_journal=1
        grep -q '"outcome": "needs"' "$(case_file K-2041)" && fail "the check-in is in the case file and the journal"
else # the fold (a second later) beat the kill on a slow machine
        grep -q '"outcome": "needs"' "$(case_file K-2041)" || fail "the check-in is neither in the case journal nor in the case file"
        say "(the fold came before the kill: the journal read-back is not exercised in this run)"
fi
start_at 2027-01-12T09:10:00
[ -z "$in_journal" ] || assert_grep "$T/beredd.log" "read back from the case journal"
wait_until 5 no_journal || fail "the journal read back was not folded"
grep -q '"outcome": "needs"' "$(case_file K-2041)" || fail "the check-in did not reach the case file"
assert_eq "$(json_str "$R" '["level"]')" 2
assert_eq "$(json_str "$R" '["due"]')" 2027-01-19
assert_eq "$(json_str "$R" '["stage"]')" none
R=$(sock '{"cmd":"show","case":"K-2041"}')
assert_eq "$(json_str "$R" '["history"][0]["outcome"]')" needs
assert_eq "$(json_str "$R" '["history"][0]["level_before"]')" 1
R=$(sock '{"cmd":"case.checkin","case":"K-2041","by":"kari","outcome":"no-needs","next":"2027-01-01"}')
assert_eq "$(json_str "$R" '["ok"]')" false
assert_eq "$(json_str "$R" '["error"]')" "next: 2027-01-01 is in the past"
R=$(sock '{"cmd":"case.checkin","case":"K-9","by":"kari","outcome":"no-needs"}')
assert_eq "$(json_str "$R" '["error"]')" 'case: no such case'
stop_beredd

say "Wednesday 2027-01-13 09:30: K-3000 is overdue, a second reminder (once)"
start_at 2027-01-13T09:30:00
wait_until 5 has_outbox ola "Påminnelse 2: oppfølging av K-3000" || fail "no second reminder for K-3000"
sleep 1
assert_eq "$(outbox ola "Påminnelse 2: oppfølging av K-3000")" 1
assert_eq "$(json_str "$(sock '{"cmd":"followup.summary"}')" '["overdue"]')" 1
stop_beredd

say "Thursday 2027-01-14 09:35: not recorded after 2 days, the coordinator is told (once)"
start_at 2027-01-14T09:35:00
wait_until 5 has_outbox kari "K-3000: oppfølging ikke registrert etter 2 dager. Kontaktpersoner: ola, ann." ||
        fail "the coordinator was not told about K-3000"
sleep 1
assert_eq "$(outbox kari "K-3000: oppfølging ikke registrert")" 1
R=$(sock '{"cmd":"show","case":"K-3000"}')
assert_eq "$(json_str "$R" '["state"]')" escalated
assert_eq "$(json_str "$(sock '{"cmd":"followup.summary"}')" '["escalated"]')" 1
R=$(sock '{"cmd":"due","overdue":true}')
printf '%s' "$R" | grep -q '"K-3000"' || fail "K-3000 not on the overdue list: $R"

say "a check-in ends the escalation; worse with children tells the coordinator"
ok '{"cmd":"case.checkin","case":"K-3000","by":"ola","outcome":"better"}'
assert_eq "$(json_str "$R" '["state"]')" open
assert_eq "$(json_str "$R" '["level"]')" 1
ok '{"cmd":"case.checkin","case":"K-2041","by":"ola","outcome":"worse"}'
assert_eq "$(json_str "$R" '["task"]')" true
wait_until 5 has_outbox kari "K-2041: forverring registrert. Sjekk omsorgssituasjonen for barna." ||
        fail "the coordinator was not told about the children"
assert_eq "$(json_str "$(sock '{"cmd":"followup.summary"}')" '["escalated"]')" 0

say "level and close"
ok '{"cmd":"case.level","case":"K-2050","level":3}'
assert_eq "$(json_str "$R" '["level"]')" 3
ok '{"cmd":"case.close","case":"K-2050","by":"kari"}'
assert_eq "$(json_str "$R" '["state"]')" closed
R=$(sock '{"cmd":"case.checkin","case":"K-2050","by":"kari","outcome":"needs"}')
assert_eq "$(json_str "$R" '["error"]')" "case: the case is closed; nothing changed"
R=$(sock '{"cmd":"followup.summary"}')
assert_eq "$(json_str "$R" '["open"]')" 2
assert_eq "$(json_str "$R" '["closed"]')" 1
stop_beredd

say "a case file edited by hand into something beredd cannot write back is damaged, not cut or rewritten"
f=$(case_file K-2041)
python3 - "$f" <<'EOP'
import json, sys
d = json.load(open(sys.argv[1]))
d["contacts"][-1] = "Ola Nordmann"  # a name where an id belongs
json.dump(d, open(sys.argv[1], "w"), ensure_ascii=False, indent=1)
EOP
cp "$f" "$T/K-2041.edited"
rm -f "$T/spool/cases/index"
BEREDD_TEST_TIME_OFFSET=$OFFSET start_beredd "$T/beredd.conf"
bucket=$(basename "$(dirname "$f")")
R=$(sock '{"cmd":"show","case":"K-2041"}')
assert_eq "$(json_str "$R" '["error"]')" \
        "case: its file in cases/$bucket/ is damaged and not followed up; fix or remove it (beredd(8), FILES)"
stop_beredd
cmp -s "$f" "$T/K-2041.edited" || fail "the damaged case file was rewritten"
assert_no_grep "$T/beredd.log" "Nordmann"
say "ok"
