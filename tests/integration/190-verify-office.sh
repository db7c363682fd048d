#!/bin/sh
# Issue 14, items 6-8, with real parts:
#   - a contact-list check (beredctl verify) asks for OK by SMS and by an
#     e-mail through a real SMTP server (fake-smtp.py) that carries one OK
#     link and no JA/NEI links; GET shows, POST records the OK for that
#     person while the check is open (beredctl show/report by the reply code
#     say so); after the check has ended the link answers the closed page
#     (410, nb and en); a call-out's JA/NEI link is no OK link and a check's
#     OK link no JA/NEI link (404, nothing recorded either way);
#   - beredctl reply takes JA/Nei/yes/NO in any case; show and report take the
#     reply code;
#   - office hours (fake clock, BEREDD_TEST_TIME_OFFSET): a follow-up case
#     opened on Friday at 21:00 and due that day, or rescheduled to that day,
#     is not reminded at once, nor at a restart on Saturday, but on Monday at
#     08:00 (office start); the texts read "forfaller i dag" / "er forfalt"
#     and "HJELP <code> (trenger oppfølging)".
. "$(dirname "$0")/common.sh"
command -v curl >/dev/null || skip "curl is not installed"
[ -r /usr/share/zoneinfo/Europe/Oslo ] || skip "no tzdata for Europe/Oslo"

# ---- peers ----
SMTP_PORT=$(free_port)
mkdir -p "$T/mail"
python3 "$top_srcdir/tests/integration/fake-smtp.py" --port "$SMTP_PORT" --log "$T/mail/log" >/dev/null 2>&1 &
PIDS="$PIDS $!"
wait_until 10 port_open "$SMTP_PORT" || fail "fake-smtp did not start"
HTTP_PORT=$(free_port)
H="http://127.0.0.1:$HTTP_PORT"
PUBLIC="https://beredd.kommune.example"
export BEREDD_GW_BACKOFF_MS=20
SCALE=${BEREDD_TIME_SCALE:-1}
WINDOW=$((10 * SCALE))

cat > "$T/beredd.conf" <<EOC
site = "test";
timezone = "Europe/Oslo";
spool = "$T/spool";
calendar: { office_hours = "Mon-Fri 08:00-15:30"; holidays = "no"; };
people = (
  { id = "kari"; name = "Kari Nordmann"; phone = "+4791234567"; email = "kari@kommune.example"; roles = ["leader"]; },
  { id = "ann";  name = "Ann Smith";     phone = "+4791234569"; email = "ann@kommune.example"; lang = "en"; roles = ["member"]; },
  { id = "ola";  name = "Ola Nordmann";  phone = "+4791234568"; roles = ["member"]; },
  { id = "per";  name = "Per Hansen";    phone = "+4791234570"; roles = ["member"]; }
);
gateways = (
  { id = "outbox"; channel = "sms"; type = "file"; },
  { id = "mail"; channel = "email"; type = "smtp"; url = "smtp://127.0.0.1:$SMTP_PORT";
    from = "kriseteam@kommune.example"; starttls = false; }
);
chains = (
  { id = "kriseteam"; name = "Kriseteamet"; may_trigger = [ "kari" ]; need = { total = 3; };
    steps = ( { notify = [ "kari", "ann", "per" ]; via = [ "sms", "email" ]; wait = "10m"; },
              { notify = [ "ola" ]; via = [ "sms" ]; final = true; } ); }
);
http = { listen = "127.0.0.1:$HTTP_PORT"; public_url = "$PUBLIC/"; };
followup: {
  levels = ( { level = 1; name = "lav"; every = "14d"; }, { level = 2; name = "middels"; every = "7d"; } );
  remind = "office-hours";
  overdue_after = "1d";
  escalate_after = "2d";
  coordinator = "kari";
  retention = "90d";
};
EOC

