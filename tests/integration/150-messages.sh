#!/bin/sh
# No silent cuts (issue 14, item 1): typographic characters go as their GSM
# 03.38 equivalents, a call-out may use max_segments concatenated SMS, the
# operator's text is cut only when it cannot fit even then, and the trigger's
# reply (text and --json) says exactly what goes out and that it was
# shortened. beredctl trigger --dry-run / preview show the same and send
# nothing. Through a generic HTTP (Sveve-style form) and a Twilio-speaking
# server (tests/integration/fake-sms.py) on loopback.
. "$(dirname "$0")/common.sh"

start_sms() { # NAME EXTRA-ARGS...: start fake-sms.py, set ${NAME}_PORT
        name=$1; shift
        echo '{}' > "$T/$name.ctl"
        python3 "$top_srcdir/tests/integration/fake-sms.py" --port 0 --port-file "$T/$name.port" \
                --log "$T/$name.log" --control "$T/$name.ctl" "$@" >/dev/null 2>&1 &
        PIDS="$PIDS $!"
        wait_until 10 test -s "$T/$name.port" || fail "fake-sms $name did not start"
        eval "${name}_PORT=$(cat "$T/$name.port")"
}
all_sent() { [ "$(notif_states "$1" kari)" = "sent sent" ]; }
requests() { [ -f "$T/$1.log" ] && wc -l < "$T/$1.log" || echo 0; }
has_requests() { [ "$(requests "$1")" -ge "$2" ]; }
# field LOG N EXPR: a field of the Nth request
field() {
        python3 -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])][int(sys.argv[2])-1]; print(eval(sys.argv[3]))" "$T/$1.log" "$2" "$3"
}

start_sms twilio --twilio-token twilio-secret
start_sms sveve --reply '{"response":{"msgOkCount":1,"stdSMSCount":1}}'
mkdir -p "$T/creds"
printf 'twilio-secret\n' > "$T/creds/twilio.token"; printf 'sveve-secret\n' > "$T/creds/sveve.password"
chmod 0600 "$T/creds/"*
export CREDENTIALS_DIRECTORY="$T/creds" BEREDD_GW_BACKOFF_MS=20

write_conf() { # FILE GATEWAY-BLOCK
        cat > "$1" <<EOC
site = "test";
spool = "$T/spool";
people = (
  { id = "kari"; name = "Kari Nordmann"; phone = "+4791234567"; roles = ["leader"]; },
  { id = "emma"; name = "Emma Smith"; phone = "+4791234568"; roles = ["member"]; lang = "en"; }
);
gateways = ( $2 );
chains = (
  { id = "kriseteam"; name = "Kriseteamet";
    may_trigger = [ "kari" ];
    need = { total = 1; };
    steps = ( { notify = [ "role:leader" ]; via = [ "sms" ]; wait = "1h"; } );
  },
  { id = "begge"; name = "Begge";
    may_trigger = [ "kari" ];
    need = { total = 2; };
    steps = ( { notify = [ "kari", "emma" ]; via = [ "sms" ]; wait = "1h"; } );
  }
);
EOC
}
SVEVE='{ id = "sveve"; channel = "sms"; type = "http"; url = "http://127.0.0.1:'$sveve_PORT'/SMS/SendMessage";
    body = "user={username}&passwd={password}&to={to_digits}&msg={text}&from={from}&ref={ref}&f=json";
    username = "kommunen"; password_file = "sveve.password"; from = "Kriseteam";
    success_match = "\"msgOkCount\":1"; retries = 2; timeout = "2s"; max_segments = 3; }'
TWILIO='{ id = "twilio"; channel = "sms"; type = "twilio"; url = "http://127.0.0.1:'$twilio_PORT'";
    account = "AC0123"; from = "+4759440000"; token_file = "twilio.token"; retries = 2; timeout = "2s"; }'

say "max_segments is checked per profile"
write_conf "$T/bad.conf" "$(echo "$SVEVE" | sed 's/max_segments = 3/max_segments = 7/')"
out=$("$BEREDD" --check-config -c "$T/bad.conf" 2>&1) && fail "max_segments 7 accepted for an http gateway"
echo "$out" | grep -q 'bad.conf:[0-9]*: gateways\[0\].max_segments: 7 is out of range for a http gateway (1..6 SMS segments)' || fail "bad error: $out"

# The texts of the test, built in Python so that the shell does not touch them.
python3 - "$T" <<'EOP'
import sys
d = sys.argv[1]
# every transliterated character once, with what it must become
pairs = [("\u2013", "-"), ("\u2014", "-"), ("\u2012", "-"), ("\u2015", "-"), ("\u2212", "-"),
         ("\u00ab", '"'), ("\u00bb", '"'), ("\u201c", '"'), ("\u201d", '"'), ("\u201e", '"'),
         ("\u2018", "'"), ("\u2019", "'"), ("\u201a", "'"), ("\u2026", "..."),
         ("\u00a0", " "), ("\u202f", " "), ("\u2009", " ")]
