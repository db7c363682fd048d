#!/usr/bin/env python3
"""bench_alertmanager.py - beredd side by side with Prometheus Alertmanager.

Both run at the same time in this one run, on the same machine, and send to
the same loopback HTTP sink (tests/bench/sink.c: epoll, keep-alive, a fixed
200 answer, CLOCK_MONOTONIC ns per request when its headers are complete).
The sink's own ceiling is measured first, with its load generator, and
printed: a figure near it measures the sink, not the sender.

1. Latency, input -> first outbound request at the sink, N of each,
   alternating one beredd trigger and one Alertmanager alert:
   - beredd: a trigger line on the control socket (connected before the
     clock starts), a chain whose first step notifies one person through a
     generic `http` gateway pointed at the sink. beredd logs the trigger and
     the "sending" of the notification durably (fdatasync) before the
     request leaves.
   - Alertmanager: POST /api/v2/alerts with one alert with a new label set
     each time, on a keep-alive connection opened before the clock starts;
     route group_by [id] (a label unique to each alert), group_wait 0s,
     group_interval 1s, one webhook receiver pointing at the sink.
     Alertmanager keeps alerts in memory only (its snapshot of silences and
     the notification log is written every 15 minutes).
   p50/p95/p99 for both and the ratios beredd/Alertmanager.
2. Fan-out to 10,000: beredd one step to 10,000 people (role:team) through
   the same gateway; Alertmanager one POST of 10,000 alerts with distinct
   `id` labels and group_by [id], so each alert is its own aggregation group
   and its own webhook request (one receiver, 10,000 groups). Time from the
   input to the 10,000th request at the sink; per second; the ratio.
3. Resident memory (VmRSS; and, idle, Pss and private pages from
   /proc/PID/smaps_rollup, since most of an idle beredd's VmRSS is shared
   library pages that other processes map too): beredd idle with a municipality-sized
   configuration (60 people in 6 roles, two chains, an SMS gateway (http)
   and an e-mail gateway (smtp), follow-up on, MQTT and the HTTP listener
   off), Alertmanager idle (after start, no alerts); both after the fan-out
   (beredd with 10,000 people configured and 10,000 open notifications,
   Alertmanager holding 10,000 alerts in 10,000 groups).

Targets (printed beside the figures, not pass/fail): beredd p50 <= 0.5x
Alertmanager's, p99 <= 1x; fan-out >= 3x; idle RSS <= 8 MB and <= 0.25x
Alertmanager's; RSS after the 10,000 fan-out <= 32 MB.

Skipped (exit 0, a message) when prometheus-alertmanager is not installed
(ALERTMANAGER=path to use another binary).

usage: bench_alertmanager.py [--builddir DIR] [--srcdir DIR] [--quick]
                             [--perf DIR] [--tmpdir DIR]
--tmpdir DIR (or BENCH_TMPDIR): where the spools go, /var/tmp by default (a
disk); on a tmpfs (/dev/shm) fsync costs nothing, which shows what beredd
spends elsewhere than in durability.
--perf DIR: perf record -g on beredd during the latency part and during the
fan-out, into DIR/latency.data and DIR/fanout.data (the figures of such a
run include perf's overhead). BENCH_PERF_ARGS replaces "-g" (e.g.
"--call-graph dwarf -F 2000"); "trace -s" runs perf trace -s instead (a
summary of the system calls and the time spent in them). Prints human lines and machine lines
"name value unit".
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
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../lib"))
from beredd_test import conf, ctl, daemon, net  # noqa: E402  (tests/lib/beredd_test)

rss_mb = daemon.rss_mb


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def find_alertmanager():
    """ALERTMANAGER when set (None when that is not executable), else
    Debian's prometheus-alertmanager or an alertmanager on PATH."""
    if os.environ.get("ALERTMANAGER"):
        exe = os.environ["ALERTMANAGER"]
        return exe if os.access(exe, os.X_OK) else None
    exe = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if not exe and os.access("/usr/bin/prometheus-alertmanager", os.X_OK):
        exe = "/usr/bin/prometheus-alertmanager"
    return exe


def sink_binary(srcdir, builddir, t):
    """tests/bench/sink from `make bench`, or built here."""
    exe = os.path.join(builddir, "tests/bench/sink")
    if os.access(exe, os.X_OK):
        return exe
    exe = os.path.join(t, "sink")
    subprocess.run([os.environ.get("CC", "cc"), "-std=gnu11", "-O2", "-o", exe,
                    os.path.join(srcdir, "tests/bench/sink.c")], check=True)
    return exe


