"""DynamoDB items: attribute values, and attendee and statistics items read back into records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from cis.adapters.record_versions import stored_version
from cis.domain.delivery import DeliveryEvent, DeliveryStatus, Suppression, SuppressionReason
from cis.domain.model import (
    AttendeeKey,
    AttendeeRecord,
    HistoryEntry,
    InviteState,
    PartStat,
    Role,
    history_status,
)
from cis.errors import RepositoryError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    Item = Mapping[str, AttributeValueTypeDef]

#: Every attribute an attendee item may carry; `cis.adapters.keys` builds the key values.
ATTENDEE_ATTRIBUTES = (
    "pk",
    "email",
    "name",
    "status",
    "origin",
    "state",
    "claim_token",
    "lease_expires_at",
    "lease_expires_epoch",
    "sent_at",
    "message_id",
    "failure_reason",
    "history",
    "last_reply_at",
    "sequence",
    "standing",
    "claim_sequence",
    "answer_sequence",
    "replies_dropped",
    "deliveries",
    "role",
)

MARKER_EXPIRY_ATTRIBUTE = "expires_at"
"""The table's TTL attribute (template.yaml): only counting markers carry it."""

_UNIX_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def key_attributes(key: Mapping[str, str]) -> dict[str, AttributeValueTypeDef]:
    """An item key from `cis.adapters.keys`, as DynamoDB attribute values."""
    return {name: string(value) for name, value in key.items()}


def string(value: str) -> AttributeValueTypeDef:
    """A String attribute value."""
    return {"S": value}


def number(value: str) -> AttributeValueTypeDef:
    """A Number attribute value; DynamoDB takes numbers as decimal text."""
    return {"N": value}


def timestamp(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with a `+00:00` offset; naive datetimes are refused, not guessed."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: cis stores only timezone-aware times")
    return moment.astimezone(dt.UTC).isoformat()


def epoch(moment: dt.datetime) -> str:
    """Seconds since 1970 as an exact decimal (microseconds kept) for numeric comparison."""
    timestamp(moment)  # refuses naive datetimes
    microseconds = (moment - _UNIX_EPOCH) // dt.timedelta(microseconds=1)
    # normalize() drops trailing zeros, so the string is the one DynamoDB itself would return.
    return format(Decimal(microseconds).scaleb(-6).normalize(), "f")


def history_entry(entry: HistoryEntry) -> AttributeValueTypeDef:
    """One history entry as the Map an attendee item's `history` List holds."""
    return {
        "M": {
            "status": string(entry.status),
            "at": string(timestamp(entry.at)),
            "source": string(entry.source),
        }
    }


def delivery_entry(event: DeliveryEvent) -> AttributeValueTypeDef:
    """One delivery report as the Map an attendee item's `deliveries` List holds."""
    entry: dict[str, AttributeValueTypeDef] = {
        "status": string(event.status.value),
        "at": string(timestamp(event.at)),
        "delivery_id": string(event.delivery_id),
        "feedback_id": string(event.feedback_id),
    }
    if event.detail is not None:
        entry["detail"] = string(event.detail)
    if event.diagnostic is not None:
        entry["diagnostic"] = string(event.diagnostic)
    return {"M": entry}


def suppression_item(suppression: Suppression) -> dict[str, AttributeValueTypeDef]:
    """A suppression's attributes besides its key (`cis.adapters.keys.suppression_item_key`)."""
    item: dict[str, AttributeValueTypeDef] = {
        "address": string(suppression.address),
        "reason": string(suppression.reason.value),
        "since": string(timestamp(suppression.since)),
        "feedback_id": string(suppression.feedback_id),
    }
    for name, value in (("detail", suppression.detail), ("event_uid", suppression.event_uid),
                        ("message_id", suppression.delivery_id)):
        if value is not None:
            item[name] = string(value)
    if suppression.lifted_at is not None:
        item["lifted_at"] = string(timestamp(suppression.lifted_at))
    return item


def suppression_of(item: Item) -> Suppression:
    """Read a suppression item back."""
    since = _moment(item, "since")
    if since is None:
        raise RepositoryError("suppression item lacks 'since'", transient=False)
    return Suppression(
        address=_required_text(item, "address"),
        reason=SuppressionReason(_required_text(item, "reason")),
        since=since,
        feedback_id=_required_text(item, "feedback_id"),
        detail=_text(item, "detail"),
        event_uid=_text(item, "event_uid"),
        delivery_id=_text(item, "message_id"),
        lifted_at=_moment(item, "lifted_at"),
    )


