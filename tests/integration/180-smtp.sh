#!/bin/sh
# SMTP fails over for the right reasons, against real SMTP servers on
# loopback (Debian's python3-aiosmtpd, tests/integration/smtp-policy.py)
# that refuse the way Postfix does with smtpd_delay_reject = yes:
#  1. "554 5.7.1 Relay access denied" at RCPT from the first e-mail gateway:
#     the second takes the mail; nobody is unreachable, the activation is not
#     short, STATUS= and `beredctl status` show the gateway down (GATEWAY
#     TROUBLE; the bookkeeping is i14-trouble's, in handle_outcome). What arrives:
#     Subject lines <= 76, 7-bit quoted-printable body that decodes to the
#     exact text, Message-ID under the domain of from, EHLO = helo setting.
#  2. "550 5.1.1 User unknown" at RCPT: that recipient is unreachable by
#     e-mail, no failover, and the gateway is not in trouble.
#  3. A HELO name without a dot refused at RCPT (504 5.5.2), and EHLO/HELO
#     refused outright: both fail over; the default EHLO name (this machine's
#     FQDN, else the domain of from) gets through.
. "$(dirname "$0")/common.sh"

/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || skip "python3-aiosmtpd is not installed"

start_smtp() { # NAME ARGS...: start smtp-policy.py, set ${NAME}_PORT
        name=$1; shift
        /usr/bin/python3 "$top_srcdir/tests/integration/smtp-policy.py" --port 0 --port-file "$T/$name.port" \
                --log "$T/$name.log" --log-helo "$T/$name.helo" "$@" >>"$T/$name.out" 2>&1 &
        PIDS="$PIDS $!"
        eval "${name}_PID=$!"
        wait_until 10 test -s "$T/$name.port" || fail "SMTP server $name did not start"
        eval "${name}_PORT=$(cat "$T/$name.port")"
}
stop_smtp() { eval "kill \$${1}_PID; wait \$${1}_PID 2>/dev/null || true"; }
mails() { [ -f "$T/$1.log" ] && wc -l < "$T/$1.log" || echo 0; }
has_mails() { [ "$(mails "$1")" -ge "$2" ]; }
state_of() { ctl show "$1" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['state'])"; }

# config SPOOL GATEWAYS...: people reachable by e-mail only, so that the
# e-mail gateways alone decide whether they are reachable
config() {
        spool=$1; shift
        {
                cat <<EOC
site = "test";
spool = "$T/$spool";
people = (
  { id = "kari"; name = "Kari Nordmann"; email = "kari@kommune.example"; roles = ["leader"]; },
  { id = "ola";  name = "Ola Nordmann";  email = "ola@kommune.example"; roles = ["member"]; }
);
gateways = (
EOC
                printf '%s\n' "$@" | sed '$!s/$/,/'
                cat <<EOC
);
chains = (
  { id = "kriseteam"; name = "Psykososialt kriseteam Frøya";
    may_trigger = [ "kari" ];
    need = { total = 2; };
    steps = ( { notify = [ "kari", "ola" ]; via = [ "email" ]; wait = "10m"; } );
  }
);
EOC
        } > "$T/beredd.conf"
}
smtp_gw() { # ID SERVER [EXTRA]
        eval "port=\$${2}_PORT"
        echo "  { id = \"$1\"; type = \"smtp\"; url = \"smtp://127.0.0.1:$port\"; from = \"kriseteam@froya.example\"; starttls = false; retries = 2; timeout = \"3s\"; ${3:-} }"
}
export BEREDD_GW_BACKOFF_MS=20

MSG='Brann på Frøya skole. Møt på rådhuset kl 23:30, ta med legitimasjon og varme klær; vi går gjennom planen for æøå ÆØÅ sammen.'

# ---- 1. relay access denied at the first gateway ----
say "1. the first relay answers 554 5.7.1 Relay access denied at RCPT"
start_smtp relay --rcpt-reply '*=554 5.7.1 <{addr}>: Relay access denied'
start_smtp good
config spool1 "$(smtp_gw mail1 relay)" "$(smtp_gw mail2 good 'helo = "beredd.kommune.example";')"
start_beredd "$T/beredd.conf"
R=$(ctl trigger kriseteam --by kari --drill -m "$MSG" --json)
ID=$(printf '%s' "$R" | python3 -c "import json,sys; print(json.load(sys.stdin)['activation'])")
CODE=$(printf '%s' "$R" | python3 -c "import json,sys; print(json.load(sys.stdin)['code'])")
wait_until 10 has_mails good 2 || fail "the second gateway did not get both e-mails"
assert_eq "$(mails relay)" 0 "the refusing relay took a message"
wait_until 5 sh -c "[ \"\$(\"$BEREDCTL\" -s \"$T/control\" show $ID --json | grep -c '\"state\": \"sent\"')\" -eq 2 ]" \
        || fail "the e-mails are not marked sent"
