#!/bin/sh
# Trouble is visible everywhere a monitor looks (issue 14, item 4). The SMS
# gateway (tests/integration/fake-sms.py) answers 503 to every request: a
# call-out waits for it, and /readyz says 503 (while /healthz stays 200),
# /metrics has beredd_messages_waiting{channel="sms"} > 0 and
# beredd_gateway_up{gateway="sms"} 0, the retained MQTT status on a real
# mosquitto says trouble, and `beredctl status` (text and JSON) names the
# gateway, since when and the error class. The gateway answers again: the
# message goes, and every one of them is clear again. promtool accepts
# /metrics in both states. A recipient refused by the gateway (400) leaves
# it up; a reload that changes a gateway's settings makes it "unknown"; a
# message waiting past the grace keeps /readyz 503 after the gateway is up.
# Home Assistant discovery has a sensor for the waiting messages.
# Nothing personal (names, numbers, addresses) appears in any of it.
. "$(dirname "$0")/common.sh"
command -v curl >/dev/null || skip "curl is not installed"
command -v mosquitto_sub >/dev/null || skip "mosquitto-clients is not installed"

echo '{}' > "$T/sms.ctl"
start_fake_sms --control "$T/sms.ctl" --reply '{"status":"ok"}'
wait_until 10 port_open "$SMS_PORT" || fail "fake-sms is not listening"
# control JSON: fake-sms's fault settings (it reads them at its next
# request, so each call names every setting the test uses)
control() { printf '%s' "$1" > "$T/sms.ctl.tmp"; mv "$T/sms.ctl.tmp" "$T/sms.ctl"; sleep 0.1; }

MQTT_PORT=$(free_port)
start_mosquitto "$MQTT_PORT"
HTTP_PORT=$(free_port)
H="http://127.0.0.1:$HTTP_PORT"

write_conf() { # SMS-TIMEOUT
        cat > "$T/beredd.conf" <<EOC
site = "test";
spool = "$T/spool";
people = (
  { id = "kari"; name = "Kari Nordmann"; phone = "+4791234567"; email = "kari@kommune.example"; roles = ["leader"]; },
  { id = "ola";  name = "Ola Nordmann";  phone = "+4791234568"; roles = ["member"]; }
);
gateways = (
  { id = "sms"; channel = "sms"; type = "http"; url = "http://127.0.0.1:$SMS_PORT/send";
    body = "to={to}&msg={text}&ref={ref}"; retries = 2; timeout = "$1"; },
  { id = "mail"; channel = "email"; type = "file"; }
);
chains = (
  { id = "kriseteam"; name = "Kriseteamet"; may_trigger = [ "kari" ]; need = { total = 1; };
    steps = ( { notify = [ "ola" ]; via = [ "sms" ]; wait = "10m"; } ); }
);
http = { listen = "127.0.0.1:$HTTP_PORT"; };
mqtt: { host = "127.0.0.1"; port = $MQTT_PORT; base = "beredd/test"; qos = 1; homeassistant = true; };
EOC
}
write_conf 2s
# Backoff base 20 ms: a round of retries is over at once, the next round
# starts 600 ms later.
export BEREDD_GW_BACKOFF_MS=20
start_beredd "$T/beredd.conf"
wait_until 10 port_open "$HTTP_PORT" || fail "the listener did not open port $HTTP_PORT"

