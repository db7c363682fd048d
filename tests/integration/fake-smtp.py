#!/usr/bin/env python3
"""fake-smtp.py - a loopback SMTP server that records every message.

Python 3 standard library only (aiosmtpd is not in Debian's base, smtpd is
gone from Python 3.12). It speaks enough ESMTP for libcurl: EHLO/HELO, AUTH
PLAIN and LOGIN (when --auth USER:PASS is given; then MAIL requires it),
MAIL, RCPT, DATA (dot-unstuffed), RSET, NOOP, QUIT. STARTTLS is answered 454.

Each accepted message is appended to --log as one JSON line:
  {"mail_from": ..., "rcpt": [...], "auth": user or null, "helo": EHLO name,
   "data": raw message (UTF-8, undecodable bytes replaced), "time": ...}

Fault injection:
  --reject-rcpt SUBSTR   RCPT TO containing SUBSTR gets 550 (repeatable)
  --tempfail-first N     the first N RCPT commands get 451
  --rcpt-reply SUBSTR=REPLY  RCPT TO containing SUBSTR gets REPLY, e.g.
                         "554 5.7.1 <{addr}>: Relay access denied" ({addr} is
                         the address, as Postfix echoes it; repeatable)
  --helo-reply REPLY     EHLO and HELO get REPLY (e.g. 504 5.5.2 ...)

--port 0 picks a free port, written to --port-file; --pidfile; SIGTERM stops.
"""

import base64
import json
import os
import socketserver
import sys
import threading
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../lib"))
from beredd_test import peer  # noqa: E402  (tests/lib/beredd_test)


class Handler(socketserver.StreamRequestHandler):
    def send(self, line):
        self.wfile.write((line + "\r\n").encode("ascii"))
        self.wfile.flush()

    def readline(self):
        line = self.rfile.readline(65536)
        if not line:
            raise EOFError
        return line.rstrip(b"\r\n")

    def handle(self):
        srv = self.server
        args = srv.args
        self.send("220 fake-smtp ESMTP ready")
        mail_from, rcpt, user, helo = None, [], None, None
        try:
            while True:
                raw = self.readline()
                line = raw.decode("utf-8", errors="replace")
                verb = line.split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO") and args.helo_reply:
                    self.send(args.helo_reply)
                elif verb == "EHLO":
                    helo = line[5:].strip()
                    ext = ["fake-smtp", "8BITMIME", "SIZE 10485760", "ENHANCEDSTATUSCODES"]
                    if args.auth:
                        ext.append("AUTH PLAIN LOGIN")
                    for e in ext[:-1]:
                        self.send("250-" + e)
                    self.send("250 " + ext[-1])
                elif verb == "HELO":
                    helo = line[5:].strip()
                    self.send("250 fake-smtp")
                elif verb == "STARTTLS":
                    self.send("454 4.7.0 TLS not available")
                elif verb == "AUTH":
                    user = self.auth(line)
                    if user is None:
                        self.send("535 5.7.8 authentication failed")
                    else:
                        self.send("235 2.7.0 authenticated")
                elif verb == "MAIL":
                    if args.auth and user is None:
                        self.send("530 5.7.0 authentication required")
                        continue
                    mail_from, rcpt = line[5:].strip()[5:].split(" ")[0].strip("<>"), []
                    self.send("250 2.1.0 ok")
                elif verb == "RCPT":
                    addr = line[5:].strip()[3:].split(" ")[0].strip("<>")
                    with srv.lock:
                        srv.rcpt_seen += 1
                        temp = srv.rcpt_seen <= args.tempfail_first
                    special = [r for sub, _, r in (x.partition("=") for x in args.rcpt_reply) if sub in addr]
                    if temp:
                        self.send("451 4.3.0 try again later")
                    elif special:
                        self.send(special[0].replace("{addr}", addr))
                    elif any(s in addr for s in args.reject_rcpt):
                        self.send("550 5.1.1 no such user")
                    else:
                        rcpt.append(addr)
                        self.send("250 2.1.5 ok")
                elif verb == "DATA":
                    if mail_from is None or not rcpt:
                        self.send("503 5.5.1 need MAIL and RCPT")
                        continue
                    self.send("354 end with <CRLF>.<CRLF>")
                    lines = []
                    while True:
                        d = self.rfile.readline(1 << 20)
                        if not d:
                            raise EOFError
                        if d in (b".\r\n", b".\n"):
                            break
                        if d.startswith(b"."):
                            d = d[1:]
                        lines.append(d)
                    data = b"".join(lines)
                    rec = {"mail_from": mail_from, "rcpt": rcpt, "auth": user, "helo": helo,
                           "data": data.decode("utf-8", errors="replace"), "time": time.time()}
                    with srv.lock:
                        with open(args.log, "a", encoding="utf-8") as f:
                            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                    mail_from, rcpt = None, []
                    self.send("250 2.0.0 ok queued")
                elif verb == "RSET":
                    mail_from, rcpt = None, []
                    self.send("250 2.0.0 ok")
                elif verb == "NOOP":
                    self.send("250 2.0.0 ok")
                elif verb == "QUIT":
                    self.send("221 2.0.0 bye")
                    return
                else:
                    self.send("502 5.5.2 command not implemented")
        except (EOFError, ConnectionResetError, BrokenPipeError):
            return

    def auth(self, line):
        want_user, _, want_pw = self.server.args.auth.partition(":")
        parts = line.split()
        mech = parts[1].upper() if len(parts) > 1 else ""
        try:
            if mech == "PLAIN":
                if len(parts) > 2:
                    resp = parts[2]
                else:
                    self.send("334 ")
                    resp = self.readline().decode("ascii")
                _, user, pw = base64.b64decode(resp).decode("utf-8").split("\0")
            elif mech == "LOGIN":
                if len(parts) > 2:
                    user = base64.b64decode(parts[2]).decode("utf-8")
                else:
                    self.send("334 VXNlcm5hbWU6")
                    user = base64.b64decode(self.readline()).decode("utf-8")
                self.send("334 UGFzc3dvcmQ6")
                pw = base64.b64decode(self.readline()).decode("utf-8")
            else:
                return None
        except (ValueError, UnicodeDecodeError):
            return None
        return user if (user, pw) == (want_user, want_pw) else None


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    p = peer.arguments(__doc__)
    p.add_argument("--auth", help="USER:PASS required before MAIL")
    p.add_argument("--reject-rcpt", action="append", default=[])
    p.add_argument("--tempfail-first", type=int, default=0)
    p.add_argument("--rcpt-reply", action="append", default=[])
    p.add_argument("--helo-reply")
    args = p.parse_args()

    srv = Server(("127.0.0.1", args.port), Handler)
    srv.args = args
    srv.lock = threading.Lock()
    srv.rcpt_seen = 0
    peer.serve(srv, args)


if __name__ == "__main__":
    sys.exit(main())
