#!/usr/bin/env python3
"""Stand in for systemd's notification socket: bind an AF_UNIX datagram
socket and append every sd_notify() message to a log file, one message per
line with newlines inside a message shown as '|'. Stops on SIGTERM."""
import os
import signal
import socket
import sys

path, log = sys.argv[1], sys.argv[2]
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(log, "a", buffering=1) as f:
    f.write("LISTENING\n")
    while True:
        data = s.recv(65536)
        f.write(data.decode("utf-8", "replace").replace("\n", "|") + "\n")
