"""Email senders behind one interface: SMTP (the standard library client, run in a thread) when
``smtp_host`` is set, else — in dev only — a sender that writes ``.eml`` files into
``<data_dir>/outbox-mail`` (open them with any mail client). Production without SMTP sends no email
(the deliveries fail with a clear error and stay in the log).
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

from engine.settings import Settings


class EmailSender(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Hand ``message`` on; raises ``OSError``/``smtplib.SMTPException`` when it was not accepted."""


def build_message(sender: str, to: str, subject: str, text: str, message_id: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(idstring=message_id, domain="cloudmarket")
    msg.set_content(text or subject)
    return msg


@dataclass(frozen=True)
class SmtpSender:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 30.0

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


@dataclass(frozen=True)
class FileSender:
    directory: Path

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._write, message)

    def _write(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = str(message["Message-ID"]).strip("<>").replace("@", "_").replace("/", "_")
        (self.directory / f"{name}.eml").write_bytes(bytes(message))


def email_sender_for(settings: Settings) -> EmailSender | None:
    """SMTP when configured; the file sender in dev; ``None`` (no email) in production without SMTP."""
    if settings.smtp_host:
        return SmtpSender(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_username,
            settings.smtp_password,
            settings.smtp_starttls,
        )
    if not settings.is_production:
        return FileSender(settings.data_dir / "outbox-mail")
    return None
