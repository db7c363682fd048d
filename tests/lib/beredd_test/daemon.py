"""daemon.py - beredd as a child process of a test.

One readiness test for every script: the daemon is started with
NOTIFY_SOCKET pointing at a datagram socket of our own, and is ready when
it sends READY=1 (after the control socket listens and incoming/ has been
scanned, see server_run()). No fixed sleeps: the wait ends when the message
comes, when the daemon exits, or at a limit that is scaled by
BEREDD_TIME_SCALE (4 by default under valgrind), so a slow machine gets
more time without making a passing run slower.
"""
import os
import signal
import socket
import subprocess
import threading
import time

# valgrind memcheck as the integration tests run it (tests/integration/common.sh)
VALGRIND = ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite"]


def time_scale(valgrind=False):
    """BEREDD_TIME_SCALE, or 4 under valgrind, else 1."""
    v = os.environ.get("BEREDD_TIME_SCALE")
    return float(v) if v else (4.0 if valgrind or os.environ.get("BEREDD_VALGRIND") == "1" else 1.0)


class NotReady(RuntimeError):
    pass


class Daemon:
    """beredd -c DIR/beredd.conf -s DIR/control, logging to DIR/beredd.log.

    ENV: extra environment for every start; FOREGROUND: -f (log to stderr,
    i.e. the log file too); VALGRIND: under valgrind memcheck; WRAP: any
    other command in front (e.g. perf record)."""

    def __init__(self, beredd, t, conf=None, control=None, log=None, env=None, foreground=True, valgrind=False,
                 wrap=(), args=()):
        self.beredd, self.t = beredd, t
        self.conf = conf or os.path.join(t, "beredd.conf")
        self.control = control or os.path.join(t, "control")
        self.log_path = log or os.path.join(t, "beredd.log")
        self.env, self.foreground, self.valgrind = dict(env or {}), foreground, valgrind
        self.wrap, self.args = list(wrap), list(args)
        self.proc = None
        self.log = None
        self.starts = 0
        self.notify_path = os.path.join(t, "notify.sock")
        self.notify = None

    def _bind_notify(self):
        """Our NOTIFY_SOCKET, read all the time by a thread of its own: the
        daemon sends STATUS= after every change, and a full datagram queue
        would block it in sd_notify()."""
        if self.notify is not None:
            return
        if os.path.exists(self.notify_path):
            os.unlink(self.notify_path)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.messages = []  # every message, in arrival order
        self.cv = threading.Condition()
        threading.Thread(target=self._read_notify, args=(self.notify,), daemon=True).start()

    def _read_notify(self, sock):
        while True:
            try:
                msg = sock.recv(65536).decode("utf-8", "replace")
            except OSError:
                return
            with self.cv:
                self.messages.append(msg)
                self.cv.notify_all()

    def start(self, wait=True, timeout=20.0, env=None, note=None):
        """Start the daemon; with WAIT, return once it is ready (NotReady if
        it exits first or TIMEOUT, scaled, passes). Returns the seconds from
        exec to READY=1 (None without WAIT). NOTE is written to the log
        first."""
        self._bind_notify()
        e = dict(os.environ, **self.env)
        e.update(env or {})
        e["NOTIFY_SOCKET"] = self.notify_path
        cmd = self.wrap + (VALGRIND if self.valgrind else []) + [self.beredd]
        cmd += (["-f"] if self.foreground else []) + ["-c", self.conf, "-s", self.control] + self.args
        self.log = open(self.log_path, "ab")
        if note:
            self.log.write(note.encode())
            self.log.flush()
        with self.cv:
            self.seen = len(self.messages)  # what an earlier run said is not this run's READY=1
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.log if self.foreground else subprocess.DEVNULL,
                                     stderr=self.log, env=e)
        self.starts += 1
        return self.wait_ready(timeout) if wait else None

    def wait_ready(self, timeout=20.0):
        """Wait for this run's READY=1; the seconds since exec."""
        end = time.monotonic() + timeout * time_scale(self.valgrind)
        with self.cv:
            while True:
                for msg in self.messages[self.seen:]:
                    self.seen += 1
                    if "READY=1" in msg.split("\n"):
                        return time.monotonic() - self.t0
                if self.proc.poll() is not None:
                    raise NotReady("beredd exited with status %s before READY=1; see %s"
                                   % (self.proc.returncode, self.log_path))
                left = end - time.monotonic()
                if left <= 0:
                    raise NotReady("beredd did not report READY=1; see %s" % self.log_path)
                self.cv.wait(min(left, 0.2))

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _closelog(self):
        if self.log:
            self.log.close()
            self.log = None

    def kill(self):
        """SIGKILL, as a crash would. None, or the exit status when it had
        already exited by itself."""
        if self.proc.poll() is not None:
            self._closelog()
            return self.proc.returncode
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._closelog()
        return None

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Stop with SIG and wait; the exit status (-9 when it had to be killed)."""
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = -9
        self._closelog()
        return rc

    def close(self):
        """Kill it if still running and remove the notify socket."""
        if self.alive():
            self.kill()
        if self.notify is not None:
            try:
                self.notify.shutdown(socket.SHUT_RDWR)  # wakes the reader
            except OSError:
                pass
            self.notify.close()
            self.notify = None
            try:
                os.unlink(self.notify_path)
            except FileNotFoundError:
                pass


def rss_mb(pid):
    """Resident memory (VmRSS) of PID in MB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def smaps_mb(pid):
    """{"pss": MB, "private": MB} of PID from /proc/PID/smaps_rollup: the
    proportional set size (each shared page divided by the processes that
    map it) and the pages no other process maps (anonymous memory, written
    relocations, the heap). Empty when the kernel has no smaps_rollup."""
    out = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k == "Pss":
                    out["pss"] = int(v.split()[0]) / 1024.0
                elif k in ("Private_Clean", "Private_Dirty"):
                    out["private"] = out.get("private", 0.0) + int(v.split()[0]) / 1024.0
    except OSError:
        pass
    return out
