#!/usr/bin/env python3
"""torture.py - kill beredd with SIGKILL at random moments under a mixed load,
restart it each time, and check from the outside that nothing was lost.

The load: crisis-team triggers over the control socket and as drop files,
yes/no answers, resolves, follow-up cases opened and checked in, and the
simulated clock (BEREDD_TEST_TIME_OFFSET) moving forward over working days so
reminders fall due while the daemon is being killed. SMS go to
tests/integration/fake-sms.py speaking the Link Mobility profile, whose
request log carries each notification's idempotency key (refId); e-mail goes
to the file gateway.

After the last kill the daemon runs undisturbed until every activation has
reached a final state, and is then stopped with SIGTERM. The invariants:
  1. every trigger that got an accepted reply exists (beredctl show);
  2. every drop file was processed (an activation exists with that origin)
     or rejected to failed/ with a .reason, and incoming/ is empty;
  3. every activation is in a final state (mobilised, short or resolved);
  4. no notification reached the gateway twice unless a kill came between
     the two requests (in flight at a kill) or beredd logged a retry of it
     after a gateway timeout; those are counted and reported
     (target: at most 0.1 % of notifications);
  5. every case whose open was accepted has a complete, parsable file, and
     every open case due on or before the last simulated day was reminded;
     every message a case file records as sent reached the gateway;
  6. no file is left in tmp/ after a clean start, every activation log line
     but a torn last one parses, and the daemon never crashed by itself.

usage: torture.py [--seed S] [--kills N] [--builddir DIR] [--srcdir DIR]
                  [--keep] [--valgrind]
Exit status 0 when every invariant holds, 1 otherwise, 2 on a setup error.
"""

import argparse
import datetime
import glob
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../lib"))
from beredd_test import clock, conf, ctl, daemon, net  # noqa: E402  (tests/lib/beredd_test)

PEOPLE = [  # id, phone, email, roles
    ("kari", "+4791000001", "kari@kommune.example", ["leader"]),
    ("ola", "+4791000002", None, ["member"]),
    ("per", "+4791000003", "per@kommune.example", ["member"]),
    ("lise", "+4791000004", None, ["member"]),
    ("nils", "+4791000005", None, ["member"]),
    ("anne", "+4791000006", "anne@kommune.example", ["member"]),
    ("legevakt", "+4791000009", None, ["fallback"]),
    ("koord", "+4791000010", None, ["coordinator"]),
]
CHAINS = ["kriseteam", "vakt"]
OUTCOMES = ["no-needs", "needs", "worse", "better", "unreached"]
FINAL = {"mobilised", "short", "resolved"}


def offset_for(day):
    """BEREDD_TEST_TIME_OFFSET putting the daemon at 10:00 Europe/Oslo on DAY
    (10:00 is after office start in winter and summer time alike: UTC+1/+2,
    so 08:30 UTC is 09:30 or 10:30 local)."""
    return clock.offset_to(datetime.datetime(day.year, day.month, day.day, 8, 30, tzinfo=datetime.timezone.utc))


def request(path, obj, timeout=5.0):
    """One command over the control socket: the reply object, or None when
    the daemon was not there or went away mid-request."""
    return ctl.try_request(path, obj, timeout)


wait_for = net.wait_for


def load_factor():
    """How much slower than a quiet machine this one is now: the 1-minute
    load average per CPU, at least 1 (times BEREDD_TIME_SCALE)."""
    try:
        per_cpu = os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        per_cpu = 1.0
    return max(1.0, per_cpu) * daemon.time_scale()


def wait_progress(pred, quiet, progress, step=0.2):
    """Wait until PRED holds; give up only when PROGRESS() has not changed
    for QUIET seconds times the machine's load factor, so a slow machine
    that is still working is waited for and a stuck daemon is not."""
    last, since = progress(), time.monotonic()
    while not pred():
        now = time.monotonic()
        cur = progress()
        if cur != last:
            last, since = cur, now
        elif now - since > quiet * load_factor():
            return pred()
        time.sleep(step)
    return True


