#!/usr/bin/env python3
"""voice-calls.py - what 200-voice.sh reads from fake-sms.py's log (the
calls beredd asked the Twilio stand-in to place) and from the TwiML beredd
answers with. Python 3 standard library only.

  voice-calls.py LOG last AFTER TO          the latest accepted call to TO after
                                            log line n AFTER, as JSON (sid,
                                            action, status_callback, token, key, n);
                                            exit 1 when there is none
  voice-calls.py LOG count AFTER TO         how many call requests to TO after AFTER
  voice-calls.py LOG n                      the highest request number in the log
  voice-calls.py LOG twiml AFTER TO LANG VOICE DRILL PUBLIC GW
                                            the latest call's TwiML checked (see check_call)
  voice-calls.py LOG check-all PUBLIC GW NUMBERS NAMES
                                            every call request: valid (no
                                            schema_errors, 201), its TwiML as
                                            check_call wants, no number or
                                            name (comma lists) spoken
  voice-calls.py - reply FILE WANT LANG [AGAIN-ACTION]
                                            the TwiML answer to a key press in FILE:
                                            says WANT (a regular expression) in
                                            LANG; with AGAIN-ACTION one more Gather
                                            whose action is that URL
"""
import json
import re
import sys
import urllib.parse
import xml.etree.ElementTree as ET

TOKEN_RE = r"[0-9a-f]{32}"
PROMPT = {"nb-NO": "Trykk 1 hvis du kan komme, trykk 2 hvis du ikke kan.",
          "en-US": "Press 1 if you can come, press 2 if you cannot."}
DRILL = {"nb-NO": "Dette er en øvelse.", "en-US": "This is a drill."}
CALLOUT = {"nb-NO": "Dette er en utkalling av ", "en-US": "This is a call-out. The message follows in Norwegian. "}
# VOICE.md's closing also asked for an SMS answer; main dropped that (d2aa6e8:
# a call-only step sends no SMS)
CLOSING = {"nb-NO": "Vi fikk ikke noe svar. Ha det bra.", "en-US": "We got no answer. Goodbye."}


def records(log):
    out = []
    with open(log, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r.get("path", "").endswith("/Calls.json") and "n" in r:
                out.append(r)
    return out


def calls_to(log, after, to):
    return [r for r in records(log) if r["n"] > after and (r.get("form") or {}).get("To") == to]


def describe(r):
    f = r.get("form") or {}
    root = ET.fromstring(f["Twiml"].encode("utf-8"))
    g = root.find("Gather")
    action = g.get("action") if g is not None else None
    cb = f.get("StatusCallback", "")
    ref = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(cb).query)).get("ref", "")
    return {"n": r["n"], "sid": r.get("call_sid"), "status": r["status"], "action": action,
            "token": action.rsplit("/", 1)[-1] if action else None, "status_callback": cb,
            "key": ref.rsplit(".", 1)[0], "ref": ref}


