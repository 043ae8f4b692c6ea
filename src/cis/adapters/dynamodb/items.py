"""DynamoDB items: attribute values, and attendee and statistics items read back into records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from cis.adapters.record_versions import stored_version
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
        role=role_of(item),
    )


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


def counters_of(item: Item) -> dict[str, int]:
    """Every Number attribute of a statistics item is a counter, but the version fence."""
    return {name: int(value["N"]) for name, value in item.items()
            if "N" in value and name != FENCE_ATTRIBUTE}


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
        raise RepositoryError(f"attendee item lacks {attribute!r}", transient=False)
    return text


def _moment(item: Item, attribute: str) -> dt.datetime | None:
    text = _text(item, attribute)
    return dt.datetime.fromisoformat(text) if text else None