for p in kari ola; do
        assert_eq "$(notif_states "$ID" $p)" "sent" "$p: relay denied must not make her unreachable"
done
sleep 0.3 # an activation made short by a misread refusal would be so within milliseconds
assert_eq "$(state_of "$ID")" "mobilising" "relay denied made the activation short"
assert_grep "$T/beredd.log" "Gateway mail1 cannot send (check its configuration): RCPT TO refused: 554 5.7.1 (relay)"
assert_grep "$T/beredd.log" "failing over to gateway mail2"
assert_no_grep "$T/beredd.log" "kari@kommune.example" "an address in the log"
assert_no_grep "$T/beredd.log" "ola@kommune.example" "an address in the log"
# The gateway trouble (i14-trouble's bookkeeping, fed by smtp_classify through handle_outcome)
wait_until 5 grep -q 'STATUS=site test: GATEWAY TROUBLE: down: mail1;' "$NOTIFY_LOG" \
        || fail "STATUS= does not show the gateway trouble"
ctl status > "$T/status.txt"
assert_grep "$T/status.txt" "GATEWAY TROUBLE: 1 of 2 email gateway(s) down"
assert_grep "$T/status.txt" "mail1 .* DOWN since .*, 2 failed attempt(s) in a row, last: smtp 554"
assert_grep "$T/status.txt" "mail2 .* up since"
ctl status --json > "$T/status.json"
python3 - "$T/status.json" <<'EOP' || fail "status --json does not show mail1 down and mail2 up"
import json, sys
g = {x["id"]: x for x in json.load(open(sys.argv[1]))["gateway_health"]}
assert g["mail1"]["state"] == "down" and g["mail1"]["failures_in_a_row"] == 2, g["mail1"]
assert g["mail1"]["last_error"] == "smtp 554", g["mail1"]
assert g["mail2"]["state"] == "up", g["mail2"]
EOP
assert_eq "$(sort -u "$T/good.helo")" "beredd.kommune.example" "the EHLO name is not the helo setting"

say "1b. what the second relay got"
python3 - "$T/good.log" "$CODE" "$MSG" <<'EOP' || fail "the e-mail is not right"
import base64, email, email.header, email.policy, json, sys
log, code, msg = sys.argv[1], sys.argv[2], sys.argv[3]
recs = [json.loads(l) for l in open(log)]
assert sorted(r["rcpt"][0] for r in recs) == ["kari@kommune.example", "ola@kommune.example"], recs
for r in recs:
    raw = base64.b64decode(r["data"])
    assert not r["eightbit"], "8-bit bytes on the wire"
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    # the Subject header and its continuation lines: each <= 76 (RFC 2047 2.)
    i = next(k for k, l in enumerate(lines) if l.startswith(b"Subject: "))
    subj, k = [lines[i]], i + 1
    while k < len(lines) and lines[k][:1] in (b" ", b"\t"):
        subj.append(lines[k]); k += 1
    for l in subj:
        assert len(l) <= 76, (len(l), l)
    assert len(subj) >= 2, "expected a folded encoded subject: %r" % subj
    for l in body.split(b"\r\n"):
        assert len(l) <= 76, (len(l), l)
    m = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(m["Subject"]) == "ØVELSE: Psykososialt kriseteam Frøya kalles inn", m["Subject"]
    assert m["Content-Transfer-Encoding"] == "quoted-printable", m["Content-Transfer-Encoding"]
    assert m.get_content_charset() == "utf-8"
    text = m.get_payload(decode=True).decode("utf-8").replace("\r\n", "\n")
    want = "ØVELSE: Psykososialt kriseteam Frøya kalles inn: %s\n\nSvar JA %s eller NEI %s\n\n-- \nberedd (test)\n" % (msg, code, code)
    assert text == want, (text, want)
    mid = m["Message-ID"]
    assert mid.startswith("<") and mid.endswith("@froya.example>"), mid
    assert r["helo"] == "beredd.kommune.example", r["helo"]
    print("# %s: %d subject lines (longest %d), Message-ID %s" % (r["rcpt"][0], len(subj), max(map(len, subj)), mid))
EOP
stop_beredd