# ---- helpers ----
req() { curl -s -o "$T/last" -w '%{http_code}' "$@"; }
expect() { [ "$2" = "$1" ] || fail "$3: HTTP $2, expected $1 ($(head -c 300 "$T/last"))"; }
# mail_for ADDRESS SUBJECT-PART: the decoded body of the last e-mail to
# ADDRESS whose subject contains SUBJECT-PART, in $T/mail.txt
mail_for() {
        python3 - "$T/mail/log" "$1" "$2" "$T/mail.txt" <<'EOP'
import email, email.header, json, sys
log, to, subj, out = sys.argv[1:]
found = None
for line in open(log):
    r = json.loads(line)
    if to not in r["rcpt"]:
        continue
    m = email.message_from_bytes(r["data"].encode())
    s = str(email.header.make_header(email.header.decode_header(m["Subject"])))
    if subj in s:
        found = s + "\n\n" + m.get_payload(decode=True).decode("utf-8")
if found is None:
    sys.exit(1)
open(out, "w").write(found)
EOP
}
has_mail() { [ -s "$T/mail/log" ] && mail_for "$1" "$2"; }
token_of() { # KIND(yes|ok): the token of the first such link in $T/mail.txt
        python3 -c "import re,sys; m=re.search(r'/a/([A-Za-z0-9_-]+)/' + sys.argv[2], open(sys.argv[1]).read()); print(m.group(1) if m else '')" "$T/mail.txt" "$1"
}
state_of() { ctl show "$1" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['state'])"; }
state_is() { [ "$(state_of "$1")" = "$2" ]; }

start_beredd "$T/beredd.conf"
wait_until 10 port_open "$HTTP_PORT" || fail "the listener did not open port $HTTP_PORT"

say "a call-out first: its e-mail carries JA/NEI links"
ctl trigger kriseteam --by kari -m "Brann i skolen" --json > "$T/trigger.json" || fail "trigger: $(cat "$T/trigger.json")"
ID=$(json_get "$T/trigger.json" '["activation"]'); CODE=$(json_get "$T/trigger.json" '["code"]')
wait_until 10 has_mail kari@kommune.example "kalles inn" || fail "no call-out e-mail to kari"
CTOKEN=$(token_of yes)
[ -n "$CTOKEN" ] || fail "the call-out e-mail has no JA link: $(cat "$T/mail.txt")"

say "beredctl reply takes JA/NEI/yes/no in any case; show and report take the reply code"
ctl reply "$CODE" Nei --person ann > /dev/null || fail "reply Nei refused"
assert_eq "$(answer_of "$ID" ann)" no "reply Nei"
ctl reply "$CODE" JA --person ann > /dev/null || fail "reply JA refused"
assert_eq "$(answer_of "$ID" ann)" yes "reply JA"
ctl reply "$CODE" NO --person ann > /dev/null || fail "reply NO refused"
assert_eq "$(answer_of "$ID" ann)" no "reply NO"
ctl reply "$CODE" Yes --person ann > /dev/null || fail "reply Yes refused"
assert_eq "$(answer_of "$ID" ann)" yes "reply Yes"
if ctl reply "$CODE" kanskje --person ann > "$T/bad.txt" 2>&1; then fail "reply kanskje was accepted"; fi
assert_grep "$T/bad.txt" 'answer: must be "yes" or "no"'
assert_eq "$(answer_of "$ID" ann)" yes "a refused answer changed the answer"
ctl show "$CODE" > "$T/show.txt" || fail "show by code: $(cat "$T/show.txt")"
assert_grep "$T/show.txt" "Activation $ID of kriseteam"
assert_grep "$T/show.txt" "^ann  *yes"
ctl show "$CODE" --json > "$T/show.json"
assert_eq "$(json_get "$T/show.json" '["activation"]')" "$ID"
ctl report "$CODE" --csv > "$T/report.csv" || fail "report by code: $(cat "$T/report.csv")"
assert_grep "$T/report.csv" "reply,.*,ann,.*,yes"
ctl report "$CODE" --json > "$T/report.json"
assert_eq "$(json_get "$T/report.json" '["activation"]')" "$ID"
if ctl show 9999 > "$T/bad.txt" 2>&1; then fail "show of an unknown code succeeded"; fi
assert_grep "$T/bad.txt" "code: no activation with this reply code"
if ctl report 9999 > "$T/bad.txt" 2>&1; then fail "report of an unknown code succeeded"; fi
assert_grep "$T/bad.txt" "code: no activation with this reply code"

