#!/bin/sh
# MQTT against a real mosquitto on a free loopback port: retained online
# status, offline on a clean stop, the last will on a crash, and reconnecting
# after the broker comes back, while the daemon keeps working throughout.
. "$(dirname "$0")/common.sh"
command -v mosquitto_sub >/dev/null || skip "mosquitto-clients is not installed"

PORT=$(free_port)
start_mosquitto "$PORT"
write_config "$T/beredd.conf" "$PORT"

sub_status() { mosquitto_sub -h 127.0.0.1 -p "$PORT" -t beredd/test/status -C 1 -W 5 2>/dev/null; }
status_is() { sub_status | grep -q "\"state\":\"$1\""; }

say "online, retained, after start"
start_beredd "$T/beredd.conf"
wait_until 10 status_is online || fail "no retained online status"
sub_status > "$T/status.msg"
assert_grep "$T/status.msg" '"site":"test"'
wait_until 5 sh -c "\"$BEREDCTL\" -s \"$T/control\" status --json | grep -q '\"mqtt\": \"connected\"'" || fail "status does not say connected"

say "offline, retained, after a clean stop"
stop_beredd
wait_until 5 status_is offline || fail "no offline status after a clean stop"

say "the last will says offline after a crash"
start_beredd "$T/beredd.conf"
wait_until 10 status_is online || fail "not online again"
kill_beredd
wait_until 10 status_is offline || fail "the last will was not published"

say "the broker goes away and comes back; the daemon keeps serving and reconnects"
start_beredd "$T/beredd.conf"
wait_until 10 status_is online || fail "not online"
stop_mosquitto
wait_until 10 sh -c "\"$BEREDCTL\" -s \"$T/control\" status --json | grep -q '\"mqtt\": \"disconnected\"'" || fail "status does not say disconnected"
ctl status >/dev/null || fail "daemon not serving while the broker is down"
start_mosquitto "$PORT"
wait_until 20 status_is online || fail "did not reconnect and republish the retained status"
stop_beredd
say "ok"