class Sink:
    """The C sink; its lines (ns per request) read in large chunks."""

    def __init__(self, exe, t):
        self.exe = exe
        self.portfile = t + "/sink.port"
        self.p = subprocess.Popen([exe, self.portfile], stdout=subprocess.PIPE, bufsize=0)
        while not os.path.exists(self.portfile):
            if self.p.poll() is not None:
                raise SystemExit("bench: the sink did not start")
            time.sleep(0.01)
        self.port = int(open(self.portfile).read())
        self.lines = []
        self.cv = threading.Condition()
        threading.Thread(target=self.reader, daemon=True).start()

    def reader(self):
        fd = self.p.stdout.fileno()
        rest = b""
        while True:
            d = os.read(fd, 1 << 20)
            if not d:
                return
            d = rest + d
            cut = d.rfind(b"\n") + 1
            rest = d[cut:]
            got = [int(x) for x in d[:cut].split()]
            with self.cv:
                self.lines.extend(got)
                self.cv.notify_all()

    def count(self):
        with self.cv:
            return len(self.lines)

    def wait_count(self, n, timeout=60):
        end = time.monotonic() + timeout
        with self.cv:
            while len(self.lines) < n:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.cv.wait(min(left, 0.5))
            return True

    def ceiling(self, conns, n):
        """Requests/s the sink takes from its own load generator over CONNS
        keep-alive connections (its reader attached, as in the runs)."""
        n0 = self.count()
        out = subprocess.run([self.exe, "-l", str(self.port), str(conns), str(n)], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit("bench: sink load generator: " + out.stderr.strip())
        self.wait_count(n0 + n, 30)
        return float(out.stdout.split()[1])

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait()


# ---- beredd ----

def municipality(t, port, team=0):
    """A municipality-sized configuration: 60 people (2 leaders, 48
    members, 4 priests, 4 psychologists, police, legevakt), with TEAM more
    people in role "team" for the fan-out; an SMS gateway (http, at the
    sink) and an e-mail gateway (smtp, never reached here); chains
    "kriseteam" (the README's shape) and "bench" (step 1: one person by SMS,
    or role:team with TEAM); follow-up on; MQTT and HTTP listener off."""
    people = [conf.person("leder%d" % i, "Leder %d" % i, "+474000000%d" % i, "leder%d@kommune.example" % i,
                          ["leader", "member"]) for i in range(2)]
    people += [conf.person("m%02d" % i, "Medlem %d" % i, "+4741%06d" % i, "m%d@kommune.example" % i,
                           ["member"] + (["prest"] if i < 4 else ["psyk"] if i < 8 else []))
               for i in range(56)]
    people += [conf.person("politi", "Politiet", "+4742000001", roles=["police"]),
               conf.person("legevakt", "Legevakten", "+4742000002", "legevakt@kommune.example", ["legevakt"])]
    people += [conf.person("p%d" % i, "Person %d" % i, "+479%07d" % i, roles=["team"]) for i in range(team)]
    gateways = ['{ id = "sms"; channel = "sms"; type = "http"; url = "http://127.0.0.1:%d/sms"; '
                'body = "to={to}&text={text}"; }' % port,
                '{ id = "mail"; channel = "email"; type = "smtp"; url = "smtp://127.0.0.1:9"; '
                'from = "kriseteam@kommune.example"; }']
    bench_notify = '"role:team"' if team else '"m00"'
    chains = ['{ id = "kriseteam"; name = "Psykososialt kriseteam";\n'
              '    may_trigger = [ "role:leader", "role:police", "role:legevakt" ];\n'
              '    need = { total = 3; roles = { leader = 1; }; };\n'
              '    steps = ( { notify = [ "role:leader" ]; via = [ "sms", "email" ]; wait = "5m"; },\n'
              '              { notify = [ "role:member" ]; via = [ "sms" ]; mode = "sequential"; wait = "3m"; },\n'
              '              { notify = [ "legevakt" ]; via = [ "sms", "email" ]; final = true; } );\n'
              '    repeat = 1; report_to = [ "leder0" ]; receipt = true; }',
              '{ id = "bench"; name = "Benk"; may_trigger = [ "leder0" ]; need = { total = 1; };\n'
              '    steps = ( { notify = [ %s ]; via = [ "sms" ]; wait = "1h"; } ); }' % bench_notify]
    fu = conf.followup([(1, "lav", "14d"), (2, "middels", "7d"), (3, "intensiv", "2d")], "leder0")
    return conf.render("bench", t + "/spool", people=people, gateways=gateways, chains=chains, followup=fu)


def start_beredd(beredd, t, text):
    conf.write(t + "/beredd.conf", text)
    shutil.rmtree(t + "/spool", ignore_errors=True)
    d = daemon.Daemon(beredd, t)
    try:
        d.start(timeout=60)
    except daemon.NotReady as e:
        raise SystemExit("bench: beredd did not start: %s" % e)
    return d


TRIGGER = (json.dumps({"cmd": "trigger", "chain": "bench", "by": "leder0", "drill": True}) + "\n").encode()


# ---- Alertmanager ----

AM_CONFIG = """global:
  resolve_timeout: 1h
route:
  receiver: sink
  group_by: ['id']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 24h
receivers:
  - name: sink
    webhook_configs:
      - url: 'http://127.0.0.1:%d/am'
        send_resolved: false
"""


class Alertmanager:
    def __init__(self, exe, t, sink_port, name):
        self.dir = os.path.join(t, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir + "/data")
        with open(self.dir + "/am.yml", "w") as f:
            f.write(AM_CONFIG % sink_port)
        self.port = net.free_port()
        self.log = open(self.dir + "/am.log", "wb")
        self.p = subprocess.Popen([exe, "--config.file=" + self.dir + "/am.yml", "--storage.path=" + self.dir + "/data",
                                   "--web.listen-address=127.0.0.1:%d" % self.port, "--cluster.listen-address=",
                                   "--log.level=warn"], stdout=self.log, stderr=self.log)
        end = time.monotonic() + 60 * daemon.time_scale()
        while True:
            if self.p.poll() is not None:
                raise SystemExit("bench: alertmanager exited with %s; see %s/am.log" % (self.p.returncode, self.dir))
            try:
                if urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % self.port, timeout=1).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > end:
                raise SystemExit("bench: alertmanager not ready after 60 s")
            time.sleep(0.05)
        self.sock = None

    @property
    def pid(self):
        return self.p.pid

    def connect(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @staticmethod
    def request(alerts):
        body = json.dumps(alerts).encode()
        return (b"POST /api/v2/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body)) + body

    def answer(self, timeout=60):
        """Read one answer from the keep-alive connection; its status."""
        self.sock.settimeout(timeout)
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = self.sock.recv(65536)
            if not d:
                raise SystemExit("bench: alertmanager closed the connection")
            buf += d
        head, rest = buf.split(b"\r\n\r\n", 1)
        n = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v)
        while len(rest) < n:
            rest += self.sock.recv(65536)
        status = int(head.split()[1])
        if status != 200:
            raise SystemExit("bench: alertmanager answered %d: %s" % (status, rest[:200]))
        return status

    def stop(self):
        if self.sock:
            self.sock.close()
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.log.close()


def alert(label_id):
    return {"labels": {"alertname": "BerddBench", "id": label_id, "severity": "page"},
            "annotations": {"summary": "bench alert %s" % label_id}}


# ---- what durability costs on this disk, now ----

def disk_probe(d, n):
    """p50 in ms of an append + fdatasync to one file, and of a new file
    written + fsync'd + its folder fsync'd, N each, in folder D (beredd's
    spool's file system): the floor under beredd's latency that
    Alertmanager, keeping alerts in memory, does not pay."""
    os.makedirs(d, exist_ok=True)
    app, new = [], []
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    fd = os.open(os.path.join(d, "log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for i in range(n):
            t0 = time.monotonic_ns()
            os.write(fd, b"2026-12-02T18:00:00Z sending 1 sms +4790000000\n")
            os.fdatasync(fd)
            app.append((time.monotonic_ns() - t0) / 1e6)
            t0 = time.monotonic_ns()
            f = os.open(os.path.join(d, "f%d" % i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(f, b"{\"cmd\":\"trigger\"}\n")
            os.fsync(f)
            os.close(f)
            os.fsync(dfd)
            new.append((time.monotonic_ns() - t0) / 1e6)
    finally:
        os.close(fd)
        os.close(dfd)
        shutil.rmtree(d, ignore_errors=True)
    return pct(app, 50), pct(new, 50)


# ---- perf ----

class Perf:
    def __init__(self, perfdir, pid, name):
        self.p = None
        if perfdir:
            os.makedirs(perfdir, exist_ok=True)
            args = os.environ.get("BENCH_PERF_ARGS", "-g").split()
            if args[:1] == ["trace"]:
                cmd = ["perf"] + args + ["-p", str(pid), "-o", os.path.join(perfdir, name + ".trace")]
            else:
                cmd = ["perf", "record"] + args + ["-q", "-p", str(pid), "-o", os.path.join(perfdir, name + ".data")]
            self.p = subprocess.Popen(cmd,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)

    def stop(self):
        if self.p:
            self.p.send_signal(signal.SIGINT)
            self.p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--builddir", default=os.environ.get("top_builddir", "."))
    ap.add_argument("--srcdir", default=os.environ.get("top_srcdir", "."))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--perf", metavar="DIR")
    ap.add_argument("--tmpdir", default=os.environ.get("BENCH_TMPDIR", "/var/tmp"),
                    help="where the spools go (default /var/tmp; a tmpfs such as /dev/shm shows beredd"
                    " without the cost of its fsyncs)")
    a = ap.parse_args()
    am_exe = find_alertmanager()
    if not am_exe:
        print("bench_alertmanager: SKIPPED: prometheus-alertmanager is not installed "
              "(apt-get install prometheus-alertmanager, or ALERTMANAGER=path)")
        return 0
    builddir, srcdir = os.path.abspath(a.builddir), os.path.abspath(a.srcdir)
    beredd = os.path.join(builddir, "beredd")
    n_lat = 100 if a.quick else 1000
    n_fan = 1000 if a.quick else 10000
    perfdir = os.path.abspath(a.perf) if a.perf else None
    t = tempfile.mkdtemp(prefix="beredd-bench-am.", dir=a.tmpdir)
    sink = Sink(sink_binary(srcdir, builddir, t), t)
    procs = []
    try:
        ceil1 = sink.ceiling(1, 20000)
        ceil32 = sink.ceiling(32, 100000)
        disk_app, disk_new = disk_probe(t + "/probe", 50 if a.quick else 200)

        # ---- idle memory, then latency, alternating ----
        b = start_beredd(beredd, t, municipality(t, sink.port))
        procs.append(b)
        am = Alertmanager(am_exe, t, sink.port, "am-lat")
        procs.append(am)
        time.sleep(1.0)
        idle_b, idle_am = rss_mb(b.pid), rss_mb(am.pid)
        sm_b, sm_am = daemon.smaps_mb(b.pid), daemon.smaps_mb(am.pid)
        am.connect()
        lat = {"beredd": [], "am": []}
        perf = Perf(perfdir, b.pid, "latency")
        for i in range(n_lat):
            # beredd
            n0 = sink.count()
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(b.control)
            t0 = time.monotonic_ns()
            s.sendall(TRIGGER)
            if not sink.wait_count(n0 + 1, 10):
                raise SystemExit("bench: no gateway request for beredd trigger %d" % i)
            lat["beredd"].append((sink.lines[n0] - t0) / 1e6)
            s.recv(65536)
            s.close()
            time.sleep(0.002)
            # Alertmanager
            n0 = sink.count()
            req = am.request([alert("lat-%d" % i)])
            t0 = time.monotonic_ns()
            am.sock.sendall(req)
            if not sink.wait_count(n0 + 1, 10):
                raise SystemExit("bench: no webhook request for alert %d" % i)
            lat["am"].append((sink.lines[n0] - t0) / 1e6)
            am.answer()
            time.sleep(0.002)
        perf.stop()
        b.stop()
        b.close()
        procs.remove(b)
        am.stop()
        procs.remove(am)

        # ---- fan-out to 10,000, one after the other ----
        b = start_beredd(beredd, t, municipality(t, sink.port, n_fan))
        procs.append(b)
        am = Alertmanager(am_exe, t, sink.port, "am-fan")
        procs.append(am)
        time.sleep(1.0)
        idle_b10k = rss_mb(b.pid)
        perf = Perf(perfdir, b.pid, "fanout")
        n0 = sink.count()
        t0 = time.monotonic_ns()
        ctl.request(b.control, {"cmd": "trigger", "chain": "bench", "by": "leder0", "drill": True}, timeout=None)
        if not sink.wait_count(n0 + n_fan, 120):
            raise SystemExit("bench: beredd: only %d of %d fan-out requests arrived" % (sink.count() - n0, n_fan))
        fan_b = (sink.lines[n0 + n_fan - 1] - t0) / 1e9
        perf.stop()
        time.sleep(1.0)  # outcomes logged
        rss_b = rss_mb(b.pid)

        am.connect()
        req = am.request([alert("fan-%d" % i) for i in range(n_fan)])
        n0 = sink.count()
        t0 = time.monotonic_ns()
        am.sock.sendall(req)
        if not sink.wait_count(n0 + n_fan, 120):
            raise SystemExit("bench: alertmanager: only %d of %d webhooks arrived" % (sink.count() - n0, n_fan))
        fan_am = (sink.lines[n0 + n_fan - 1] - t0) / 1e9
        am.answer()
        time.sleep(1.0)
        rss_am = rss_mb(am.pid)
        extra = sink.count() - n0 - n_fan
    finally:
        for p in procs:
            if isinstance(p, Alertmanager):
                p.stop()
            else:
                p.stop()
                p.close()
        sink.stop()
        shutil.rmtree(t, ignore_errors=True)

    lb, la = lat["beredd"], lat["am"]
    rate_b, rate_am = n_fan / fan_b, n_fan / fan_am
    print("sink (tests/bench/sink.c) ceiling: %.0f requests/s on 1 connection, %.0f/s on 32" % (ceil1, ceil32))
    print("the spool's file system (%s), p50: append + fdatasync %.2f ms, new file + fsync + folder fsync %.2f ms"
          % (a.tmpdir, disk_app, disk_new))
    print("input -> first request at the sink, %d each, alternating:" % n_lat)
    for p, tgt in ((50, "<= 0.5x"), (95, "-"), (99, "<= 1x")):
        print("  p%d: beredd %.2f ms, Alertmanager %.2f ms, ratio %.2f (target %s)"
              % (p, pct(lb, p), pct(la, p), pct(lb, p) / pct(la, p), tgt))
    print("fan-out to %d: beredd %.2f s = %.0f/s, Alertmanager %.2f s = %.0f/s, ratio %.2f (target >= 3x)%s"
          % (n_fan, fan_b, rate_b, fan_am, rate_am, rate_b / rate_am,
             "" if not extra else "; %d more webhooks after the last" % extra))
    print("resident memory idle: beredd %.1f MB (municipality: 60 people; target <= 8), Alertmanager %.1f MB,"
          " ratio %.2f (target <= 0.25); beredd with %d people %.1f MB"
          % (idle_b, idle_am, idle_b / idle_am, n_fan, idle_b10k))
    if sm_b and sm_am:
        print("idle, shared library pages divided by their sharers (Pss): beredd %.1f MB, Alertmanager %.1f MB,"
              " ratio %.2f; pages no other process maps: beredd %.1f MB, Alertmanager %.1f MB"
              % (sm_b["pss"], sm_am["pss"], sm_b["pss"] / sm_am["pss"], sm_b["private"], sm_am["private"]))
    print("resident memory after the fan-out: beredd %.1f MB (target <= 32), Alertmanager %.1f MB, ratio %.2f"
          % (rss_b, rss_am, rss_b / rss_am))
    m = [("am_sink_ceiling_1conn_per_second", ceil1, "/s"), ("am_sink_ceiling_32conn_per_second", ceil32, "/s"),
         ("am_disk_fdatasync_p50_ms", disk_app, "ms"), ("am_disk_newfile_p50_ms", disk_new, "ms")]
    for p in (50, 95, 99):
        m += [("am_beredd_p%d_ms" % p, pct(lb, p), "ms"), ("am_alertmanager_p%d_ms" % p, pct(la, p), "ms"),
              ("am_ratio_p%d" % p, pct(lb, p) / pct(la, p), "x")]
    m += [("am_beredd_fanout_per_second", rate_b, "/s"), ("am_alertmanager_fanout_per_second", rate_am, "/s"),
          ("am_ratio_fanout", rate_b / rate_am, "x"),
          ("am_beredd_rss_idle_mb", idle_b, "MB"), ("am_alertmanager_rss_idle_mb", idle_am, "MB"),
          ("am_ratio_rss_idle", idle_b / idle_am, "x"), ("am_beredd_rss_idle_10k_people_mb", idle_b10k, "MB"),
          ("am_beredd_rss_after_fanout_mb", rss_b, "MB"), ("am_alertmanager_rss_after_fanout_mb", rss_am, "MB"),
          ("am_ratio_rss_after_fanout", rss_b / rss_am, "x")]
    if sm_b and sm_am:
        m += [("am_beredd_pss_idle_mb", sm_b["pss"], "MB"), ("am_alertmanager_pss_idle_mb", sm_am["pss"], "MB"),
              ("am_ratio_pss_idle", sm_b["pss"] / sm_am["pss"], "x"),
              ("am_beredd_private_idle_mb", sm_b["private"], "MB"),
              ("am_alertmanager_private_idle_mb", sm_am["private"], "MB")]
    for name, v, unit in m:
        print("%s %.3f %s" % (name, v, unit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
