"""A real SMTP server for the delivery tests (aiosmtpd, Debian's python3-aiosmtpd).

Every accepted message is written into a Maildir, like `aiosmtpd.handlers.Mailbox`, with
switches for the failures the tests need:
  --reject TEXT    a recipient containing TEXT is refused with 550 (a permanent failure);
  --hold SECONDS   the first message is stored, then the answer to its DATA waits this long
                   (a sender killed in that window has delivered without knowing it).
Prints "ready PORT" once it listens; stops on SIGTERM.
"""

import argparse
import asyncio
import mailbox
import signal
import sys

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, maildir, reject, hold):
        self.box = mailbox.Maildir(maildir, create=True)
        self.reject = reject
        self.hold = hold
        self.held = False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject and self.reject in address:
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.box.add(envelope.original_content or envelope.content)
        if self.hold and not self.held:
            self.held = True
            await asyncio.sleep(self.hold)
        return "250 Message accepted for delivery"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--maildir", required=True)
    p.add_argument("--reject", default="")
    p.add_argument("--hold", type=float, default=0)
    a = p.parse_args()
    controller = Controller(Handler(a.maildir, a.reject, a.hold), hostname="127.0.0.1", port=a.port)
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
