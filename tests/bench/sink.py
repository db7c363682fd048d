#!/usr/bin/env python3
"""sink.py - the smallest HTTP server that can stand in for an SMS gateway
in the benchmarks: single-threaded, non-blocking (selectors), HTTP/1.1 with
keep-alive, answers every request 200 {"status":"ok"}. For each request it
writes one line to stdout: CLOCK_MONOTONIC nanoseconds at the moment the
request's headers were complete, so a benchmark in another process can
compare it with its own time.monotonic_ns().

usage: sink.py PORT-FILE      (binds 127.0.0.1:0 and writes the port there)
"""
import os
import selectors
import socket
import sys
import time

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}"


def main():
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(1024)
    ls.setblocking(False)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)
    bufs = {}
    out = sys.stdout
    while True:
        for key, _ in sel.select():
            if key.data is None:
                while True:
                    try:
                        c, _ = ls.accept()
                    except BlockingIOError:
                        break
                    c.setblocking(False)
                    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    bufs[c] = b""
                    sel.register(c, selectors.EVENT_READ, True)
                continue
            c = key.fileobj
            try:
                data = c.recv(65536)
            except (BlockingIOError, ConnectionError):
                data = b"" if not isinstance(sys.exc_info()[1], BlockingIOError) else None
            if data is None:
                continue
            if not data:
                sel.unregister(c)
                c.close()
                bufs.pop(c, None)
                continue
            buf = bufs[c] + data
            while True:
                h = buf.find(b"\r\n\r\n")
                if h < 0:
                    break
                now = time.monotonic_ns()
                head = buf[:h].lower()
                n = 0
                i = head.find(b"content-length:")
                if i >= 0:
                    n = int(head[i + 15:].split(b"\r\n", 1)[0])
                if len(buf) < h + 4 + n:
                    break
                buf = buf[h + 4 + n:]
                out.write("%d\n" % now)
                try:
                    c.sendall(ANSWER)
                except OSError:
                    break
            out.flush()
            bufs[c] = buf


if __name__ == "__main__":
    try:
        main()
    except (KeyboardInterrupt, BrokenPipeError):
        pass
