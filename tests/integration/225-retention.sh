#!/bin/sh
# Retention of personal data (issue 17): ended activations' logs, outbox/
# and failed/ (with .reason) go after the configured ages, at start and in
# the periodic sweep (BEREDD_RETENTION_SWEEP_MS), counted in one journal
# line that names no file or person; open activations stay; `report` works
# until the log goes. Then a restored spool: an open activation whose last
# event is older than retention.stale_after is closed as stale at start,
# with its own line, and nobody gets a message.
. "$(dirname "$0")/common.sh"

write_ret_config() { # FILE ACTIVATIONS-AGE
        write_config "$1"
        cat >> "$1" <<EOC
retention: { activations = "$2"; outbox = "1h"; failed = "1h"; stale_after = "1h"; };
EOC
}
state_of() { ctl show "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }
# of_activation ID: the outbox messages of activation ID (their keys start with it)
of_activation() { grep -l "\"key\": *\"$1" "$T"/spool/outbox/*.json 2>/dev/null | wc -l; }
ret_line_with() { grep -q "Retention: removed $1" "$T/beredd.log"; }

say "the configuration takes the ages, and rejects a bad one with FILE:LINE"
write_ret_config "$T/beredd.conf" 3s
"$BEREDD" --check-config -c "$T/beredd.conf" > "$T/check.out" 2>&1 || { cat "$T/check.out"; fail "retention config refused"; }
write_config "$T/bad.conf"
echo 'retention: { outbox = "7 days"; stale_after = "2s"; colour = "red"; };' >> "$T/bad.conf"
rc=0; "$BEREDD" --check-config -c "$T/bad.conf" > "$T/bad.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "a bad retention section was accepted"
assert_grep "$T/bad.out" 'bad.conf:[0-9]*: .*outbox.*bad duration'
assert_grep "$T/bad.out" 'stale_after.*longer than every step'
assert_grep "$T/bad.out" 'colour'

say "old files in outbox/ and failed/ go at start, new ones stay"
mkdir -p "$T/spool/outbox" "$T/spool/failed"
echo '{"person":"kari","to":"+4791234567","text":"gammel"}' > "$T/spool/outbox/old-msg.json"
echo '{"person":"kari","to":"+4791234567","text":"ny"}' > "$T/spool/outbox/new-msg.json"
echo 'garbage +4791234567' > "$T/spool/failed/+4791234567-old.json"
echo 'not JSON' > "$T/spool/failed/+4791234567-old.json.reason"
echo 'garbage' > "$T/spool/failed/new.json"
echo 'not JSON' > "$T/spool/failed/new.json.reason"
# An input that was written long before it was dropped: its age is its
# rejection's (the .reason), not its own.
echo 'garbage' > "$T/spool/failed/late.json"; echo 'not JSON' > "$T/spool/failed/late.json.reason"
touch -d '3 hours ago' "$T/spool/outbox/old-msg.json" "$T/spool/failed/+4791234567-old.json" \
        "$T/spool/failed/+4791234567-old.json.reason" "$T/spool/failed/late.json"
BEREDD_RETENTION_SWEEP_MS=300 start_beredd "$T/beredd.conf"
assert_grep "$T/beredd.log" 'Retention: removed 0 ended activation log(s), 1 outbox message(s), 1 rejected input(s)'
[ ! -e "$T/spool/outbox/old-msg.json" ] || fail "an old outbox message stayed"
[ -e "$T/spool/outbox/new-msg.json" ] || fail "a new outbox message went"
[ ! -e "$T/spool/failed/+4791234567-old.json" ] && [ ! -e "$T/spool/failed/+4791234567-old.json.reason" ] ||
        fail "an old rejected input or its reason stayed"
[ -e "$T/spool/failed/new.json" ] && [ -e "$T/spool/failed/new.json.reason" ] || fail "a new rejected input went"
[ -e "$T/spool/failed/late.json" ] && [ -e "$T/spool/failed/late.json.reason" ] ||
        fail "a rejected input went by its own age, not its rejection's"

say "an ended activation's log goes after its age; an open one stays; report works until then"
ctl trigger kriseteam --by kari --json > "$T/a.json"
A=$(json_get "$T/a.json" '["activation"]')
ctl trigger kriseteam --by kari -m "Øvelse" --json > "$T/b.json"
B=$(json_get "$T/b.json" '["activation"]')
ctl resolve "$A" --by kari > /dev/null
ctl report "$A" > "$T/report.out" || fail "report of a resolved activation failed"
assert_grep "$T/report.out" "$A"
wait_until 10 ret_line_with '1 ended activation log' || fail "the resolved activation's log was not removed"
[ ! -e "$T/spool/activations/$A.log" ] || fail "activations/$A.log is still there"
rc=0; ctl show "$A" > "$T/show.out" 2>&1 || rc=$?
assert_eq "$rc" 1 "a purged activation is still shown"
ctl list --json > "$T/list.json"
assert_no_grep "$T/list.json" "$A" "a purged activation is still listed"
assert_grep "$T/list.json" "$B"
[ -e "$T/spool/activations/$B.log" ] || fail "the open activation's log went"
assert_eq "$(state_of "$B")" mobilising

say "the sweep's journal lines count, and never name a file, number or person"
grep 'Retention:' "$T/beredd.log" > "$T/ret.lines"
assert_no_grep "$T/ret.lines" '+47\|4791234567\|\.json\|kari\|Kari\|ola'
assert_no_grep "$T/ret.lines" "$A"
stop_beredd

say "restored spool: an open activation older than stale_after is closed as stale at start, nobody is told"
write_ret_config "$T/beredd.conf" 90d
# A copy taken while B's SMS was with the gateway: no "sent" for it, no
# outbox file. Resumed, it would go again.
grep -v "\"t\":\"sent\",\"key\":\"$B.0\"" "$T/spool/activations/$B.log" > "$T/b.log" || true
cat "$T/b.log" > "$T/spool/activations/$B.log"
rm -f "$T/spool/outbox/$B.0.json"
before=$(of_activation "$B")
[ "$before" -gt 0 ] || fail "found no outbox message of $B to compare with"
lines_before=$(wc -l < "$T/spool/activations/$B.log")
BEREDD_TEST_TIME_OFFSET=7200 start_beredd "$T/beredd.conf"
assert_grep "$T/beredd.log" "Activation $B (kriseteam): mobilising, last event 2 h ago .*closed as stale; nobody is called or told"
tail -n 1 "$T/spool/activations/$B.log" > "$T/last.json"
assert_eq "$(json_get "$T/last.json" '["state"]')" resolved
assert_eq "$(json_get "$T/last.json" '["by"]')" stale
assert_eq "$(state_of "$B")" resolved
assert_no_grep "$T/beredd.log" "Resumed [1-9]"
assert_grep "$T/spool/activations/$B.log" "\"t\":\"failed\",\"key\":\"$B.0\".*stale at start"
# A new call-out runs past its first step's wait (5 s) meanwhile: by then
# a resumed B would have gone on to its next step too.
ctl trigger kriseteam --by kari --json > "$T/c.json"
C=$(json_get "$T/c.json" '["activation"]'); CODE=$(json_get "$T/c.json" '["code"]')
wait_until 15 has_outbox ola "$CODE" || fail "the new call-out did not reach its second step"
assert_eq "$(of_activation "$B")" "$before" "the stale activation sent a message"
ctl resolve "$C" --by kari > /dev/null
stop_beredd

say "replayed again, the stale close stays closed and is not logged twice"
BEREDD_TEST_TIME_OFFSET=7200 start_beredd "$T/beredd.conf"
assert_eq "$(state_of "$B")" resolved
assert_eq "$(grep -c 'closed as stale' "$T/beredd.log")" 1
[ "$(wc -l < "$T/spool/activations/$B.log")" -gt "$lines_before" ] || fail "the stale close was not logged"
assert_eq "$(of_activation "$B")" "$before" "the stale activation sent a message after a second start"
stop_beredd
say "ok"
