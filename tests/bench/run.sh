#!/bin/sh
# run.sh - every benchmark in tests/bench/, BENCH_RUNS times each (default
# 3), the median of each figure in one table (figure, target, measured,
# unit) with the machine it ran on, to stdout and to tests/bench/RESULTS.md
# in the source tree. Not a pass/fail test: it prints what it measures.
# `make bench` runs it from the build tree; BENCH_QUICK=1 for small sizes,
# BENCH_ONLY="bench_alertmanager ..." for some only (RESULTS.md untouched).
set -eu
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
runs=${BENCH_RUNS:-3}
quick=${BENCH_QUICK:+--quick}
out=$(mktemp -d /tmp/beredd-bench-run.XXXXXX)
trap 'rm -rf "$out"' EXIT

# bench_followup last: deleting its million case files keeps the disk busy
# (discards) for minutes after, which doubled the MQTT latencies measured
# right after it.
all="bench_activation bench_alertmanager bench_voice bench_mqtt bench_followup"
for b in ${BENCH_ONLY:-$all}; do
        i=1
        while [ "$i" -le "$runs" ]; do
                echo "=== $b, run $i of $runs" >&2
                python3 "$top_srcdir/tests/bench/$b.py" --builddir "$top_builddir" --srcdir "$top_srcdir" $quick \
                        > "$out/$b.$i" 2>&1 || { echo "$b failed:" >&2; tail -n 20 "$out/$b.$i" >&2; }
                grep -v '^[a-z0-9_][a-z0-9_]* -\{0,1\}[0-9][0-9.]* ' "$out/$b.$i" >&2 || true
                i=$((i + 1))
        done
done

