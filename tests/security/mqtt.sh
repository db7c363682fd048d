#!/bin/sh
# Security: MQTT is read-only unless the operator opens it (issue 13, item 5),
# against a real mosquitto and the real daemon. A stranger on an anonymous
# broker cannot trigger with the default configuration; opened, triggers are
# drills acting as mqtt.trigger_identity; an answer needs the code and the
# person id and answers drills only; wrong codes lock MQTT answers out;
# replies carry no code, phone, e-mail or other person id; retained commands
# never run (published live, left in the session while the daemon was down,
# or across a restart; with MQTT v5, and with v3.1.1 through a proxy that
# refuses v5) and are cleared; an empty retained message gets no reply.
. "$top_srcdir/tests/integration/common.sh"
command -v mosquitto_sub >/dev/null || skip "mosquitto-clients is not installed"

PORT=$(free_port)
B=beredd/test
mkdir -p "$T/mq"
BROKER="persistence true
persistence_location $T/mq/"
start_mosquitto_conf "$PORT" "$BROKER"

ALL="$T/all.log"
: > "$ALL"
mqtt_sub_bg "$ALL" -h 127.0.0.1 -p "$PORT" -V mqttv5 -c -i sec-all -q 1 -t '#' -F '%t|%r|%p'
pub() { mosquitto_pub -h 127.0.0.1 -p "$PORT" -q 1 "$@"; }
wait_until 10 sh -c "mosquitto_pub -h 127.0.0.1 -p $PORT -t test/probe -m ready; grep -q '^test/probe|' '$ALL'" \
        || fail "the subscriber did not start"
last() { grep "^$1|" "$ALL" | tail -n 1 | cut -d'|' -f3-; }
seen() { grep -q "^$1|" "$ALL"; }
n_acts() { ctl --json list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["activations"]))'; }
replies() { grep -c "^$B/reply/" "$ALL" || true; }
# marker ID: a command the daemon answers; once its reply is in, everything
# published before it has been handled (one connection, in order).
marker() {
        pub -t "$B/cmd/frobnicate" -m "{\"id\":\"$1\"}"
        wait_until 10 seen "$B/reply/$1" || fail "no reply to the marker $1"
}
jq() { python3 -c "import json,sys; v=json.loads(sys.argv[1])$2; print(v)" "$3"; }

say "the default configuration: MQTT is read-only"
write_config "$T/beredd.conf" "$PORT"
sed -i 's/base = "beredd\/test"; qos = 1;/base = "beredd\/test"; qos = 1; trigger_identity = "kari";/' "$T/beredd.conf"
grep -q 'trigger_identity = "kari"' "$T/beredd.conf" || fail "could not set trigger_identity"
"$BEREDD" --check-config -c "$T/beredd.conf" >/dev/null || fail "the default MQTT config does not pass --check-config"
start_beredd "$T/beredd.conf"
wait_until 10 sh -c "mosquitto_sub -h 127.0.0.1 -p $PORT -t $B/status -C 1 -W 2 | grep -q online" || fail "not online"
pub -t "$B/cmd/trigger" -m '{"id":"s1","chain":"kriseteam","message":"x"}'
pub -t "$B/cmd/trigger" -m '{"id":"s2","chain":"kriseteam","message":"x","drill":true}'
pub -t "$B/cmd/reply" -m '{"id":"s3","code":"1234","person":"kari","answer":"yes"}'
for i in s1 s2 s3; do
        wait_until 10 seen "$B/reply/$i" || fail "no reply on reply/$i"
        last "$B/reply/$i" | grep -q '"ok":false,"error":"cmd: \\"[a-z]*\\" is not allowed over MQTT' \
                || fail "$i was not refused: $(last "$B/reply/$i")"
done
assert_eq "$(n_acts)" 0 "a stranger's trigger started an activation"
stop_beredd

say "opened: commands = trigger, reply, resolve (drill_only by default)"
sed -i 's/trigger_identity = "kari";/trigger_identity = "kari"; commands = [ "trigger", "reply", "resolve" ];/' "$T/beredd.conf"
start_beredd "$T/beredd.conf"
pub -t "$B/cmd/trigger" -m '{"id":"d0","chain":"kriseteam","message":"x"}'
wait_until 10 seen "$B/reply/d0" || fail "no reply on reply/d0"
last "$B/reply/d0" | grep -q '"ok":false,"error":"drill: MQTT starts drills only' \
        || fail "a real trigger over MQTT was not refused: $(last "$B/reply/d0")"
