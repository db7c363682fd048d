#!/bin/sh
# Absences (issue 19, items 1, 2 and 7): beredctl away / away list / away
# cancel with errors naming the option; the same from the drop folder; by
# SMS from the person's own number (BORTE 24.12-27.12, AWAY 24.12, a bad
# date, TILBAKE) with a receipt that repeats the period understood, in the
# person's language; kill -9 and a restart keep them; a call-out skips the
# person away (not asked, not a decline; show and report say so) and the
# quorum is reached by the others; a roster's away on-duty person is
# replaced by the next member; the note never reaches the journal; the
# count is in /metrics; and absences that are over are purged after
# retention.absences (the fake clock, BEREDD_TEST_TIME_OFFSET). SMS go out
# through tests/integration/fake-sms.py (generic HTTP profile), texts come
# in through its webhook.
. "$(dirname "$0")/common.sh"
command -v curl >/dev/null || skip "curl is not installed"

start_fake_sms
HTTP_PORT=$(free_port)
H="http://127.0.0.1:$HTTP_PORT"
write_creds gen.token=gen-secret
export BEREDD_GW_BACKOFF_MS=20

write_team_config "$T/beredd.conf"
cat >> "$T/beredd.conf" <<EOC
rosters = ( { id = "vakt"; rotation = "weekly"; handoff = "Mon 08:00"; start = "2026-11-30";
              members = [ "per", "siri", "ola" ]; } );
chains = (
  { id = "rekke"; name = "Rekka";
    may_trigger = [ "kari" ];
    need = { total = 1; };
    steps = ( { notify = [ "ola", "per", "siri" ]; mode = "sequential"; wait = "10m"; },
              { notify = [ "legevakt" ]; final = true; } );
  },
  { id = "vakta"; name = "Vakta";
    may_trigger = [ "kari" ];
    need = { total = 1; };
    steps = ( { notify = [ "roster:vakt" ]; wait = "10m"; },
              { notify = [ "legevakt" ]; final = true; } );
  }
);
http = { listen = "127.0.0.1:$HTTP_PORT"; };
retention: { absences = "30d"; };
EOC
"$BEREDD" --check-config -c "$T/beredd.conf" > "$T/check.out" 2>&1 || { cat "$T/check.out"; fail "config refused"; }

# Wednesday 2 December 2026, 10:00 in Oslo.
start_at 2026-12-02T10:00:00
wait_until 10 port_open "$HTTP_PORT" || fail "the listener did not open port $HTTP_PORT"

sms() { # FROM TEXT: a text through the generic webhook
        code=$(curl -s -o "$T/last" -w '%{http_code}' -X POST -H "X-Beredd-Token: gen-secret" \
                --data-urlencode "msisdn=$1" --data-urlencode "msg=$2" "$H/sms/sms/inbound")
        [ "$code" = 200 ] || fail "the webhook answered $code to '$2' from $1"
}
has_text() { sms_texts "$1" | grep -qF -- "$2"; }
n_absences() { ctl away list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["absences"]))'; }
absence_of() { # PERSON FIELD: a field of PERSON's first absence
        ctl away list --person "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["absences"][0][sys.argv[1]])' "$2"
}
usage_error() { # PATTERN ARGS...: beredctl exits 2 with PATTERN on stderr
        local pat=$1 rc=0; shift
        ctl "$@" > "$T/err.out" 2>&1 || rc=$?
        [ "$rc" = 2 ] || fail "beredctl $* exited $rc, not 2: $(cat "$T/err.out")"
        grep -q -- "$pat" "$T/err.out" || fail "beredctl $*: no '$pat' in: $(cat "$T/err.out")"
}
refused() { # PATTERN ARGS...: the daemon refuses (exit 1) with PATTERN
        local pat=$1 rc=0; shift
        ctl "$@" > "$T/err.out" 2>&1 || rc=$?
        [ "$rc" = 1 ] || fail "beredctl $* exited $rc, not 1: $(cat "$T/err.out")"
        grep -q -- "$pat" "$T/err.out" || fail "beredctl $*: no '$pat' in: $(cat "$T/err.out")"
}

