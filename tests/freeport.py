#!/usr/bin/env python3
"""freeport.py - a loopback port free now, for a test's daemon to bind.

Picked at random below the kernel's ephemeral range, so that a peer binding
port 0 (or any outgoing connection) in a test running beside it cannot be
given the same port before the daemon binds it. Run as a script, it prints
one; imported, free_port() returns one.
"""
import random
import socket


def free_port():
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


if __name__ == "__main__":
    print(free_port())