assert_eq "$(n_acts)" 0 "a refused trigger started an activation"
pub -t "$B/cmd/trigger" -m '{"id":"d0b","chain":"kriseteam","message":"x","drill":false}'
wait_until 10 seen "$B/reply/d0b" || fail "no reply on reply/d0b"
last "$B/reply/d0b" | grep -q '"error":"drill: MQTT starts drills only' || fail "drill:false was not refused"

pub -t "$B/cmd/trigger" -m '{"id":"d1","chain":"kriseteam","message":"x","drill":true}'
wait_until 10 seen "$B/reply/d1" || fail "no reply on reply/d1"
R=$(last "$B/reply/d1")
assert_eq "$(jq "$R" '["ok"]' "$R")" True "the drill was refused: $R"
A=$(jq "$R" '["activation"]' "$R")
SHOW=$(ctl --json show "$A")
assert_eq "$(jq "$SHOW" '["by"]' "$SHOW")" kari "the drill does not act as mqtt.trigger_identity"
assert_eq "$(jq "$SHOW" '["drill"]' "$SHOW")" True "not a drill"
CODE=$(jq "$SHOW" '["code"]' "$SHOW")
# as values, not digits anywhere (the code's four digits may occur in the
# activation id or the timestamp)
printf '%s' "$R" | python3 -c '
import json, sys
def values(v):
    if isinstance(v, dict):
        for k, x in v.items():
            yield k
            yield from values(x)
    elif isinstance(v, list):
        for x in v:
            yield from values(x)
    else:
        yield str(v)
r = json.load(sys.stdin)
sys.exit(1 if any(x in ("code", sys.argv[1], "kari") or "kari" in x for x in values(r)) else 0)' "$CODE" ||
        fail "the trigger's reply carries the code or the identity: $R"
pub -t "$B/cmd/trigger" -m '{"id":"d2","chain":"kriseteam","message":"x","drill":true,"by":"ola"}'
wait_until 10 seen "$B/reply/d2" || fail "no reply on reply/d2"
last "$B/reply/d2" | grep -q '"ok":false' || fail "by ola was accepted"
last "$B/reply/d2" | grep -q kari && fail "the error names the trigger identity: $(last "$B/reply/d2")"

say "the v5 response topic gets the same filtered reply"
pub -V mqttv5 -t "$B/cmd/trigger" -m '{"chain":"kriseteam","message":"x","drill":true}' \
        -D publish response-topic test/resp/1 -D publish correlation-data c1
wait_until 10 seen test/resp/1 || fail "no reply on the response topic"
last test/resp/1 | grep -q '"ok":true' || fail "the drill over the response topic was refused: $(last test/resp/1)"
last test/resp/1 | grep -q '"code"' && fail "the response-topic reply carries the code: $(last test/resp/1)"

say "answers: the code and the person id are needed"
pub -t "$B/cmd/reply" -m "{\"id\":\"a1\",\"activation\":\"$A\",\"person\":\"kari\",\"answer\":\"yes\"}"
pub -t "$B/cmd/reply" -m "{\"id\":\"a2\",\"code\":\"$CODE\",\"phone\":\"+4791234567\",\"answer\":\"yes\"}"
pub -t "$B/cmd/reply" -m "{\"id\":\"a3\",\"code\":\"$CODE\",\"email\":\"kari@kommune.example\",\"answer\":\"yes\"}"
for i in a1 a2 a3; do
        wait_until 10 seen "$B/reply/$i" || fail "no reply on reply/$i"
        last "$B/reply/$i" | grep -q '"ok":false' || fail "$i was accepted: $(last "$B/reply/$i")"
done
last "$B/reply/a1" | grep -q '"error":"code: an answer over MQTT needs the reply code"' || fail "a1: $(last "$B/reply/a1")"
last "$B/reply/a2" | grep -q '"error":"person: ' || fail "a2: $(last "$B/reply/a2")"
SHOW=$(ctl --json show "$A")
assert_eq "$(jq "$SHOW" '["confirmed"]' "$SHOW")" 0 "an answer without the code or by phone counted"
pub -t "$B/cmd/reply" -m "{\"id\":\"a4\",\"activation\":\"$A\",\"code\":\"$CODE\",\"person\":\"kari\",\"answer\":\"yes\"}"
wait_until 10 seen "$B/reply/a4" || fail "no reply on reply/a4"
R=$(last "$B/reply/a4")
assert_eq "$(jq "$R" '["ok"]' "$R")" True "a proper answer was refused: $R"
assert_eq "$(jq "$R" '["person"]' "$R")" kari "the reply does not name the person the request named"
echo "$R" | grep -q "\"code\"" && fail "the answer's reply carries the code: $R"

