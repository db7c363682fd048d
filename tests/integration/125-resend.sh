#!/bin/sh
# A request beredd sends once reaches the gateway once (issue 18). The
# gateway stand-in takes the second request on a keep-alive connection and
# closes the connection without an answer, as a provider's front end that
# dies after handing the request on. libcurl would send such a POST again by
# itself on a fresh connection ("Connection died, retrying a fresh
# connect"), unseen by beredd: a duplicate SMS nobody decided. beredd
# refuses that resend (CURLOPT_PREREQFUNCTION) and retries by its own
# decision, logged, with the same reference, which a provider that honours
# idempotency keys drops (fake-sms.py --dedupe): at the recipient, once.
# Link Mobility carries the key as refId; the generic gateway in a header
# template (Idempotency-Key: "{ref}"). Every request carries X-Request-Id,
# unique per attempt: the two requests of one notification differ.
. "$(dirname "$0")/common.sh"

write_creds lm.password=lm-secret
run_case() { # NAME GATEWAY-SETTINGS
        name=$1 gw=$2
        rm -rf "$T/spool" "$T/sms.log" "$T/sms.port"
        start_fake_sms --lm-user lm --lm-password lm-secret --close-reused 1 --dedupe
        SMS_PID=${PIDS##* }
        gw=$(printf '%s' "$gw" | sed "s/@PORT@/$SMS_PORT/")
        cat > "$T/beredd.conf" <<EOC
site = "test";
spool = "$T/spool";
people = (
  { id = "kari"; name = "Kari Nordmann"; phone = "+4791234567"; roles = ["leader"]; },
  { id = "ola";  name = "Ola Nordmann";  phone = "+4791234568"; roles = ["member"]; },
  { id = "per";  name = "Per Hansen";    phone = "+4791234569"; roles = ["member"]; }
);
gateways = ( $gw );
chains = (
  { id = "kriseteam"; may_trigger = [ "kari" ]; need = { total = 3; };
    steps = ( { notify = [ "kari", "ola", "per" ]; via = [ "sms" ]; mode = "sequential"; wait = "1s"; },
              { notify = [ "kari" ]; via = [ "sms" ]; final = true; } ); }
);
EOC
        "$BEREDD" --check-config -c "$T/beredd.conf" >/dev/null || fail "$name: bad configuration"
        : > "$T/beredd.log"
        BEREDD_GW_BACKOFF_MS=20 start_beredd "$T/beredd.conf" -v
        R=$(sock '{"cmd":"trigger","chain":"kriseteam","by":"kari","message":"Samling i rådhuset"}')
        ID=$(json_str "$R" '["activation"]')
        [ -n "$ID" ] || fail "$name: trigger failed: $R"
        # kari, then ola on the same connection (closed after it was taken), then per.
        wait_until 30 grep -q '"+4791234569"' "$T/sms.log" || fail "$name: per was never notified"
        wait_until 10 grep -q "sent person=per channel=sms" "$T/beredd.log" || fail "$name: per's message is not sent"
        stop_beredd
        kill "$SMS_PID"; wait "$SMS_PID" 2>/dev/null || true
        python3 - "$T/sms.log" "$name" <<'EOP' || fail "$name: see above"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
name = sys.argv[2]
def to(r):
    return (r.get("json") or {}).get("destination") or (r.get("form") or {}).get("to")
def key(r):
    return r["headers"].get("Idempotency-Key") or (r.get("json") or {}).get("refId")
ola = [r for r in reqs if to(r) == "+4791234568"]
bad = []
if len(ola) != 2:
    bad.append("ola: %d requests, expected 2 (the one taken and closed, beredd's retry)" % len(ola))
else:
    a, b = ola
    if a["status"] != "closed" or not a.get("taken") or a["conn_n"] < 2:
        bad.append("ola's first request was not the one taken and closed on a reused connection: %r" % a)
    if b.get("repeat") is not True or b["status"] not in (200, 202):
        bad.append("the retry was not dropped as a repeat of a key already taken: %r" % b)
    if key(a) is None or key(a) != key(b):
        bad.append("the retry does not carry the first request's idempotency key: %r %r" % (key(a), key(b)))
    ra, rb = a["headers"].get("X-Request-Id"), b["headers"].get("X-Request-Id")
    if not ra or not rb or ra == rb:
        bad.append("X-Request-Id not one per attempt: %r %r" % (ra, rb))
    if ra and rb and ra.split(".")[0] != rb.split(".")[0]:
        bad.append("one daemon, two instances in X-Request-Id: %r %r" % (ra, rb))
ids = [r["headers"].get("X-Request-Id") for r in reqs]
if len(set(ids)) != len(ids):
    bad.append("a request id seen twice: a request sent twice by the network stack")
delivered = {}
for r in reqs:
    if r.get("repeat") or not (r.get("taken") or r["status"] in (200, 202)):
        continue
    delivered[key(r)] = delivered.get(key(r), 0) + 1
twice = [k for k, n in delivered.items() if n != 1]
if twice or len(delivered) < 3:
    bad.append("at the recipient: %d notifications, %d of them more than once" % (len(delivered), len(twice)))
for b in bad:
    print("# %s: %s" % (name, b))
print("# %s: %d requests, %d delivered, request ids %s" % (name, len(reqs), sum(delivered.values()), ids))
sys.exit(1 if bad else 0)
EOP
        assert_grep "$T/beredd.log" "attempt 1/3 failed: the connection closed after the request was sent, without an answer (the gateway may have taken it; the retry carries the same reference); retrying" \
                "$name: beredd did not log its retry"
        [ "$(grep -c 'failed: the connection closed after' "$T/beredd.log")" = 1 ] || fail "$name: more than one retry logged"
        assert_no_grep "$T/beredd.log" "+4791234568" "$name: a phone number in the log"
}

run_case linkmobility '{ id = "sms"; type = "linkmobility"; url = "http://127.0.0.1:@PORT@"; account = "1:2"; from = "Kriseteam";
    username = "lm"; password_file = "lm.password"; timeout = "5s"; retries = 3; }'
say "Link Mobility: the retry carried refId and was dropped as a repeat"
run_case generic '{ id = "sms"; type = "http"; url = "http://127.0.0.1:@PORT@/send"; body = "to={to}&msg={text}";
    headers = [ "Idempotency-Key: \"{ref}\"" ]; timeout = "5s"; retries = 3; }'
say "generic: the retry carried Idempotency-Key and was dropped as a repeat"
say ok