def state_of(item: Item) -> InviteState:
    """The invitation state an attendee item records."""
    return InviteState(_required_text(item, "state"))


def attendee_record(event_uid: str, item: Item) -> AttendeeRecord:
    """Read an attendee item back into the domain record."""
    email = _required_text(item, "email")
    history = tuple(
        HistoryEntry(
            status=history_status(entry["M"]["status"]["S"]),
            at=dt.datetime.fromisoformat(entry["M"]["at"]["S"]),
            source=entry["M"]["source"]["S"],
        )
        for entry in item.get("history", {}).get("L", [])
    )
    state = state_of(item)
    sequence, standing = stored_version(state, _whole(item, "sequence"), _text(item, "standing"))
    return AttendeeRecord(
        key=AttendeeKey.of(event_uid, email),
        email=email,
        name=_text(item, "name"),
        partstat=PartStat(_required_text(item, "status")),
        origin=_text(item, "origin"),
        state=state,
        claim_token=_text(item, "claim_token"),
        lease_expires_at=_moment(item, "lease_expires_at"),
        sent_at=_moment(item, "sent_at"),
        delivery_id=_text(item, "message_id"),
        failure_reason=_text(item, "failure_reason"),
        history=history,
        last_reply_at=_moment(item, "last_reply_at"),
        sequence=sequence,
        standing=standing,
        claim_sequence=_whole(item, "claim_sequence"),
        answer_sequence=_whole(item, "answer_sequence") or 0,
        replies_dropped=_whole(item, "replies_dropped") or 0,
        deliveries=tuple(_delivery_event(entry["M"])
                         for entry in item.get("deliveries", {}).get("L", [])),
        role=role_of(item),
    )


def _delivery_event(entry: Item) -> DeliveryEvent:
    at = _moment(entry, "at")
    if at is None:
        raise RepositoryError("delivery report lacks 'at'", transient=False)
    return DeliveryEvent(
        status=DeliveryStatus(_required_text(entry, "status")), at=at,
        delivery_id=_required_text(entry, "delivery_id"),
        feedback_id=_required_text(entry, "feedback_id"),
        detail=_text(entry, "detail"), diagnostic=_text(entry, "diagnostic"))


def role_attribute(role: Role) -> str | None:
    """The `role` attribute of an attendee item; none for REQ-PARTICIPANT, the default.

    So an item of a default attendee is the size it was before roles were stored, and an
    item written before then reads as what its invitation said.
    """
    return None if role is Role.REQ_PARTICIPANT else str(role)


def role_of(item: Item) -> Role:
    """The role an attendee item records (see `role_attribute`)."""
    text = _text(item, "role")
    return Role.REQ_PARTICIPANT if text is None else Role(text)


FENCE_ATTRIBUTE = "version_fence"
"""On each statistics shard: the SEQUENCE of the event's stored version, the one number
there that is not a counter."""


COUNTER_WRITES_ATTRIBUTE = "counter_writes"
"""On each statistics item: how many writes moved a counter a recount rebuilds from the
records. It only grows, so a recount that finds it unchanged knows no such write landed."""

_NOT_COUNTERS = frozenset({FENCE_ATTRIBUTE, COUNTER_WRITES_ATTRIBUTE})


def counters_of(item: Item) -> dict[str, int]:
    """Every Number attribute of a statistics item is a counter, but the fence and write count."""
    return {name: int(value["N"]) for name, value in item.items()
            if "N" in value and name not in _NOT_COUNTERS}


def counter_writes_of(item: Item | None) -> int | None:
    """How many recounted-counter writes a statistics item took; None if it never took one."""
    return _whole(item, COUNTER_WRITES_ATTRIBUTE) if item else None


def fence_of(item: Item | None) -> int | None:
    """The version fence a statistics shard holds, if any."""
    return _whole(item, FENCE_ATTRIBUTE) if item else None


def _whole(item: Item, attribute: str) -> int | None:
    value = item.get(attribute)
    text = value.get("N") if value else None
    return None if text is None else int(text)


def _text(item: Item, attribute: str) -> str | None:
    value = item.get(attribute)
    return value.get("S") if value else None


def _required_text(item: Item, attribute: str) -> str:
    text = _text(item, attribute)
    if text is None:
        raise RepositoryError(f"item lacks {attribute!r}", transient=False)
    return text


def _moment(item: Item, attribute: str) -> dt.datetime | None:
    text = _text(item, attribute)
    return dt.datetime.fromisoformat(text) if text else None
