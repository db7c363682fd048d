#!/bin/sh
# The follow-up vocabulary belongs to the municipality (followup.factors),
# with a real mosquitto on a free loopback port:
#   - case.open with a configured factor is accepted, an unknown one (a
#     built-in id the configuration does not have) is refused on the socket,
#     by beredctl and in a drop file, each time with the valid ids;
#   - the MQTT follow-up summary counts by id, the vocabulary (id -> name) is
#     retained on followup/factors, and nothing published names a case;
#   - beredctl case list with --contact, --state and --json; case.list over
#     MQTT is refused;
#   - a reload and a restart with a factor taken out: the case keeps it and
#     goes on loading, shown by id and flagged, counted as unlisted.
. "$(dirname "$0")/common.sh"
command -v mosquitto_sub >/dev/null || skip "mosquitto-clients is not installed"

PORT=$(free_port)
B=beredd/test
start_mosquitto "$PORT"

conf() { # FACTORS: the followup.factors list
        cat > "$T/beredd.conf" <<EOC
site = "test";
timezone = "Europe/Oslo";
spool = "$T/spool";
people = (
  { id = "kari"; name = "Kari Nordmann"; phone = "+4791234567"; roles = ["leader"]; },
  { id = "ola";  name = "Ola Nordmann";  phone = "+4791234568"; roles = ["member"]; },
  { id = "ann";  name = "Ann Smith";     email = "ann@kommune.example"; lang = "en"; roles = ["member"]; }
);
gateways = ( { id = "outbox"; channel = "any"; type = "file"; } );
followup: {
  levels = ( { level = 1; name = "lav"; every = "14d"; },
             { level = 2; name = "middels"; every = "7d"; } );
  coordinator = "kari";
  factors = $1;
};
mqtt: { host = "127.0.0.1"; port = $PORT; base = "$B"; qos = 1; commands = [ "trigger" ]; trigger_identity = "kari"; };
EOC
}
conf '( { id = "vold";         name = "Utsatt for vold"; },
            { id = "skolefravaer"; name = "Skolefravær"; name_en = "school absence"; },
            { id = "ensomhet";     name = "Ensomhet"; } )'

ALL="$T/all.log"
: > "$ALL"
mqtt_sub_bg "$ALL" -h 127.0.0.1 -p "$PORT" -V mqttv5 -q 1 -t '#' -F '%t|%p'
wait_until 10 sh -c "mosquitto_pub -h 127.0.0.1 -p $PORT -t test/probe -m ready; grep -q '^test/probe|' '$ALL'" \
        || fail "the subscriber did not start"
last() { grep "^$1|" "$ALL" | tail -n 1 | cut -d'|' -f2-; }
seen() { grep -q "^$1|" "$ALL"; }
retained() { mosquitto_sub -h 127.0.0.1 -p "$PORT" -t "$1" -C 1 -W "${2:-3}" 2>/dev/null || true; }
retained_has() { retained "$1" | grep -q -- "$2"; }

say "the vocabulary is retained on followup/factors: ids and names, no case data"
start_at 2027-01-11T10:00:00
wait_until 10 retained_has "$B/status" '"state":"online"' || fail "no online status"
wait_until 5 retained_has "$B/followup/factors" '"id":"skolefravaer"' || fail "no retained followup/factors"
V=$(retained "$B/followup/factors")
assert_eq "$(json_str "$V" '["factors"][1]["name"]')" "Skolefravær"
assert_eq "$(json_str "$V" '["factors"][1]["name_en"]')" "school absence"
assert_eq "$(json_str "$V" '["factors"][0]["id"]')" "vold"
assert_eq "$(json_str "$V" '["default"]')" false
assert_eq "$(json_str "$V" '["factors"].__len__()')" 3

say "case.open with configured factors is accepted"
ok '{"cmd":"case.open","case":"K-100","contacts":["kari","ola"],"factors":["vold","ensomhet"],"due":"2027-01-20"}'
ok '{"cmd":"case.open","case":"K-101","contacts":["ann"],"level":2,"factors":["skolefravaer"],"due":"2027-01-15"}'
ctl case open K-102 --contact ola --factor ensomhet --due 2027-01-25 >/dev/null || fail "beredctl case open --factor ensomhet refused"

