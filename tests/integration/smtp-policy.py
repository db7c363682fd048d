#!/usr/bin/python3
"""smtp-policy.py - a real SMTP server (Debian's python3-aiosmtpd) that
refuses the way a Postfix relay does, for tests/integration/180-smtp.sh.

Postfix gives relay, HELO and client refusals at RCPT by default
(smtpd_delay_reject = yes): "554 5.7.1 <addr>: Relay access denied",
"504 5.5.2 <name>: Helo command rejected: need fully-qualified hostname".

  --rcpt-reply SUBSTR=REPLY   RCPT TO containing SUBSTR gets REPLY ("{addr}"
                              in it is the address, as Postfix echoes it);
                              repeatable; "*" matches every address
  --helo-reply REPLY          EHLO and HELO get REPLY
  --helo-reject-short         like Postfix's reject_non_fqdn_helo_hostname,
                              delayed to RCPT: a HELO name without a dot
                              gets "504 5.5.2 <name>: Helo command rejected:
                              need fully-qualified hostname" at RCPT

Every EHLO/HELO name is appended to --log-helo (one a line). Every message
taken is appended to --log as one JSON line: {"mail_from", "rcpt", "helo",
"data" (the raw message, base64), "eightbit" (any byte >= 0x80)}.

--port 0 picks a free port, written to --port-file; --pidfile; SIGTERM stops.
"""

import asyncio
import base64
import json
import os
import signal
import sys

from aiosmtpd.smtp import SMTP
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../lib"))
from beredd_test import peer  # noqa: E402  (tests/lib/beredd_test)


class Policy:
    def __init__(self, args):
        self.args = args

    def note_helo(self, session, hostname):
        session.beredd_helo = hostname
        if self.args.log_helo:
            with open(self.args.log_helo, "a", encoding="utf-8") as f:
                f.write(hostname + "\n")

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.note_helo(session, hostname)
        if self.args.helo_reply:
            return [self.args.helo_reply]
        session.host_name = hostname
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        self.note_helo(session, hostname)
        if self.args.helo_reply:
            return self.args.helo_reply
        session.host_name = hostname
        return "250 {}".format(server.hostname)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        helo = getattr(session, "beredd_helo", "") or ""
        if self.args.helo_reject_short and "." not in helo:
            return "504 5.5.2 <{}>: Helo command rejected: need fully-qualified hostname".format(helo)
        for rule in self.args.rcpt_reply:
            sub, _, reply = rule.partition("=")
            if sub == "*" or sub in address:
                return reply.replace("{addr}", address)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or b""
        rec = {"mail_from": envelope.mail_from, "rcpt": envelope.rcpt_tos,
               "helo": getattr(session, "beredd_helo", None),
               "data": base64.b64encode(raw).decode("ascii"),
               "eightbit": any(b >= 0x80 for b in raw)}
        with open(self.args.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
        return "250 2.0.0 Ok: queued"


def main():
    p = peer.arguments(__doc__)
    p.add_argument("--log-helo")
    p.add_argument("--rcpt-reply", action="append", default=[])
    p.add_argument("--helo-reply")
    p.add_argument("--helo-reject-short", action="store_true")
    args = p.parse_args()

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handler = Policy(args)
    srv = loop.run_until_complete(loop.create_server(
        lambda: SMTP(handler, hostname="policy.test", decode_data=False), "127.0.0.1", args.port))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    peer.announce(args, srv.sockets[0].getsockname()[1])
    try:
        loop.run_forever()
    finally:
        srv.close()


if __name__ == "__main__":
    sys.exit(main())
