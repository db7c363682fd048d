#!/usr/bin/env python3
"""catalogue.py - hostile input on every way into beredd, from one table.

Each entry of INPUTS is sent on every way in that takes a command: the
control socket (one line), the drop folder (one file) and MQTT (one message
on <base>/cmd/<name>, when mosquitto is installed). Each must be answered with
the expected clear error (or accepted, where that is the right answer) while
the daemon keeps running; after the whole table, the data that was there
before (an open activation, a followed-up case, the outbox) is checked to be
untouched. Then:
  * CR/LF in a trigger message must not reach an e-mail header;
  * phone numbers in other formats find their person, others are refused;
  * 10,000 drop files at once: every one accepted or rejected with a reason;
  * CONFIGS: bad configuration files, each refused by --check-config with
    FILE:LINE: and the expected message.

usage: catalogue.py --builddir DIR [--srcdir DIR] [--keep]
Exit status 0 when every entry behaved, 1 otherwise, 2 on a setup error.
The HTTP listener's catalogue (oversize, bad form encoding, bad JSON, wrong
content type, forged tokens and signatures) is tests/integration/110-http.sh.
"""
import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../lib"))
from beredd_test import conf, ctl, daemon, mosquitto  # noqa: E402  (tests/lib/beredd_test)

BIG = 70 * 1024  # past COMMAND_MAX_LINE (64 KiB)

# (name, payload bytes, expected error regex or "ok") - "cmd" is added per way:
# the socket and the drop folder read it from the payload, MQTT from the topic
# (payloads given as bytes are sent as they are, on all three).
INPUTS = [
    ("not-json", b"this is not json", r"not valid JSON"),
    ("empty-object", b"{}", r"cmd: missing|chain: missing"),
    ("json-array", b'["trigger"]', r"must be a JSON object|not a JSON object|object"),
    ("truncated", b'{"cmd":"trigger","chain":', r"not valid JSON"),
    ("deep-nesting", b"[" * 100000, r"not valid JSON|too long|too large"),
    ("deep-object", b'{"cmd":"trigger","chain":' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}", r"not valid JSON|chain: must be"),
    ("invalid-utf8", b'{"cmd":"trigger","chain":"kriseteam","by":"kari","message":"\xff\xfe brann"}',
     r"not valid JSON|UTF-8"),
    ("overlong-utf8", b'{"cmd":"trigger","chain":"kriseteam","by":"kari","message":"\xc0\xaf"}',
     r"not valid JSON|UTF-8"),
    ("nul-escape", b'{"cmd":"trigger","chain":"kriseteam","by":"kari","message":"a\\u0000b"}', r"not valid JSON|NUL"),
    ("raw-nul", b'{"cmd":"trigger","chain":"krise\x00team","by":"kari"}', r"not valid JSON|NUL"),
    ("duplicate-key", b'{"cmd":"trigger","chain":"kriseteam","chain":"annet","by":"kari"}', r"not valid JSON|duplicate"),
    ("unknown-field", b'{"cmd":"trigger","chain":"kriseteam","by":"kari","priority":"high"}', r"unknown field|priority"),
    ("wrong-type", b'{"cmd":"trigger","chain":"kriseteam","by":"kari","drill":"yes"}', r"drill: expected true or false"),
    ("number-as-id", b'{"cmd":"trigger","chain":42,"by":"kari"}', r"chain: expected a string"),
    ("huge-number", b'{"cmd":"case.open","case":"K-1","contacts":["kari"],"level":1e999}',
     r"not valid JSON|level"),
    ("long-message", ('{"cmd":"trigger","chain":"kriseteam","by":"kari","message":"%s"}' % ("x" * 1001)).encode(),
     r"message: .*(long|1000)"),
    ("long-id", ('{"cmd":"case.open","case":"%s","contacts":["kari"],"level":1}' % ("K" * 65)).encode(),
     r"case: too long"),
    ("traversal-case", b'{"cmd":"case.close","case":"../../etc/passwd","by":"kari"}', r"case: must be"),
    ("traversal-chain", b'{"cmd":"trigger","chain":"../kriseteam","by":"kari"}', r"chain: "),
    ("traversal-activation", b'{"cmd":"resolve","activation":"../../x","by":"kari"}', r"activation: "),
    ("slash-in-id", b'{"cmd":"case.open","case":"K/2041","contacts":["kari"],"level":1}', r"case: must be"),
    ("crlf-in-by", b'{"cmd":"trigger","chain":"kriseteam","by":"kari\\r\\nBcc: x@example.org"}', r"by: "),
    ("crlf-in-case", b'{"cmd":"case.open","case":"K-1\\r\\nSubject: x","contacts":["kari"],"level":1}',
     r"case: control characters"),
    ("unknown-person", b'{"cmd":"trigger","chain":"kriseteam","by":"mallory"}', r"by: |may_trigger|not allowed|unknown"),
    ("unknown-command", b'{"cmd":"rm -rf /"}', r"unknown command"),
    ("bad-date", b'{"cmd":"case.open","case":"K-9","contacts":["kari"],"level":1,"due":"2026-02-30"}',
     r"due: "),
    ("bad-level", b'{"cmd":"case.open","case":"K-9","contacts":["kari"],"level":9}', r"level: "),
    ("bad-answer", b'{"cmd":"reply","code":"1234","answer":"kanskje","person":"kari"}', r"answer: "),
    # values in the wrong place: refused by field and reason, never echoed (see ECHO)
    ("phone-as-chain", b'{"cmd":"trigger","chain":"4791234599","by":"kari"}', r"chain: no such chain"),
    ("name-as-by", b'{"cmd":"trigger","chain":"kriseteam","by":"Kari Nordvik"}', r"by: "),
    ("phone-as-key", b'{"cmd":"trigger","chain":"kriseteam","by":"kari","+4791234598":1}', r"unknown field"),
    ("name-as-cmd", b'{"cmd":"Kari Nordvik 91234597"}', r"unknown command"),
    ("phone-as-json", b'Kari Nordvik 91234596', r"not valid JSON"),
    ("oversize", ('{"cmd":"trigger","chain":"kriseteam","by":"kari","message":"%s"}' % ("y" * BIG)).encode(),
     r"too long|too large"),
]

