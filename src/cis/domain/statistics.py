"""Statistics rules: which counters each outcome moves, and how to rebuild them from records.

Counters are flat names (`invites_sent`, `rsvp:ACCEPTED`, `origin:web`, `role:CHAIR`) so that
every store can add to them atomically in one write, without first creating nested maps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cis.domain.delivery import DeliveryEvent, DeliveryStatus
from cis.domain.model import (
    AttendeeRecord,
    Counters,
    InviteAction,
    InviteState,
    PartStat,
    Role,
    Standing,
)

INVITES_SENT = "invites_sent"
INVITES_FAILED = "invites_failed"
REQUESTS_REJECTED = "requests_rejected"
DUPLICATES_SKIPPED = "duplicates_skipped"
REPLIES_APPLIED = "replies_applied"
REPLIES_RECORDED = "replies_recorded"
REPLIES_REJECTED = "replies_rejected"
REPLIES_IGNORED = "replies_ignored"
COUNTER_PROPOSALS = "counter_proposals"
UPDATES_SENT = "updates_sent"
CANCELLATIONS_SENT = "cancellations_sent"
ATTENDEES_REMOVED = "attendees_removed"
RESENDS_SENT = "resends_sent"
STALE_REQUESTS = "stale_requests"
NOTHING_TO_SEND = "nothing_to_send"
"""Cancellations, removals and resends for attendees never sent anything."""
DELIVERED = "delivered"
"""Attendees a message reached: the mail system reported a delivery to them."""
BOUNCED = "bounced"
"""Attendees a message bounced for (permanently, or after the mail system stopped trying)."""
COMPLAINED = "complained"
"""Attendees who marked a message as spam."""
SUPPRESSED = "suppressed"
"""Requests not sent because their address is on the suppression list."""
TEXTS_SHORTENED = "texts_shortened"
"""Messages sent with a summary, location or description cis cut to its limit."""
RSVP_PREFIX = "rsvp:"
ORIGIN_PREFIX = "origin:"
UNSPECIFIED_ORIGIN = "unspecified"
ROLE_PREFIX = "role:"

#: Counters that no attendee record can prove; a recount keeps their stored values.
EVENT_ONLY_COUNTERS = frozenset({
    REQUESTS_REJECTED, DUPLICATES_SKIPPED,
    REPLIES_APPLIED, REPLIES_RECORDED, REPLIES_REJECTED, REPLIES_IGNORED, COUNTER_PROPOSALS,
    UPDATES_SENT, CANCELLATIONS_SENT, ATTENDEES_REMOVED, RESENDS_SENT, STALE_REQUESTS,
    NOTHING_TO_SEND, SUPPRESSED, TEXTS_SHORTENED,
})

_DELIVERY_COUNTERS = {
    DeliveryStatus.DELIVERED: DELIVERED,
    DeliveryStatus.BOUNCED: BOUNCED,
    DeliveryStatus.COMPLAINED: COMPLAINED,
}
"""The reports an attendee is counted for, once each however many of them arrive."""


def rebuilt_from_records(name: str) -> bool:
    """Whether a recount derives counter `name` from the attendee records (else keeps it).

    A write that moves such a counter changes what a recount would compute; DynamoDB's
    recount detects those writes to lose none of them.
    """
    return name not in EVENT_ONLY_COUNTERS


def rsvp_counter(partstat: PartStat | str) -> str:
    """Name the counter of attendees whose current answer is `partstat`."""
    return RSVP_PREFIX + str(partstat)


def origin_counter(origin: str | None) -> str:
    """Name the counter of invites sent for requests labelled `origin`."""
    return ORIGIN_PREFIX + (origin or UNSPECIFIED_ORIGIN)


def role_counter(role: Role | str) -> str:
    """Name the counter of attendees invited in `role`."""
    return ROLE_PREFIX + str(role)


def on_sent(partstat: PartStat, origin: str | None,
            role: Role = Role.REQ_PARTICIPANT) -> Counters:
    """Count one invitation handed to the mailer."""
    return {INVITES_SENT: 1, rsvp_counter(partstat): 1, origin_counter(origin): 1,
            role_counter(role): 1}


def on_role_change(old: Role, new: Role) -> Counters:
    """Move one attendee already invited from one role to another (a later invitation's)."""
    if old == new:
        return {}
    return {role_counter(old): -1, role_counter(new): 1}


def on_failed() -> Counters:
    """Count one invitation the mailer refused for good."""
    return {INVITES_FAILED: 1}


def on_rejected() -> Counters:
    """Count one request that could never be valid."""
    return {REQUESTS_REJECTED: 1}


def on_duplicate() -> Counters:
    """Count one request for an attendee whose invitation was already settled."""
    return {DUPLICATES_SKIPPED: 1}


def on_later_message(action: InviteAction, standing: Standing) -> Counters:
    """Count one message sent to an attendee who was sent one before, by what it was."""
    if action is InviteAction.RESEND:
        return {RESENDS_SENT: 1}
    if standing is Standing.REMOVED:
        return {ATTENDEES_REMOVED: 1}
    if standing is Standing.CANCELLED:
        return {CANCELLATIONS_SENT: 1}
    return {UPDATES_SENT: 1}


def on_stale() -> Counters:
    """Count one request for a version older than one the attendee was sent (or is sent)."""
    return {STALE_REQUESTS: 1}


def on_nothing_to_send() -> Counters:
    """Count one cancellation, removal or resend for an attendee never sent anything."""
    return {NOTHING_TO_SEND: 1}


def on_suppressed() -> Counters:
    """Count one request held back because its address is on the suppression list."""
    return {SUPPRESSED: 1}


def delivery_counter(event: DeliveryEvent) -> str | None:
    """The counter a delivery report puts its attendee in, if any (delays and rejects: none)."""
    return _DELIVERY_COUNTERS.get(event.status)


def on_delivery_event(earlier: Iterable[DeliveryEvent], event: DeliveryEvent) -> Counters:
    """Count the attendee in `event`'s counter, unless an earlier report counted them there.

    An attendee counts once as delivered, once as bounced, once as complained: an update that
    reaches them again, or a second bounce, changes no count, so a recount of the records
    gives the same numbers.
    """
    counter = delivery_counter(event)
    if counter is None or any(delivery_counter(seen) == counter for seen in earlier):
        return {}
    return {counter: 1}


def on_shortened() -> Counters:
    """Count one message sent with a text cut to its limit (see `cis.domain.shortening`)."""
    return {TEXTS_SHORTENED: 1}


def on_rsvp_change(old: PartStat, new: PartStat) -> Counters:
    """Move one attendee from one RSVP bucket to another."""
    if old == new:
        return {}
    return {rsvp_counter(old): -1, rsvp_counter(new): 1}


def merge(*parts: Counters) -> dict[str, int]:
    """Sum counters, dropping names that net to zero, so one write can carry a whole batch."""
    total: Counter[str] = Counter()
    for part in parts:
        for name, amount in part.items():
            total[name] += amount
    return {name: amount for name, amount in total.items() if amount}


def recount(records: Iterable[AttendeeRecord], stored: Counters) -> dict[str, int]:
    """Rebuild an event's counters from its attendee records.

    Invitations sent (an attendee sent anything), their RSVP buckets, origins and roles,
    attendees whose last attempt failed for good, and attendees delivered, bounced and
    complained are derived from the records; the counters no record can prove (rejected
    requests, skipped duplicates, versions sent after the first, suppressed requests, texts
    shortened) keep `stored` values.
    """
    rebuilt: dict[str, int] = {
        name: amount for name, amount in stored.items() if name in EVENT_ONLY_COUNTERS
    }
    for record in records:
        if record.sequence is not None:  # sent something: invited once, answering since
            rebuilt = merge(rebuilt, on_sent(record.partstat, record.origin, record.role))
        if record.state is InviteState.FAILED:
            rebuilt = merge(rebuilt, on_failed())
        reached = {counter for event in record.deliveries
                   if (counter := delivery_counter(event)) is not None}
        rebuilt = merge(rebuilt, dict.fromkeys(reached, 1))
    return rebuilt


@dataclass(frozen=True, slots=True)
class EventStatistics:
    """A readable view of one event's counters."""

    event_uid: str
    invites_sent: int = 0
    invites_failed: int = 0
    requests_rejected: int = 0
    duplicates_skipped: int = 0
    rsvp: Mapping[str, int] = field(default_factory=dict)
    by_origin: Mapping[str, int] = field(default_factory=dict)
    updates_sent: int = 0
    cancellations_sent: int = 0
    attendees_removed: int = 0
    resends_sent: int = 0
    stale_requests: int = 0
    nothing_to_send: int = 0
    delivered: int = 0
    bounced: int = 0
    complained: int = 0
    suppressed: int = 0
    by_role: Mapping[str, int] = field(default_factory=dict)
    texts_shortened: int = 0

    @classmethod
    def from_counters(cls, event_uid: str, counters: Counters) -> EventStatistics:
        """Read flat counters; zero buckets are left out so equal statistics compare equal."""
        return cls(
            event_uid=event_uid,
            invites_sent=counters.get(INVITES_SENT, 0),
            invites_failed=counters.get(INVITES_FAILED, 0),
            requests_rejected=counters.get(REQUESTS_REJECTED, 0),
            duplicates_skipped=counters.get(DUPLICATES_SKIPPED, 0),
            rsvp=_bucket(counters, RSVP_PREFIX),
            by_origin=_bucket(counters, ORIGIN_PREFIX),
            updates_sent=counters.get(UPDATES_SENT, 0),
            cancellations_sent=counters.get(CANCELLATIONS_SENT, 0),
            attendees_removed=counters.get(ATTENDEES_REMOVED, 0),
            resends_sent=counters.get(RESENDS_SENT, 0),
            stale_requests=counters.get(STALE_REQUESTS, 0),
            nothing_to_send=counters.get(NOTHING_TO_SEND, 0),
            delivered=counters.get(DELIVERED, 0),
            bounced=counters.get(BOUNCED, 0),
            complained=counters.get(COMPLAINED, 0),
            suppressed=counters.get(SUPPRESSED, 0),
            by_role=_bucket(counters, ROLE_PREFIX),
            texts_shortened=counters.get(TEXTS_SHORTENED, 0),
        )

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form, for logs, the command line and APIs."""
        return {
            "event_uid": self.event_uid,
            "invites_sent": self.invites_sent,
            "invites_failed": self.invites_failed,
            "requests_rejected": self.requests_rejected,
            "duplicates_skipped": self.duplicates_skipped,
            "updates_sent": self.updates_sent,
            "cancellations_sent": self.cancellations_sent,
            "attendees_removed": self.attendees_removed,
            "resends_sent": self.resends_sent,
            "stale_requests": self.stale_requests,
            "nothing_to_send": self.nothing_to_send,
            "delivered": self.delivered,
            "bounced": self.bounced,
            "complained": self.complained,
            "suppressed": self.suppressed,
            "texts_shortened": self.texts_shortened,
            "rsvp": dict(sorted(self.rsvp.items())),
            "by_origin": dict(sorted(self.by_origin.items())),
            "by_role": dict(sorted(self.by_role.items())),
        }


def _bucket(counters: Counters, prefix: str) -> dict[str, int]:
    return {
        name[len(prefix) :]: amount
        for name, amount in sorted(counters.items())
        if name.startswith(prefix) and amount
    }