src = "Brann " + " ".join("%d%s" % (i, c) for i, (c, _) in enumerate(pairs)) + " møt på rådhuset"
exp = "Brann " + " ".join("%d%s" % (i, r) for i, (_, r) in enumerate(pairs)) + " møt på rådhuset"
open(d + "/translit.in", "w").write(src)
open(d + "/translit.exp", "w").write(exp)
# 300 characters of Norwegian (GSM 7-bit), ending with the meeting place
base = "Brann i Frøya skole, alle elever er evakuert til idrettshallen. "
tail = "Oppmøte Frøya sykehjem kl 23:30."
long = (base * 5)[: 300 - len(tail)] + tail
assert len(long) == 300
open(d + "/long.in", "w").write(long)
# 700 characters: more than 3 segments can carry
open(d + "/toolong.in", "w").write((base * 12)[:700])
EOP
TRANSLIT=$(cat "$T/translit.in"); LONG=$(cat "$T/long.in"); TOOLONG=$(cat "$T/toolong.in")

# check_sms GW N CODE FILE SEGMENTS REPLY: the Nth request to GW carries the
# call-out with FILE's text whole, and the trigger reply REPLY (JSON) says
# so: the same text, GSM, SEGMENTS segments, not shortened.
check_sms() {
        python3 - "$T/$1.log" "$2" "$3" "$T/$4" "$5" "$6" "$1" <<'EOP' || fail "$1: the SMS is not what was promised"
import json, sys
log, n, code, textfile, segments, reply, gw = sys.argv[1:]
r = [json.loads(l) for l in open(log)][int(n) - 1]
got = r["form"]["Body"] if gw == "twilio" else r["form"]["msg"]
t = open(textfile).read().strip()
if t and t[-1] not in ".!?:;)\"'\u00bb\u2026\u201d\u2019":
    t += "."  # beredd ends the operator's text like a sentence before "Svar"
want = "Kriseteamet kalles inn: %s Svar JA %s eller NEI %s" % (t, code, code)
assert got == want, "at the gateway:\n%r\nexpected:\n%r" % (got, want)
rep = json.loads(reply)
assert rep["shortened"] is False, rep
assert rep["max_segments"] == 3, rep
[m] = [m for m in rep["messages"] if m["lang"] == "nb"]
assert m["people"] == ["kari"], m
assert m["sms"]["text"] == got, (m["sms"]["text"], got)
assert m["sms"]["encoding"] == "gsm", m
assert m["sms"]["segments"] == int(segments), m
assert m["sms"]["characters"] == len(got), m
print("# %s: %d characters, %s segment(s), GSM 7-bit" % (gw, len(got), segments))
EOP
}

for gw in sveve twilio; do
        if [ "$gw" = sveve ]; then write_conf "$T/beredd.conf" "$SVEVE"; else write_conf "$T/beredd.conf" "$TWILIO"; fi
        start_beredd "$T/beredd.conf"

        say "$gw: every transliterated character, as its GSM equivalent, in one segment"
        before=$(requests $gw)
        ctl trigger kriseteam --by kari -m "$TRANSLIT" --json > "$T/reply.json"
        CODE=$(json_get "$T/reply.json" '["code"]'); ID=$(json_get "$T/reply.json" '["activation"]')
        wait_until 5 has_requests $gw $((before + 1)) || fail "$gw got nothing"
        check_sms $gw $((before + 1)) "$CODE" translit.exp 1 "$(cat "$T/reply.json")"
        ctl resolve "$ID" --by kari > /dev/null
        # the stand-down sent and logged as sent: nothing left to resend
        wait_until 5 all_sent "$ID" || fail "$gw: the stand-down was not sent"

        say "$gw: a 300-character message goes whole, in 3 segments"
        before=$(requests $gw)
        ctl trigger kriseteam --by kari -m "$LONG" --json > "$T/reply.json"
        CODE=$(json_get "$T/reply.json" '["code"]'); ID=$(json_get "$T/reply.json" '["activation"]')
        wait_until 5 has_requests $gw $((before + 1)) || fail "$gw got nothing"
        check_sms $gw $((before + 1)) "$CODE" long.in 3 "$(cat "$T/reply.json")"
        ctl resolve "$ID" --by kari > /dev/null
        # the stand-down sent and logged as sent: nothing left to resend
        wait_until 5 all_sent "$ID" || fail "$gw: the stand-down was not sent"
        stop_beredd
done