say "an unknown factor is refused, and the error lists the valid ids"
VALID="factors: unknown factor (valid: vold, skolefravaer, ensomhet)"
R=$(sock '{"cmd":"case.open","case":"K-200","contacts":["kari"],"factors":["loneliness"]}')
assert_eq "$(json_str "$R" '["ok"]')" false
assert_eq "$(json_str "$R" '["error"]')" "$VALID"
out=$(ctl case open K-201 --contact kari --factor Vold 2>&1) && fail "beredctl accepted --factor Vold: $out"
printf '%s' "$out" | grep -qF "$VALID" || fail "beredctl's error does not list the valid ids: $out"
drop unknown.json '{"cmd":"case.open","case":"K-202","contacts":["kari"],"factors":["vold","mental-illness"]}'
wait_until 5 test -f "$T/spool/failed/unknown.json.reason" || fail "the drop file with an unknown factor was not refused"
assert_grep "$T/spool/failed/unknown.json.reason" "$VALID"
for ref in K-200 K-201 K-202; do
        [ ! -f "$(case_file "$ref")" ] || fail "$ref was opened with an unknown factor"
done

say "the MQTT follow-up summary counts by id"
summary_has() { retained_has "$B/followup/summary" "$1"; }
wait_until 10 summary_has '"open":3' || fail "the summary does not count 3 open cases: $(retained "$B/followup/summary")"
S=$(retained "$B/followup/summary")
assert_eq "$(json_str "$S" '["by_factor"]["vold"]')" 1
assert_eq "$(json_str "$S" '["by_factor"]["ensomhet"]')" 2
assert_eq "$(json_str "$S" '["by_factor"]["skolefravaer"]')" 1
assert_eq "$(json_str "$S" '["by_factor"].__len__()')" 3
assert_eq "$(json_str "$S" '["unlisted_factors"]')" 0

say "beredctl case list: open by due date, --contact, --state, --json"
ok '{"cmd":"case.close","case":"K-102","by":"kari"}'
out=$(ctl case list) || fail "case list failed: $out"
printf '%s\n' "$out"
printf '%s\n' "$out" | head -n 1 | grep -q '^2 open case(s)$' || fail "case list: not 2 open cases"
printf '%s\n' "$out" | sed -n 3p | grep -q '^K-101 .*2 .*2027-01-15 .*ann$' || fail "case list: K-101 (due first) is not first"
printf '%s\n' "$out" | sed -n 4p | grep -q '^K-100 .*2027-01-20 .*kari,ola$' || fail "case list: K-100 is not second"
out=$(ctl case list --contact ola) || fail "case list --contact ola failed"
printf '%s\n' "$out" | grep -q '^K-100 ' || fail "case list --contact ola lacks K-100"
printf '%s\n' "$out" | grep -q '^K-101 ' && fail "case list --contact ola has ann's K-101"
out=$(ctl case list --state closed --contact ola) || fail "case list --state closed failed"
printf '%s\n' "$out" | grep -q '^K-102 .*closed 2027-01-11' || fail "case list --state closed lacks K-102: $out"
printf '%s\n' "$out" | grep -q '^K-100 ' && fail "case list --state closed has the open K-100"
J=$(ctl case list --state all --json) || fail "case list --state all --json failed"
assert_eq "$(json_str "$J" '["count"]')" 3
assert_eq "$(json_str "$J" '["state"]')" all
assert_eq "$(json_str "$J" '["cases"][0]["case"]')" K-101
assert_eq "$(json_str "$J" '["cases"][2]["contacts"][0]')" ola
out=$(ctl case list --state shut 2>&1) && fail "case list --state shut accepted"
printf '%s' "$out" | grep -q 'state: must be "open", "closed" or "all"' || fail "case list --state shut: $out"
out=$(ctl case list --owner kari 2>&1) && fail "case list --owner accepted"
printf '%s' "$out" | grep -q 'unknown option --owner for case list' || fail "case list --owner: $out"