# ---- helpers ----
code() { curl -s -o "$T/last" -w '%{http_code}' "$H$1"; }
code_is() { [ "$(code "$1")" = "$2" ]; }
metrics() { curl -s -o "$T/metrics" -w '%{http_code}' "$H/metrics" | grep -q 200; }
metric() { # NAME-WITH-LABELS: its value in a fresh scrape
        metrics || return 1
        awk -v m="$1" '$1 == m { print $2 }' "$T/metrics"
}
metric_is() { [ "$(metric "$1")" = "$2" ]; }
metric_above() { v=$(metric "$1"); [ -n "$v" ] && python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)" "$v" "$2"; }
promtool_ok() { # STATE
        if command -v promtool >/dev/null; then
                metrics || fail "no /metrics"
                promtool check metrics < "$T/metrics" > "$T/promtool.out" 2>&1 ||
                        { cat "$T/promtool.out" >&2; fail "promtool rejects /metrics ($1)"; }
                say "promtool accepts /metrics ($1)"
        else
                say "promtool is not installed: the format check is skipped"
        fi
}
status_json() { ctl status --json > "$T/status.json"; }
# st EXPR: a value from `beredctl status --json`
st() { status_json && json_get "$T/status.json" "$1"; }
st_is() { [ "$(st "$1")" = "$2" ]; }
# The retained status as a new subscriber gets it.
mq_status() { mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -t beredd/test/status -C 1 -W 5 > "$T/mqstatus.json"; }
mq() { mq_status && json_get "$T/mqstatus.json" "$1"; }
mq_is() { [ "$(mq "$1")" = "$2" ]; }
notify_status_is() { grep "STATUS=" "$NOTIFY_LOG" | tail -n 1 | grep -q "$1"; }
no_personal() { # FILE WHAT
        ! grep -E -q "Kari|Nordmann|\+47|4791234|kommune\.example" "$1" || fail "$2 carries personal data: $(cat "$1")"
}
trigger() { ctl trigger kriseteam --by kari -m "Øvelse: $1" --drill --json |
        python3 -c "import json,sys; d=json.load(sys.stdin); print(d['activation'])"; }
notif_state() { # ID PERSON: the state of that person's last SMS notification
        ctl show "$1" --json | python3 -c "
import json, sys
d = json.load(sys.stdin)
print([n['state'] for p in d['people'] if p['person'] == sys.argv[1] for n in p['notifications'] if n['channel'] == 'sms'][-1])" "$2"
}
state_is() { [ "$(notif_state "$1" "$2")" = "$3" ]; }

# ---- all well ----
say "before any trouble: ready, gateways up (not tried yet counts as up), nothing waits"
assert_eq "$(code /healthz)" 200 "/healthz"
assert_eq "$(code /readyz)" 200 "/readyz before any trouble: $(cat "$T/last")"
assert_eq "$(metric 'beredd_gateway_up{gateway="sms",channel="sms"}')" 1 "beredd_gateway_up before any trouble"
assert_eq "$(metric 'beredd_messages_waiting{channel="sms"}')" 0 "waiting before any trouble"
assert_eq "$(metric beredd_ready)" 1 "beredd_ready before any trouble"
promtool_ok "all well"
assert_eq "$(st '["trouble"]')" false
assert_eq "$(st '["gateway_health"][0]["state"]')" unknown
wait_until 10 mq_is '["trouble"]' false || fail "the MQTT status has no trouble flag: $(cat "$T/mqstatus.json")"
assert_eq "$(json_get "$T/mqstatus.json" '["state"]')" online
mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -t homeassistant/sensor/beredd_test_messages_waiting/config -C 1 -W 5 \
        > "$T/ha.json" || fail "no Home Assistant sensor for the waiting messages"
assert_eq "$(json_get "$T/ha.json" '["state_topic"]')" beredd/test/status "the HA sensor's state topic"

# ---- the SMS gateway answers 503 ----
say "the SMS gateway answers 503 to everything: a call-out waits for it"
control '{"fail_first": -1, "status": 503, "hang_first": 0}'
ID=$(trigger "503")
wait_until 10 metric_above 'beredd_messages_waiting{channel="sms"}' 0 || fail "no message waiting in /metrics"
assert_eq "$(metric 'beredd_gateway_up{gateway="sms",channel="sms"}')" 0 "beredd_gateway_up during the outage"
assert_eq "$(metric 'beredd_gateway_up{gateway="mail",channel="email"}')" 1 "the e-mail gateway is not down"
assert_eq "$(metric 'beredd_channel_up{channel="sms"}')" 0 "beredd_channel_up{sms} during the outage"
assert_eq "$(metric beredd_ready)" 0 "beredd_ready during the outage"
metric_above 'beredd_gateway_attempts_total{gateway="sms",result="failed"}' 1 || fail "failed attempts not counted"
promtool_ok "outage"
no_personal "$T/metrics" "/metrics"

