#!/usr/bin/env python3
"""bench_followup.py - watchful-waiting follow-up figures for beredd.

1. Start at 1,000,000 cases: case files written straight into a spool in
   the daemon's format (cases/<FNV-1a bucket>/<ref>.json, as a case opened
   through the daemon looks, due dates spread over a year), then the time
   from exec to READY=1 (sd_notify, received on our own NOTIFY_SOCKET):
   first with no cases/index (every file read), then, after the check-ins
   and a clean stop (which writes cases/index), a restart, and the resident
   memory after it. Targets <= 10 s and <= 150 MB.
2. Check-in cost at that size: the median round trip of a case.checkin over
   the control socket (file rewritten atomically, case rescheduled).
3. 10,000 cases due the same day, one contact each: the daemon is started
   with its clock (BEREDD_TEST_TIME_OFFSET) two seconds before 08:00 local on
   a working day; the figure is the time from 08:00 until the 10,000th
   reminder request reached the gateway (tests/bench/sink.py). Target <= 5 s.

usage: bench_followup.py [--builddir DIR] [--srcdir DIR] [--quick] [--cases N] [--due-only]
BENCH_WRAP="perf record -g -o FILE" runs the daemon under a profiler.
Prints human lines and machine lines "name value unit".
"""
import argparse
import datetime
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../lib"))
from bench_activation import Sink, request, rss_mb, stop  # noqa: E402
from beredd_test import cases, clock, conf, daemon  # noqa: E402  (tests/lib/beredd_test)


def write_cases(spool, n, due_of):
    for b in range(256):
        os.makedirs("%s/cases/%02x" % (spool, b), exist_ok=True)
    opened = int(time.time() * 1e6)
    for i in range(n):
        ref = "B-%07d" % i
        with open("%s/cases/%s/%s.json" % (spool, cases.bucket(ref), ref), "w") as f:
            f.write(cases.case_json(ref, due_of(i), opened))


def config(t, port):
    return conf.render(
        "bench", t + "/spool",
        people=[conf.person("p0", "Kontakt", "+4790000000", roles=["contact"]),
                conf.person("koord", "Koordinator", "+4790000001")],
        gateways=['{ id = "sms"; type = "http"; url = "http://127.0.0.1:%d/sms"; body = "to={to}&text={text}"; }' % port],
        followup=conf.followup([(1, "lav", "14d"), (2, "middels", "7d")], "koord"))