# Offending values from the inputs above that must appear in neither the log
# nor a .reason (issue 13: logs name the field, not the value).
ECHO = ["4791234599", "Kari Nordvik", "4791234598", "91234597", "91234596"]

CONFIGS = [
    ("unknown-key", 'site = "x";\nspool = "%(spool)s";\nsitename = "y";\n', 3, r"unknown (key|setting)"),
    ("bad-duration", 'site = "x";\nspool = "%(spool)s";\npeople = ( { id = "kari"; name = "K"; phone = "+4791234567"; } );\n'
     'gateways = ( { id = "o"; type = "file"; } );\n'
     'chains = ( { id = "c"; may_trigger = [ "kari" ]; need = { total = 1; };\n'
     '  steps = ( { notify = [ "kari" ]; via = [ "sms" ]; wait = "5 minutes"; } ); } );\n', 6, r"bad duration"),
    ("unknown-person", 'site = "x";\nspool = "%(spool)s";\npeople = ( { id = "kari"; name = "K"; phone = "+4791234567"; } );\n'
     'gateways = ( { id = "o"; type = "file"; } );\n'
     'chains = ( { id = "c"; may_trigger = [ "kari" ]; need = { total = 1; };\n'
     '  steps = ( { notify = [ "ola" ]; via = [ "sms" ]; wait = "5m"; } ); } );\n', 6, r"unknown person \"ola\""),
    ("traversal-id", 'site = "x";\nspool = "%(spool)s";\npeople = ( { id = "../kari"; name = "K"; phone = "+4791234567"; } );\n',
     3, r"id"),
    ("bad-phone", 'site = "x";\nspool = "%(spool)s";\npeople = ( { id = "kari"; name = "K"; phone = "+47 call me"; } );\n',
     3, r"phone"),
    ("invalid-utf8", b'site = "x\xff";\nspool = "%(spool)s";\n', 1, r"UTF-8|site"),
    ("syntax", 'site = "x"\nspool = ;\n', 2, r"syntax|parse|error"),
    ("crlf-in-name", 'site = "x";\nspool = "%(spool)s";\npeople = ( { id = "kari"; name = "K\\r\\nBcc: x@example.org"; phone = "+4791234567"; } );\n',
     3, r"name|control"),
]