say "verify: OK by SMS, one OK link by e-mail (no JA/NEI), nb and en"
ctl verify kriseteam --by kari --window "${WINDOW}s" --json > "$T/verify.json" || fail "verify: $(cat "$T/verify.json")"
VID=$(json_get "$T/verify.json" '["activation"]'); VCODE=$(json_get "$T/verify.json" '["code"]')
[ "$VCODE" != "$CODE" ] || fail "the check got the call-out's code"
wait_until 10 has_outbox kari "Svar OK $VCODE" || fail "kari got no verify SMS asking for OK"
wait_until 10 has_outbox ann "Reply OK $VCODE" || fail "ann got no verify SMS in English"
assert_eq "$(outbox kari "Svar OK $VCODE.*JA|JA $VCODE")" 0 "the verify SMS asks for JA"
wait_until 10 has_mail kari@kommune.example "kontroll av varslingslisten" || fail "no verify e-mail to kari"
cp "$T/mail.txt" "$T/verify-kari.txt"
assert_grep "$T/verify-kari.txt" "Svar OK $VCODE innen 1 minutt\."
assert_grep "$T/verify-kari.txt" "IKKE en utkalling"
assert_grep "$T/verify-kari.txt" "Svar OK med ett trykk"
assert_grep "$T/verify-kari.txt" "OK: $PUBLIC/a/[A-Za-z0-9_-]*/ok"
assert_no_grep "$T/verify-kari.txt" "/yes" "the verify e-mail has a JA link"
assert_no_grep "$T/verify-kari.txt" "/no\b" "the verify e-mail has a NEI link"
assert_no_grep "$T/verify-kari.txt" "JA:" "the verify e-mail offers JA"
assert_no_grep "$T/verify-kari.txt" "NEI" "the verify e-mail offers NEI"
VTOKEN=$(token_of ok)
[ -n "$VTOKEN" ] && [ "$VTOKEN" != "$CTOKEN" ] || fail "no OK token of its own in the verify e-mail"
wait_until 10 has_mail ann@kommune.example "contact list check" || fail "no verify e-mail to ann"
cp "$T/mail.txt" "$T/verify-ann.txt"
assert_grep "$T/verify-ann.txt" "Answer OK with one tap"
assert_grep "$T/verify-ann.txt" "Reply OK $VCODE within 1 minute\."
assert_no_grep "$T/verify-ann.txt" "YES" "the English verify e-mail offers YES"
ATOKEN=$(token_of ok)
[ -n "$ATOKEN" ] || fail "no OK token in ann's verify e-mail"

say "a check's OK link answers no JA/NEI, a call-out's link no OK (404, nothing recorded)"
for m in GET POST; do
        expect 404 "$(req -X $m "$H/a/$VTOKEN/yes")" "$m the check's token as JA"
        expect 404 "$(req -X $m "$H/a/$VTOKEN/no")" "$m the check's token as NEI"
        expect 404 "$(req -X $m "$H/a/$CTOKEN/ok")" "$m the call-out's token as OK"
done
assert_eq "$(answer_of "$ID" kari)" none "a link of the wrong kind answered the call-out"
assert_eq "$(answer_of "$VID" kari)" none "a link of the wrong kind answered the check"