say "beredctl away: a period with a note; list shows it, with the note"
ctl away ola --from 2026-12-01 --to '2026-12-10 18:00' --note "Ferie på Kreta" --json > "$T/ola.json"
OLA_ID=$(json_get "$T/ola.json" '["absence"]["id"]')
assert_eq "$(json_get "$T/ola.json" '["absence"]["from"]')" "2026-12-01 00:00"
assert_eq "$(json_get "$T/ola.json" '["absence"]["to"]')" "2026-12-10 18:00"
ctl away list > "$T/list.out"
assert_grep "$T/list.out" "$OLA_ID *ola *2026-12-01 00:00 to 2026-12-10 18:00 (now)"
assert_grep "$T/list.out" "Ferie på Kreta"

say "the same period again is the same absence (a drop file taken twice after a crash)"
ctl away ola --from 2026-12-01 --to '2026-12-10 18:00' --json > "$T/ola2.json"
assert_eq "$(json_get "$T/ola2.json" '["absence"]["id"]')" "$OLA_ID"
assert_eq "$(json_get "$T/ola2.json" '["existing"]')" true

say "bad input: errors name the option"
usage_error "away needs --from" away ola --to 2026-12-10
usage_error "option --to of away: expected" away ola --from 2026-12-01 --to 10.12.2026
usage_error "unknown option --until for away" away ola --from 2026-12-01 --until 2026-12-10
refused "to: must be after from" away ola --from 2026-12-10 --to 2026-12-01
refused "to: an absence is at most 366 days long" away ola --from 2026-12-10 --to 2028-01-01
refused "person: no such person" away nobody --from 2026-12-10 --to 2026-12-11
refused "absence: no such absence" away cancel abcdefgh

say "the drop folder takes the same command"
drop per.json '{"cmd":"away","person":"per","from":"2026-12-20","to":"2026-12-27"}'
wait_until 5 sh -c '[ ! -e "$0/spool/incoming/per.json" ]' "$T" || fail "the drop file stayed"
assert_eq "$(absence_of per source)" incoming
assert_eq "$(absence_of per to)" "2026-12-28 00:00"

say "SMS BORTE from siri's own number: a receipt repeating the period"
sms $SIRI "Borte 24.12 – 27.12"
wait_until 5 has_text $SIRI "Registrert: borte fra torsdag 24.12 til og med søndag 27.12. Send TILBAKE hvis du kommer tilbake før." ||
        fail "no receipt to siri: $(sms_texts $SIRI)"
assert_eq "$(absence_of siri from)" "2026-12-24 00:00"
assert_eq "$(absence_of siri to)" "2026-12-28 00:00"
assert_eq "$(absence_of siri source)" sms
say "the same text again (or delivered twice) keeps the one absence"
sms $SIRI "BORTE 24.12-27.12"
wait_until 5 grep -q "of siri: the same period again by sms, kept as it was" "$T/beredd.log" ||
        fail "the repeated BORTE was not recognised"
assert_eq "$(ctl away list --person siri --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["absences"]))')" 1 \
        "a repeated BORTE made a second absence"
say "a reversed range without a year is asked about, not taken as a year away"
sms $SIRI "BORTE 2.12-1.12"
wait_until 5 has_text $SIRI "beredd: uten år ble det et fravær til onsdag 1.12.2027. Skriv året hvis du mener det, f.eks. BORTE 2.12.2026-1.12.2027; ingenting er registrert." ||
        fail "no question about the year: $(sms_texts $SIRI)"
assert_eq "$(ctl away list --person siri --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["absences"]))')" 1
say "in English for an English speaker; across New Year with UNTIL"
sms $SJEF "AWAY UNTIL 2.1"
wait_until 5 has_text $SJEF "Recorded: away from now to Saturday 2.1.2027 inclusive. Send BACK if you are back earlier." ||
        fail "no English receipt: $(sms_texts $SJEF)"
say "a bad date gets the help text, and nothing is recorded"
sms $KARI "BORTE i jula"
wait_until 5 has_text $KARI "datoen ble ikke forstått. Skriv f.eks. BORTE 24.12-27.12" || fail "no help text: $(sms_texts $KARI)"
assert_eq "$(n_absences)" 4
say "a number not in the configuration is ignored"
sms +4799999999 "BORTE 24.12"
assert_eq "$(n_absences)" 4

say "kill -9 and a restart keep every absence"
kill_beredd
start_at 2026-12-02T10:05:00
wait_until 10 port_open "$HTTP_PORT" || fail "the listener did not come back"
assert_eq "$(n_absences)" 4
assert_eq "$(absence_of ola note)" "Ferie på Kreta"