def start(beredd, t, offset=0):
    """Start the daemon (not in the foreground: no log lines on stderr) and
    wait for READY=1; (daemon, seconds from exec to READY=1)."""
    wrap = os.environ.get("BENCH_WRAP", "").split()  # e.g. "perf record -g -o /tmp/p.data"
    d = daemon.Daemon(beredd, t, foreground=False, wrap=wrap, env={"BEREDD_TEST_TIME_OFFSET": str(offset)})
    ready = d.start(timeout=120)
    return d, ready


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--builddir", default=os.environ.get("top_builddir", "."))
    ap.add_argument("--srcdir", default=os.environ.get("top_srcdir", "."))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cases", type=int)
    ap.add_argument("--due-only", action="store_true", help="only the reminders due at 08:00")
    a = ap.parse_args()
    beredd = os.path.join(os.path.abspath(a.builddir), "beredd")
    n_big = a.cases or (50000 if a.quick else 1000000)
    n_due = 1000 if a.quick else 10000
    t = tempfile.mkdtemp(prefix="beredd-bench-fu.", dir=os.environ.get("BENCH_TMPDIR", "/var/tmp"))
    sink = Sink(t, os.path.abspath(a.srcdir))
    today = datetime.date.today()
    try:
        cases.check(beredd, t)  # the case files written below are as the daemon writes them
        conf.write(t + "/beredd.conf", config(t, sink.port))
        # ---- 1 and 2: start and check-ins at n_big cases ----
        if not a.due_only:
            g0 = time.time()
            write_cases(t + "/spool", n_big, lambda i: (today + datetime.timedelta(days=30 + i % 365)).isoformat())
            gen = time.time() - g0
            subprocess.run(["sync"])
            p, first = start(beredd, t)  # no cases/index: every file is read
            costs = []
            for i in range(100 if a.quick else 300):
                ref = "B-%07d" % ((i * 7919) % n_big)
                c0 = time.monotonic()
                r = request(t + "/control", {"cmd": "case.checkin", "case": ref, "outcome": "no-needs", "by": "p0"})
                costs.append((time.monotonic() - c0) * 1000)
                if not r.get("ok"):
                    raise SystemExit("bench: check-in refused: %s" % r)
            s0 = time.monotonic()
            stop(p, 600)  # folds the journal and writes cases/index
            stopped = time.monotonic() - s0
            p, ready = start(beredd, t)  # a restart: buckets unchanged since the stop come from cases/index
            rss = rss_mb(p.pid)
            r = request(t + "/control", {"cmd": "followup.summary"})
            if r.get("open") != n_big:
                raise SystemExit("bench: %s open cases after the restart, not %d" % (r.get("open"), n_big))
            stop(p, 600)
            shutil.rmtree(t + "/spool")
        # ---- 3: n_due cases due at the same 08:00 ----
        day = clock.working_day_after(today, 2)
        write_cases(t + "/spool", n_due, lambda i: day.isoformat())
        eight = datetime.datetime(day.year, day.month, day.day, 8, 0, tzinfo=clock.OSLO)
        # daemon time = wall + offset; put it 2 s before 08:00 at the moment it starts
        offset = clock.offset_to(eight) - 2
        wall_eight = eight.timestamp() - offset  # our wall clock when the daemon's clock says 08:00
        p, _ = start(beredd, t, offset)
        n0 = len(sink.lines)
        if not sink.wait_count(n0 + n_due, 120):
            raise SystemExit("bench: only %d of %d reminders arrived" % (len(sink.lines) - n0, n_due))
        # sink stamps are monotonic; convert 08:00 (wall) to monotonic
        mono_eight = time.monotonic_ns() - (time.time() - wall_eight) * 1e9
        due_s = (sink.lines[n0 + n_due - 1] - mono_eight) / 1e9
        first_s = (sink.lines[n0] - mono_eight) / 1e9
        with open("/proc/%d/stat" % p.pid) as f:
            st = f.read().rsplit(")", 1)[1].split()
        tck = os.sysconf("SC_CLK_TCK")
        due_cpu = (int(st[11]) / tck, int(st[12]) / tck)
        stop(p, 600)
    finally:
        sink.stop()
        shutil.rmtree(t, ignore_errors=True)

    if a.due_only:
        print("%d reminders due at 08:00: all at the gateway %.2f s after 08:00 (target <= 5), the first at %.2f s;"
              " daemon CPU since start: user %.2f s, system %.2f s" % (n_due, due_s, first_s, due_cpu[0], due_cpu[1]))
        print("followup_%dk_due_s %.2f s" % (n_due // 1000, due_s))
        return
    print("%d cases written in %.0f s; first start (every file read) to READY=1 %.2f s; clean stop %.2f s;"
          " restart (cases/index) to READY=1 %.2f s (target <= 10), RSS %.0f MB (target <= 150)"
          % (n_big, gen, first, stopped, ready, rss))
    print("check-in at %d cases: median %.2f ms, p99 %.2f ms" % (n_big, statistics.median(costs),
                                                              sorted(costs)[int(0.99 * (len(costs) - 1))]))
    print("%d reminders due at 08:00: all at the gateway %.2f s after 08:00 (target <= 5), the first at %.2f s;"
          " daemon CPU since start: user %.2f s, system %.2f s" % (n_due, due_s, first_s, due_cpu[0], due_cpu[1]))
    tag = "1m" if n_big == 1000000 else "%dk" % (n_big // 1000)
    print("followup_start_%s_s %.2f s" % (tag, ready))
    print("followup_first_start_%s_s %.2f s" % (tag, first))
    print("followup_stop_%s_s %.2f s" % (tag, stopped))
    print("followup_rss_%s_mb %.0f MB" % (tag, rss))
    print("followup_checkin_ms %.2f ms" % statistics.median(costs))
    print("followup_%dk_due_s %.2f s" % (n_due // 1000, due_s))


if __name__ == "__main__":
    main()
