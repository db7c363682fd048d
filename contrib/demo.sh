#!/bin/sh
# demo.sh - see beredd run on its embedded default, conf/demo.conf: installs
# what is missing, builds, starts a private mosquitto on 127.0.0.1:18830 and
# beredd in the foreground, shows `beredctl status` and the retained MQTT
# status, runs a drill (trigger, answers, quorum, stand-down, resolve,
# report) through the file gateway, and stops both cleanly (Ctrl-C, or at
# once when not on a terminal).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
. contrib/deps.sh
beredd_install_deps $BEREDD_BUILD_DEPS mosquitto mosquitto-clients

[ -x configure ] || ./autogen.sh >/dev/null
mkdir -p build-demo
(cd build-demo && { [ -f Makefile ] || "$top/configure" >/dev/null; } && make -j"$(nproc)" >/dev/null)

run=$(mktemp -d /tmp/beredd-demo-run.XXXXXX)
SOCK="$run/control"
mosq_pid="" beredd_pid=""
stop() {
        trap - EXIT INT TERM
        if [ -n "$beredd_pid" ]; then
                echo; echo "--- stopping beredd (SIGTERM to PID $beredd_pid)"
                kill -TERM "$beredd_pid" 2>/dev/null && wait "$beredd_pid" 2>/dev/null || true
                tail -n 3 "$run/beredd.log"
        fi
        [ -n "$mosq_pid" ] && kill -TERM "$mosq_pid" 2>/dev/null || true
        wait 2>/dev/null || true
        rm -rf "$run"
        echo "--- stopped. The demo spool is kept in /var/tmp/beredd-demo (delete it when you like)."
}
trap stop EXIT INT TERM

printf 'listener 18830 127.0.0.1\nallow_anonymous true\npersistence false\n' > "$run/mosquitto.conf"
mosquitto -c "$run/mosquitto.conf" >"$run/mosquitto.log" 2>&1 &
mosq_pid=$!

echo "--- checking the configuration"
build-demo/beredd --check-config -c conf/demo.conf

echo "--- starting: beredd -f -c conf/demo.conf -s $SOCK"
build-demo/beredd -f -c conf/demo.conf -s "$SOCK" >"$run/beredd.log" 2>&1 &
beredd_pid=$!
i=0
until build-demo/beredctl -s "$SOCK" status >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 100 ] || { cat "$run/beredd.log"; exit 1; }
        kill -0 "$beredd_pid" 2>/dev/null || { cat "$run/beredd.log"; exit 1; }
        sleep 0.1
done
cat "$run/beredd.log"

echo; echo "--- beredctl status"
build-demo/beredctl -s "$SOCK" status

echo; echo "--- what a dashboard sees on MQTT (retained beredd/demo/status)"
sleep 0.5
mosquitto_sub -h 127.0.0.1 -p 18830 -t 'beredd/demo/status' -C 1 -W 3 -v || echo "(no message yet)"

ctl() { build-demo/beredctl -s "$SOCK" "$@"; }
OUT=/var/tmp/beredd-demo/outbox
show_outbox() { # print the messages that arrived since the last call
        python3 - "$OUT" "$run/marker" <<'EOP'
import json, os, sys
out, marker = sys.argv[1], sys.argv[2]
since = float(open(marker).read() or 0) if os.path.exists(marker) else 0.0
files = sorted((os.stat(os.path.join(out, f)).st_mtime_ns, f) for f in os.listdir(out) if f.endswith(".json"))
for ns, f in files:
    if ns / 1e9 > since:
        m = json.load(open(os.path.join(out, f)))
        print("  %-6s til %-7s %s" % (m["channel"], m["person"], m["text"].splitlines()[0]))
if files:
    open(marker, "w").write(str(files[-1][0] / 1e9))
EOP
}
echo 0 > "$run/marker"

echo; echo "--- a drill: the team leader convenes the crisis team"
echo "\$ beredctl trigger kriseteam --drill --by leder -m \"Øvelse: trafikkulykke på E6 ved Heimdal\""
ctl trigger kriseteam --drill --by leder -m "Øvelse: trafikkulykke på E6 ved Heimdal" --json > "$run/trig.json"
ID=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['activation'])" "$run/trig.json")
CODE=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['code'])" "$run/trig.json")
sleep 0.5
echo "Messages written by the file gateway to $OUT:"; show_outbox

echo; echo "--- the leader answers yes; after 20 s without a quorum the sequential step starts"
ctl reply "$CODE" yes --person leder
sleep 0.5; show_outbox
echo "--- prest and psyk answer yes: the quorum (3, one leader) is met, the rest are stood down"
ctl reply "$CODE" yes --person prest
ctl reply "$CODE" ja --phone "400 00 003"
sleep 0.5; show_outbox

echo; echo "--- beredctl show $ID"
ctl show "$ID"
echo; echo "--- beredctl resolve $ID, then the after-action report"
ctl resolve "$ID" --by leder
sleep 0.5; show_outbox
ctl report "$ID" | tail -n 25

echo; echo "--- a bad drop file goes to failed/ with its reason"
printf '{"cmd":"trigger","chain":"brannvesen","by":"leder"}' > /var/tmp/beredd-demo/incoming/.demo.tmp
mv /var/tmp/beredd-demo/incoming/.demo.tmp /var/tmp/beredd-demo/incoming/demo-$$.json
sleep 0.3
cat /var/tmp/beredd-demo/failed/demo-$$.json.reason

echo
echo "beredd is running as PID $beredd_pid. To stop it: kill $beredd_pid (SIGTERM), or press Ctrl-C here."
if [ -t 0 ]; then
        while kill -0 "$beredd_pid" 2>/dev/null; do sleep 1; done
fi