# BENCH_ONLY="bench_alertmanager ...": only those; the table is printed,
# RESULTS.md is left as it is.
dest="$top_srcdir/tests/bench/RESULTS.md"
[ -n "${BENCH_ONLY:-}" ] && dest=/dev/null
python3 - "$out" "$runs" "$dest" <<'EOF'
import glob, os, platform, re, statistics, subprocess, sys, time
out, runs, dest = sys.argv[1], int(sys.argv[2]), sys.argv[3]
TARGETS = [  # figure, target, what
    ("trigger_socket_p50_ms", "<= 1.5", "trigger (socket) to first gateway request, p50"),
    ("trigger_socket_p99_ms", "<= 5", "trigger (socket) to first gateway request, p99"),
    ("trigger_dropfile_p50_ms", "<= 1.5", "trigger (drop file) to first gateway request, p50"),
    ("trigger_dropfile_p99_ms", "<= 5", "trigger (drop file) to first gateway request, p99"),
    ("fanout_per_second", ">= 5000", "one step to 10,000 people, notifications/s"),
    ("rss_idle_mb", "<= 8", "resident memory, idle"),
    ("rss_10k_open_mb", "<= 32", "resident memory, 10,000 open notifications"),
    ("am_beredd_p50_ms", "-", "beside Alertmanager: beredd trigger (socket) to first request at the sink, p50"),
    ("am_alertmanager_p50_ms", "-", "Alertmanager POST /api/v2/alerts to first webhook at the sink, p50"),
    ("am_ratio_p50", "<= 0.5", "beredd / Alertmanager, p50 (same run, alternating)"),
    ("am_beredd_p95_ms", "-", "beside Alertmanager: beredd, p95"),
    ("am_alertmanager_p95_ms", "-", "Alertmanager, p95"),
    ("am_ratio_p95", "-", "beredd / Alertmanager, p95"),
    ("am_beredd_p99_ms", "-", "beside Alertmanager: beredd, p99"),
    ("am_alertmanager_p99_ms", "-", "Alertmanager, p99"),
    ("am_ratio_p99", "<= 1", "beredd / Alertmanager, p99"),
    ("am_beredd_fanout_per_second", "-", "beredd one step to 10,000 people, requests/s at the sink"),
    ("am_alertmanager_fanout_per_second", "-", "Alertmanager 10,000 alerts in 10,000 groups, webhooks/s at the sink"),
    ("am_ratio_fanout", ">= 3", "beredd / Alertmanager, fan-out rate"),
    ("am_beredd_rss_idle_mb", "<= 8", "beredd idle, municipality configuration (60 people)"),
    ("am_alertmanager_rss_idle_mb", "-", "Alertmanager idle"),
    ("am_ratio_rss_idle", "<= 0.25", "beredd / Alertmanager, idle RSS"),
    ("am_beredd_pss_idle_mb", "-", "beredd idle, Pss (shared pages divided by their sharers)"),
    ("am_alertmanager_pss_idle_mb", "-", "Alertmanager idle, Pss"),
    ("am_ratio_pss_idle", "-", "beredd / Alertmanager, idle Pss"),
    ("am_beredd_private_idle_mb", "-", "beredd idle, pages no other process maps"),
    ("am_alertmanager_private_idle_mb", "-", "Alertmanager idle, pages no other process maps"),
    ("am_beredd_rss_idle_10k_people_mb", "-", "beredd idle with 10,000 people configured"),
    ("am_beredd_rss_after_fanout_mb", "<= 32", "beredd after the 10,000 fan-out"),
    ("am_alertmanager_rss_after_fanout_mb", "-", "Alertmanager after the 10,000 fan-out"),
    ("am_ratio_rss_after_fanout", "-", "beredd / Alertmanager, RSS after the fan-out"),
    ("am_sink_ceiling_1conn_per_second", "-", "the sink's own ceiling (its load generator), 1 connection"),
    ("am_sink_ceiling_32conn_per_second", "-", "the sink's own ceiling, 32 connections"),
    ("am_disk_fdatasync_p50_ms", "-", "this disk in that run: append + fdatasync, p50"),
    ("am_disk_newfile_p50_ms", "-", "this disk in that run: new file + fsync + folder fsync, p50"),
    ("followup_start_1m_s", "<= 10", "start to READY=1 with 1,000,000 cases (after a clean stop: cases/index)"),
    ("followup_first_start_1m_s", "-", "start to READY=1 with 1,000,000 cases and no cases/index (every file read)"),
    ("followup_stop_1m_s", "-", "clean stop with 1,000,000 cases (journal folded, cases/index written)"),
    ("followup_rss_1m_mb", "<= 150", "resident memory with 1,000,000 cases"),
    ("followup_checkin_ms", "-", "check-in round trip at 1,000,000 cases (median)"),
    ("followup_10k_due_s", "<= 5", "10,000 reminders due at 08:00, all at the gateway"),
    ("voice_100_calls_s", "-", "one step calling 100 people, max_calls 10, 0.2 s calls: every call request left"),
    ("voice_peak_in_flight", "<= 10", "calls in flight at the Twilio stand-in, peak"),
    ("voice_invalid_requests", "0", "call requests invalid by Twilio's OpenAPI description"),
    ("mqtt_events_per_second", ">= 10000", "MQTT events published at QoS 1"),
    ("mqtt_latency_p50_ms", "-", "trigger to retained activation/<id> at a subscriber, p50"),
    ("mqtt_latency_p99_ms", "<= 10", "trigger to retained activation/<id> at a subscriber, p99"),
]
vals, units = {}, {}
for f in glob.glob(os.path.join(out, "*")):
    for line in open(f, errors="replace"):
        m = re.match(r"^([a-z0-9_]+) (-?[0-9.]+) (\S+)", line)
        if m:
            vals.setdefault(m.group(1), []).append(float(m.group(2)))
            units[m.group(1)] = m.group(3)
def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"
cpu = sh("sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n1")
mem = sh("awk '/MemTotal/ {printf \"%.1f GB\", $2/1048576}' /proc/meminfo")
fs = sh("df -T /var/tmp | awk 'NR==2 {print $2}'")
lines = ["# beredd benchmark results", "",
         "Machine: %s, %d cores, %s RAM, Linux %s, /var/tmp on %s. %s." % (
             cpu or "?", os.cpu_count() or 0, mem, platform.release(), fs, time.strftime("%Y-%m-%d")),
         "Each figure is the median of %d run(s) (`make bench`, tests/bench/run.sh)." % runs, "",
         "| figure | what | target | measured | unit | runs |", "|---|---|---|---|---|---|"]
seen = set()
for name, target, what in TARGETS + [(k, "-", "") for k in sorted(vals) if k not in dict((t[0], 1) for t in TARGETS)]:
    if name in seen:
        continue
    seen.add(name)
    v = vals.get(name)
    meas = ("%.2f" % statistics.median(v)) if v else "not measured"
    lines.append("| %s | %s | %s | %s | %s | %d |" % (name, what, target, meas, units.get(name, ""), len(v or [])))
text = "\n".join(lines) + "\n"
sys.stdout.write(text)
# The sections written by hand below the table ("## ...") are kept.
try:
    old = open(dest).read()
    i = old.find("\n## ")
    if i >= 0:
        text += old[i:]
except OSError:
    pass
open(dest, "w").write(text)
EOF