say "GET shows the check's page, POST records the OK while the check is open"
expect 200 "$(req "$H/a/$VTOKEN/ok")" "GET ok"
assert_grep "$T/last" "Bekreft at du kan nås"
assert_grep "$T/last" "IKKE en utkalling"
assert_grep "$T/last" "Kriseteamet"
assert_grep "$T/last" 'action="ok"'
assert_no_grep "$T/last" "JA, jeg kommer" "the check's page speaks of coming"
expect 200 "$(req -I "$H/a/$VTOKEN/ok")" "HEAD ok"
assert_eq "$(answer_of "$VID" kari)" none "GET recorded the OK"
expect 200 "$(req -X POST -d "" "$H/a/$VTOKEN/ok")" "POST ok"
assert_grep "$T/last" "Takk, OK er registrert"
assert_eq "$(answer_of "$VID" kari)" yes "the OK link did not record the OK"
assert_eq "$(answer_of "$ID" kari)" none "the OK link answered the call-out"
assert_eq "$(state_of "$VID")" verifying
ctl show "$VCODE" > "$T/vshow.txt" || fail "show of the check by code: $(cat "$T/vshow.txt")"
assert_grep "$T/vshow.txt" "Contact-list check $VID of kriseteam"
assert_grep "$T/vshow.txt" "^kari  *yes"
assert_no_grep "$T/vshow.txt" "not answered:.* kari" "kari is still listed as not answered"
assert_grep "$T/vshow.txt" "not answered: .*ann"
ctl report "$VCODE" --csv > "$T/vreport.csv" || fail "report of the check by code"
assert_grep "$T/vreport.csv" "reply,.*,kari,.*,yes"
python3 - "$T/spool/activations/$VID.log" <<'EOP' || fail "the OK is not in the check's log as kari's e-mail answer"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
r = [x for x in recs if x.get("t") == "reply" and x.get("person") == "kari"]
assert r and r[-1]["answer"] == "yes" and r[-1]["via"] == "email", r
EOP
expect 200 "$(req "$H/a/$ATOKEN/ok")" "GET ann's ok"
assert_grep "$T/last" "Confirm that you can be reached"
assert_grep "$T/last" "NOT a call-out"
ola_sms=$(outbox ola)
assert_eq "$(outbox ola "kalles inn")" 0 "ola (step 2) was called out"
assert_no_grep "$T/beredd.log" "$VTOKEN" "a token reached the log"

say "after the check has ended the OK link answers the closed page (410), nb and en"
wait_until $((WINDOW + 10)) state_is "$VID" verified || fail "the check did not end: $(state_of "$VID")"
expect 410 "$(req "$H/a/$VTOKEN/ok")" "GET ok after the check"
assert_grep "$T/last" "Kontrollen er avsluttet"
assert_grep "$T/last" "ikke en utkalling"
expect 410 "$(req -X POST "$H/a/$VTOKEN/ok")" "POST ok after the check"
expect 410 "$(req -X POST "$H/a/$ATOKEN/ok")" "POST ann's ok after the check"
assert_grep "$T/last" "The check has ended"
assert_eq "$(answer_of "$VID" ann)" none "a closed check took an OK"
expect 404 "$(req -X POST "$H/a/$VTOKEN/yes")" "the ended check's token as JA"

say "the call-out's own link still answers the call-out"
expect 200 "$(req -X POST "$H/a/$CTOKEN/yes")" "POST the call-out's yes"
assert_eq "$(answer_of "$ID" kari)" yes
assert_eq "$(outbox ola)" "$ola_sms" "ola was asked although nothing moved the call-out on"
ctl resolve "$ID" --by kari > /dev/null
stop_beredd

# ---- office hours, with the clock moved ----
reminders() { outbox "$1" "oppfølging av $2"; }

say "Friday 2027-01-15 21:00: a case opened due today waits for Monday 08:00"
start_at 2027-01-15T21:00:00
ok '{"cmd":"case.open","case":"K-2100","contacts":["ola"],"level":1,"due":"2027-01-15"}'
assert_eq "$(json_str "$R" '["next_action"]')" "2027-01-18 08:00" "case.open at 21:00 due today"
say "... and a case rescheduled to today at 21:00 too"
ok '{"cmd":"case.open","case":"K-2101","contacts":["kari"],"level":1,"due":"2027-01-20"}'
assert_eq "$(json_str "$R" '["next_action"]')" "2027-01-20 08:00"
ok '{"cmd":"case.checkin","case":"K-2101","by":"kari","outcome":"no-needs","next":"2027-01-15"}'
ok '{"cmd":"show","case":"K-2101"}'
assert_eq "$(json_str "$R" '["due"]')" 2027-01-15
assert_eq "$(json_str "$R" '["next_action"]')" "2027-01-18 08:00" "a check-in rescheduling to today at 21:00"
sleep 2
assert_eq "$(reminders ola K-2100)" 0 "K-2100 reminded at $(oslo_clock "$OFFSET" '%a %H:%M:%S'), outside office hours"
assert_eq "$(reminders kari K-2101)" 0 "K-2101 reminded at $(oslo_clock "$OFFSET" '%a %H:%M:%S'), outside office hours"
stop_beredd