assert_eq "$(code /readyz)" 503 "/readyz during the outage"
grep -q "no working sms gateway" "$T/last" || fail "/readyz does not say why: $(cat "$T/last")"
say "/readyz: $(cat "$T/last")"
assert_eq "$(code /healthz)" 200 "/healthz is liveness and stays 200 in a gateway outage"
assert_grep "$T/beredd.log" "Gateway sms (sms) is down: http 503"
assert_grep "$T/beredd.log" "Not ready: no working sms gateway"
wait_until 5 notify_status_is "GATEWAY TROUBLE: 1 message.*down: sms" ||
        fail "STATUS= does not name the gateway: $(grep STATUS= "$NOTIFY_LOG" | tail -n 1)"

status_json
assert_eq "$(json_get "$T/status.json" '["trouble"]')" true "status: trouble"
assert_eq "$(json_get "$T/status.json" '["ready"]')" false "status: ready"
assert_eq "$(json_get "$T/status.json" '["messages_waiting"]')" 1 "status: messages_waiting"
assert_eq "$(json_get "$T/status.json" '["channels"]["sms"]["up"]')" false "status: channels.sms.up"
assert_eq "$(json_get "$T/status.json" '["gateway_health"][0]["id"]')" sms
assert_eq "$(json_get "$T/status.json" '["gateway_health"][0]["state"]')" down
assert_eq "$(json_get "$T/status.json" '["gateway_health"][0]["last_error"]')" "http 503"
since=$(json_get "$T/status.json" '["gateway_health"][0]["since"]')
now=$(date +%s)
[ "$since" -le "$now" ] && [ "$since" -gt $((now - 60)) ] || fail "status: since=$since is not the start of the outage (now $now)"
no_personal "$T/status.json" "beredctl status --json"
ctl status > "$T/status.txt"
grep -q "sms .*DOWN since .*last: http 503" "$T/status.txt" || fail "status text: no DOWN line: $(cat "$T/status.txt")"
grep -q "GATEWAY TROUBLE: no working sms gateway; 1 message(s) waiting" "$T/status.txt" ||
        fail "status text: no trouble line: $(cat "$T/status.txt")"
grep -q "^Ready: *NO: no working sms gateway" "$T/status.txt" || fail "status text: no readiness: $(cat "$T/status.txt")"
no_personal "$T/status.txt" "beredctl status"
say "beredctl status says: $(grep -E 'DOWN|Trouble' "$T/status.txt" | tr -s ' ' | tr '\n' '|')"

wait_until 10 mq_is '["trouble"]' true || fail "the retained MQTT status does not say trouble: $(cat "$T/mqstatus.json")"
wait_until 10 mq_is '["messages_waiting"]' 1 || fail "MQTT status: messages_waiting: $(cat "$T/mqstatus.json")"
assert_eq "$(json_get "$T/mqstatus.json" '["channels"]["sms"]["up"]')" false "MQTT status: channels.sms.up"
assert_eq "$(json_get "$T/mqstatus.json" '["gateways_down"]')" 1 "MQTT status: gateways_down"
assert_eq "$(json_get "$T/mqstatus.json" '["state"]')" online
no_personal "$T/mqstatus.json" "the MQTT status"
say "MQTT status: $(cat "$T/mqstatus.json")"

# ---- recovery ----
say "the gateway answers again: the message goes, and everything is clear"
control '{"fail_first": 0, "hang_first": 0}'
wait_until 10 state_is "$ID" ola sent || fail "not sent after the gateway came back"
wait_until 10 code_is /readyz 200 || fail "/readyz did not recover: $(cat "$T/last")"
assert_eq "$(metric 'beredd_messages_waiting{channel="sms"}')" 0 "waiting after recovery"
assert_eq "$(metric 'beredd_gateway_up{gateway="sms",channel="sms"}')" 1 "beredd_gateway_up after recovery"
assert_eq "$(metric beredd_ready)" 1 "beredd_ready after recovery"
promtool_ok "recovered"
wait_until 10 mq_is '["trouble"]' false || fail "the MQTT status still says trouble: $(cat "$T/mqstatus.json")"
assert_eq "$(json_get "$T/mqstatus.json" '["messages_waiting"]')" 0
status_json
assert_eq "$(json_get "$T/status.json" '["trouble"]')" false "status: trouble after recovery"
assert_eq "$(json_get "$T/status.json" '["gateway_health"][0]["state"]')" up
ctl status > "$T/status.txt"
grep -q "sms .* up since" "$T/status.txt" || fail "status text after recovery: $(cat "$T/status.txt")"
! grep -q "TROUBLE" "$T/status.txt" || fail "status text still says trouble: $(cat "$T/status.txt")"
wait_until 5 notify_status_is "running" || fail "STATUS= did not recover: $(grep STATUS= "$NOTIFY_LOG" | tail -n 1)"
assert_grep "$T/beredd.log" "Gateway sms (sms) is up again after"
assert_grep "$T/beredd.log" "Ready again"

