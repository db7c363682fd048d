#!/bin/sh
# The coverage forecast (issue 19, item 3): absences entered with beredctl
# away; beredctl coverage in text and --json names the day without a leader
# (24.12, a closed day: the outside-office part only) and splits working
# days into office and outside-office parts (the chain's steps differ by
# `when`); its errors name the option (to before from, over 62 days, a bad
# date, an unknown chain); the retained MQTT topic <base>/coverage/<chain>
# (a real mosquitto) covers the heightened period that begins within 14
# days, carries counts and role names only (no person's name or id), and is
# published again after `away cancel`, on a reload, and at local midnight
# (the window moves on). The daemon runs on the fake clock
# (BEREDD_TEST_TIME_OFFSET): Monday 14 December 2026, 10:00 in Oslo, then
# 3 January 2027 just before midnight.
. "$(dirname "$0")/common.sh"
command -v mosquitto_sub >/dev/null || skip "mosquitto-clients is not installed"

PORT=$(free_port)
B=beredd/test
start_mosquitto "$PORT"

cat > "$T/beredd.conf" <<EOC
site = "test";
spool = "$T/spool";
timezone = "Europe/Oslo";
calendar: {
  office_hours = "Mon-Fri 08:00-15:30";
  holidays = "no";
  closed = [ "2026-12-24", "2026-12-31" ];
  heightened = ( { from = "2026-12-18"; to = "2027-01-03"; name = "Jul og nyttår"; } );
};
people = (
  { id = "kari"; name = "Kari Nordmann"; phone = "+4791234567"; roles = ["leader"]; },
  { id = "lise"; name = "Lise Lund";     phone = "+4791234571"; roles = ["leader"]; },
  { id = "ola";  name = "Ola Nordmann";  phone = "+4791234568"; roles = ["member"]; },
  { id = "per";  name = "Per Hansen";    phone = "+4791234569"; roles = ["member"]; },
  { id = "siri"; name = "Siri Berg";     phone = "+4791234570"; roles = ["member"]; },
  { id = "legevakt"; name = "Legevakten"; phone = "+4773000000"; roles = ["fallback"]; }
);
roles = (
  { id = "leader"; name = "leder"; name_en = "leader"; },
  { id = "member"; name = "medlem"; name_en = "member"; }
);
gateways = ( { id = "outbox"; channel = "any"; type = "file"; } );
chains = (
  { id = "kriseteam"; name = "Kriseteamet";
    may_trigger = [ "kari" ];
    need = { total = 2; roles = { leader = 1; }; };
    steps = ( { notify = [ "role:leader", "ola" ]; wait = "10m"; when = "office"; },
              { notify = [ "kari", "per", "siri" ]; wait = "10m"; when = "outside-office"; },
              { notify = [ "legevakt" ]; final = true; } );
  }
);
mqtt: { host = "127.0.0.1"; port = $PORT; base = "$B"; qos = 1; };
EOC
"$BEREDD" --check-config -c "$T/beredd.conf" > "$T/check.out" 2>&1 || { cat "$T/check.out"; fail "config refused"; }

ALL="$T/all.log"
: > "$ALL"
mqtt_sub_bg "$ALL" -h 127.0.0.1 -p "$PORT" -q 1 -t "$B/coverage/#" -F '%t|%p'
last_cov() { grep "^$B/coverage/kriseteam|" "$ALL" | tail -n 1 | cut -d'|' -f2-; }
retained() { mosquitto_sub -h 127.0.0.1 -p "$PORT" -t "$1" -C 1 -W "${2:-3}" 2>/dev/null || true; }

start_at 2026-12-14T10:00:00
wait_until 10 sh -c "grep -q '^$B/coverage/kriseteam|' '$ALL'" || fail "no coverage/kriseteam published at connect"

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

say "nobody away: every part can be covered"
ctl coverage kriseteam --from 2026-12-21 --to 2026-12-27 > "$T/cov0.out"
cat "$T/cov0.out"
grep -q "KAN IKKE" "$T/cov0.out" && fail "a part not covered with nobody away"
assert_grep "$T/cov0.out" "^ma\. 21\.12  kontortid  *3 av 3 tilgjengelige"
assert_grep "$T/cov0.out" "^ma\. 21\.12  utenfor kontortid  *3 av 3 tilgjengelige"
assert_grep "$T/cov0.out" "^to\. 24\.12  utenfor kontortid  *3 av 3 tilgjengelige  (stengt)"
assert_grep "$T/cov0.out" "^fr\. 25\.12  utenfor kontortid  *3 av 3 tilgjengelige  (Første juledag)"
[ "$(grep -c '^to\. 24\.12' "$T/cov0.out")" = 1 ] || fail "24.12 (closed) is not one part"

say "kari away over Christmas, lise one day before: 24.12-27.12 have no leader outside office hours"
ctl away kari --from 2026-12-24 --to 2026-12-27 --json > "$T/kari.json"
KARI_ID=$(json_get "$T/kari.json" '["absence"]["id"]')
ctl away lise --from 2026-12-22 --to 2026-12-22 > /dev/null
ctl coverage kriseteam --from 2026-12-21 --to 2026-12-28 > "$T/cov1.out"
cat "$T/cov1.out"
assert_grep "$T/cov1.out" "^to\. 24\.12  utenfor kontortid  *2 av 3 tilgjengelige  KAN IKKE DEKKES: mangler leder (0 av 1)"
assert_grep "$T/cov1.out" "^ti\. 22\.12  kontortid  *2 av 3 tilgjengelige$"
assert_grep "$T/cov1.out" "^ma\. 28\.12  utenfor kontortid  *3 av 3 tilgjengelige$"
assert_grep "$T/cov1.out" "Kriseteamet 21.12–28.12: 4 dager kan ikke dekkes: to. 24.12 (mangler leder), fr. 25.12 (mangler leder)"
assert_grep "$T/cov1.out" "away 2026-12-24 outside-office: kari"

