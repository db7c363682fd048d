#!/bin/sh
# Follow-up follows absences (issue 19, item 5), end to end over the control
# socket and beredctl, messages through the file gateway (spool/outbox, whose
# texts are read), "now" put on chosen days with BEREDD_TEST_TIME_OFFSET:
#   - a reminder due while a contact person is away goes to the case's other
#     contact, saying why, in that person's language; with one contact, or
#     both away, to the coordinator;
#   - kill -9 after the reminders: nothing is sent to anyone else, nothing
#     twice; the second reminder and the escalation follow the same
#     rerouting (the absences asked again when they go);
#   - the coordinator, who got a rerouted reminder, may answer its code;
#     someone else may not;
#   - beredctl due --contact shows who is away and who covers; case open
#     --responsible and the coordinator told once that the responsible
#     contact is away on the due date (not again after a restart);
#   - no names, case references or notes in the journal.
. "$(dirname "$0")/common.sh"

[ -r /usr/share/zoneinfo/Europe/Oslo ] || skip "no tzdata for Europe/Oslo"

cat > "$T/beredd.conf" <<EOC
site = "test";
timezone = "Europe/Oslo";
spool = "$T/spool";
calendar: { office_hours = "Mon-Fri 08:00-15:30"; holidays = "no"; };
people = (
  { id = "kari"; name = "Kari Nordmann"; phone = "+4791234567"; roles = ["leader"]; },
  { id = "ola";  name = "Ola Nordmann";  phone = "+4791234568"; roles = ["member"]; },
  { id = "ann";  name = "Ann Smith";     email = "ann@kommune.example"; lang = "en"; roles = ["member"]; },
  { id = "per";  name = "Per Hansen";    phone = "+4791234569"; roles = ["member"]; }
);
gateways = ( { id = "outbox"; channel = "any"; type = "file"; } );
followup: {
  levels = ( { level = 1; name = "lav"; every = "14d"; },
             { level = 2; name = "middels"; every = "7d"; } );
  remind = "office-hours";
  overdue_after = "1d";
  escalate_after = "2d";
  coordinator = "kari";
  retention = "90d";
};
EOC

say "Monday 2027-01-11 10:00: Ola is away through Friday 15.1"
start_at 2027-01-11T10:00:00
ok '{"cmd":"away","person":"ola","from":"2027-01-10","to":"2027-01-15","note":"vinterferie"}'

say "two contacts, one away: the other one (in English, her language), saying why"
ok '{"cmd":"case.open","case":"K-101","contacts":["ola","ann"],"due":"2027-01-11"}'
wait_until 10 has_outbox ann "Reminder: follow-up of K-101 is due today. Ola is away through 15.1, so the follow-up has been sent to you." ||
        fail "the reminder of K-101 did not go to ann, or does not say why"
say "one contact, away: the coordinator"
ok '{"cmd":"case.open","case":"K-102","contacts":["ola"],"due":"2027-01-11"}'
wait_until 10 has_outbox kari "Påminnelse: oppfølging av K-102 forfaller i dag. Ola er borte til og med 15.1, så oppfølgingen er sendt til deg." ||
        fail "the reminder of K-102 did not go to the coordinator, or does not say why"
say "the responsible contact away on the due date: the coordinator is told, once"
ok '{"cmd":"case.open","case":"K-103","contacts":["per","ola"],"responsible":"ola","due":"2027-01-13"}'
assert_eq "$(json_str "$R" '["responsible"]')" ola
wait_until 10 has_outbox kari "K-103: Ola er borte til og med 15.1, og er ansvarlig kontaktperson; oppfølgingen forfaller 13.1." ||
        fail "the coordinator was not told that K-103's responsible contact is away"
R=$(sock '{"cmd":"case.open","case":"K-104","contacts":["per"],"responsible":"ola"}')
assert_eq "$(json_str "$R" '["error"]')" "responsible: must be one of the contacts"
sleep 1
assert_eq "$(outbox ola)" 0 "ola, away, was reminded"
assert_eq "$(outbox ann K-101)" 1
assert_eq "$(outbox kari K-102)" 1
assert_eq "$(outbox kari K-103)" 1
# Written down before it was sent: who, and for whom.
R=$(sock '{"cmd":"show","case":"K-102"}')
assert_eq "$(json_str "$R" '["notify"][0]["person"]')" kari
assert_eq "$(json_str "$R" '["notify"][0]["covers"][0]["person"]')" ola
ctl case show K-103 | grep -q 'Responsible contact person: ola' || fail "case show does not name the responsible contact"

