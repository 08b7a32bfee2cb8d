"""Outgoing email through a pluggable sender: SMTP from the settings, or none configured."""

import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

from ketaclinic.settings import Settings, get_settings


class EmailNotSent(RuntimeError):
    """The message could not be handed to a mail server; the reason is kept on the record."""


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message."""

    filename: str
    content_type: str  # e.g. text/calendar
    data: bytes


@dataclass(frozen=True)
class Email:
    """One plain-text message, with attachments if any."""

    to: str
    subject: str
    body: str
    attachments: tuple[Attachment, ...] = ()


class Sender(Protocol):
    """Anything that can deliver an Email (raises EmailNotSent)."""

    def send(self, message: Email) -> None:
        """Deliver the message or raise EmailNotSent."""


class SmtpSender:
    """Delivers through an SMTP server (STARTTLS and login when configured)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, message: Email) -> None:
        """Hand the message to the SMTP server."""
        s = self.settings
        email = EmailMessage()
        email["From"], email["To"], email["Subject"] = s.mail_from, message.to, message.subject
        email.set_content(message.body)
        for item in message.attachments:
            main, _, sub = item.content_type.partition("/")
            email.add_attachment(item.data, maintype=main, subtype=sub, filename=item.filename)
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=10) as server:
                if s.smtp_starttls:
                    server.starttls()
                if s.smtp_username:
                    server.login(s.smtp_username, s.smtp_password)
                server.send_message(email)
        except (OSError, smtplib.SMTPException) as exc:
            raise EmailNotSent(f"the mail server refused or could not be reached: {exc}") from exc


class NoSender:
    """No mail server configured: nothing is sent, and the caller says so."""

    def send(self, message: Email) -> None:
        """Refuse: there is no mail server."""
        raise EmailNotSent("no mail server is configured (KETACLINIC_SMTP_HOST)")


_override: Sender | None = None


def sender() -> Sender:
    """The sender for this process: SMTP when a host is configured."""
    if _override is not None:
        return _override
    settings = get_settings()
    return SmtpSender(settings) if settings.smtp_host else NoSender()


def use_sender(replacement: Sender | None) -> None:
    """Replace the sender (None: back to the settings), e.g. for a command that collects mail."""
    global _override
    _override = replacement


def next_attempt(*, attempts: int, waits_min: list[int], max_attempts: int,
                 after: datetime) -> datetime | None:
    """When to try a failed send again (the waits in minutes, the last one repeated), or None
    when it has had its last try."""
    if attempts >= max_attempts:
        return None
    return after + timedelta(minutes=int(waits_min[min(attempts, len(waits_min)) - 1]))
