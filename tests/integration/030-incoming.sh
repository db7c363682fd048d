#!/bin/sh
# The drop folder: files present at start and files renamed in later are
# processed in arrival order; rejected ones go to failed/ with a .reason.
. "$(dirname "$0")/common.sh"

write_config "$T/beredd.conf"
"$BEREDD" --check-config -c "$T/beredd.conf" >/dev/null
mkdir -p "$T/spool/incoming"
chmod 0750 "$T/spool"

say "files waiting before start are processed at start, in arrival order"
drop 01-garbage.json 'this is not json'
sleep 0.02
drop 02-unknown-chain.json '{"cmd":"trigger","chain":"brann","by":"kari"}'
sleep 0.02
drop 03-read-only.json '{"cmd":"status"}'
start_beredd "$T/beredd.conf"
for f in 01-garbage.json 02-unknown-chain.json 03-read-only.json; do
        [ ! -e "$T/spool/incoming/$f" ] || fail "incoming/$f was not processed"
        [ -f "$T/spool/failed/$f" ] || fail "failed/$f missing"
        [ -f "$T/spool/failed/$f.reason" ] || fail "failed/$f.reason missing"
done
assert_grep "$T/spool/failed/01-garbage.json.reason" "not valid JSON"
assert_grep "$T/spool/failed/02-unknown-chain.json.reason" 'chain: no such chain in the configuration'
assert_grep "$T/spool/failed/03-read-only.json.reason" "read-only commands are accepted on the control socket only"
assert_eq "$(cat "$T/spool/failed/01-garbage.json")" "this is not json" "the rejected file's content changed"
order=$(grep -o 'incoming/0[123][a-z-]*\.json: rejected' "$T/beredd.log" | cut -c10-11 | tr -d '\n')
assert_eq "$order" "010203" "files processed out of arrival order: $order"

say "files renamed in while running are picked up through inotify"
drop 04-missing-field.json '{"cmd":"case.close","case":"K-2041"}'
wait_until 5 test -f "$T/spool/failed/04-missing-field.json.reason" || fail "04 not processed"
assert_grep "$T/spool/failed/04-missing-field.json.reason" "by: missing"

say "a name already in failed/ does not overwrite the earlier file"
drop 01-garbage.json '{"cmd":"trigger","chain":"kriseteam","by":"kari","message":"a\r\nb"}'
wait_until 5 test -f "$T/spool/failed/01-garbage.json.1.reason" || fail "second 01-garbage.json not kept beside the first"
assert_eq "$(cat "$T/spool/failed/01-garbage.json")" "this is not json"

say "path traversal in an id is refused"
drop 05-traversal.json '{"cmd":"case.close","case":"../../etc/passwd","by":"kari"}'
wait_until 5 test -f "$T/spool/failed/05-traversal.json.reason" || fail "05 not processed"
assert_grep "$T/spool/failed/05-traversal.json.reason" "case: must be"

say "an oversize file is refused without reading it all"
head -c 100000 /dev/zero | tr '\0' ' ' > "$T/spool/incoming/.big"
mv "$T/spool/incoming/.big" "$T/spool/incoming/06-big.json"
wait_until 5 test -f "$T/spool/failed/06-big.json.reason" || fail "06 not processed"
assert_grep "$T/spool/failed/06-big.json.reason" "file too large"

say "a writer's temporary dot-file is left alone"
printf '{"cmd":' > "$T/spool/incoming/.partial"
sleep 0.3
[ -f "$T/spool/incoming/.partial" ] || fail "a dot-file was touched"

say "the daemon keeps serving after all that"
ctl status --json > "$T/status.json"
assert_eq "$(json_get "$T/status.json" '["incoming"]["rejected"]')" 7

say "a file dropped while the daemon is down (after kill -9) is processed at restart"
kill_beredd
drop 07-while-down.json '{"cmd":"trigger","chain":"kriseteam"}'
start_beredd "$T/beredd.conf"
[ -f "$T/spool/failed/07-while-down.json.reason" ] || fail "07 not processed at restart"
assert_grep "$T/spool/failed/07-while-down.json.reason" "by: missing"

say "nothing was deleted from failed/"
assert_eq "$(ls "$T/spool/failed" | grep -vc '\.reason$')" 8
stop_beredd
say "ok"