say "beredctl due --contact ola: covered by whom"
out=$(ctl due --contact ola)
printf '%s\n' "$out"
printf '%s\n' "$out" | grep -q 'K-101' || fail "K-101 not on ola's list"
printf '%s\n' "$out" | grep -q 'ola is away until 2027-01-16 00:00: covered by ann' || fail "due does not say ann covers K-101"
printf '%s\n' "$out" | grep -q 'ola is away until 2027-01-16 00:00: covered by kari' || fail "due does not say kari covers K-102"
R=$(sock '{"cmd":"due","contact":"ola"}')
printf '%s' "$R" | grep -q '"covered_by": *"ann"' || fail "due's JSON has no covered_by: $R"
say "beredctl due --contact kari: the case she covers as coordinator, not the one Ann covers"
out=$(ctl due --contact kari)
printf '%s\n' "$out"
printf '%s\n' "$out" | grep -q 'K-102' || fail "K-102 not on the coordinator's list"
printf '%s\n' "$out" | grep -q 'covering for the ones away' || fail "due does not say kari covers K-102"
printf '%s\n' "$out" | grep -q 'K-101' && fail "K-101 (covered by ann) on the coordinator's list"

say "Ann is away on Tuesday too; then kill -9"
ok '{"cmd":"away","person":"ann","from":"2027-01-12","to":"2027-01-12"}'
kill_beredd

say "Tuesday 2027-01-12 10:30: the second reminders; K-101's contacts are both away now: the coordinator"
start_at 2027-01-12T10:30:00
wait_until 10 has_outbox kari "Påminnelse 2: oppfølging av K-101 er ikke registrert. Ola er borte til og med 15.1 og Ann til og med 12.1, så oppfølgingen er sendt til deg." ||
        fail "K-101's second reminder did not go to the coordinator"
wait_until 10 has_outbox kari "Påminnelse 2: oppfølging av K-102" || fail "no second reminder of K-102"
sleep 1
assert_eq "$(outbox ann)" 1 "ann, away, got the second reminder"
assert_eq "$(outbox ola)" 0 "ola, away, got a reminder"
assert_eq "$(outbox kari K-103)" 1 "the responsible notice was repeated after kill -9"
assert_eq "$(outbox kari "Påminnelse: oppfølging av K-102")" 1 "K-102's first reminder went twice"

say "the coordinator may answer K-101's code; per may not"
CODE=$(json_str "$(sock '{"cmd":"show","case":"K-101"}')" '["code"]')
R=$(sock "{\"cmd\":\"reply\",\"code\":\"$CODE\",\"person\":\"per\",\"answer\":\"yes\"}")
assert_eq "$(json_str "$R" '["ok"]')" false
ok "{\"cmd\":\"reply\",\"code\":\"$CODE\",\"person\":\"kari\",\"answer\":\"yes\"}"
assert_eq "$(json_str "$R" '["recorded"]')" no-needs
stop_beredd

say "Wednesday 2027-01-13 10:35: K-102 not recorded, the escalation says where the reminders went"
start_at 2027-01-13T10:35:00
wait_until 10 has_outbox kari "K-102: oppfølging ikke registrert etter 2 dager. Kontaktpersoner: ola. Ola er borte til og med 15.1; påminnelsene gikk til deg." ||
        fail "K-102's escalation does not say the reminders went to the coordinator"
stop_beredd
start_at 2027-01-13T10:36:00
sleep 1.5
assert_eq "$(outbox kari "K-102: oppfølging ikke registrert")" 1 "the escalation went twice"
assert_eq "$(outbox kari K-103)" 1 "the responsible notice was repeated after a restart"
stop_beredd

for bad in Nordmann Smith vinterferie 'K-10[0-9]'; do
        assert_no_grep "$T/beredd.log" "$bad"
done
say "ok"