say "a real activation cannot be answered or resolved over MQTT (drill_only)"
OUT=$(ctl --json trigger kriseteam --by kari -m "real") || fail "real trigger refused on the socket"
RA=$(jq "$OUT" '["activation"]' "$OUT")
RC=$(jq "$OUT" '["code"]' "$OUT")
pub -t "$B/cmd/reply" -m "{\"id\":\"r1\",\"code\":\"$RC\",\"person\":\"ola\",\"answer\":\"yes\"}"
pub -t "$B/cmd/resolve" -m "{\"id\":\"r2\",\"activation\":\"$RA\"}"
wait_until 10 seen "$B/reply/r1" || fail "no reply on reply/r1"
wait_until 10 seen "$B/reply/r2" || fail "no reply on reply/r2"
last "$B/reply/r1" | grep -q "\"error\":\"code: no drill with reply code \\\\\"$RC\\\\\"; nothing changed\"" \
        || fail "r1: $(last "$B/reply/r1")"
last "$B/reply/r2" | grep -q '"error":"activation: MQTT resolves drills only' || fail "r2: $(last "$B/reply/r2")"
SHOW=$(ctl --json show "$RA")
assert_eq "$(jq "$SHOW" '["confirmed"]' "$SHOW")" 0 "an MQTT answer counted for a real activation"
assert_eq "$(jq "$SHOW" '["state"]' "$SHOW")" mobilising "a real activation was resolved over MQTT"

say "retained commands never run: published while connected (v5 Retain-As-Published)"
n0=$(n_acts)
pub -r -t "$B/cmd/trigger" -m '{"id":"ret1","chain":"kriseteam","message":"x","drill":true}'
marker m1
assert_eq "$(n_acts)" "$n0" "a retained trigger published while connected was run"
seen "$B/reply/ret1" && fail "a retained trigger got a reply"
wait_until 5 grep -q "ignoring a retained command on $B/cmd/trigger" "$T/beredd.log" || fail "not logged"
say "and it is cleared (no retained cmd/trigger left; the clear gets no reply)"
wait_until 5 sh -c "[ -z \"\$(mosquitto_sub -h 127.0.0.1 -p $PORT -t $B/cmd/trigger -C 1 -W 1 2>/dev/null)\" ]" \
        || fail "the retained command was not cleared"

say "a retained command left while the daemon was down, and a restart"
stop_beredd
pub -r -t "$B/cmd/trigger" -m '{"id":"ret2","chain":"kriseteam","message":"x","drill":true}'
start_beredd "$T/beredd.conf"
marker m2
assert_eq "$(n_acts)" "$n0" "a retained trigger was run after a restart"
seen "$B/reply/ret2" && fail "a retained trigger got a reply after a restart"
stop_beredd
start_beredd "$T/beredd.conf"
marker m3
assert_eq "$(n_acts)" "$n0" "a retained trigger was run after the second restart"

say "an empty retained message clears silently"
n=$(replies)
pub -r -t "$B/cmd/trigger" -n
pub -r -t "$B/cmd/reply" -n
marker m4
assert_eq "$(replies)" "$((n + 1))" "an empty retained message got a reply"

say "MQTT v3.1.1 (a broker that refuses v5, through a proxy): no command runs, retained ones neither"
stop_beredd
PPORT=$(free_port)
python3 "$top_srcdir/tests/security/mqtt311-proxy.py" "$PPORT" "$PORT" > "$T/proxy.log" 2>&1 &
PIDS="$PIDS $!"
wait_until 5 grep -q LISTENING "$T/proxy.log" || fail "the v3.1.1 proxy did not start"
sed "s/port = $PORT; base = \"beredd\/test\";/port = $PPORT; base = \"beredd\/test\"; client_id = \"beredd-t311\";/" \
        "$T/beredd.conf" > "$T/beredd311.conf"
grep -q "port = $PPORT;" "$T/beredd311.conf" || fail "could not write the v3.1.1 configuration"
start_beredd "$T/beredd311.conf"
wait_until 15 sh -c "mosquitto_sub -h 127.0.0.1 -p $PORT -t $B/status -C 1 -W 2 | grep -q '\"protocol\":\"3.1.1\"'" \
        || fail "not connected with v3.1.1"
