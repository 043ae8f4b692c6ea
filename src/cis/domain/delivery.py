"""What the mail system reports after it accepted a message, and the addresses we stop mailing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["DeliveryEvent", "DeliveryStatus", "Suppression", "SuppressionReason"]


class DeliveryStatus(StrEnum):
    """What became of a message after the mail system accepted it (SES event types)."""

    #: The recipient's mail server accepted it.
    DELIVERED = "delivered"
    #: The recipient's mail server refused it (for good, or after SES gave up retrying).
    BOUNCED = "bounced"
    #: The recipient marked it as spam.
    COMPLAINED = "complained"
    #: The mail system would not send it at all (SES: it found a virus).
    REJECTED = "rejected"
    #: Not delivered yet; the mail system goes on trying.
    DELAYED = "delayed"


@dataclass(frozen=True, slots=True)
class DeliveryEvent:
    """One report about one message sent to an attendee, as the attendee's history keeps it.

    `feedback_id` names the report itself (SES's feedbackId, or, for reports that have none,
    their type and time), so a report delivered twice is recognised and changes nothing.
    """

    status: DeliveryStatus
    at: dt.datetime
    #: The mail system's id of the message reported on (`AttendeeRecord.delivery_id`).
    delivery_id: str
    feedback_id: str
    #: What kind of bounce, complaint, delay or rejection it was (SES's type and subtype).
    detail: str | None = None
    #: The receiving server's own words (its SMTP answer), one line, bounded.
    diagnostic: str | None = None

    @property
    def identity(self) -> tuple[DeliveryStatus, str, str]:
        """What makes two reports the same report: a redelivery carries the same three."""
        return self.status, self.delivery_id, self.feedback_id


class SuppressionReason(StrEnum):
    """Why an address is on the suppression list."""

    #: A permanent bounce: the address does not take mail.
    BOUNCE = "bounce"
    #: The recipient marked a message as spam.
    COMPLAINT = "complaint"


@dataclass(frozen=True, slots=True)
class Suppression:
    """An address no invitation is sent to, for any event, until an operator lifts it.

    A lifted suppression is kept, with when it was lifted, so that the same report
    delivered again (`feedback_id`) does not put the address back; a new report does.
    """

    #: The normalised address (see `cis.domain.model.normalise_address`).
    address: str
    reason: SuppressionReason
    since: dt.datetime
    feedback_id: str
    detail: str | None = None
    event_uid: str | None = None
    delivery_id: str | None = None
    lifted_at: dt.datetime | None = None

    @property
    def active(self) -> bool:
        """True while invitations to the address are held back."""
        return self.lifted_at is None

    def describe(self) -> str:
        """One line for people: what happened, when, and the mail system's words."""
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.reason.value}{detail} on {self.since.isoformat()}"
