"""Where notices go: email (Flask-Mailman over SMTP) and Slack incoming webhooks (requests).

Errors are reported as ``DeliveryError`` with a message free of secrets (no SMTP password, no
Slack URL, which is itself a credential); the round records it and tries again next time.
"""

from __future__ import annotations

import hashlib
import smtplib
from typing import Protocol

import requests
from flask import Flask
from flask_mailman import EmailMessage, Mail

from .messages import Notice

mail = Mail()


class DeliveryError(Exception):
    """A notice did not reach a channel; the message is safe to log and show."""


class Channels(Protocol):
    def email(self, address: str, notice: Notice) -> None: ...

    def slack(self, url: str, notice: Notice) -> None: ...


def slack_key(url: str) -> str:
    """A channel's name in logs and in ``AlertIncident.deliveries``: never the URL itself."""
    return "slack:" + hashlib.sha256(url.encode()).hexdigest()[:12]


class LiveChannels:
    """Sends through the app's SMTP settings (``MAIL_*``) and Slack; email is off without ``MAIL_SERVER``."""

    def __init__(self, app: Flask, timeout_s: float = 10.0, http: requests.Session | None = None) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.http = http or requests.Session()

    @property
    def email_enabled(self) -> bool:
        return bool(self.app.config.get("MAIL_SERVER"))

    def email(self, address: str, notice: Notice) -> None:
        if not self.email_enabled:
            raise DeliveryError("email is not set up on this server (MAIL_SERVER is empty)")
        try:
            with self.app.app_context():
                message = EmailMessage(subject=notice.subject, body=notice.text, to=[address])
                message.send()
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"the mail server did not take the message ({type(exc).__name__}: "
                                f"{_first_line(exc)})") from exc

    def slack(self, url: str, notice: Notice) -> None:
        try:
            response = self.http.post(url, json=notice.slack_payload(), timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise DeliveryError(f"Slack could not be reached ({type(exc).__name__})") from exc
        if response.status_code >= 300:
            raise DeliveryError(f"Slack answered {response.status_code}: {response.text[:200]}")


def _first_line(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text[:200]


def init_mail(app: Flask) -> None:
    """Give the app Flask-Mailman (SMTP from ``MAIL_*``); the worker's alert round sends with it."""
    mail.init_app(app)


__all__ = ["Channels", "DeliveryError", "LiveChannels", "init_mail", "mail", "slack_key"]