# What the catalogue's MQTT allows (case.* never go over MQTT: their replies
# would carry a case reference); other commands must be refused there.
MQTT_CMDS = ["trigger", "reply", "resolve"]


class Runner:
    def __init__(self, a):
        self.builddir = os.path.abspath(a.builddir)
        self.srcdir = os.path.abspath(a.srcdir)
        self.beredd = os.path.join(self.builddir, "beredd")
        self.beredctl = os.path.join(self.builddir, "beredctl")
        self.t = tempfile.mkdtemp(prefix="beredd-badinput.")
        self.keep = a.keep
        self.procs = []
        self.failures = []
        self.n_checks = 0

    # ---- peers ----
    def start_mosquitto(self):
        if not mosquitto.available(clients=True):
            return None
        try:
            p, port = mosquitto.start(self.t)
        except RuntimeError:
            raise SystemExit("badinput: mosquitto did not start")
        self.procs.append(p)
        return port

    def config(self, mqtt_port):
        text = conf.render(
            "badinput", self.t + "/spool",
            people=[conf.person("kari", "Kari Nordmann", "+4791234567", "kari@kommune.example", ["leader"]),
                    conf.person("ola", "Ola Nordmann", "+4791234568", roles=["member"])],
            gateways=['{ id = "outbox"; channel = "any"; type = "file"; }'],
            chains=['{ id = "kriseteam"; name = "Kriseteamet"; may_trigger = [ "kari" ]; need = { total = 2; };\n'
                    '    steps = ( { notify = [ "kari", "ola" ]; via = [ "sms", "email" ]; wait = "1h"; } ); }'],
            followup=conf.followup([(1, "lav", "14d"), (2, "middels", "7d")], "kari"),
            mqtt=conf.mqtt(mqtt_port, "beredd/bad", trigger_identity="kari", drill_only=False,
                           commands=MQTT_CMDS) if mqtt_port else None)
        conf.write(self.t + "/beredd.conf", text)

    def start_daemon(self):
        self.d = daemon.Daemon(self.beredd, self.t)
        try:
            self.d.start()
        except daemon.NotReady as e:
            raise SystemExit("badinput: the daemon did not start: %s" % e)

    # ---- ways in ----
    def sock_raw(self, data):
        return ctl.raw(self.t + "/control", data)

    def sock(self, obj):
        return ctl.request(self.t + "/control", obj)

    def drop(self, name, data):
        inc = self.t + "/spool/incoming/"
        with open(inc + "." + name, "wb") as f:
            f.write(data)
        os.rename(inc + "." + name, inc + name)

    def wait_processed(self, name, timeout=10):
        end = time.time() + timeout
        inc = self.t + "/spool/incoming/" + name
        while time.time() < end:
            if not os.path.exists(inc):
                return True
            time.sleep(0.01)
        return False

    def reason(self, name, wait=0.0):
        # The input is moved to failed/ (durably) before its .reason is
        # written: give the reason a moment to follow.
        p = self.t + "/spool/failed/" + name + ".reason"
        end = time.time() + wait
        while not os.path.exists(p) and time.time() < end:
            time.sleep(0.01)
        return open(p, encoding="utf-8", errors="replace").read() if os.path.exists(p) else None

    def mqtt_send(self, cmd, data):
        n0 = self.mqtt_count()
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.mqtt_port), "-q", "1",
                        "-t", "beredd/bad/cmd/" + cmd, "-s"], input=data, check=True)
        end = time.time() + 10
        while time.time() < end:
            lines = self.mqtt_lines()
            if len(lines) > n0:
                return lines[n0]
            time.sleep(0.02)
        return None

    def mqtt_lines(self):
        try:
            with open(self.t + "/replies.log", encoding="utf-8", errors="replace") as f:
                return [l for l in f.read().split("\n") if l]
        except FileNotFoundError:
            return []

    def mqtt_count(self):
        return len(self.mqtt_lines())

    # ---- checks ----
    def check(self, what, cond, detail=""):
        self.n_checks += 1
        if not cond:
            self.failures.append("%s: %s" % (what, detail))
            print("FAIL %s: %s" % (what, detail))

    def alive(self, what):
        try:
            ok = self.sock({"cmd": "status"}).get("ok") is True
        except (OSError, ValueError) as e:
            ok = False
        self.check(what + ": the daemon still answers", ok and self.d.alive())

    def snapshot(self):
        h = {}
        for p in [self.case_file] + sorted(glob.glob(self.t + "/spool/outbox/*")):
            with open(p, "rb") as f:
                h[os.path.relpath(p, self.t)] = hashlib.sha256(f.read()).hexdigest()
        act = self.sock({"cmd": "show", "activation": self.act_id})
        h["activation-state"] = act.get("state")
        h["activation-notifications"] = len(act.get("notifications", []))
        h["case"] = json.dumps(self.sock({"cmd": "show", "case": "K-2041"}), sort_keys=True)  # journal or file
        return h

    def run(self):
        self.mqtt_port = self.start_mosquitto()
        self.config(self.mqtt_port)
        r = subprocess.run([self.beredd, "--check-config", "-c", self.t + "/beredd.conf"], capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit("badinput: the catalogue's own configuration is refused:\n" + r.stdout + r.stderr)
        self.start_daemon()
        sub = None
        if self.mqtt_port:
            sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.mqtt_port), "-q", "1",
                                    "-t", "beredd/bad/reply/#"], stdout=open(self.t + "/replies.log", "wb"),
                                   stderr=subprocess.DEVNULL)
            self.procs.append(sub)
            time.sleep(0.5)

        # the data that must survive
        r = self.sock({"cmd": "trigger", "chain": "kriseteam", "by": "kari", "message": "Øvelse", "drill": True})
        if not r.get("ok"):
            raise SystemExit("badinput: the sentinel trigger was refused: %s" % r)
        self.act_id = r["activation"]
        r = self.sock({"cmd": "case.open", "case": "K-2041", "contacts": ["kari"], "level": 1})
        if not r.get("ok"):
            raise SystemExit("badinput: the sentinel case was refused: %s" % r)
        # the case reaches its own file at the journal's next fold (about a second)
        for _ in range(100):
            time.sleep(0.1)
            found = [p for p in glob.glob(self.t + "/spool/cases/*/*.json") if "K-2041" in os.path.basename(p)]
            if found and not glob.glob(self.t + "/spool/cases/journal.*"):
                break
        else:
            raise SystemExit("badinput: the sentinel case never reached its file")
        self.case_file = found[0]
        before = self.snapshot()

        ways = ["socket", "drop"] + (["mqtt"] if self.mqtt_port else [])
        for name, payload, expect in INPUTS:
            for way in ways:
                what = "%s over %s" % (name, way)
                cmd = None
                if way == "socket":
                    if b"\n" in payload:
                        continue
                    got = self.sock_raw(payload)
                    try:
                        rep = json.loads(got)
                        msg, ok = rep.get("error", ""), rep.get("ok")
                    except ValueError:
                        msg, ok = got, None
                elif way == "drop":
                    fn = "%s.json" % name
                    self.drop(fn, payload)
                    if not self.wait_processed(fn):
                        self.check(what, False, "incoming/%s was not processed" % fn)
                        continue
                    msg = self.reason(fn, wait=3.0)
                    ok = msg is None
                    msg = msg or ""
                else:
                    m = re.search(rb'"cmd":"([^"]*)"', payload)
                    cmd = m.group(1).decode("utf-8", "replace") if m else "trigger"
                    if not re.fullmatch(r"[a-z.]+", cmd):
                        cmd = "bogus"  # a topic level cannot hold it; an unknown command all the same
                    body = re.sub(rb'"cmd":"[^"]*",?', b"", payload, count=1)
                    got = self.mqtt_send(cmd, body)
                    if got is None:
                        self.check(what, False, "no reply on MQTT")
                        continue
                    try:
                        rep = json.loads(got)
                        msg, ok = rep.get("error", ""), rep.get("ok")
                    except ValueError:
                        msg, ok = got, None
                want = expect
                if way == "mqtt" and cmd not in MQTT_CMDS:
                    want = r"not allowed over MQTT|unknown command"
                if want == "ok":
                    self.check(what, ok is True, "refused: %s" % msg)
                else:
                    self.check(what, ok is False and re.search(want, msg) is not None,
                               "expected an error matching %r, got ok=%s %r" % (want, ok, msg[:200]))
                print("%-34s %-7s %s" % (name, way, ("accepted" if ok else msg[:100])))
            self.alive(name)

        self.d.log.flush()
        texts = [("the log", open(self.t + "/beredd.log", encoding="utf-8", errors="replace").read())]
        for p in glob.glob(self.t + "/spool/failed/*.reason"):
            texts.append((os.path.basename(p), open(p, encoding="utf-8", errors="replace").read()))
        for v in ECHO:
            hits = [w for w, text in texts if v in text]
            self.check("not echoed: %s" % v, not hits, "found in %s" % ", ".join(hits[:5]))

        after = self.snapshot()
        for k in sorted(before):
            self.check("untouched: " + k, before[k] == after.get(k), "%s -> %s" % (before[k], after.get(k)))

        self.crlf_in_email()
        self.phone_formats()
        self.many_drop_files()
        self.configs()
        rc = self.d.stop(timeout=30)
        self.check("clean stop", rc == 0, "exit status %s" % rc)

    def crlf_in_email(self):
        r = self.sock({"cmd": "trigger", "chain": "kriseteam", "by": "kari", "drill": True,
                       "message": "Brann\r\nBcc: mallory@example.org\r\n\r\nSubject: forged"})
        print("%-34s %-7s %s" % ("crlf-in-message", "socket", "accepted" if r.get("ok") else r.get("error")))
        if not r.get("ok"):
            self.check("crlf-in-message", re.search(r"message: ", r.get("error", "")) is not None, str(r))
            return
        time.sleep(0.5)
        mails = [p for p in glob.glob(self.t + "/spool/outbox/*") if r["activation"] in os.path.basename(p)]
        n = 0
        for p in mails:
            data = open(p, "rb").read()
            if b"Subject:" not in data and b"subject" not in data:
                continue
            n += 1
            try:
                obj = json.loads(data)
                headers = "%s\n%s" % (obj.get("subject", ""), obj.get("to", ""))
            except ValueError:
                headers = data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("utf-8", "replace")
            self.check("crlf-in-message: no injected header in %s" % os.path.basename(p),
                       "mallory" not in headers and "forged" not in headers, headers[:200])
        self.check("crlf-in-message: an e-mail was written", n > 0, "no e-mail in the outbox for %s" % r["activation"])
        self.sock({"cmd": "resolve", "activation": r["activation"], "by": "kari"})

    def phone_formats(self):
        r = self.sock({"cmd": "trigger", "chain": "kriseteam", "by": "kari", "drill": True})
        code = r["code"]
        for phone, expect in [("+47 912 34 567", "ok"), ("0047 91234567", "ok"), ("912 34 567", "ok"),
                              ("+4791234567", "ok"), ("(+47) 91-23-45-67", "ok|phone: "),
                              ("12345", r"phone: |not a configured person"),
                              ("+46 70 123 45 67", r"not a configured person"),
                              ("912345678901234567890", r"phone: |not a configured person"), ("+47 912\u00a034 567", "ok|phone: "),
                              ("'; DROP TABLE people; --", r"phone: ")]:
            r = self.sock({"cmd": "reply", "code": code, "answer": "yes", "phone": phone})
            ok = r.get("ok") is True
            good = (ok and "ok" in expect.split("|")) or (not ok and re.search(expect, r.get("error", "")))
            self.check("reply by phone %r" % phone, bool(good), "got %s" % r)
            print("%-34s %-7s %s" % ("phone %r" % phone, "socket", "accepted" if ok else r.get("error")))
        self.sock({"cmd": "resolve", "activation": r.get("activation") or self.act_id, "by": "kari"})

    def many_drop_files(self, n=10000):
        inc = self.t + "/spool/incoming/"
        kinds = [
            (b"not json at all", "not valid JSON"),
            (b'{"cmd":"status"}', "read-only commands"),
            (b'{"cmd":"case.close","case":"../x","by":"kari"}', "case: must be"),
            (b'{"cmd":"trigger","chain":"kriseteam"}', "by: missing"),
        ]
        t0 = time.monotonic()
        for i in range(n):
            data = kinds[i % len(kinds)][0]
            with open(inc + ".m%05d" % i, "wb") as f:
                f.write(data)
        for i in range(n):
            os.rename(inc + ".m%05d" % i, inc + "m%05d.json" % i)
        t1 = time.monotonic()
        end = time.time() + 300
        while time.time() < end:
            left = [f for f in os.listdir(inc) if f.startswith("m")]
            if not left:
                break
            time.sleep(0.2)
        t2 = time.monotonic()
        self.check("10,000 drop files: all processed", not left, "%d left in incoming/" % len(left))
        bad = 0
        for i in range(n):
            rsn = self.reason("m%05d.json" % i, wait=1.0)
            if rsn is None or kinds[i % len(kinds)][1] not in rsn:
                bad += 1
                if bad <= 3:
                    self.check("drop file m%05d.json" % i, False, "reason %r" % rsn)
        self.check("10,000 drop files: each with its reason", bad == 0, "%d without the expected reason" % bad)
        st = self.sock({"cmd": "status"})
        print("10,000 drop files renamed in %.2f s, all rejected with reasons %.2f s later; status %s"
              % (t1 - t0, t2 - t1, st.get("incoming")))
        self.alive("10,000 drop files")

    def configs(self):
        for name, text, line, expect in CONFIGS:
            p = "%s/bad-%s.conf" % (self.t, name)
            data = text if isinstance(text, bytes) else text.encode()
            data = data.replace(b"%(spool)s", (self.t + "/spool-" + name).encode())
            with open(p, "wb") as f:
                f.write(data)
            r = subprocess.run([self.beredd, "--check-config", "-c", p], capture_output=True)
            out = (r.stdout + r.stderr).decode("utf-8", "replace")
            want = "%s:%d: " % (p, line)
            good = r.returncode != 0 and any(l.startswith(want) and re.search(expect, l) for l in out.splitlines())
            self.check("config %s" % name, good, "expected %s...%s, got (%d) %r" % (want, expect, r.returncode, out[:300]))
            print("%-34s %-7s %s" % (name, "config", out.strip().splitlines()[0] if out.strip() else "(nothing)"))

    def stop(self):
        if getattr(self, "d", None):
            self.d.close()
        for p in self.procs:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.failures or self.keep:
            print("badinput: files kept in %s" % self.t)
        else:
            shutil.rmtree(self.t, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--builddir", default=os.environ.get("top_builddir", "."))
    ap.add_argument("--srcdir", default=os.environ.get("top_srcdir", "."))
    ap.add_argument("--keep", action="store_true")
    r = Runner(ap.parse_args())
    try:
        r.run()
    finally:
        r.stop()
    print("badinput: %d checks, %d failed" % (r.n_checks, len(r.failures)))
    return 1 if r.failures else 0


if __name__ == "__main__":
    sys.exit(main())
