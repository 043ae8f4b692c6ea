"""The mailer port: hand one finished message to a mail system."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RawEmail:
    """A complete RFC 5322 message (CRLF line endings) and its envelope."""

    sender: str
    recipient: str
    data: bytes
    event_uid: str


class Mailer(Protocol):
    """Sends finished messages; knows nothing about calendars."""

    def send(self, email: RawEmail) -> str:
        """Hand `email` over for delivery and return the mail system's message id.

        Raises:
            cis.errors.MailerError: marked `transient` when a later try may succeed
                (throttling, timeouts), permanent when this message can never be sent.

        """
        ...
