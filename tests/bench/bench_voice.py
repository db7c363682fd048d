#!/usr/bin/env python3
"""bench_voice.py - a voice call-out to 100 people (issue 16).

The real daemon (beredd -f) with one chain whose one parallel step calls
100 people (via = ["voice"]) through a Twilio voice gateway with
max_calls = 10, pointed at tests/integration/fake-sms.py as the loopback
Twilio stand-in. The stand-in checks each call request against Twilio's
OpenAPI description, answers 201, and after --hold seconds posts the call's
final status callback (completed, signed as Twilio signs) to beredd's HTTP
listener, which frees the slot for the next call.

Figures: the time from the trigger to the 100th call request at the
stand-in (every call request has left); the peak of calls in flight that
the stand-in saw (accepted, final status not yet sent: must be <= max_calls);
call requests the stand-in refused as invalid (must be 0).

usage: bench_voice.py [--builddir DIR] [--srcdir DIR] [--quick] [--hold SECONDS]
Prints human lines and machine lines "name value unit". Not a pass/fail test.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../lib"))
from beredd_test import conf, ctl, daemon, net  # noqa: E402  (tests/lib/beredd_test)

ACCOUNT = "AC0123456789abcdef0123456789abcdef"
TOKEN = "bench-secret"
PUBLIC = "https://beredd.kommune.example"


def read_log(path):
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass  # a line being written
    except OSError:
        pass
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--builddir", default=os.environ.get("top_builddir", "."))
    ap.add_argument("--srcdir", default=os.environ.get("top_srcdir", "."))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--hold", type=float, default=0.2, help="seconds each call lasts at the stand-in")
    ap.add_argument("--people", type=int, default=100)
    ap.add_argument("--max-calls", type=int, default=10)
    ap.add_argument("--keep", action="store_true", help="keep the test folder (its path on stderr)")
    a = ap.parse_args()
    beredd = os.path.join(os.path.abspath(a.builddir), "beredd")
    srcdir = os.path.abspath(a.srcdir)
    n = 30 if a.quick else a.people
    t = tempfile.mkdtemp(prefix="beredd-bench-voice.")
    os.makedirs(t + "/creds")
    with open(t + "/creds/voice.token", "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(t + "/creds/voice.token", 0o600)
    http_port = net.free_port()
    log = t + "/twilio.log"
    fake = subprocess.Popen([sys.executable, os.path.join(srcdir, "tests/integration/fake-sms.py"),
                             "--port", "0", "--port-file", t + "/fake.port", "--log", log,
                             "--twilio-token", TOKEN, "--strict-account", "--voice-auto", "completed", "--voice-hold", str(a.hold),
                             "--deliver-to", "http://127.0.0.1:%d" % http_port],
                            stdout=subprocess.DEVNULL, stderr=open(t + "/fake.err", "w"))
    d = None
    try:
        if not net.wait_for(lambda: os.path.exists(t + "/fake.port"), 10):
            raise SystemExit("bench: the Twilio stand-in did not start")
        port = int(open(t + "/fake.port").read())
        text = conf.render(
            "bench", t + "/spool",
            people=[conf.person("leder", "Leder", "+4740000001", roles=["leader"])]
            + [conf.person("p%d" % i, "Person %d" % i, "+479%07d" % i, roles=["team"]) for i in range(n)],
            gateways=['{ id = "voice"; type = "twilio"; channel = "voice"; url = "http://127.0.0.1:%d"; '
                      'account = "%s"; from = "+4759440000"; token_file = "voice.token"; max_calls = %d; }'
                      % (port, ACCOUNT, a.max_calls)],
            chains=['{ id = "kriseteam"; name = "Kriseteamet"; may_trigger = [ "leder" ]; need = { total = %d; };\n'
                    '    steps = ( { notify = [ "role:team" ]; via = [ "voice" ]; wait = "1h"; } ); }' % n],
            extra='http = { listen = "127.0.0.1:%d"; public_url = "%s/"; };\n' % (http_port, PUBLIC))
        conf.write(t + "/beredd.conf", text)
        d = daemon.Daemon(beredd, t, env={"CREDENTIALS_DIRECTORY": t + "/creds"})
        try:
            d.start(timeout=30)
        except daemon.NotReady as e:
            raise SystemExit("bench: the daemon did not start: %s" % e)
        net.wait_port(http_port, 10)
        t0 = time.time()
        ctl.request(t + "/control", {"cmd": "trigger", "chain": "kriseteam", "by": "leder", "drill": True},
                    timeout=None)
        deadline = t0 + 30 + n * a.hold * 3
        calls = []
        while time.time() < deadline:
            calls = [r for r in read_log(log) if r.get("path", "").endswith("/Calls.json")]
            if len(calls) >= n:
                break
            time.sleep(0.05)
        if len(calls) < n:
            raise SystemExit("bench: only %d of %d call requests arrived" % (len(calls), n))
        last = sorted(r["time"] for r in calls)[n - 1]
        # the last callbacks, so that the peak covers every call
        net.wait_for(lambda: sum(1 for r in read_log(log) if "callback" in r) >= n, 10 + a.hold * 4)
        recs = read_log(log)
        peak = max((r.get("in_flight", 0) for r in recs if r.get("path", "").endswith("/Calls.json")), default=0)
        invalid = sum(1 for r in recs if r.get("schema_errors"))
        refused = sum(1 for r in recs if "callback" in r and r.get("status") != 200)
        people = len({(r.get("form") or {}).get("To") for r in calls})
    finally:
        if d:
            d.stop(timeout=30)
            d.close()
        fake.terminate()
        fake.wait()
        if a.keep:
            print("bench: files kept in %s" % t, file=sys.stderr)
        else:
            shutil.rmtree(t, ignore_errors=True)

    span = last - t0
    print("voice: %d people, max_calls %d, each call %.2f s: every call request left after %.2f s "
          "(ideal %.2f s); peak in flight %d (must be <= %d); %d invalid requests; %d callbacks refused; "
          "%d distinct people called"
          % (n, a.max_calls, a.hold, span, (n / a.max_calls - 1) * a.hold, peak, a.max_calls, invalid, refused, people))
    print("voice_100_calls_s %.3f s" % span)
    print("voice_peak_in_flight %d calls" % peak)
    print("voice_invalid_requests %d requests" % invalid)


if __name__ == "__main__":
    main()
