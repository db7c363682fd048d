#!/usr/bin/env python3
"""fake-sms.py - a loopback HTTP server speaking beredd's SMS gateway profiles.

Python 3 standard library only. It answers:
  * Twilio:        POST /2010-04-01/Accounts/<sid>/Messages.json (form body,
                   basic auth <sid>:<token>) -> 201 {"sid": "SM...", ...}
  * Twilio voice:  POST /2010-04-01/Accounts/<sid>/Calls.json, checked against
                   Twilio's OpenAPI description of the operation
                   (twilio-calls-openapi.json, see twilio_calls.py): valid ->
                   201 shaped like its example (sid "CA" + 32 hex, status
                   "queued"); invalid -> 400 with a Twilio error body, logged
                   with "schema_errors". The account in the path is checked
                   against the description's pattern only with --strict-account.
  * Link Mobility: POST /sms/send (JSON body, basic auth) -> 202 {"messageId": ...}
  * generic:       any other method and path -> 200 (body: --reply, default
                   {"status":"ok","id":N})

Every request is appended as one JSON line to --log: n (1-based request
number), method, path, query, headers, body, form (decoded
x-www-form-urlencoded fields; form_list: every [name, value] pair in
order, for repeated fields; form_all, for Calls.json: each name's values
as a list), json (decoded JSON body), auth ([user, pass] from basic auth),
status (what was answered), time; for Calls.json call_sid, in_flight and,
when refused, schema_errors.

Fault injection (all requests count, whatever their path, unless --hang-match):
  --hang-first N         the first N requests sleep --hang-seconds (default 5)
                         before answering: longer than the client's timeout
  --hang-match TEXT      only requests whose path contains TEXT hang (and count)
  --fail-match TEXT      only requests whose path contains TEXT fail (and count)
  --fail-first N         the next N requests get --status (default 500);
                         N = -1 fails every request
  --status S             the status for injected failures (500, 429, 400, ...)
  --retry-after SECS     add "Retry-After: SECS" to injected failures
  --twilio-code C        injected failures carry a Twilio error body with code C
Voice (a stand-in for the calls Twilio places):
  --voice-auto STATUS    after each accepted call, post its final status
                         callback (CallStatus=STATUS, e.g. completed) to its
                         StatusCallback, signed with --twilio-token as Twilio
                         does, after --voice-hold seconds (default 0.2); the
                         public URL's scheme and host are replaced by
                         --deliver-to (http://127.0.0.1:PORT). Each callback
                         is logged as {"callback": ..., "in_flight": N}: N
                         calls accepted and not yet ended, counted here.
Connections and repeats:
  --close-reused N       the first N requests that come as the second or later
                         request on a keep-alive connection are read whole,
                         taken (status "closed", "taken": true when it would have
                         been accepted; --dedupe remembers its key) and the
                         connection is closed without an answer: a provider's
                         front end dying after it took the request (libcurl
                         resends such a request by itself)
  --dedupe               drop repeats of an idempotency key already taken, as a
                         provider that honours them does: the key is the
                         Idempotency-Key header, else Link Mobility's refId; a
                         repeat is answered like the first and logged with
                         "repeat": true (not delivered again)
Every line also carries conn (the connection's number, from 1) and conn_n
(the request's number on its connection, from 1).
The same settings can be changed while running through --control FILE: a JSON
object with the long option names as keys (fail_first, status, ...), re-read
when its mtime changes; counters restart then.

--port 0 picks a free port; the port is written to --port-file. --pidfile is
written at start and removed on exit. SIGTERM stops the server.
"""

import base64
import hashlib
import hmac
import urllib.request
import http.server
import json
import os
import re
import socketserver
import sys
import threading
import time
import urllib.parse
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../lib"))
from beredd_test import peer  # noqa: E402  (tests/lib/beredd_test)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import twilio_calls  # noqa: E402

CALLS_RE = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Calls\.json$")

