#!/bin/sh
# `when` is evaluated at the moment a step starts, in the configured time
# zone: with the clock shifted (BEREDD_TEST_TIME_OFFSET) to a Saturday the
# office-hours step is skipped; to a Monday morning it runs, and the
# outside-office roster step is skipped instead.
. "$(dirname "$0")/common.sh"

cat > "$T/beredd.conf" <<EOC
site = "test";
timezone = "Europe/Oslo";
spool = "$T/spool";
calendar: { office_hours = "Mon-Fri 08:00-15:30"; holidays = "no"; };
people = (
  { id = "kari"; name = "Kari Nordmann"; phone = "+4791234567"; roles = ["leader"]; },
  { id = "ola";  name = "Ola Nordmann";  phone = "+4791234568"; roles = ["member"]; },
  { id = "per";  name = "Per Hansen";    phone = "+4791234569"; roles = ["member"]; },
  { id = "legevakt"; name = "Legevakten"; phone = "+4773000000"; roles = ["fallback"]; }
);
rosters = ( { id = "vakt"; rotation = "weekly"; handoff = "Mon 08:00"; members = ["ola", "per"]; start = "2026-01-05"; } );
gateways = ( { id = "outbox"; channel = "any"; type = "file"; } );
chains = (
  { id = "kriseteam";
    may_trigger = [ "kari" ];
    need = { total = 2; };
    steps = (
      { notify = [ "kari" ]; via = [ "sms" ]; wait = "1s"; },
      { notify = [ "role:member" ]; via = [ "sms" ]; wait = "1s"; when = "office"; },
      { notify = [ "roster:vakt" ]; via = [ "sms" ]; wait = "1s"; when = "outside-office"; },
      { notify = [ "legevakt" ]; via = [ "sms" ]; final = true; }
    );
  }
);
EOC

who() { python3 -c "
import json,os,sys
d=sys.argv[1]; out=[]
for f in sorted(os.listdir(d)):
    m=json.load(open(os.path.join(d,f))); out.append(m['person'])
print(' '.join(sorted(set(out))))" "$T/spool/outbox"; }
state() { ctl show "$1" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['state'])"; }
run_at() { # LOCAL-TIME: trigger then, leave who was notified in $got
        rm -rf "$T/spool/outbox"; mkdir -p "$T/spool/outbox"
        BEREDD_TEST_TIME_OFFSET=$(offset_to "$1") start_beredd "$T/beredd.conf"
        id=$(ctl trigger kriseteam --by kari --json | python3 -c "import json,sys; print(json.load(sys.stdin)['activation'])")
        wait_until 10 sh -c "\"$BEREDCTL\" -s \"$T/control\" show $id --json | grep -q '\"state\": \"short\"'" || fail "activation at $1 did not end short"
        stop_beredd
        got=$(who)
}

say "Saturday 2027-01-09 12:00: the office step is skipped, the roster step runs (ola is on duty that week)"
run_at 2027-01-09T12:00:00
assert_eq "$got" "kari legevakt ola" "Saturday: got '$got'"
assert_grep "$T/spool/activations/"*.log '"reason":"outside office hours"'

say "a swap (beredctl roster override) puts per on duty that Saturday instead"
BEREDD_TEST_TIME_OFFSET=$(offset_to 2027-01-09T12:00:00) start_beredd "$T/beredd.conf"
ctl roster override vakt per --from "2027-01-09 08:00" --to "2027-01-10 08:00" --by kari > "$T/out"
assert_grep "$T/out" "per is on duty from 2027-01-09 08:00 to 2027-01-10 08:00"
ctl roster show vakt > "$T/out"
assert_grep "$T/out" "per is on duty"
assert_grep "$T/out" "the rotation names ola"
rc=0; ctl roster override vakt per --from "2027-01-09 08:00" --to "2027-01-08 08:00" --by kari > "$T/out" 2>&1 || rc=$?
assert_eq "$rc" 1; assert_grep "$T/out" "to: must be after from"
stop_beredd
[ -f "$T/spool/rosters/overrides.json" ] || fail "the swap was not saved"
rm -f "$T"/spool/activations/*
run_at 2027-01-09T12:00:00
assert_eq "$got" "kari legevakt per" "Saturday with the swap: got '$got'"
rm -f "$T/spool/rosters/overrides.json"

say "Monday 2027-01-11 10:00: the office step runs (both members), the roster step is skipped"
rm -f "$T"/spool/activations/*
run_at 2027-01-11T10:00:00
assert_eq "$got" "kari legevakt ola per" "Monday: got '$got'"

say "Ascension Day 2027-05-06 10:00 (a Thursday, a public holiday): outside office hours"
rm -f "$T"/spool/activations/*
run_at 2027-05-06T10:00:00
assert_eq "$got" "kari legevakt per" "Ascension Day: got '$got'"
say "ok"
