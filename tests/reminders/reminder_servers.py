"""Real local receivers for the reminder tests: a webhook receiver (http.server in a thread) and an SMTP server.

The webhook receiver verifies every request with `verify_webhook` and de-duplicates on the delivery id, as a
department's system should: `raw` counts every request that arrived, `unique` each delivery id once.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from reminders.delivery import verify_webhook
from reminders.errors import WebhookVerificationError


@dataclass
class WebhookReceiver:
    """Collects verified webhook deliveries; `status` decides the answer (a callable of the request count)."""

    secret: str
    now: Callable[[], datetime]
    status: Callable[[int], int] = lambda _n: 200
    block_on: int | None = None  # the n-th request (1-based) waits for `release` before answering
    raw: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    unique: dict[str, dict[str, Any]] = field(default_factory=dict)
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        try:
            delivery_id = verify_webhook(self.secret, headers, body, now=self.now())
        except WebhookVerificationError as exc:
            with self.lock:
                self.rejected.append(str(exc))
            return 401
        doc = json.loads(body)
        with self.lock:
            self.raw.append((delivery_id, doc))
            n = len(self.raw)
            self.unique.setdefault(delivery_id, doc)  # the receiver's de-duplication on the delivery id
        if self.block_on == n:
            self.arrived.set()
            self.release.wait(30)
        return self.status(n)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def webhook_server(receiver: WebhookReceiver) -> Iterator[WebhookReceiver]:
    """Serve `receiver` on a loopback port for the duration of the block."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            code = receiver.handle(dict(self.headers.items()), body)
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/reminders"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()


@dataclass
class MailBox:
    """Messages received by the local SMTP server, parsed; `refuse` makes RCPT TO answer 550 for an address."""

    messages: list[EmailMessage] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    host: str = "127.0.0.1"
    port: int = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        self.raw.append(data)
        parsed = message_from_bytes(data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted"


@contextmanager
def smtp_server(mailbox: MailBox) -> Iterator[MailBox]:
    """A real aiosmtpd SMTP server on a loopback port (8BITMIME/SMTPUTF8 as aiosmtpd offers them)."""
    mailbox.port = free_port()
    controller = Controller(mailbox, hostname=mailbox.host, port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()
