#!/bin/sh
# The MESSAGE_IDs as the journal gets them: each event of a call-out, a
# check, a reload, a stop and a gateway outage carries its own id from
# daemon/log.h (the ids systemd/beredd.catalog explains; tests/catalog.py
# checks the lists), with BEREDD_ACTIVATION, BEREDD_CHAIN and BEREDD_DRILL,
# or BEREDD_GATEWAY and BEREDD_CHANNEL, so "the team was not mobilised" can
# be alerted on alone. A preloaded sd_journal_sendv records every field
# beredd sends (as in tests/security/privacy.sh).
. "$(dirname "$0")/common.sh"

record_journal "$T"

# msgid NAME: the id daemon/log.h gives MSGID_NAME.
msgid() {
        id=$(sed -n "s/^#define MSGID_$1 *\"\([0-9a-f]\{32\}\)\".*/\1/p" "$top_srcdir/daemon/log.h")
        [ -n "$id" ] || fail "no MSGID_$1 in daemon/log.h"
        echo "$id"
}
# logged NAME FIELD=VALUE...: some journal entry has MSGID_NAME's id and
# every field given.
logged() {
        python3 - "$JOURNAL" "$(msgid "$1")" "$@" <<'EOP'
import sys
path, mid, want = sys.argv[1], sys.argv[2], sys.argv[4:]
entries = [e.splitlines() for e in open(path, encoding="utf-8", errors="replace").read().split("\n\n")]
sys.exit(0 if any("MESSAGE_ID=" + mid in e and all(w in e for w in want) for e in entries) else 1)
EOP
}
# ids_of PATTERN: the MESSAGE_IDs of the entries whose MESSAGE matches PATTERN.
ids_of() {
        python3 - "$JOURNAL" "$1" <<'EOP'
import re, sys
path, pat = sys.argv[1], sys.argv[2]
for e in open(path, encoding="utf-8", errors="replace").read().split("\n\n"):
    f = dict(l.split("=", 1) for l in e.splitlines() if "=" in l)
    if re.search(pat, f.get("MESSAGE", "")):
        print(f.get("MESSAGE_ID", "-"))
EOP
}
expect() { # NAME FIELD=VALUE... : wait for it
        wait_until 10 logged "$@" || fail "no journal entry with MSGID_$1 ($(msgid "$1")) and $*"
}

write_conf() { # FILE WAIT
        cat > "$1" <<EOC
site = "test";
spool = "$T/spool";
people = (
  { id = "kari"; name = "Kari Nordmann"; phone = "+4791234567"; roles = ["leader"]; },
  { id = "ola"; name = "Ola Nordmann"; phone = "+4791234568"; roles = ["member"]; },
  { id = "legevakt"; name = "Legevakten"; phone = "+4773000000"; roles = ["fallback"]; }
);
gateways = ( { id = "outbox"; channel = "any"; type = "file"; } );
chains = (
  { id = "kriseteam";
    may_trigger = [ "kari", "role:fallback" ];
    need = { total = 2; roles = { leader = 1; }; };
    steps = (
      { notify = [ "role:leader" ]; via = [ "sms" ]; wait = "$2"; },
      { notify = [ "role:member" ]; via = [ "sms" ]; wait = "$2"; },
      { notify = [ "legevakt" ]; via = [ "sms" ]; final = true; }
    );
  }
);
EOC
}
write_conf "$T/beredd.conf" 1s
start_beredd "$T/beredd.conf"
expect STARTED

say "a drill whose leader says no: impossible at once, then short, each with its own id"
ctl trigger kriseteam --by legevakt --drill -m "Øvelse" --json > "$T/trig.json"
ID=$(json_get "$T/trig.json" '["activation"]'); CODE=$(json_get "$T/trig.json" '["code"]')
expect ACTIVATION_STARTED "BEREDD_ACTIVATION=$ID" BEREDD_CHAIN=kriseteam BEREDD_DRILL=1
ctl reply "$CODE" nei --person kari > /dev/null
expect QUORUM_IMPOSSIBLE "BEREDD_ACTIVATION=$ID" BEREDD_DRILL=1
expect ACTIVATION_SHORT "BEREDD_ACTIVATION=$ID" BEREDD_CHAIN=kriseteam BEREDD_DRILL=1 PRIORITY=4
assert_eq "$(ids_of "^Activation $ID .*: short\$")" "$(msgid ACTIVATION_SHORT)" "the short line has another id"
ctl resolve "$ID" --by kari > /dev/null
expect ACTIVATION_RESOLVED "BEREDD_ACTIVATION=$ID"

