#!/usr/bin/env python3
"""bench_activation.py - crisis-team activation figures for beredd.

1. Trigger latency: the real daemon (beredd -f) with one chain whose first
   step notifies one person by SMS through a generic HTTP gateway pointed at
   tests/bench/sink.py. Latency = from the moment the trigger is sent (a line
   on the control socket, or a file renamed into incoming/) to the moment the
   sink has the gateway request's headers, both on CLOCK_MONOTONIC. The
   daemon logs the trigger durably (fsync) before the request leaves.
   N triggers each way, one at a time; p50 and p99.
   Targets: p50 <= 1.5 ms, p99 <= 5 ms.
2. Fan-out: one chain step to 10,000 people (role:team) through the same
   gateway; notifications per second = 10,000 / (time of the 10,000th
   request at the sink - time the trigger was sent). Every notification is
   logged "sending" (group commit) before its request. Target >= 5,000/s.
3. Resident memory (VmRSS): idle after start with a small configuration
   (target <= 8 MB), and with 10,000 open notifications, after the fan-out
   (target <= 32 MB).

usage: bench_activation.py [--builddir DIR] [--srcdir DIR] [--quick]
Prints human lines and machine lines "name value unit".
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../lib"))
from beredd_test import conf, ctl, daemon  # noqa: E402  (tests/lib/beredd_test)

rss_mb = daemon.rss_mb


def request(path, obj):
    return ctl.request(path, obj, timeout=None)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


class Sink:
    def __init__(self, t, srcdir):
        self.portfile = t + "/sink.port"
        self.p = subprocess.Popen([sys.executable, os.path.join(srcdir, "tests/bench/sink.py"), self.portfile],
                                  stdout=subprocess.PIPE, bufsize=0)
        while not os.path.exists(self.portfile):
            time.sleep(0.01)
        self.port = int(open(self.portfile).read())
        self.lines = []
        self.cv = threading.Condition()
        threading.Thread(target=self.reader, daemon=True).start()

    def reader(self):
        for line in self.p.stdout:
            with self.cv:
                self.lines.append(int(line))
                self.cv.notify_all()

    def wait_count(self, n, timeout=60):
        end = time.time() + timeout
        with self.cv:
            while len(self.lines) < n and time.time() < end:
                self.cv.wait(0.5)
            return len(self.lines) >= n

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait()


def config(t, port, n_people, fanout):
    notify = '"role:team"' if fanout else '"p0"'
    return conf.render(
        "bench", t + "/spool", timezone=None,
        people=[conf.person("leder", "Leder", "+4740000001", roles=["leader"])]
        + [conf.person("p%d" % i, "Person %d" % i, "+479%07d" % i, roles=["team"]) for i in range(n_people)],
        gateways=['{ id = "sms"; type = "http"; url = "http://127.0.0.1:%d/sms"; body = "to={to}&text={text}"; }' % port],
        chains=['{ id = "kriseteam"; name = "Kriseteamet"; may_trigger = [ "leder" ]; need = { total = 1; };\n'
                '    steps = ( { notify = [ %s ]; via = [ "sms" ]; wait = "1h"; } ); }' % notify])


def start(beredd, t, text):
    """A fresh spool, the daemon started and ready (READY=1)."""
    conf.write(t + "/beredd.conf", text)
    shutil.rmtree(t + "/spool", ignore_errors=True)
    d = daemon.Daemon(beredd, t)
    try:
        d.start(timeout=30)
    except daemon.NotReady as e:
        raise SystemExit("bench: the daemon did not start: %s" % e)
    return d


def stop(d, timeout=60):
    d.stop(timeout=timeout)
    d.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--builddir", default=os.environ.get("top_builddir", "."))
    ap.add_argument("--srcdir", default=os.environ.get("top_srcdir", "."))
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    beredd = os.path.join(os.path.abspath(a.builddir), "beredd")
    srcdir = os.path.abspath(a.srcdir)
    n_trig = 100 if a.quick else 1000
    n_fan = 1000 if a.quick else 10000
    t = tempfile.mkdtemp(prefix="beredd-bench.")
    sink = Sink(t, srcdir)
    try:
        # ---- latency and idle memory ----
        p = start(beredd, t, config(t, sink.port, 8, False))
        time.sleep(1.0)
        idle = rss_mb(p.pid)
        ctl = t + "/control"
        lat = {"socket": [], "dropfile": []}
        for way in ("socket", "dropfile"):
            for i in range(n_trig):
                n0 = len(sink.lines)
                if way == "socket":
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.connect(ctl)
                    line = (json.dumps({"cmd": "trigger", "chain": "kriseteam", "by": "leder", "drill": True})
                            + "\n").encode()
                    t0 = time.monotonic_ns()
                    s.sendall(line)
                else:
                    tmp = "%s/spool/incoming/.b%d" % (t, i)
                    with open(tmp, "w") as f:
                        json.dump({"cmd": "trigger", "chain": "kriseteam", "by": "leder", "drill": True}, f)
                    t0 = time.monotonic_ns()
                    os.rename(tmp, "%s/spool/incoming/b%05d.json" % (t, i))
                if not sink.wait_count(n0 + 1, 10):
                    raise SystemExit("bench: no gateway request for trigger %d (%s)" % (i, way))
                lat[way].append((sink.lines[n0] - t0) / 1e6)
                if way == "socket":
                    s.recv(65536)
                    s.close()
                time.sleep(0.002)
        stop(p)
        # ---- fan-out and memory with 10,000 open notifications ----
        p = start(beredd, t, config(t, sink.port, n_fan, True))
        n0 = len(sink.lines)
        t0 = time.monotonic_ns()
        request(ctl, {"cmd": "trigger", "chain": "kriseteam", "by": "leder", "drill": True})
        if not sink.wait_count(n0 + n_fan, 120):
            raise SystemExit("bench: only %d of %d fan-out requests arrived" % (len(sink.lines) - n0, n_fan))
        fan_s = (sink.lines[n0 + n_fan - 1] - t0) / 1e9
        time.sleep(1.0)  # outcomes logged
        open_rss = rss_mb(p.pid)
        stop(p)
    finally:
        sink.stop()
        shutil.rmtree(t, ignore_errors=True)

    for way in ("socket", "dropfile"):
        print("trigger via %s -> first gateway request, %d triggers: p50 %.2f ms, p99 %.2f ms (targets 1.5 / 5)"
              % (way, len(lat[way]), pct(lat[way], 50), pct(lat[way], 99)))
    print("fan-out: %d notifications in %.2f s = %.0f/s (target >= 5,000/s)" % (n_fan, fan_s, n_fan / fan_s))
    print("resident memory: idle %.1f MB (target <= 8), %d open notifications %.1f MB (target <= 32)"
          % (idle, n_fan, open_rss))
    for way in ("socket", "dropfile"):
        print("trigger_%s_p50_ms %.3f ms" % (way, pct(lat[way], 50)))
        print("trigger_%s_p99_ms %.3f ms" % (way, pct(lat[way], 99)))
    print("fanout_per_second %.0f /s" % (n_fan / fan_s))
    print("rss_idle_mb %.1f MB" % idle)
    print("rss_10k_open_mb %.1f MB" % open_rss)


if __name__ == "__main__":
    main()
