#!/usr/bin/env python3
"""bench_mqtt.py - MQTT figures for beredd, against a private local mosquitto.

1. Events per second at QoS 1: tests/bench/bench_mqtt_pub.c (built here
   against the build tree's libberedd.a, i.e. the daemon's own mqtt.c on an
   sd-event loop) publishes N events to <base>/event; a raw MQTT subscriber
   in this script counts them. The rate is N / (time of the last arrival -
   time the publisher started publishing). The daemon itself cannot make
   events that fast (each trigger is fsynced), so the client is measured
   alone. Target: >= 10,000/s.
2. End-to-end latency: the real daemon (beredd -f) with the broker; K drill
   triggers over the control socket, one at a time; latency = from sending
   the trigger line to the arrival of its retained <base>/activation/<id>
   at a subscriber. p50/p99. Target: p99 <= 10 ms.

usage: bench_mqtt.py [--builddir DIR] [--srcdir DIR] [--events N] [--triggers K] [--quick]
Defaults: $top_builddir / $top_srcdir or the current folder; N 100000; K 200.
Prints "name value unit" lines (mqtt_events_per_second, mqtt_latency_p50_ms,
mqtt_latency_p99_ms, ...). Needs mosquitto, a C compiler and pkg-config.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../lib"))
from beredd_test import conf, daemon, mosquitto  # noqa: E402  (tests/lib/beredd_test)


class Subscriber(threading.Thread):
    """A minimal MQTT 3.1.1 subscriber (QoS 0) that timestamps arrivals."""

    def __init__(self, port, topic, on_message):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.on_message = on_message
        cid = b"bench-sub-%d" % os.getpid()
        var = b"\x00\x04MQTT\x04\x02\x00\x3c"
        payload = struct.pack("!H", len(cid)) + cid
        self.sock.sendall(self._packet(0x10, var + payload))
        t = topic.encode()
        self.sock.sendall(self._packet(0x82, b"\x00\x01" + struct.pack("!H", len(t)) + t + b"\x00"))
        self.buf = b""
        self.subscribed = threading.Event()

    @staticmethod
    def _packet(kind, body):
        n, enc = len(body), b""
        while True:
            d, n = n % 128, n // 128
            enc += bytes([d | (0x80 if n else 0)])
            if not n:
                break
        return bytes([kind]) + enc + body

    def run(self):
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except OSError:
                return
            if not data:
                return
            now = time.perf_counter()
            self.buf += data
            while True:
                if len(self.buf) < 2:
                    break
                mult, length, i = 1, 0, 1
                while True:
                    if i >= len(self.buf):
                        length = None
                        break
                    b = self.buf[i]
                    length += (b & 0x7F) * mult
                    mult *= 128
                    i += 1
                    if not b & 0x80:
                        break
                if length is None or len(self.buf) < i + length:
                    break
                kind, body = self.buf[0], self.buf[i:i + length]
                self.buf = self.buf[i + length:]
                if kind >> 4 == 9:
                    self.subscribed.set()
                elif kind >> 4 == 3:
                    tl = struct.unpack("!H", body[:2])[0]
                    topic = body[2:2 + tl].decode()
                    off = 2 + tl + (2 if (kind >> 1) & 3 else 0)
                    self.on_message(now, topic, body[off:])

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def start_mosquitto(tmp):
    return mosquitto.start(tmp, extra=["max_queued_messages 0", "log_dest none"])


def build_pub(srcdir, builddir, tmp):
    exe = os.path.join(tmp, "bench_mqtt_pub")
    libs = subprocess.run(["pkg-config", "--cflags", "--libs", "libsystemd", "libmosquitto", "jansson", "libconfig",
                           "libcurl"], capture_output=True, text=True, check=True).stdout.split()
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-std=gnu11", "-O2", "-D_GNU_SOURCE", "-I" + os.path.join(srcdir, "daemon"),
                    os.path.join(srcdir, "tests/bench/bench_mqtt_pub.c"), os.path.join(builddir, "libberedd.a"),
                    "-o", exe] + libs + ["-lm"], check=True)
    return exe


def bench_events(srcdir, builddir, tmp, n):
    broker, port = start_mosquitto(tmp)
    exe = build_pub(srcdir, builddir, tmp)
    got = {"n": 0, "last": 0.0}
    done = threading.Event()

    def on_msg(now, topic, payload):
        got["n"] += 1
        got["last"] = now
        if got["n"] >= n:
            done.set()

    sub = Subscriber(port, "beredd/bench/event", on_msg)
    sub.start()
    sub.subscribed.wait(5)
    pub = subprocess.Popen([exe, str(port), str(n)], stdout=subprocess.PIPE, text=True)
    try:
        line = pub.stdout.readline().strip()
        if line != "connected":
            raise RuntimeError("bench_mqtt_pub: " + line)
        start = time.perf_counter()
        line = pub.stdout.readline().strip()
        published = time.perf_counter()
        if not done.wait(120):
            raise RuntimeError("only %d of %d events arrived" % (got["n"], n))
        rate = n / (got["last"] - start)
        return rate, n / (published - start)
    finally:
        pub.send_signal(signal.SIGTERM)
        pub.wait(10)
        sub.close()
        mosquitto.stop(broker)


def config(spool, port):
    return conf.render(
        "bench", spool,
        people=[conf.person("p1", "Bench Person", "+4791000001", roles=["leader"]),
                conf.person("p2", "Bench Person Two", "+4791000002", roles=["member"])],
        gateways=['{ id = "outbox"; channel = "any"; type = "file"; }'],
        chains=['{ id = "bench"; may_trigger = [ "p1" ]; need = { total = 1; };\n'
                '    steps = ( { notify = [ "role:leader" ]; via = [ "sms" ]; wait = "10m"; },\n'
                '              { notify = [ "role:member" ]; via = [ "sms" ]; final = true; } ); }'],
        mqtt=conf.mqtt(port, "beredd/bench"))


def bench_latency(builddir, tmp, k):
    broker, port = start_mosquitto(tmp)
    spool = os.path.join(tmp, "spool")
    os.makedirs(spool, exist_ok=True)
    conf.write(os.path.join(tmp, "beredd.conf"), config(spool, port))
    d = daemon.Daemon(os.path.join(builddir, "beredd"), tmp)
    ctl = d.control
    arrivals = {}
    cond = threading.Condition()

    def on_msg(now, topic, payload):
        with cond:
            if payload and topic not in arrivals:
                arrivals[topic] = now
                cond.notify_all()

    try:
        d.start()
        sub = Subscriber(port, "beredd/bench/#", on_msg)
        sub.start()
        sub.subscribed.wait(5)
        with cond:  # the daemon is connected once its status is there
            cond.wait_for(lambda: "beredd/bench/status" in arrivals, 10)
        c = socket.socket(socket.AF_UNIX)
        c.connect(ctl)
        f = c.makefile("rb")
        lat = []
        for i in range(k):
            line = json.dumps({"cmd": "trigger", "chain": "bench", "by": "p1", "message": "bench %d" % i,
                               "drill": True}).encode() + b"\n"
            t0 = time.perf_counter()
            c.sendall(line)
            reply = json.loads(f.readline())
            if not reply.get("ok"):
                raise RuntimeError("trigger refused: %s" % reply)
            topic = "beredd/bench/activation/" + reply["activation"]
            with cond:
                if not cond.wait_for(lambda: topic in arrivals, 5):
                    raise RuntimeError("no retained message on " + topic)
                lat.append((arrivals[topic] - t0) * 1000.0)
        c.close()
        sub.close()
        lat.sort()
        return lat
    finally:
        if d.alive():
            d.stop(timeout=20)
        d.close()
        mosquitto.stop(broker)


def pct(v, p):
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--builddir", default=os.environ.get("top_builddir", "."))
    ap.add_argument("--srcdir", default=os.environ.get("top_srcdir", "."))
    ap.add_argument("--events", type=int, default=100000)
    ap.add_argument("--triggers", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="20,000 events and 50 triggers (BENCH_QUICK=1)")
    a = ap.parse_args()
    if a.quick:
        a.events, a.triggers = min(a.events, 20000), min(a.triggers, 50)
    if not shutil.which("mosquitto"):
        print("SKIP: mosquitto is not installed")
        return 77
    builddir, srcdir = os.path.abspath(a.builddir), os.path.abspath(a.srcdir)
    with tempfile.TemporaryDirectory(prefix="beredd-bench-mqtt.") as tmp:
        if os.environ.get("KEEP"):
            tmp = tempfile.mkdtemp(prefix="beredd-bench-mqtt-kept.")
            print("# files kept in " + tmp)
        rate, _ = bench_events(srcdir, builddir, os.path.join(tmp, "") or tmp, a.events)
        print("mqtt_events_per_second %.0f events/s (QoS 1, %d events, publish to last arrival; target >= 10000)"
              % (rate, a.events))
        os.makedirs(os.path.join(tmp, "lat"))
        lat = bench_latency(builddir, os.path.join(tmp, "lat"), a.triggers)
        print("mqtt_latency_p50_ms %.2f ms (trigger on the socket -> retained activation/<id> at a subscriber)"
              % pct(lat, 50))
        print("mqtt_latency_p99_ms %.2f ms (target <= 10; %d triggers)" % (pct(lat, 99), len(lat)))
        print("mqtt_latency_max_ms %.2f ms" % lat[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
