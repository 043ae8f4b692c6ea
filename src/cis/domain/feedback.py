"""Delivery feedback rules: what a report changes on its attendee, and which reports suppress.

A report is written once on the attendee it is about (a redelivery finds it there and changes
nothing), counted once per attendee and kind, and a permanent bounce or a complaint puts the
address on the suppression list, whether or not the attendee is known.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from enum import StrEnum

from cis.domain import statistics
from cis.domain.delivery import DeliveryEvent, DeliveryStatus, Suppression, SuppressionReason
from cis.domain.model import AttendeeKey, AttendeeRecord, Counters, normalise_address

__all__ = [
    "MAX_DELIVERY_EVENTS",
    "Feedback",
    "FeedbackChange",
    "FeedbackDecision",
    "FeedbackOutcome",
    "decide_feedback",
    "feedback_applies",
    "lifted",
    "suppression_applies",
    "suppression_for",
    "with_delivery",
]

MAX_DELIVERY_EVENTS = 100
"""Reports one attendee's record keeps: far more than the messages of one event's life
produce, and small enough that the record stays well inside DynamoDB's 400 KB item limit."""


@dataclass(frozen=True, slots=True)
class Feedback:
    """What the mail system reported about one recipient of one message it accepted."""

    event: DeliveryEvent
    #: The address the message was sent to, as the mail system gives it back.
    recipient: str
    #: The event the message was for, when the report carries it (SES message tags).
    event_uid: str | None = None
    #: For a bounce: the address will never take mail (SES bounce type Permanent).
    permanent: bool = False

    @property
    def address(self) -> str:
        """The normalised recipient: the attendee's key, and the suppression list's."""
        return normalise_address(self.recipient)


class FeedbackOutcome(StrEnum):
    """What became of one report."""

    #: Written on the attendee's record (and the address suppressed, when it says so).
    APPLIED = "applied"
    #: No attendee record to write it on; a permanent bounce or a complaint still suppresses.
    UNMATCHED = "unmatched"
    #: Written before: a redelivery of the same report.
    DUPLICATE = "duplicate"
    #: Not a report cis acts on (an open, a click, a send): acknowledged.
    IGNORED = "ignored"
    #: Not a report at all; it can never be read. Acknowledged, never retried.
    REJECTED = "rejected"
    #: A passing failure of the store: the queue delivers it again.
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class FeedbackChange:
    """Append one report to an attendee, if its reports are still as they were read.

    Every applied report appends to `deliveries`, so its length works as a version: a
    concurrent or redelivered report finds it changed, reads again, and decides again.
    """

    key: AttendeeKey
    expected_deliveries: int
    event: DeliveryEvent
    counters: Counters
    #: Written in the same atomic step: the report puts the address on the list.
    suppression: Suppression | None = None


@dataclass(frozen=True, slots=True)
class FeedbackDecision:
    """The outcome, why, and what to write: a change to the record, or a suppression alone."""

    outcome: FeedbackOutcome
    reason: str
    change: FeedbackChange | None = None
    suppression: Suppression | None = None


def suppression_for(feedback: Feedback) -> Suppression | None:
    """The suppression a report calls for: a permanent bounce or a complaint; else None.

    A transient or undetermined bounce may go through next time, and a delay, a delivery or a
    rejected virus says nothing about the address.
    """
    event = feedback.event
    if event.status is DeliveryStatus.BOUNCED and feedback.permanent:
        reason = SuppressionReason.BOUNCE
    elif event.status is DeliveryStatus.COMPLAINED:
        reason = SuppressionReason.COMPLAINT
    else:
        return None
    detail = "; ".join(part for part in (event.detail, event.diagnostic) if part) or None
    return Suppression(address=feedback.address, reason=reason, since=event.at,
                       feedback_id=event.feedback_id, detail=detail,
                       event_uid=feedback.event_uid, delivery_id=event.delivery_id)


def decide_feedback(record: AttendeeRecord | None, feedback: Feedback) -> FeedbackDecision:
    """Decide what a report does, on the attendee as currently stored (None: not known).

    A report already in the attendee's deliveries changes nothing. Otherwise it is appended,
    counted the first time the attendee reaches its kind, and suppresses in the same step
    when it calls for it. With no record to write on (the report names no event, or one
    whose attendee cis never recorded), only the suppression is written. A record whose
    deliveries are full (`MAX_DELIVERY_EVENTS`) is left as it is.
    """
    suppression = suppression_for(feedback)
    suppresses = " and suppresses the address" if suppression else ""
    if record is None:
        where = ("no cis-event tag" if feedback.event_uid is None
                 else f"no attendee {feedback.address} of {feedback.event_uid}")
        return FeedbackDecision(FeedbackOutcome.UNMATCHED,
                                f"{feedback.event.status.value}: {where}{suppresses}",
                                suppression=suppression)
    if any(seen.identity == feedback.event.identity for seen in record.deliveries):
        return FeedbackDecision(FeedbackOutcome.DUPLICATE, "report already recorded")
    if len(record.deliveries) >= MAX_DELIVERY_EVENTS:
        return FeedbackDecision(
            FeedbackOutcome.UNMATCHED,
            f"{feedback.event.status.value}: the attendee's record holds "
            f"{MAX_DELIVERY_EVENTS} reports already{suppresses}", suppression=suppression)
    counters = statistics.on_delivery_event(record.deliveries, feedback.event)
    change = FeedbackChange(record.key, len(record.deliveries), feedback.event, counters,
                            suppression)
    return FeedbackDecision(FeedbackOutcome.APPLIED,
                            f"{feedback.event.status.value}{suppresses}", change=change)


def feedback_applies(existing: AttendeeRecord | None, change: FeedbackChange) -> bool:
    """True when `change` was decided on the attendee's reports as they still are."""
    return existing is not None and len(existing.deliveries) == change.expected_deliveries


def with_delivery(existing: AttendeeRecord, change: FeedbackChange) -> AttendeeRecord:
    """The record after an applied report."""
    return replace(existing, deliveries=(*existing.deliveries, change.event))


def suppression_applies(current: Suppression | None, new: Suppression) -> bool:
    """Whether `new` is written over what the list holds for the address.

    The same report (`feedback_id`) never writes twice, so a redelivery does not put back
    an address an operator lifted since; any other report does.
    """
    return current is None or current.feedback_id != new.feedback_id


def lifted(current: Suppression | None, at: dt.datetime) -> Suppression | None:
    """The suppression after an operator lifted it at `at`; None when there is none to lift."""
    if current is None or not current.active:
        return None
    return replace(current, lifted_at=at)
