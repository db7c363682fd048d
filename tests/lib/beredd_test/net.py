"""net.py - free loopback ports and waiting for something to listen on one."""
import random
import socket
import time


def free_port():
    """A loopback port free now, picked at random below the kernel's
    ephemeral range, so that a peer binding port 0 (or any outgoing
    connection) in a test running beside it cannot be given the same port
    before the daemon binds it."""
    lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    for _ in range(200):
        p = random.randrange(10000, max(10001, lo))
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            s.close()
        return p
    raise RuntimeError("no free port below %d" % lo)


def port_open(port):
    """True when something accepts a connection on 127.0.0.1:PORT."""
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        return True
    except OSError:
        return False


def wait_for(pred, timeout, step=0.05):
    """Poll PRED every STEP seconds until it is true or TIMEOUT passes; its
    last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def wait_port(port, timeout=10.0):
    """Wait until PORT accepts connections; RuntimeError if it never does."""
    if not wait_for(lambda: port_open(port), timeout):
        raise RuntimeError("nothing listens on port %d" % port)