# ---- a recipient refused is not a gateway down ----
say "a recipient the gateway refuses (400) leaves the gateway up"
control '{"fail_first": 1, "status": 400, "hang_first": 0}'
ID=$(trigger "400")
wait_until 10 state_is "$ID" ola unreachable || fail "the refused recipient is not unreachable: $(notif_state "$ID" ola)"
assert_eq "$(metric 'beredd_gateway_up{gateway="sms",channel="sms"}')" 1 "a recipient-level refusal made the gateway down"
metric_above 'beredd_gateway_attempts_total{gateway="sms",result="refused"}' 0 || fail "refused attempts not counted"
assert_eq "$(code /readyz)" 200 "/readyz after a recipient-level refusal: $(cat "$T/last")"

# ---- a timeout, then a reload that changes the gateway ----
say "a gateway that hangs is down with 'timeout'; a reload that changes its settings makes it unknown"
write_conf 1s
kill -HUP "$BEREDD_PID"
wait_until 10 grep -q "Reloaded" "$T/beredd.log" || fail "no reload"
control '{"fail_first": 0, "hang_first": 100, "hang_seconds": 3}'
ID=$(trigger "hang")
wait_until 20 st_is '["gateway_health"][0]["last_error"]' timeout || fail "no timeout class: $(cat "$T/status.json")"
assert_eq "$(json_get "$T/status.json" '["gateway_health"][0]["state"]')" down
write_conf 3s
kill -HUP "$BEREDD_PID"
wait_until 10 st_is '["gateway_health"][0]["state"]' unknown || fail "a changed gateway kept its old state after a reload"
control '{"fail_first": 0, "hang_first": 0}'
wait_until 20 state_is "$ID" ola sent || fail "not sent after the hangs ended"
wait_until 10 code_is /readyz 200 || fail "/readyz did not recover after the hang: $(cat "$T/last")"
stop_beredd

# ---- waiting past the grace ----
say "a message waiting past the grace keeps /readyz 503 while the gateway works again"
# Rounds every 30 x 300 ms = 9 s: the first message still waits for its
# next round when a second one has gone through; the grace is 300 ms.
control '{"fail_first": -1, "status": 503, "hang_first": 0}'
export BEREDD_GW_BACKOFF_MS=300 BEREDD_READY_GRACE_MS=300
start_beredd "$T/beredd.conf"
wait_until 10 port_open "$HTTP_PORT" || fail "the listener did not open port $HTTP_PORT"
ID1=$(trigger "waits")
wait_until 10 metric_above 'beredd_messages_waiting{channel="sms"}' 0 || fail "no message waiting"
control '{"fail_first": 0, "hang_first": 0}'
ID2=$(trigger "goes")
wait_until 10 state_is "$ID2" ola sent || fail "the second message was not sent"
assert_eq "$(metric 'beredd_gateway_up{gateway="sms",channel="sms"}')" 1 "the gateway is up again"
assert_eq "$(state_is "$ID1" ola sending && echo waiting)" waiting "the first message is no longer waiting: too slow a machine?"
assert_eq "$(code /readyz)" 503 "/readyz while a message waits past the grace: $(cat "$T/last")"
grep -q "1 message(s) waiting for a gateway, the oldest for" "$T/last" || fail "/readyz does not say why: $(cat "$T/last")"
metric_above 'beredd_messages_waiting_oldest_seconds{channel="sms"}' 0.3 || fail "the oldest wait is not in /metrics"
say "/readyz: $(cat "$T/last")"
wait_until 30 state_is "$ID1" ola sent || fail "the first message was not sent in its next round"
wait_until 10 code_is /readyz 200 || fail "/readyz did not recover: $(cat "$T/last")"
promtool_ok "after the grace"
stop_beredd
say "ok"