say "Saturday 10:00: a restart does not send them either"
start_at 2027-01-16T10:00:00
ok '{"cmd":"show","case":"K-2100"}'
assert_eq "$(json_str "$R" '["next_action"]')" "2027-01-18 08:00" "after a restart on Saturday"
sleep 2
assert_eq "$(reminders ola K-2100)" 0 "K-2100 reminded on $(oslo_clock "$OFFSET" '%a %H:%M:%S')"
assert_eq "$(reminders kari K-2101)" 0 "K-2101 reminded on $(oslo_clock "$OFFSET" '%a %H:%M:%S')"
stop_beredd

say "Monday 2027-01-18 just before 08:00: not yet; at 08:00 (office start) once each"
# 5 s before (more under valgrind, whose start-up is slow)
LEAD=$((5 * SCALE)); [ "$LEAD" -le 50 ] || LEAD=50
start_at "2027-01-18T07:59:$(printf %02d $((60 - LEAD)))"
sleep 1
now=$(oslo_clock "$OFFSET" '%a %H:%M:%S')
case "$now" in "Mon 07:59:"*) ;; *) fail "the test was too slow: it is $now already" ;; esac
assert_eq "$(reminders ola K-2100)" 0 "K-2100 reminded at $now, before office hours"
wait_until 20 has_outbox ola "oppfølging av K-2100" || fail "no reminder for K-2100 after 08:00"
wait_until 5 has_outbox kari "oppfølging av K-2101" || fail "no reminder for K-2101 after 08:00"
now=$(oslo_clock "$OFFSET" '%a %H:%M:%S')
case "$now" in "Mon 08:0"*) ;; *) fail "reminded at $now, not at office start" ;; esac
FUCODE=$(json_str "$(sock '{"cmd":"show","case":"K-2100"}')" '["code"]')
assert_eq "$(outbox ola "^Påminnelse: oppfølging av K-2100 er forfalt\. Svar OK $FUCODE \(ingen behov\), HJELP $FUCODE \(trenger oppfølging\) eller UTSETT $FUCODE 3")" 1 \
        "the reminder text: $(cat "$T"/spool/outbox/*.json | grep -o '"text":"[^"]*K-2100[^"]*"' | head -n 1)"
assert_eq "$(outbox ola "\(behov\)")" 0 "the old (behov) instruction"
say "a case opened within office hours due today is reminded at once: forfaller i dag"
ok '{"cmd":"case.open","case":"K-2102","contacts":["ann"],"level":1,"due":"2027-01-18"}'
wait_until 10 has_outbox ann "follow-up of K-2102 is due today" || fail "no reminder in English for K-2102"
assert_eq "$(outbox ann "HELP [0-9]{5} \(needs follow-up\)")" 1 "the English HELP instruction"
ok '{"cmd":"case.open","case":"K-2103","contacts":["kari"],"level":1,"due":"2027-01-18"}'
wait_until 10 has_outbox kari "oppfølging av K-2103 forfaller i dag" || fail "no 'forfaller i dag' reminder for K-2103"
sleep 1
assert_eq "$(reminders ola K-2100)" 1 "K-2100 reminded twice"
assert_eq "$(reminders kari K-2101)" 1 "K-2101 reminded twice"
HJ=$(json_str "$(sock '{"cmd":"show","case":"K-2101"}')" '["code"]')
say "a no to the reminder (as HJELP by SMS) records needs: the level steps up"
ctl reply "$HJ" no --person kari > /dev/null || fail "reply no to a reminder refused"
ok '{"cmd":"show","case":"K-2101"}'
assert_eq "$(json_str "$R" '["level"]')" 2 "HJELP (needs) did not step the level up"
stop_beredd
say "ok"