def start_stress(t, seconds):
    """stress-ng beside the kills: every CPU busy, a worker syncing and one
    writing files in the spool's file system; bounded by SECONDS. The
    process group, for stop_stress."""
    exe = shutil.which("stress-ng")
    if not exe:
        return None
    os.makedirs(t + "/stress", exist_ok=True)
    n = str(os.cpu_count() or 2)
    return subprocess.Popen([exe, "--cpu", n, "--io", "1", "--hdd", "1", "--hdd-bytes", "64M", "--temp-path",
                             t + "/stress", "--timeout", "%ds" % seconds, "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop_stress(p):
    if p is None:
        return
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def start(d, offset):
    d.start(wait=False, env={"BEREDD_TEST_TIME_OFFSET": str(offset)},
            note="=== start %d offset %d\n" % (d.starts, offset))


def ready(d, timeout):
    """Whether the daemon said READY=1 (False when it died or took too long)."""
    try:
        d.wait_ready(timeout)
        return True
    except daemon.NotReady:
        return False


def write_config(t, sms_port):
    text = conf.render(
        "torture", t + "/spool",
        people=[conf.person(pid, "Person %s" % pid.capitalize(), phone, email, roles)
                for pid, phone, email, roles in PEOPLE],
        gateways=['{ id = "sms"; type = "linkmobility"; url = "http://127.0.0.1:%d"; account = "1:2"; from = "Kriseteam";\n'
                  '    username = "lm"; password_file = "lm.password"; timeout = "2s"; retries = 3; }' % sms_port,
                  '{ id = "mail"; channel = "email"; type = "file"; }'],
        chains=["""{ id = "kriseteam"; name = "Kriseteamet"; may_trigger = [ "kari", "per" ]; need = { total = 3; roles = { leader = 1; }; };
    steps = ( { notify = [ "kari", "ola", "per" ]; via = [ "sms", "email" ]; wait = "2s"; },
              { notify = [ "lise", "nils", "anne" ]; via = [ "sms" ]; mode = "sequential"; wait = "1s"; },
              { notify = [ "legevakt" ]; via = [ "sms" ]; final = true; } ); }""",
                """{ id = "vakt"; name = "Vaktlaget"; may_trigger = [ "kari", "per" ]; need = { total = 2; };
    steps = ( { notify = [ "ola", "lise" ]; via = [ "sms" ]; mode = "sequential"; wait = "1s"; },
              { notify = [ "nils", "anne" ]; via = [ "sms" ]; wait = "2s"; },
              { notify = [ "legevakt" ]; via = [ "sms" ]; final = true; } ); }"""],
        followup=conf.followup([(1, "lav", "7d"), (2, "middels", "3d"), (3, "intensiv", "1d")], "koord"))
    conf.write(t + "/beredd.conf", text)


class Load:
    """The mixed load, and what the outside world knows about it."""

    def __init__(self, t, rng):
        self.t, self.rng = t, rng
        self.ctl = t + "/control"
        self.accepted = {}      # activation id -> code, from accepted triggers
        self.drops = []         # drop file names written
        self.cases = {}         # ref -> contacts, from accepted case.open
        self.n_case = 0
        self.n_drop = 0
        self.counts = {"trigger": 0, "drop": 0, "reply": 0, "resolve": 0, "case.open": 0, "case.checkin": 0,
                       "no-answer": 0}

    def act(self, today):
        r = self.rng.random()
        if r < 0.18:
            self.trigger()
        elif r < 0.26:
            self.drop()
        elif r < 0.62:
            self.reply()
        elif r < 0.67:
            self.resolve()
        elif r < 0.82:
            self.case_open(today)
        else:
            self.checkin()

    def send(self, obj):
        rep = request(self.ctl, obj)
        if rep is None:
            self.counts["no-answer"] += 1
        return rep

    def trigger(self):
        rep = self.send({"cmd": "trigger", "chain": self.rng.choice(CHAINS), "by": self.rng.choice(["kari", "per"]),
                         "message": "Øvelse: samling på rådhuset", "drill": self.rng.random() < 0.5})
        if rep and rep.get("ok") and rep.get("activation"):
            self.accepted[rep["activation"]] = rep.get("code")
            self.counts["trigger"] += 1

    def drop(self):
        self.n_drop += 1
        name = "t%05d.json" % self.n_drop
        tmp = "%s/spool/incoming/.%s" % (self.t, name)
        with open(tmp, "w") as f:
            json.dump({"cmd": "trigger", "chain": self.rng.choice(CHAINS), "by": "kari",
                       "message": "Fra fagsystemet"}, f)
        os.rename(tmp, "%s/spool/incoming/%s" % (self.t, name))
        self.drops.append(name)
        self.counts["drop"] += 1

    def open_codes(self):
        return [c for c in self.accepted.values() if c]

    def reply(self):
        codes = self.open_codes()
        if not codes:
            return
        person = self.rng.choice([p[0] for p in PEOPLE[:6]])
        rep = self.send({"cmd": "reply", "code": self.rng.choice(codes), "person": person,
                         "answer": "yes" if self.rng.random() < 0.7 else "no"})
        if rep and rep.get("ok"):
            self.counts["reply"] += 1

    def resolve(self):
        if not self.accepted:
            return
        aid = self.rng.choice(list(self.accepted))
        rep = self.send({"cmd": "resolve", "activation": aid, "by": "kari"})
        if rep and rep.get("ok"):
            self.counts["resolve"] += 1

    def case_open(self, today):
        self.n_case += 1
        ref = "K-%d" % (1000 + self.n_case)
        contacts = self.rng.sample(["ola", "lise", "nils", "anne"], self.rng.choice([1, 2]))
        due = today + datetime.timedelta(days=self.rng.choice([0, 1, 1, 2, 3]))
        rep = self.send({"cmd": "case.open", "case": ref, "contacts": contacts, "level": self.rng.choice([1, 2, 3]),
                         "due": due.isoformat()})
        if rep and rep.get("ok"):
            self.cases[ref] = contacts
            self.counts["case.open"] += 1

    def checkin(self):
        if not self.cases:
            return
        ref = self.rng.choice(list(self.cases))
        rep = self.send({"cmd": "case.checkin", "case": ref, "outcome": self.rng.choice(OUTCOMES), "by": "ola"})
        if rep and rep.get("ok"):
            self.counts["case.checkin"] += 1


def gateway_log(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except FileNotFoundError:
        pass
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--builddir", default=os.environ.get("top_builddir", "."))
    ap.add_argument("--srcdir", default=os.environ.get("top_srcdir", "."))
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--valgrind", action="store_true", default=bool(os.environ.get("BEREDD_VALGRIND")))
    ap.add_argument("--max-delay", type=float, default=0.6, help="longest run before a kill (s)")
    ap.add_argument("--stress", type=int, default=0, metavar="SECONDS",
                    help="run stress-ng (CPU, I/O and disk writes in the spool's file system) beside the kills, "
                         "for at most SECONDS")
    ap.add_argument("--spare-pause", type=int, default=0, metavar="MS",
                    help="BEREDD_TEST_SPARE_PAUSE_MS: the daemon sleeps MS between a new activation log's "
                         "fdatasync and its rename, so that kills land there (the log is then put back from tmp/)")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    beredd = os.path.join(os.path.abspath(args.builddir), "beredd")
    fake = os.path.join(os.path.abspath(args.srcdir), "tests/integration/fake-sms.py")
    if not os.access(beredd, os.X_OK):
        print("torture: no daemon at %s" % beredd, file=sys.stderr)
        return 2
    t = tempfile.mkdtemp(prefix="beredd-torture.")
    os.makedirs(t + "/creds")
    with open(t + "/creds/lm.password", "w") as f:
        f.write("lm-secret\n")
    os.chmod(t + "/creds/lm.password", 0o600)

    sms_port = net.free_port()
    sms_log = t + "/sms.log"
    fake_p = subprocess.Popen([sys.executable, fake, "--port", str(sms_port), "--log", sms_log, "--lm-user", "lm",
                               "--lm-password", "lm-secret", "--dedupe"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    write_config(t, sms_port)
    chk = subprocess.run([beredd, "--check-config", "-c", t + "/beredd.conf"], capture_output=True, text=True,
                         env=dict(os.environ, CREDENTIALS_DIRECTORY=t + "/creds"))
    if chk.returncode != 0:
        print("torture: bad configuration:\n" + chk.stdout + chk.stderr, file=sys.stderr)
        fake_p.kill()
        return 2
    d = daemon.Daemon(beredd, t, valgrind=args.valgrind,
                      env={"CREDENTIALS_DIRECTORY": t + "/creds", "BEREDD_GW_BACKOFF_MS": "20",
                           "BEREDD_TEST_SPARE_PAUSE_MS": str(args.spare_pause)})
    load = Load(t, rng)
    days = clock.working_days(12)
    kill_times = []
    crashes = []
    started = time.time()
    violations = []
    ready_timeout = 15  # scaled by 4 under valgrind (daemon.time_scale), and by the load below
    stress = None
    if args.stress:
        stress = start_stress(t, args.stress)
        if stress is None:
            print("torture: --stress needs stress-ng (Debian package stress-ng)", file=sys.stderr)
            fake_p.kill()
            return 2
    try:
        if not wait_for(lambda: net.port_open(sms_port), 10):
            print("torture: fake-sms did not start", file=sys.stderr)
            return 2
        for k in range(args.kills):
            day = days[min(len(days) - 1, k * len(days) // max(1, args.kills))]
            start(d, offset_for(day))
            # Kill at a random moment: a fifth of the time before the socket
            # is even there (during start and replay), else while under load.
            early = rng.random() < 0.2
            if not early:
                ready(d, ready_timeout * load_factor())
            deadline = time.time() + rng.uniform(0, 0.05 if early else args.max_delay)
            while time.time() < deadline and d.alive():
                load.act(day)
                time.sleep(rng.uniform(0, 0.02))
            kill_times.append(time.time())
            rc = d.kill()
            if rc is not None:
                crashes.append((k, rc))
            try:
                os.unlink(t + "/control")  # a killed daemon leaves its socket behind
            except FileNotFoundError:
                pass

        # ---- settle: no more kills; let every activation finish ----
        stop_stress(stress)
        stress = None
        last = days[min(len(days) - 1, args.kills * len(days) // max(1, args.kills))]
        start(d, offset_for(last))
        if not ready(d, ready_timeout * load_factor()):
            violations.append("the daemon did not come up for the final run")
            raise RuntimeError
        def log_size():
            try:
                return os.path.getsize(t + "/beredd.log")
            except OSError:
                return 0
        wait_progress(lambda: not os.listdir(t + "/spool/incoming"), 10, log_size)

        def listing():
            rep = request(t + "/control", {"cmd": "list"}) or {}
            return rep.get("activations", [])

        def all_final():
            return all(a.get("state") in FINAL for a in listing())

        # Waits run out and chains move on: the log grows while that happens.
        wait_progress(all_final, 10, log_size)
        acts = listing()
        # every case and every activation, read through the daemon
        shown = {}
        for ref in load.cases:
            shown[ref] = request(t + "/control", {"cmd": "show", "case": ref})
        time.sleep(0.5 * load_factor())  # outcomes of the last messages
        rc = d.stop()
        if rc != 0:
            violations.append("the final run exited with status %s" % rc)
    except RuntimeError:
        pass
    finally:
        stop_stress(stress)
        d.close()
        fake_p.send_signal(signal.SIGTERM)
        try:
            fake_p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            fake_p.kill()

    # ---- invariants ----
    if crashes:
        violations.append("the daemon died by itself %d time(s): %s" % (len(crashes), crashes[:5]))
    if "acts" not in locals():
        acts, shown = [], {}
    ids = {a["activation"] for a in acts}
    # 1. accepted triggers exist
    lost = [i for i in load.accepted if i not in ids]
    if lost:
        violations.append("%d accepted trigger(s) lost: %s" % (len(lost), lost[:5]))
    # 2. drop files
    origins = []  # from each activation log's "created" record
    for path in glob.glob(t + "/spool/activations/*.log"):
        with open(path, "rb") as f:
            first = f.readline()
        try:
            origins.append(json.loads(first).get("origin") or "")
        except ValueError:
            pass
    failed = set(os.listdir(t + "/spool/failed")) if os.path.isdir(t + "/spool/failed") else set()
    left = os.listdir(t + "/spool/incoming") if os.path.isdir(t + "/spool/incoming") else []
    if left:
        violations.append("incoming/ not empty after the final run: %s" % left[:5])
    unaccounted = []
    for name in load.drops:
        if any(o.startswith("incoming/%s@" % name) for o in origins):
            continue
        if name in failed and name + ".reason" in failed:
            continue
        unaccounted.append(name)
    if unaccounted:
        violations.append("%d drop file(s) neither started an activation nor were rejected: %s"
                          % (len(unaccounted), unaccounted[:5]))
    # 3. final states
    open_ = [(a["activation"], a.get("state")) for a in acts if a.get("state") not in FINAL]
    if open_:
        violations.append("%d activation(s) not in a final state: %s" % (len(open_), open_[:5]))
    # 4. duplicates at the gateway, by idempotency key (refId), told apart by
    # X-Request-Id (<instance>.<n>: random per daemon start, one per attempt)
    # without any timing: two requests of one key from two daemon starts were
    # in flight at a kill; from one daemon with two ids, beredd decided to
    # retry (it must have logged it); with one id, the network stack sent one
    # attempt twice (the libcurl resend that beredd refuses).
    reqs = [r for r in gateway_log(sms_log) if r.get("path") == "/sms/send" and 200 <= r.get("status", 0) < 300]
    reqs.sort(key=lambda r: r["n"])
    by_key = {}
    for r in reqs:
        key = (r.get("json") or {}).get("refId")
        by_key.setdefault(key, []).append(r)
    notifications = len(by_key)
    # Messages beredd itself decided to send again (a gateway timeout or a
    # connection closed without an answer: the provider may have taken the
    # first one), logged so.
    retried = set()
    with open(t + "/beredd.log", errors="replace") as f:
        for line in f:
            m = re.search(r"message (\S+) \(person [^)]*\) attempt \d+/\d+ failed: .*; retrying", line)
            if m:
                retried.add(m.group(1))
    in_flight, by_retry, resent, unexplained, misdated = 0, 0, [], [], 0
    for key, rs in by_key.items():
        base = key.rsplit(".", 1)[0] if key and re.search(r"\.[0-9a-f]{16}$", key) else key
        for a, b in zip(rs, rs[1:]):
            ida, idb = (r.get("headers", {}).get("X-Request-Id") or "" for r in (a, b))
            if not ida or not idb:
                unexplained.append(key)  # every request carries one
            elif ida.split(".")[0] != idb.split(".")[0]:
                in_flight += 1
                # The earlier harness's rule, kept as evidence: a kill between
                # the stand-in's time stamps (with 0.1 s of slack). A starved
                # stand-in stamps the killed daemon's request late.
                if not any(a["time"] - 0.1 <= kt <= b["time"] for kt in kill_times):
                    misdated += 1
            elif ida == idb:
                resent.append(key)
            elif base in retried:
                by_retry += 1
            else:
                unexplained.append(key)
    if resent:
        violations.append("%d request(s) sent twice by the network stack (one X-Request-Id twice): %s"
                          % (len(resent), resent[:5]))
    if unexplained:
        violations.append("%d notification(s) sent twice by one daemon without a logged retry: %s"
                          % (len(unexplained), unexplained[:5]))
    # At the recipient: the stand-in drops repeats of a refId it has taken
    # (--dedupe), as a provider honouring idempotency keys does. A
    # notification delivered twice would need two references for one key.
    delivered = {}
    for r in reqs:
        if r.get("repeat"):
            continue
        key = (r.get("json") or {}).get("refId") or ""
        base = key.rsplit(".", 1)[0] if re.search(r"\.[0-9a-f]{16}$", key) else key
        delivered[base] = delivered.get(base, 0) + 1
    at_recipient = sum(n - 1 for n in delivered.values() if n > 1)
    if at_recipient:
        violations.append("%d duplicate(s) at the recipient, behind an idempotent gateway" % at_recipient)
    # 5. cases
    last_day = locals().get("last") or days[-1]
    bad_files = []
    for path in glob.glob(t + "/spool/cases/*/*.json"):
        try:
            with open(path) as f:
                json.load(f)
        except ValueError:
            bad_files.append(os.path.basename(path))
    if bad_files:
        violations.append("%d unparsable case file(s): %s" % (len(bad_files), bad_files[:5]))
    unreminded, missing, unsent = [], [], []
    for ref in load.cases:
        c = shown.get(ref)
        files = glob.glob("%s/spool/cases/*/%s.json" % (t, ref))
        if not c or not c.get("ok") or not files:
            missing.append(ref)
            continue
        with open(files[0]) as f:
            data = json.load(f)
        if data["state"] == "open" and data["stage"] == "none" and data["due"] <= last_day.isoformat():
            unreminded.append(ref)
        for n in data.get("notify", []):
            # A reminder's refId is "fu." and a hash of its key (the key
            # names the case, which stays in beredd).
            cref = "fu." + hashlib.sha256(n["key"].encode()).hexdigest()[:32]
            if n.get("state") == "sent" and n.get("channel") == "sms" and cref not in by_key:
                unsent.append(n["key"])
    if missing:
        violations.append("%d accepted case(s) missing: %s" % (len(missing), missing[:5]))
    if unreminded:
        violations.append("%d case(s) due by %s never reminded: %s" % (len(unreminded), last_day, unreminded[:5]))
    if unsent:
        violations.append("%d reminder(s) recorded as sent never reached the gateway: %s" % (len(unsent), unsent[:5]))
    # 6. spool hygiene
    leftovers = os.listdir(t + "/spool/tmp")
    if leftovers:
        violations.append("tmp/ holds %d file(s) after a clean run" % len(leftovers))
    torn = 0
    for path in glob.glob(t + "/spool/activations/*.log"):
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
        for i, line in enumerate(lines[:-1]):
            try:
                json.loads(line)
            except ValueError:
                violations.append("%s:%d: unparsable committed line" % (os.path.basename(path), i + 1))
        torn += lines[-1] != b""
    reminders = sum(1 for k in by_key if k and k.startswith("fu."))
    # Logs a kill left under a spare's name in tmp/, put back at the next start.
    put_back = 0
    try:
        with open(t + "/beredd.log", errors="replace") as f:
            for line in f:
                m = re.search(r"Spool: (\d+) activation log\(s\) moved from tmp/", line)
                put_back += int(m.group(1)) if m else 0
    except OSError:
        pass

    pct = 100.0 * in_flight / notifications if notifications else 0.0
    print("torture: seed %d, %d kills in %.0f s, %d daemon starts" % (args.seed, args.kills, time.time() - started,
                                                                     d.starts))
    if args.stress:
        print("torture: beside stress-ng (every CPU, I/O syncs, disk writes) for up to %d s" % args.stress)
    print("torture: load %s" % json.dumps(load.counts, sort_keys=True))
    print("torture: %d activations (%d accepted by socket, %d drop files), %d cases" % (
        len(acts), len(load.accepted), len(load.drops), len(load.cases)))
    print("torture: %d notifications reached the SMS gateway (%d follow-up reminders), %d requests"
          % (notifications, reminders, len(reqs)))
    print("torture: requests repeated in flight at a kill: %d (%.3f %% of notifications); retried by beredd, "
          "logged: %d; sent twice by the network stack: %d; unexplained: %d"
          % (in_flight, pct, by_retry, len(resent), len(unexplained)))
    print("torture: of those, stamped by the stand-in with no kill between them (what a rule by time "
          "would call sent twice without a kill): %d" % misdated)
    print("torture: duplicates at the recipient (idempotent gateway): %d" % at_recipient)
    print("torture: torn last lines in activation logs: %d" % torn)
    print("torture: activation logs put back from tmp/ at a start (killed before their rename): %d%s"
          % (put_back, " (spare pause %d ms)" % args.spare_pause if args.spare_pause else ""))
    print("torture: lost: %d" % (len(lost) + len(unaccounted) + len(missing) + len(unreminded) + len(unsent)))
    for v in violations:
        print("torture: VIOLATION: %s" % v)
    if args.keep or violations:
        print("torture: files kept in %s" % t)
    else:
        shutil.rmtree(t, ignore_errors=True)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