say "case.list over MQTT is refused: case references stay on the control socket"
mosquitto_pub -h 127.0.0.1 -p "$PORT" -q 1 -t "$B/cmd/case.list" -m '{"id":"l1"}'
wait_until 5 seen "$B/reply/l1" || fail "no reply on reply/l1"
last "$B/reply/l1" | grep -q '"ok":false' || fail "case.list over MQTT: $(last "$B/reply/l1")"
last "$B/reply/l1" | grep -q 'K-10' && fail "the MQTT reply names a case"

say "a reload that takes vold out: K-100 keeps it, is shown by id and flagged, and counted as unlisted"
conf '( { id = "skolefravaer"; name = "Skolefravær"; name_en = "school absence"; },
            { id = "ensomhet";     name = "Ensomhet"; },
            { id = "rus";          name = "Rusproblemer"; } )'
kill -HUP "$BEREDD_PID"
wait_until 10 grep -q "Reloaded $T/beredd.conf" "$T/beredd.log" || fail "no reload"
grep -q "followup.factors changed (3 factor(s)); 1 open case(s) have a factor not in it" "$T/beredd.log" \
        || fail "the reload does not say what happened to the factors"
wait_until 5 retained_has "$B/followup/factors" '"id":"rus"' || fail "followup/factors not updated by the reload"
retained_has "$B/followup/factors" '"vold"' && fail "followup/factors still has vold"
wait_until 5 summary_has '"unlisted_factors":1' || fail "the summary does not count K-100 as unlisted: $(retained "$B/followup/summary")"
S=$(retained "$B/followup/summary")
assert_eq "$(json_str "$S" '["by_factor"]["ensomhet"]')" 1
assert_eq "$(json_str "$S" '["by_factor"]["rus"]')" 0
assert_eq "$(json_str "$S" '["by_factor"].get("vold")')" null
R=$(sock '{"cmd":"show","case":"K-100"}')
assert_eq "$(json_str "$R" '["factors"][0]')" vold
assert_eq "$(json_str "$R" '["unlisted_factors"][0]')" vold
assert_eq "$(json_str "$R" '["factor_names"]["ensomhet"]')" Ensomhet
out=$(ctl case show K-100) || fail "case show K-100 failed"
printf '%s\n' "$out" | grep -qF 'Factors: vold (not in followup.factors), Ensomhet (ensomhet)' \
        || fail "case show does not flag vold: $out"
ok '{"cmd":"case.checkin","case":"K-100","by":"kari","outcome":"no-needs"}'
R=$(sock '{"cmd":"case.open","case":"K-203","contacts":["kari"],"factors":["vold"]}')
assert_eq "$(json_str "$R" '["error"]')" "factors: unknown factor (valid: skolefravaer, ensomhet, rus)"

say "and a restart: K-100 still loads, with vold"
stop_beredd
start_at 2027-01-11T10:05:00
grep -q "cases/.*K-100.json: damaged" "$T/beredd.log" && fail "K-100 was taken for damaged"
R=$(sock '{"cmd":"show","case":"K-100"}')
assert_eq "$(json_str "$R" '["state"]')" open
assert_eq "$(json_str "$R" '["unlisted_factors"][0]')" vold
wait_until 10 summary_has '"unlisted_factors":1' || fail "after a restart K-100 is not counted as unlisted"
out=$(ctl followup summary) || fail "followup summary failed"
printf '%s\n' "$out" | grep -q 'and 1 case(s) with a factor not in followup.factors' || fail "followup summary: $out"
stop_beredd

say "privacy: nothing published names a case, a person or a number"
kill "$SUB_PID" 2>/dev/null || true
text=$(grep -v "^$B/cmd/\|^test/probe|" "$ALL")
for bad in K-100 K-101 K-102 K-20 "Nordmann" "Ann Smith" 91234567 91234568 ann@kommune; do
        printf '%s' "$text" | grep -qF "$bad" && fail "published: $bad"
done
say "scanned $(grep -c . "$ALL") published messages"
say "ok"