say "a real call-out: mobilised, a yes becomes a no (lost, mobilising again), resolved"
write_conf "$T/beredd.conf" 60s
kill -HUP "$BEREDD_PID"
expect RELOADED
ctl trigger kriseteam --by kari -m "Brann" --json > "$T/trig.json"
ID2=$(json_get "$T/trig.json" '["activation"]'); CODE2=$(json_get "$T/trig.json" '["code"]')
expect ACTIVATION_STARTED "BEREDD_ACTIVATION=$ID2" BEREDD_DRILL=0
ctl reply "$CODE2" ja --person kari > /dev/null
wait_until 5 has_outbox ola "Svar JA" || fail "ola was not asked"
ctl reply "$CODE2" ja --person ola > /dev/null
expect ACTIVATION_MOBILISED "BEREDD_ACTIVATION=$ID2" BEREDD_CHAIN=kriseteam BEREDD_DRILL=0
ctl reply "$CODE2" nei --person ola > /dev/null
expect QUORUM_LOST "BEREDD_ACTIVATION=$ID2"
expect ACTIVATION_MOBILISING "BEREDD_ACTIVATION=$ID2"
ctl resolve "$ID2" --by kari > /dev/null
expect ACTIVATION_RESOLVED "BEREDD_ACTIVATION=$ID2"
for st in mobilised short mobilising resolved; do
        n=$(ids_of "^Activation [^ ]+ \(kriseteam.*\): $st\$" | sort -u)
        assert_eq "$n" "$(msgid "ACTIVATION_$(echo $st | tr a-z A-Z)")" "the $st lines carry $n"
done
[ -z "$(ids_of ': (mobilised|short|resolved)$' | grep -x "$(msgid ACTIVATION_STARTED)")" ] ||
        fail "a state change still carries the id of 'started'"

say "a contact-list check: started and ended, not the call-out's ids"
ctl verify kriseteam --by kari --window 60s --json > "$T/verify.json"
VID=$(json_get "$T/verify.json" '["activation"]'); VCODE=$(json_get "$T/verify.json" '["code"]')
expect VERIFY_STARTED "BEREDD_ACTIVATION=$VID"
for p in kari ola legevakt; do ctl reply "$VCODE" yes --person $p > /dev/null; done
expect VERIFY_ENDED "BEREDD_ACTIVATION=$VID"
logged ACTIVATION_STARTED "BEREDD_ACTIVATION=$VID" && fail "the check was logged as a call-out"

say "a reload that fails keeps the configuration and says so"
echo "chains = (" >> "$T/beredd.conf"
kill -HUP "$BEREDD_PID"
expect RELOAD_FAILED PRIORITY=3
stop_beredd
expect STOPPED

say "an SMS gateway outage and its end: down, every gateway failed, not ready; up, recovered, ready again"
echo '{"fail_first": -1, "status": 500}' > "$T/sms.ctl"
start_fake_sms --control "$T/sms.ctl"
cat > "$T/outage.conf" <<EOC
site = "test";
spool = "$T/spool";
people = ( { id = "kari"; name = "Kari Nordmann"; phone = "+4791234567"; roles = ["leader"]; } );
gateways = ( { id = "sms-main"; channel = "sms"; type = "http"; url = "http://127.0.0.1:$SMS_PORT/send";
               body = "to={to}&msg={text}"; retries = 1; timeout = "1s"; } );
chains = ( { id = "kriseteam"; may_trigger = [ "kari" ]; need = { total = 1; };
             steps = ( { notify = [ "kari" ]; via = [ "sms" ]; wait = "10m"; } ); } );
EOC
# Backoff base 20 ms: rounds of retries well under a second apart.
BEREDD_GW_BACKOFF_MS=20 start_beredd "$T/outage.conf"
ctl trigger kriseteam --by kari -m "Øvelse" --drill > /dev/null
expect GATEWAY_STATE_DOWN BEREDD_GATEWAY=sms-main BEREDD_CHANNEL=sms PRIORITY=4
expect GATEWAY_DOWN BEREDD_GATEWAY=sms-main BEREDD_CHANNEL=sms
expect NOT_READY
printf '%s' '{"fail_first": 0}' > "$T/sms.ctl.tmp" && mv "$T/sms.ctl.tmp" "$T/sms.ctl"
expect GATEWAY_STATE_UP BEREDD_GATEWAY=sms-main BEREDD_CHANNEL=sms
expect GATEWAYS_RECOVERED
expect READY_AGAIN
stop_beredd
say "ok"