say "too long for 3 segments: accepted, shortened, and the reply says so"
start_beredd "$T/beredd.conf"    # twilio
before=$(requests twilio)
ctl trigger kriseteam --by kari -m "$TOOLONG" > "$T/reply.txt" || fail "the trigger was refused"
grep -q '^SHORTENED: the message does not fit 3 SMS segments' "$T/reply.txt" || fail "the text reply does not say shortened: $(cat "$T/reply.txt")"
grep -q 'SMS, GSM 7-bit, 3 segments, 459 characters, SHORTENED:' "$T/reply.txt" || fail "no count in the reply: $(cat "$T/reply.txt")"
ID=$(sed -n 's/^Activation \([^ ]*\) of .*/\1/p' "$T/reply.txt")
CODE=$(sed -n 's/.*(reply code \([0-9]*\)).*/\1/p' "$T/reply.txt")
wait_until 5 has_requests twilio $((before + 1)) || fail "twilio got nothing"
python3 - "$T/twilio.log" $((before + 1)) "$CODE" "$T/toolong.in" "$T/reply.txt" <<'EOP' || fail "the shortened SMS is not right"
import json, sys
log, n, code, src, reply = sys.argv[1:]
got = [json.loads(l) for l in open(log)][int(n) - 1]["form"]["Body"]
text = open(src).read()
suffix = "... Svar JA %s eller NEI %s" % (code, code)
prefix = "Kriseteamet kalles inn: "
assert got.startswith(prefix) and got.endswith(suffix), got
kept = got[len(prefix):-len(suffix)]
assert text.startswith(kept) and len(kept) > 350, (len(kept), kept)
assert len(got) == 459, len(got)     # 3 x 153 septets, all in the basic alphabet
assert ("  " + got + "\n") in open(reply).read(), "the reply does not show the SMS sent"
print("# shortened to %d of %d characters" % (len(kept), len(text)))
EOP
wait_until 5 grep -q 'does not fit 3 SMS segments' "$T/beredd.log" || fail "the log does not say shortened"
assert_no_grep "$T/beredd.log" "Frøya skole" "the message text reached the log"
ctl resolve "$ID" --by kari > /dev/null
wait_until 5 all_sent "$ID" || fail "the stand-down was not sent"   # then nothing more is due

say "UCS-2 anyway (an emoji) and too long: the gateway gets exactly what the reply promised, in 3 segments"
python3 -c 'print("🚒 Brann – " + " ".join("abcdefg"[:1 + i % 7] for i in range(80)) + " … slutt", end="")' > "$T/ucs2.in"
before=$(requests twilio)
ctl trigger kriseteam --by kari -m "$(cat "$T/ucs2.in")" --json > "$T/reply.json" || fail "the trigger was refused"
ID=$(json_get "$T/reply.json" '["activation"]')
wait_until 5 has_requests twilio $((before + 1)) || fail "twilio got nothing"
python3 - "$T/twilio.log" $((before + 1)) "$T/reply.json" <<'EOP' || fail "the UCS-2 SMS is not what the reply said"
import json, sys
log, n, reply = sys.argv[1:]
got = [json.loads(l) for l in open(log)][int(n) - 1]["form"]["Body"]
[m] = [m for m in json.load(open(reply))["messages"] if m["lang"] == "nb"]
assert m["sms"]["encoding"] == "ucs2" and m["sms"]["shortened"] and m["sms"]["segments"] == 3, m["sms"]
assert got == m["sms"]["text"], "at the gateway:\n%r\npromised:\n%r" % (got, m["sms"]["text"])
units = len(got.encode("utf-16-le")) // 2
assert units <= 3 * 67, units
print("# UCS-2: %d units, 3 segments, as promised" % units)
EOP
ctl resolve "$ID" --by kari > /dev/null
wait_until 5 all_sent "$ID" || fail "the stand-down was not sent"

say "--dry-run and preview: the exact texts per language, nothing started, sent or written"
before=$(requests twilio)
acts_before=$(ls "$T/spool/activations" | wc -l)
listed() { ctl list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["activations"]))'; }
listed_before=$(listed)
ctl trigger begge --by kari -m "$LONG" --dry-run > "$T/dry.txt" || fail "dry run refused"
grep -q '^Dry run of begge: nothing started or sent' "$T/dry.txt" || fail "not a dry run: $(cat "$T/dry.txt")"
grep -qF "  Begge kalles inn: $LONG Svar JA 0000 eller NEI 0000" "$T/dry.txt" || fail "no nb text: $(cat "$T/dry.txt")"
grep -qF "  Begge call-out: $LONG Reply YES 0000 or NO 0000" "$T/dry.txt" || fail "no en text: $(cat "$T/dry.txt")"
grep -q '^\[en\] emma (sms)' "$T/dry.txt" || fail "no en recipients"
grep -q 'E-mail subject: Begge kalles inn' "$T/dry.txt" || fail "no e-mail subject"
ctl preview begge --by kari -m "$TOOLONG" --json > "$T/dry.json"
python3 - "$T/dry.json" <<'EOP' || fail "the preview JSON is not right"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ok"] and d["dry_run"] and d["shortened"], d
langs = {m["lang"]: m for m in d["messages"]}
assert set(langs) == {"nb", "en"}, langs.keys()
for m in langs.values():
    assert m["sms"]["shortened"] and m["sms"]["segments"] == 3 and m["sms"]["encoding"] == "gsm", m
    assert m["email"]["text"].count("Brann i Frøya skole") == 11, "the e-mail is not whole"
EOP
ctl preview begge --by emma > /dev/null 2>&1 && fail "a preview by someone who may not trigger was accepted"
sleep 0.3
assert_eq "$(requests twilio)" "$before" "a dry run sent something"
assert_eq "$(ls "$T/spool/activations" | wc -l)" "$acts_before" "a dry run wrote to the spool"
assert_eq "$(listed)" "$listed_before" "a dry run started an activation"
stop_beredd
say "ok"