pub -t "$B/cmd/trigger" -m '{"id":"v1","chain":"kriseteam","message":"x","drill":true}'
wait_until 10 seen "$B/reply/v1" || fail "no reply on reply/v1"
last "$B/reply/v1" | grep -q '"ok":false,"error":"cmd: commands need a broker that speaks MQTT v5' \
        || fail "v3.1.1: a command was not refused: $(last "$B/reply/v1")"
pub -r -t "$B/cmd/trigger" -m '{"id":"v2","chain":"kriseteam","message":"x","drill":true}'
marker m5
assert_eq "$(n_acts)" "$n0" "v3.1.1: a command was run"
say "v3.1.1: after a restart the retained command is delivered as retained: cleared silently"
stop_beredd
n=$(replies)
start_beredd "$T/beredd311.conf"
wait_until 10 sh -c "[ -z \"\$(mosquitto_sub -h 127.0.0.1 -p $PORT -t $B/cmd/trigger -C 1 -W 1 2>/dev/null)\" ]" \
        || fail "v3.1.1: the retained command was not cleared"
pub -t "$B/cmd/reply" -n
marker m6
assert_eq "$(replies)" "$((n + 1))" "v3.1.1: a retained or empty message got a reply"
assert_eq "$(n_acts)" "$n0" "v3.1.1: a retained command was run after a restart"
stop_beredd
start_beredd "$T/beredd.conf"

say "wrong codes over MQTT: after 5, answers over MQTT are refused for a while"
DC=$(ctl --json show "$A" | python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])')
for i in 1 2 3 4 5; do
        w=$(python3 -c "import sys; print('%04d' % ((int(sys.argv[1]) + int(sys.argv[2])) % 10000))" "$DC" "$i")
        pub -t "$B/cmd/reply" -m "{\"id\":\"w$i\",\"code\":\"$w\",\"person\":\"ola\",\"answer\":\"yes\"}"
        wait_until 10 seen "$B/reply/w$i" || fail "no reply on reply/w$i"
done
pub -t "$B/cmd/reply" -m "{\"id\":\"w6\",\"code\":\"$DC\",\"person\":\"ola\",\"answer\":\"yes\"}"
wait_until 10 seen "$B/reply/w6" || fail "no reply on reply/w6"
last "$B/reply/w6" | grep -q '"error":"code: too many wrong reply codes over MQTT' || fail "w6: $(last "$B/reply/w6")"
[ "$(grep -c 'wrong reply codes within' "$T/beredd.log")" = 1 ] || fail "the lock-out is not logged exactly once"
stop_beredd

say "replies carry no code, phone, e-mail or person id beyond the request's"
kill "$SUB_PID" 2>/dev/null || true
python3 - "$ALL" "$T/beredd.conf" "$B" <<'EOP' || fail "a reply leaks (see above)"
import json, re, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
conf = open(sys.argv[2], encoding="utf-8").read()
base = sys.argv[3]
phones = [re.sub(r"\D", "", p)[-8:] for p in re.findall(r'phone = "([^"]+)"', conf)]
emails = re.findall(r'email = "([^"]+)"', conf)
ids = re.findall(r'\{ id = "([^"]+)"; name', conf)
reqs, bad = {}, []
for l in lines:
    t, r, p = l.split("|", 2)
    if t.startswith(base + "/cmd/"):
        try:
            o = json.loads(p)
            if isinstance(o, dict) and "id" in o:
                reqs[o["id"]] = o
        except ValueError:
            pass
replies = [(l.split("|", 2)[0], l.split("|", 2)[2]) for l in lines
           if l.startswith(base + "/reply/") or l.startswith("test/resp/")]
for t, p in replies:
    o = json.loads(p)
    req = reqs.get(o.get("id"), {})
    if "code" in o:
        bad.append("%s: a code field" % t)
    for d in phones:
        if re.search(r"(?<!\d)" + r"[\s.\-]?".join(d) + r"(?!\d)", p):
            bad.append("%s: a phone number" % t)
    for e in emails:
        if e.lower() in p.lower():
            bad.append("%s: an e-mail address" % t)
    for i in ids:
        if re.search(r"\b%s\b" % re.escape(i), p) and i not in (req.get("person"), req.get("by")):
            bad.append("%s: person id %s the request did not name" % (t, i))
for b in bad:
    print("LEAK:", b)
print("# checked %d replies" % len(replies))
sys.exit(1 if bad else 0)
EOP
say "ok"
