#!/usr/bin/env python3
# mqtt311-proxy.py LISTEN_PORT BROKER_PORT: a loopback TCP proxy in front of
# a broker that refuses MQTT v5 (CONNACK reason 0x84, unsupported protocol
# version) and passes every other connection through unchanged, so a client
# falls back to v3.1.1 against a real mosquitto. Prints LISTENING when ready.
import socket, sys, threading

listen_port, broker_port = int(sys.argv[1]), int(sys.argv[2])


def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise EOFError
        buf += d
    return buf


def handle(c):
    try:
        head = read_exact(c, 1)
        rl, mult, raw = 0, 1, b""
        while True:
            b = read_exact(c, 1)
            raw += b
            rl += (b[0] & 0x7F) * mult
            mult *= 128
            if not b[0] & 0x80:
                break
        body = read_exact(c, rl)
        level = body[2 + body[1]] if len(body) > 3 else 0
        if head[0] == 0x10 and level == 5:
            c.sendall(bytes([0x20, 3, 0, 0x84, 0]))
            c.close()
            return
        u = socket.create_connection(("127.0.0.1", broker_port))
        u.sendall(head + raw + body)
    except (EOFError, OSError):
        c.close()
        return
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", listen_port))
srv.listen(16)
print("LISTENING", flush=True)
while True:
    conn, _ = srv.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