say "a call-out skips ola (away): per is asked first and makes the quorum"
ctl trigger rekke --by kari > "$T/t1.out"
assert_grep "$T/t1.out" "Away, not asked: ola (step 1)"
ID=$(ctl list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["activations"][0]["activation"])')
CODE=$(ctl show "$ID" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])')
wait_until 5 has_text $PER "Svar JA $CODE" || fail "per was not asked"
[ "$(sms_texts $OLA | grep -c "$CODE" || true)" = 0 ] || fail "ola (away) was asked"
assert_eq "$(answer_of "$ID" ola)" "-"
ctl show "$ID" > "$T/show.out"
assert_grep "$T/show.out" "Away, not asked: ola (step 1)"
ctl report "$ID" > "$T/report.out"
assert_grep "$T/report.out" "skipped *0 *ola *away"
sms $PER "JA $CODE"
wait_until 5 sh -c "$BEREDCTL -s $T/control show $ID --json | grep -q '\"state\": *\"mobilised\"'" ||
        fail "not mobilised by per"

say "a roster's away on-duty person is replaced by the next member"
# Week of 30 November: per is on duty; per is away from the 20th only, so
# make him away now for this.
ctl away per --from '2026-12-02 09:00' --to '2026-12-02 12:00' > /dev/null
ctl trigger vakta --by kari --json > "$T/t2.json"
ID2=$(json_get "$T/t2.json" '["activation"]'); CODE2=$(json_get "$T/t2.json" '["code"]')
wait_until 5 has_text $SIRI "Svar JA $CODE2" || fail "siri was not asked instead of per"
ctl show "$ID2" > "$T/show2.out"
assert_grep "$T/show2.out" "Away, not asked: per (on duty for roster vakt; siri asked instead)"
ctl resolve "$ID2" --by kari > /dev/null

say "a contact-list check skips and lists the away"
ctl verify rekke --by kari --json > "$T/v.json"
VID=$(json_get "$T/v.json" '["activation"]')
ctl show "$VID" > "$T/vshow.out"
assert_grep "$T/vshow.out" "Away, not asked: ola$"
assert_grep "$T/vshow.out" "Away, not asked: per$"
ctl resolve "$VID" --by kari > /dev/null 2>&1 || true

say "the note is in the spool and beredctl only: not in the journal"
assert_no_grep "$T/beredd.log" "Kreta"
assert_grep "$T/beredd.log" "Absence $OLA_ID of ola registered"
curl -s "$H/metrics" > "$T/metrics.out"
assert_grep "$T/metrics.out" "^beredd_absences_active 3$"
assert_grep "$T/metrics.out" "^beredd_absences 5$"

say "TILBAKE ends ola's absence now"
sms $OLA "TILBAKE"
wait_until 5 has_text $OLA "Registrert: du er tilbake og kan kalles inn igjen." || fail "no receipt for TILBAKE"
ctl away list --person ola > "$T/ola.out"
assert_grep "$T/ola.out" "(over)"
sms $OLA "tilbake"
wait_until 5 has_text $OLA "du er ikke registrert borte nå" || fail "a second TILBAKE was not told apart"
sms $OLA "TILBAKE JA 1748"
wait_until 5 has_text $OLA "beredd: send TILBAKE alene, uten noe mer i meldingen, når du er tilbake; ingenting er registrert." ||
        fail "TILBAKE with more after it: $(sms_texts $OLA)"

say "away cancel removes one"
PER_ID=$(ctl away list --person per --json | python3 -c 'import json,sys; print([a["id"] for a in json.load(sys.stdin)["absences"] if a["source"]=="incoming"][0])')
ctl away cancel "$PER_ID" > "$T/cancel.out"
assert_grep "$T/cancel.out" "Absence $PER_ID of per cancelled"
[ ! -e "$T/spool/absences/$PER_ID.json" ] || fail "the cancelled absence's file stayed"
assert_eq "$(n_absences)" 4

say "retention: 30 days after their end, absences go (the fake clock in February)"
stop_beredd
start_at 2027-02-10T10:00:00
wait_until 5 grep -q "Retention: removed .* 4 absence(s) that were over" "$T/beredd.log" ||
        fail "no retention line: $(grep Retention "$T/beredd.log")"
assert_eq "$(n_absences)" 0
[ -z "$(ls "$T/spool/absences")" ] || fail "files stayed in absences/: $(ls "$T/spool/absences")"
stop_beredd
echo "PASS"