# ---- 2. no such mailbox ----
say "2. 550 5.1.1 at RCPT: that recipient is unreachable by e-mail, no failover"
start_smtp nouser --rcpt-reply 'ola@=550 5.1.1 <{addr}>: Recipient address rejected: User unknown in local recipient table'
before=$(mails good)
config spool2 "$(smtp_gw mail1 nouser)" "$(smtp_gw mail2 good)"
: > "$T/beredd.log"
start_beredd "$T/beredd.conf"
ID=$(ctl trigger kriseteam --by kari -m "$MSG" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['activation'])")
wait_until 10 has_mails nouser 1 || fail "kari's e-mail did not arrive"
wait_until 5 sh -c "\"$BEREDCTL\" -s \"$T/control\" show $ID --json | grep -q '\"state\": \"unreachable\"'" \
        || fail "ola was not marked unreachable"
assert_eq "$(notif_states "$ID" ola)" "unreachable"
assert_eq "$(notif_states "$ID" kari)" "sent"
sleep 0.3
assert_eq "$(mails good)" "$before" "a 5.1.1 must not fail over"
assert_grep "$T/beredd.log" "refused by gateway mail1: RCPT TO refused: 550 5.1.1 (user); unreachable on email"
assert_no_grep "$T/beredd.log" "is down"
ctl status --json > "$T/status.json"
python3 - "$T/status.json" <<'EOP' || fail "a 5.1.1 put the gateway in trouble"
import json, sys
d = json.load(open(sys.argv[1]))
g = {x["id"]: x for x in d["gateway_health"]}
assert g["mail1"]["state"] == "up", g["mail1"]
assert g["mail1"]["attempts"]["refused"] == 1, g["mail1"]
assert d["notifications_waiting_for_gateway"] == 0, d
EOP
grep 'STATUS=' "$NOTIFY_LOG" | tail -n 1 | grep -q "STATUS=site test: running" || fail "STATUS= shows trouble after a 5.1.1"
stop_beredd

# ---- 3. HELO ----
say "3. a short HELO name refused at RCPT (504 5.5.2) and EHLO refused: failover; the default name passes"
start_smtp postfix --helo-reject-short
start_smtp noehlo --helo-reply '554 5.7.1 go away'
config spool3 "$(smtp_gw short postfix 'helo = "vm";')" "$(smtp_gw noehlo noehlo)" "$(smtp_gw default postfix)"
: > "$T/beredd.log"
start_beredd "$T/beredd.conf"
ID=$(ctl trigger kriseteam --by kari -m "$MSG" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['activation'])")
wait_until 10 has_mails postfix 2 || fail "the default EHLO name did not get through"
wait_until 5 sh -c "[ \"\$(\"$BEREDCTL\" -s \"$T/control\" show $ID --json | grep -c '\"state\": \"sent\"')\" -eq 2 ]" \
        || fail "the e-mails are not marked sent"
assert_eq "$(state_of "$ID")" "mobilising"
assert_grep "$T/beredd.log" "Gateway short cannot send (check its configuration): RCPT TO refused: 504 5.5.2 (helo)"
assert_grep "$T/beredd.log" "Gateway noehlo cannot send (check its configuration): HELO refused: 554 5.7.1"
# libcurl falls back from a refused EHLO to HELO: both were tried
grep -c . "$T/noehlo.helo" | grep -qx 4 || fail "expected EHLO and HELO from both messages at noehlo"
# The default: this machine's FQDN when it has one (AI_CANONNAME), else the domain of from
want=$(/usr/bin/python3 -c '
import socket
n = ""
try:
    n = socket.getaddrinfo(socket.gethostname(), None, flags=socket.AI_CANONNAME)[0][3]
except OSError:
    pass
for c in (n.rstrip("."), socket.gethostname().rstrip(".")):
    if "." in c and not c.lower().startswith("localhost"):
        print(c); break
else:
    print("froya.example")')
say "default EHLO name: $want"
python3 - "$T/postfix.log" "$want" <<'EOP' || fail "the default EHLO name is not right"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert [r["helo"] for r in recs] == [sys.argv[2]] * 2, ([r["helo"] for r in recs], sys.argv[2])
EOP
grep -qx vm "$T/postfix.helo" || fail "the helo setting was not sent"
ctl status --json > "$T/status.json"
python3 -c "import json,sys; g={x['id']: x['state'] for x in json.load(open(sys.argv[1]))['gateway_health']}; assert g == {'short': 'down', 'noehlo': 'down', 'default': 'up'}, g" \
        "$T/status.json" || fail "status does not show both refusing gateways down"
wait_until 5 grep -q 'STATUS=site test: GATEWAY TROUBLE: down: short, noehlo;' "$NOTIFY_LOG" \
        || fail "STATUS= does not name both gateways"
stop_beredd
