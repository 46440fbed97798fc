"""The demo's mailbox: a real SMTP server on loopback (aiosmtpd) that keeps what it receives.

The demo points the app's alert emails (``MAIL_SERVER``/``MAIL_PORT``) at it, so an alert travels the
same SMTP path as in a deployment and then shows on ``/demo`` under "Mailbox".
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

KEPT = 50  # newest messages shown


@dataclass(frozen=True)
class Mail:
    received_at: datetime
    to: str
    subject: str
    body: str


class _Keep:
    """aiosmtpd handler: parse each message and keep it."""

    def __init__(self, box: DemoMailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's name for the hook
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        part = message.get_body(preferencelist=("plain", "html"))
        body = part.get_content() if part is not None else ""
        self.box.keep(Mail(datetime.now(UTC), ", ".join(envelope.rcpt_tos), str(message["Subject"] or ""), body))
        return "250 Message accepted for delivery"


class DemoMailbox:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mails: list[Mail] = []
        self._controller: Controller | None = None
        self.port = 0

    def start(self, port: int) -> None:
        """Listen on ``127.0.0.1:port`` (``OSError`` when it is taken)."""
        controller = Controller(_Keep(self), hostname="127.0.0.1", port=port, ready_timeout=10)
        try:
            controller.start()
        except RuntimeError as exc:  # aiosmtpd reports a failed bind as a RuntimeError around the OSError
            cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else None
            raise cause or OSError(str(exc)) from exc
        self._controller, self.port = controller, port

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def keep(self, mail: Mail) -> None:
        with self._lock:
            self._mails = [mail, *self._mails][:KEPT]

    def mails(self) -> list[Mail]:
        """Newest first."""
        with self._lock:
            return list(self._mails)

    def app_settings(self) -> dict[str, Any]:
        """The app's mail settings for this mailbox: plain SMTP on loopback, alerts checked often."""
        return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": self.port, "MAIL_USE_TLS": False, "MAIL_USE_SSL": False,
                "MAIL_DEFAULT_SENDER": "Leads Sync demo <alerts@demo.localhost>", "ALERT_CHECK_INTERVAL_S": 5.0}
