"""A real SMTP server (aiosmtpd, Debian's python3-aiosmtpd): the applicants' mail servers in
the simulation, and the mail server of the delivery tests (tests/mail.rs, tests/invoices.rs).

Every accepted message is written into a Maildir with one `X-Sim-Rcpt:` line per envelope
recipient put in front, so the reader knows each message's mailbox. Switches the tests use:
  --reject TEXT    a recipient containing TEXT is refused with 550 (a permanent failure);
  --hold SECONDS   the first message is stored, then the answer to its DATA waits this long
                   (a sender killed in that window has delivered without knowing it);
  --tls starttls|implicit --tls-cert PEM --tls-key PEM
                   STARTTLS required before MAIL, or TLS from the first byte; each message
                   stored over TLS gets an `X-Sim-Tls: VERSION` line in front.
The faults the simulation plans for a day are read from a JSON control file (--control):
  {"refuse": [addresses], "slow": [addresses], "down": false}
  refuse  the recipient is refused with 451 (a transient failure: the sender tries again)
  slow    the answer to DATA waits longer than the sender's timeout, then refuses with 451
          (nothing is stored: the sender's retry delivers the one copy)
  down    every command is answered 421 (the server is going away)
  swallow the first message to one of these is answered 250 and thrown away (a planted
          fault: the simulation must notice the lost email); a file `swallowed` beside the
          Maildir's folders records that it happened
Prints "ready PORT" once it listens; stops on SIGTERM.
"""

import argparse
import asyncio
import json
import mailbox
import os
import signal
import sys

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, maildir, control, slow_seconds, reject="", hold=0):
        self.box = mailbox.Maildir(maildir, create=True)
        self.maildir = maildir
        self.control = control
        self.slow_seconds = slow_seconds
        self.reject = reject
        self.hold = hold
        self.held = False
        self.read = (None, {})

    def faults(self):
        # Read again only when the file changed (the simulation rewrites it once a day, and
        # a message would otherwise parse it three times).
        if not self.control:
            return {}
        try:
            st = os.stat(self.control)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            if stamp != self.read[0]:
                with open(self.control) as f:
                    self.read = (stamp, json.load(f))
            return self.read[1]
        except (OSError, ValueError):
            return {}

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.faults().get("down"):
            return "421 4.3.2 service not available, closing channel"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject and self.reject in address:
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        if address.lower() in self.faults().get("refuse", []):
            return "451 4.3.0 <%s>: try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        faults = self.faults()
        swallow = faults.get("swallow", [])
        marker = os.path.join(self.maildir, "swallowed")
        if any(r.lower() in swallow for r in envelope.rcpt_tos) and not os.path.exists(marker):
            with open(marker, "w") as f:
                f.write(",".join(envelope.rcpt_tos))
            return "250 Message accepted for delivery"
        slow = faults.get("slow", [])
        if any(r.lower() in slow for r in envelope.rcpt_tos):
            await asyncio.sleep(self.slow_seconds)
            return "451 4.4.2 timed out"
        head = "".join("X-Sim-Rcpt: %s\r\n" % r.lower() for r in envelope.rcpt_tos).encode()
        tls = server.transport.get_extra_info("ssl_object") if server.transport else None
        if tls is not None:
            head = ("X-Sim-Tls: %s\r\n" % tls.version()).encode() + head
        self.box.add(head + (envelope.original_content or envelope.content))
        if self.hold and not self.held:
            self.held = True
            await asyncio.sleep(self.hold)
        return "250 Message accepted for delivery"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--maildir", required=True)
    p.add_argument("--control", default="")
    p.add_argument("--slow-seconds", type=float, default=5)
    p.add_argument("--reject", default="")
    p.add_argument("--hold", type=float, default=0)
    p.add_argument("--tls", choices=["starttls", "implicit"], default="")
    p.add_argument("--tls-cert", default="")
    p.add_argument("--tls-key", default="")
    a = p.parse_args()
    handler = Handler(a.maildir, a.control, a.slow_seconds, a.reject, a.hold)
    tls = {}
    if a.tls:
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(a.tls_cert, a.tls_key)
        if a.tls == "starttls":
            tls = {"tls_context": context, "require_starttls": True}
        else:
            tls = {"ssl_context": context}
    controller = Controller(handler, hostname="127.0.0.1", port=a.port, **tls)
    controller.start()
    print("ready %d" % a.port, flush=True)
    done = asyncio.new_event_loop()
    signal.signal(signal.SIGTERM, lambda *_: done.call_soon_threadsafe(done.stop))
    try:
        done.run_forever()
    finally:
        controller.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