TWILIO_RE = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$")


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.n = 0
        self.hung = 0
        self.failed = 0
        self.ctl_mtime = None
        self.in_flight = 0
        self.conns = 0
        self.closed = 0
        self.seen = {}  # idempotency key -> (status, body, extra headers) of its first answer
        self.settings = {
            "hang_first": args.hang_first,
            "hang_seconds": args.hang_seconds,
            "fail_first": args.fail_first,
            "status": args.status,
            "retry_after": args.retry_after,
            "twilio_code": args.twilio_code,
            "hang_match": args.hang_match,
            "fail_match": args.fail_match,
        }

    def take_close_reused(self):
        with self.lock:
            if self.closed < self.args.close_reused:
                self.closed += 1
                return True
            return False

    def reload_control(self):
        path = self.args.control
        if not path:
            return
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            return
        if mtime == self.ctl_mtime:
            return
        self.ctl_mtime = mtime
        try:
            with open(path, encoding="utf-8") as f:
                new = json.load(f)
        except (OSError, ValueError):
            return
        for k, v in new.items():
            if k in self.settings:
                self.settings[k] = v
        self.hung = 0
        self.failed = 0

    def call_ends(self, srv, rec):
        """--voice-auto: the call's final status callback, after the hold."""
        args = self.args
        time.sleep(args.voice_hold)
        form = rec.get("form") or {}
        cb = form.get("StatusCallback")
        out = {"callback": cb, "sid": rec["call_sid"], "time": time.time()}
        # Ended before the callback leaves: beredd cannot place the next call
        # before it has this one's end, so in_flight never runs ahead of it.
        with self.lock:
            self.in_flight -= 1
            out["in_flight"] = self.in_flight
        if cb:
            fields = {"CallSid": rec["call_sid"], "AccountSid": rec["path"].split("/")[3],
                      "CallStatus": args.voice_auto, "CallDuration": "%d" % max(1, args.voice_hold),
                      "Direction": "outbound-api", "ApiVersion": "2010-04-01"}
            data = cb + "".join(k + v for k, v in sorted(fields.items()))
            sig = base64.b64encode(hmac.new((args.twilio_token or "").encode(), data.encode(),
                                            hashlib.sha1).digest()).decode()
            u = urllib.parse.urlsplit(cb)
            target = (args.deliver_to.rstrip("/") if args.deliver_to else u.scheme + "://" + u.netloc) + \
                u.path + ("?" + u.query if u.query else "")
            req = urllib.request.Request(target, data=urllib.parse.urlencode(fields).encode(), method="POST",
                                         headers={"X-Twilio-Signature": sig,
                                                  "Content-Type": "application/x-www-form-urlencoded"})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    out["status"] = r.status
                    out["reply"] = r.read(300).decode("utf-8", "replace")
            except urllib.error.HTTPError as e:
                out["status"] = e.code
                out["reply"] = e.read(300).decode("utf-8", "replace")
            except OSError as e:
                out["status"] = str(e)
        line = json.dumps(out) + "\n"
        with srv.log_lock:
            with open(args.log, "a", encoding="utf-8") as f:
                f.write(line)

    def decide(self, path):
        """Returns (n, fault) where fault is None, "hang" or "fail"."""
        with self.lock:
            self.reload_control()
            self.n += 1
            s = self.settings
            if self.hung < (s["hang_first"] or 0) and (not s["hang_match"] or s["hang_match"] in path):
                self.hung += 1
                return self.n, "hang", dict(s)
            ff = s["fail_first"] or 0
            if (ff < 0 or self.failed < ff) and (not s["fail_match"] or s["fail_match"] in path):
                self.failed += 1
                return self.n, "fail", dict(s)
            return self.n, None, dict(s)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real providers do
    server_version = "fake-sms/1"

    def log_message(self, fmt, *args):  # quiet: the JSON log is the record
        pass

    def setup(self):
        super().setup()
        st = self.server.state
        with st.lock:
            st.conns += 1
            self.conn_id = st.conns
        self.conn_n = 0

    def _idempotency_key(self, rec):
        k = self.headers.get("Idempotency-Key")
        if k is None and isinstance(rec.get("json"), dict):
            k = rec["json"].get("refId")
        return k

    def _auth(self):
        h = self.headers.get("Authorization", "")
        if not h.startswith("Basic "):
            return None
        try:
            user, _, pw = base64.b64decode(h[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return [user, pw]

    def _reply(self, status, body, ctype="application/json", extra=None):
        data = body.encode("utf-8") if isinstance(body, str) else body
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _handle(self):
        st = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        body = raw.decode("utf-8", errors="replace")
        url = urllib.parse.urlsplit(self.path)
        ctype = self.headers.get("Content-Type", "")
        rec = {
            "method": self.command,
            "path": url.path,
            "query": dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True)),
            "headers": {k: v for k, v in self.headers.items()},
            "body": body,
            "auth": self._auth(),
        }
        if "x-www-form-urlencoded" in ctype:
            pairs = urllib.parse.parse_qsl(body, keep_blank_values=True)
            rec["form"] = dict(pairs)
            rec["form_list"] = pairs
            if CALLS_RE.match(url.path):
                rec["form_all"] = {}
                for k, v in pairs:
                    rec["form_all"].setdefault(k, []).append(v)
        if "json" in ctype:
            try:
                rec["json"] = json.loads(body)
            except ValueError:
                rec["json"] = None
        self.conn_n += 1
        rec["conn"], rec["conn_n"] = self.conn_id, self.conn_n
        close = self.conn_n > 1 and st.take_close_reused()
        n, fault, s = st.decide(url.path)
        rec["n"] = n
        rec["time"] = time.time()
        key = self._idempotency_key(rec) if self.server.args.dedupe else None
        if key is not None and fault is None:
            with st.lock:
                first = st.seen.get(key)
            if first is not None:
                rec["repeat"] = True
                rec["status"] = first[0]
                self._log(rec)
                self._reply(first[0], first[1], extra=first[2])
                return

        status, reply, extra = self._answer(rec, url.path, fault, s)
        rec["status"] = status if fault != "hang" else "hang"
        if key is not None and fault is None and 200 <= status < 300:
            with st.lock:
                st.seen.setdefault(key, (status, reply, extra))
        if close:
            # Taken (delivered, and remembered by --dedupe), never answered.
            rec["taken"], rec["status"] = 200 <= status < 300, "closed"
            self._log(rec)
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        self._log(rec)
        if fault == "hang":
            time.sleep(float(s["hang_seconds"]))
        self._reply(status, reply, extra=extra)
        if status == 201 and rec.get("call_sid") and st.args.voice_auto:
            threading.Thread(target=st.call_ends, args=(self.server, rec), daemon=True).start()

    def _answer(self, rec, path, fault, s):
        args = self.server.args
        m = TWILIO_RE.match(path)
        if fault == "fail":
            extra = {}
            if s["retry_after"] is not None:
                extra["Retry-After"] = str(s["retry_after"])
            if s["twilio_code"]:
                return s["status"], json.dumps({"code": int(s["twilio_code"]), "message": "injected",
                                                "status": s["status"]}), extra
            return s["status"], json.dumps({"error": "injected", "status": s["status"]}), extra
        if m and self.command == "POST":
            sid = m.group(1)
            if args.twilio_token is not None and rec["auth"] != [sid, args.twilio_token]:
                return 401, json.dumps({"code": 20003, "message": "Authenticate", "status": 401}), None
            form = rec.get("form") or {}
            if not form.get("To") or not (form.get("From") or form.get("MessagingServiceSid")) or "Body" not in form:
                return 400, json.dumps({"code": 21604, "message": "missing parameter", "status": 400}), None
            return 201, json.dumps({"sid": "SM%032x" % rec["n"], "status": "queued", "account_sid": sid}), None
        c = CALLS_RE.match(path)
        if c and self.command == "POST":
            sid = c.group(1)
            if args.twilio_token is not None and rec["auth"] != [sid, args.twilio_token]:
                return 401, json.dumps({"code": 20003, "message": "Authenticate", "status": 401}), None
            pairs = urllib.parse.parse_qsl(rec["body"], keep_blank_values=True)
            errors = self.server.calls.check(sid if args.strict_account else None,
                                             self.headers.get("Content-Type", ""), pairs)
            if errors:
                rec["schema_errors"] = errors
                return 400, json.dumps(twilio_calls.error_body(errors)), None
            created = self.server.calls.created(sid, rec.get("form") or {}, rec["n"])
            rec["call_sid"] = created["sid"]
            with self.server.state.lock:
                self.server.state.in_flight += 1
                rec["in_flight"] = self.server.state.in_flight
            return 201, json.dumps(created), None
        if path == "/sms/send" and self.command == "POST":
            if args.lm_user is not None and rec["auth"] != [args.lm_user, args.lm_password]:
                return 401, json.dumps({"description": "Unauthorized", "resultCode": 401}), None
            j = rec.get("json")
            need = ("source", "destination", "userData", "platformId", "platformPartnerId")
            if not isinstance(j, dict) or any(k not in j for k in need):
                return 400, json.dumps({"description": "missing field", "resultCode": 106}), None
            return 202, json.dumps({"messageId": "lm-%d" % rec["n"], "resultCode": 1005,
                                    "description": "Queued"}), None
        reply = args.reply if args.reply is not None else json.dumps({"status": "ok", "id": rec["n"]})
        return 200, reply, None

    def _log(self, rec):
        line = json.dumps(rec, ensure_ascii=False) + "\n"
        with self.server.log_lock:
            with open(self.server.args.log, "a", encoding="utf-8") as f:
                f.write(line)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def main():
    p = peer.arguments(__doc__)
    p.add_argument("--control")
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--status", type=int, default=500)
    p.add_argument("--retry-after")
    p.add_argument("--twilio-code", type=int)
    p.add_argument("--hang-first", type=int, default=0)
    p.add_argument("--hang-seconds", type=float, default=5.0)
    p.add_argument("--hang-match")
    p.add_argument("--fail-match")
    p.add_argument("--twilio-token", help="require basic auth <sid>:TOKEN on Twilio requests")
    p.add_argument("--lm-user", help="require basic auth on Link Mobility requests")
    p.add_argument("--lm-password", default="")
    p.add_argument("--close-reused", type=int, default=0,
                   help="close the first N reused-connection requests after reading them, without an answer")
    p.add_argument("--dedupe", action="store_true", help="drop repeats of an idempotency key already taken")
    p.add_argument("--reply", help="body of generic answers")
    p.add_argument("--calls-schema", default=twilio_calls.SCHEMA_FILE,
                   help="Twilio's OpenAPI description of the Calls create operation")
    p.add_argument("--strict-account", action="store_true",
                   help="check the account in a Calls.json path against Twilio's pattern (AC + 32 hex)")
    p.add_argument("--voice-auto", metavar="STATUS", help="post this final status for every accepted call")
    p.add_argument("--voice-hold", type=float, default=0.2, help="seconds before --voice-auto's callback")
    p.add_argument("--deliver-to", help="http://HOST:PORT that --voice-auto's callbacks go to")
    args = p.parse_args()

    srv = Server(("127.0.0.1", args.port), Handler)
    srv.args = args
    srv.state = State(args)
    srv.calls = twilio_calls.Schema(args.calls_schema)
    srv.log_lock = threading.Lock()
    peer.serve(srv, args)


if __name__ == "__main__":
    sys.exit(main())
