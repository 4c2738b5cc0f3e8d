"""A loopback SMTP server for the SMTP tests (aiosmtpd): logins, rejected recipients,
a Maildir of what it received. Usage: python3 smtp_server.py PORT MAILDIR USER PASSWORD

- AUTH PLAIN and LOGIN without TLS (loopback only), USER/PASSWORD are the good ones;
- recipients whose address starts with `reject` get 550;
- each message is stored in MAILDIR; `ready` on stdout once listening;
- when a session's connection closes, `session-end rejected=R stored=N` on stdout: R is
  1 if a recipient was refused in it, N the messages stored so far (in any session) —
  the event a test waits for before asserting that nothing more arrived."""
import mailbox
import signal
import sys
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

# AUTH without TLS is what the loopback test wants.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")

port, maildir, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]


class Handler:
    def __init__(self):
        self.mbox = mailbox.Maildir(maildir)
        self.stored = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            session.rejected = True
            return "550 5.1.1 <%s>: no such user here" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.mbox.add(envelope.original_content)
        self.stored += 1
        return "250 2.0.0 stored"


class Session(SMTP):
    """Reports the end of each session (after whatever it stored is in MAILDIR)."""

    def connection_lost(self, error):
        rejected = getattr(self.session, "rejected", False)
        super().connection_lost(error)
        print(
            "session-end rejected=%d stored=%d" % (rejected, self.event_handler.stored),
            flush=True,
        )


class Server(Controller):
    def factory(self):
        return Session(self.handler, **self.SMTP_kwargs)


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == user.encode()
        and auth_data.password == password.encode()
    )
    return AuthResult(success=ok, handled=False)


controller = Server(
    Handler(),
    hostname="127.0.0.1",
    port=port,
    authenticator=authenticator,
    auth_require_tls=False,
    auth_required=True,
)
controller.start()
print("ready", flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
signal.pause()