ctl coverage kriseteam --from 2026-12-24 --to 2026-12-24 --json > "$T/cov1.json"
python3 - "$T/cov1.json" <<'EOP' || fail "the JSON forecast of 24.12 is wrong: $(cat "$T/cov1.json")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["chain"] == "kriseteam" and o["unmet"] == 1 and o["unmet_days"] == 1, o
[d] = o["days"]
assert d["date"] == "2026-12-24" and d["part"] == "outside-office" and d["closed"] is True, d
assert d["available"] == 2 and d["people"] == 3 and d["need"] == 2 and d["met"] is False, d
assert d["missing"] == [{"role": "leader", "name": "leder", "need": 1, "available": 0}], d
assert d["away"] == ["kari"], d
assert d["heightened"] == "Jul og nyttår", d
EOP

say "errors name the option"
refused "to: must not be before from" coverage kriseteam --from 2026-12-24 --to 2026-12-23
refused "to: at most 62 days" coverage kriseteam --from 2026-12-01 --to 2027-02-01
ctl coverage kriseteam --from 2026-12-01 --to 2027-01-31 > /dev/null || fail "62 days were refused"
refused "chain: no such chain" coverage nosuch --from 2026-12-24 --to 2026-12-24
usage_error "option --from of coverage" coverage kriseteam --from 24.12.2026 --to 2026-12-24
usage_error "option --to of coverage" coverage kriseteam --from 2026-12-24 --to 2026-13-45x
refused "to: expected a date" coverage kriseteam --from 2026-12-24 --to 2026-13-45
usage_error "coverage needs --to" coverage kriseteam --from 2026-12-24

say "MQTT: the retained coverage/kriseteam covers Jul og nyttår, counts and role names only"
retained "$B/coverage/kriseteam" > "$T/mq1.json"
python3 - "$T/mq1.json" <<'EOP' || fail "the retained coverage is wrong: $(cat "$T/mq1.json")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["chain"] == "kriseteam" and o["period"] == "Jul og nyttår", o
assert o["from"] == "2026-12-18" and o["to"] == "2027-01-03", o
days = {(d["date"], d["part"]): d for d in o["days"]}
d = days[("2026-12-24", "outside-office")]
assert d["met"] is False and d["missing"] == [{"role": "leader", "name": "leder", "need": 1, "available": 0}], d
assert "away" not in d, d
assert days[("2026-12-28", "outside-office")]["met"] is True
assert o["unmet_days"] == 4, o
EOP
for w in kari lise ola per siri legevakt Kari Nordmann Lise Lund Hansen Berg "+47"; do
        grep -qw -- "$w" "$T/mq1.json" && fail "the retained coverage names '$w': $(cat "$T/mq1.json")"
done

say "away cancel: published again, 24.12 can be covered"
ctl away cancel "$KARI_ID" > /dev/null
covered_again() { last_cov | grep -q '"unmet":0'; }
wait_until 10 covered_again || fail "not republished after away cancel: $(last_cov)"
[ "$(grep -c "^$B/coverage/kriseteam|" "$ALL")" -ge 3 ] || fail "fewer publishes than connect, away, cancel: $(cat "$ALL")"
for w in kari lise ola per siri Kari Nordmann; do
        grep -qw -- "$w" "$ALL" && fail "a coverage payload named '$w'"
done
ctl coverage kriseteam --from 2026-12-24 --to 2026-12-24 > "$T/cov2.out"
grep -q "KAN IKKE" "$T/cov2.out" && fail "24.12 still not covered after the cancel: $(cat "$T/cov2.out")"

say "reload: a chain that needs four now cannot be covered anywhere; published at once"
sed -i 's/need = { total = 2; roles = { leader = 1; }; };/need = { total = 4; roles = { leader = 1; }; };/' "$T/beredd.conf"
kill -HUP "$BEREDD_PID"
all_unmet() { last_cov | python3 -c 'import json,sys; o=json.load(sys.stdin); sys.exit(0 if all(not d["met"] and d["short"] >= 1 for d in o["days"]) else 1)'; }
wait_until 10 all_unmet || fail "not republished after the reload: $(last_cov)"
stop_beredd

say "local midnight: the window moves on by itself (the check's interval shortened)"
# 3 January 2027 23:59:57: the last day of Jul og nyttår; after midnight,
# the coming 14 days 4.1-17.1 without a period.
BEREDD_COVERAGE_CHECK_MS=300 start_at 2027-01-03T23:59:57
window_is() { last_cov | python3 -c 'import json,sys; o=json.load(sys.stdin); sys.exit(0 if (o["from"], o["to"], o.get("period")) == tuple(sys.argv[1:4]) or (o["from"], o["to"]) == tuple(sys.argv[1:3]) and len(sys.argv) == 3 and "period" not in o else 1)' "$@"; }
wait_until 10 window_is 2027-01-03 2027-01-03 "Jul og nyttår" || fail "not the period's last day at the start: $(last_cov)"
wait_until 15 window_is 2027-01-04 2027-01-17 || fail "the window did not move on at midnight: $(last_cov)"
stop_beredd
echo "PASS"
