"""mosquitto.py - a private mosquitto broker on a free loopback port."""
import getpass
import os
import shutil
import subprocess

from . import net


def available(clients=False):
    """Whether mosquitto (and, with CLIENTS, mosquitto_pub/_sub) is installed."""
    tools = ["mosquitto"] + (["mosquitto_pub", "mosquitto_sub"] if clients else [])
    return all(shutil.which(t) for t in tools)


def start(tmpdir, port=None, extra=(), timeout=10.0):
    """Start mosquitto with its configuration in TMPDIR/mosquitto.conf,
    anonymous, without persistence, listening on 127.0.0.1:PORT (a free port
    when None), plus the EXTRA configuration lines; wait until it accepts
    connections. Returns (process, port). "user": as root, mosquitto would
    otherwise switch to its own user; as anyone else it is ignored."""
    port = port or net.free_port()
    conf = os.path.join(tmpdir, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nuser %s\n" % (port, getpass.getuser()))
        for line in extra:
            f.write(line + "\n")
    p = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        net.wait_port(port, timeout)
    except RuntimeError:
        p.kill()
        p.wait()
        raise RuntimeError("mosquitto did not start on port %d" % port)
    return p, port


def stop(p):
    p.terminate()
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