def check_call(r, lang, voice, drill, public, gw, numbers=(), names=()):
    """The call request's fields and TwiML as VOICE.md has them; returns a list of problems."""
    errs = []
    f = r.get("form") or {}
    fa = r.get("form_all") or {}
    if r.get("schema_errors"):
        errs.append("schema errors: %s" % r["schema_errors"])
    if r["status"] not in (201, "hang"):  # "hang": held on purpose (fake-sms.py --control)
        errs.append("answered %s" % r["status"])
    pub = public.rstrip("/")
    cb = f.get("StatusCallback", "")
    if not re.fullmatch(re.escape(pub) + "/voice/" + re.escape(gw) + r"/status\?ref=[A-Za-z0-9._-]+\.[A-Za-z0-9_-]+", cb):
        errs.append("StatusCallback %r" % cb)
    events = fa.get("StatusCallbackEvent", [])
    for e in ("initiated", "ringing", "answered", "completed"):
        if e not in events:
            errs.append("StatusCallbackEvent lacks %s (%s)" % (e, events))
    if f.get("StatusCallbackMethod") != "POST":
        errs.append("StatusCallbackMethod %r" % f.get("StatusCallbackMethod"))
    for k in ("Timeout", "TimeLimit"):
        if not re.fullmatch(r"[0-9]+", f.get(k, "")):
            errs.append("%s %r" % (k, f.get(k)))
    if "Url" in f:
        errs.append("Url given as well as Twiml")
    tw = f.get("Twiml", "")
    if not tw.startswith('<?xml version="1.0" encoding="UTF-8"?>'):
        errs.append("no XML declaration with UTF-8")
    try:
        root = ET.fromstring(tw.encode("utf-8"))
    except ET.ParseError as e:
        return errs + ["TwiML is not XML: %s" % e]
    if root.tag != "Response":
        errs.append("root <%s>" % root.tag)
    kids = list(root)
    gathers = [k for k in kids if k.tag == "Gather"]
    if [k.tag for k in kids] != ["Gather", "Gather", "Say"]:
        errs.append("Response holds %s, expected Gather, Gather, Say" % [k.tag for k in kids])
    want_action = re.escape(pub) + "/voice/" + re.escape(gw) + "/answer/" + TOKEN_RE
    actions = set()
    # bokmål: one <Say> in each Gather (the text, then the prompt); English
    # (main, 595e9a1): an English intro, the chain and the operator's text
    # in bokmål (as written), the prompt in English
    shape = [lang] if lang == "nb-NO" else ["en-US", "nb-NO", "en-US"]
    per_gather = []
    for g in gathers:
        if g.get("input") != "dtmf" or g.get("numDigits") != "1":
            errs.append("Gather input=%r numDigits=%r" % (g.get("input"), g.get("numDigits")))
        if not re.fullmatch(r"[0-9]+", g.get("timeout") or ""):
            errs.append("Gather timeout %r" % g.get("timeout"))
        if (g.get("method") or "POST") != "POST":
            errs.append("Gather method %r" % g.get("method"))
        a = g.get("action") or ""
        if not re.fullmatch(want_action, a):
            errs.append("Gather action %r is not %s" % (a, want_action))
        actions.add(a)
        inner = list(g)
        if [k.tag for k in inner] != ["Say"] * len(shape):
            errs.append("Gather holds %s, expected %d Say" % ([k.tag for k in inner], len(shape)))
            continue
        for k, want_lang in zip(inner, shape):
            if k.get("language") != want_lang:
                errs.append("Say language %r, expected %r" % (k.get("language"), want_lang))
            want_voice = voice if want_lang == lang else "Polly.Liv"
            if voice and k.get("voice") != want_voice:
                errs.append("Say voice %r, expected %r" % (k.get("voice"), want_voice))
        per_gather.append(" ".join((k.text or "").strip() for k in inner))
    if len(actions) != 1:
        errs.append("the Gathers have different actions: %s" % actions)
    closing_says = [k for k in kids if k.tag == "Say"]
    for k in closing_says:
        if k.get("language") != lang or (voice and k.get("voice") != voice):
            errs.append("closing Say language %r voice %r" % (k.get("language"), k.get("voice")))
    texts = per_gather + [(k.text or "").strip() for k in closing_says]
    if len(per_gather) == 2 and len(closing_says) == 1:
        first, again, closing = texts
        if first != again:
            errs.append("the second Gather says something else: %r / %r" % (first, again))
        start = (DRILL[lang] + " " if drill else "") + CALLOUT[lang]
        if not first.startswith(start):
            errs.append("the call says %r, expected it to start with %r" % (first[:80], start))
        if not drill and DRILL[lang] in first:
            errs.append("a drill sentence in a call that is no drill")
        if not first.endswith(PROMPT[lang]):
            errs.append("the call does not end with the prompt %r: %r" % (PROMPT[lang], first[-80:]))
        if closing != CLOSING[lang]:
            errs.append("closing %r, expected %r" % (closing, CLOSING[lang]))
    spoken = " ".join(texts)
    digits = re.sub(r"[^0-9]", "", spoken)
    for num in numbers:
        d = num.lstrip("+")
        if num in spoken or d in digits or d[2:] in digits:
            errs.append("a phone number is spoken")
    for name in names:
        if name and name in spoken:
            errs.append("a name (%s) is spoken" % name)
    return errs


def check_reply(path, want, lang, again_action=None):
    errs = []
    with open(path, "rb") as f:
        data = f.read()
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        return ["the answer is not XML: %s: %r" % (e, data[:200])]
    if root.tag != "Response":
        errs.append("root <%s>" % root.tag)
    says = root.findall(".//Say")
    text = " ".join((s.text or "").strip() for s in says)
    if not re.search(want, text):
        errs.append("the answer says %r, expected /%s/" % (text, want))
    for s in says:
        if s.get("language") != lang:
            errs.append("Say language %r, expected %r" % (s.get("language"), lang))
    gathers = root.findall("Gather")
    if again_action:
        if len(gathers) != 1 or gathers[0].get("action") != again_action:
            errs.append("expected one Gather with action %s, got %s" % (again_action, [g.get("action") for g in gathers]))
        elif PROMPT[lang] not in text:
            errs.append("the prompt is not asked again")
    elif gathers:
        errs.append("an unexpected Gather: %s" % [g.get("action") for g in gathers])
    return errs


def main(argv):
    log, cmd, *rest = argv
    if cmd == "n":
        n = 0
        with open(log, encoding="utf-8") as f:
            for line in f:
                n = max(n, json.loads(line).get("n", 0))
        print(n)
        return 0
    if cmd == "count":
        print(len(calls_to(log, int(rest[0]), rest[1])))
        return 0
    if cmd == "last":
        c = [r for r in calls_to(log, int(rest[0]), rest[1]) if r["status"] == 201]
        if not c:
            return 1
        print(json.dumps(describe(c[-1])))
        return 0
    if cmd == "twiml":
        after, to, lang, voice, drill, public, gw = rest
        c = calls_to(log, int(after), to)
        if not c:
            print("no call to that number", file=sys.stderr)
            return 1
        errs = check_call(c[-1], lang, voice, drill == "1", public, gw)
    elif cmd == "check-all":
        public, gw, numbers, names = rest
        errs = []
        rs = records(log)
        for r in rs:
            f = r.get("form") or {}
            lang = "en-US" if 'language="en-US"' in f.get("Twiml", "") else "nb-NO"
            drill = DRILL[lang] in f.get("Twiml", "")
            errs += ["request %d: %s" % (r["n"], e) for e in
                     check_call(r, lang, None, drill, public, gw, numbers.split(","), names.split(","))]
        if not rs:
            errs.append("no call requests at all")
        else:
            print("%d call requests checked" % len(rs))
    elif cmd == "reply":
        errs = check_reply(rest[0], rest[1], rest[2], rest[3] if len(rest) > 3 else None)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for e in errs:
        print(e, file=sys.stderr)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
