"""One attendee's record as `cis attendee` shows it: readable lines, or every field as JSON.

The JSON takes every field of `AttendeeRecord` as it is, so a field added to the record is
shown without a change here; the text names the fields an operator reads first and lists
any other after them. Text from the store (names, reasons, history sources) is printed with
control characters escaped, so a stored value cannot drive the operator's terminal.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping
from typing import Any

from cis.domain.events import EventRecord
from cis.domain.model import AttendeeRecord, InviteState

__all__ = ["SHOWN_HISTORY", "attendee_json", "attendee_lines", "printable"]

SHOWN_HISTORY = 50
"""History entries the text shows, the latest; --json shows them all."""

_SHOWN_FIRST = frozenset({
    "key", "email", "name", "state", "partstat", "origin", "sequence", "standing",
    "sent_at", "delivery_id", "failure_reason", "history", "last_reply_at", "claim_token",
    "lease_expires_at", "claim_sequence", "answer_sequence", "deliveries",
})
"""The record's fields the text names on lines of their own; any other is listed after."""


def attendee_json(record: AttendeeRecord, event: EventRecord | None) -> dict[str, Any]:
    """Every field of the record, the event's stored version beside it."""
    fields = {field.name: plain(getattr(record, field.name))
              for field in dataclasses.fields(record) if field.name != "key"}
    method = record.method
    return {
        "event_uid": record.key.event_uid,
        "address": record.key.address,
        **fields,
        "method": None if method is None else method.value,
        "event": None if event is None else {
            "sequence": event.sequence, "status": event.event.status.value,
            "summary": event.event.summary},
    }


def attendee_lines(record: AttendeeRecord, event: EventRecord | None) -> list[str]:
    """The record as readable lines: who, where the invitation stands, the answer, history."""
    who = printable(record.email) + (f" ({printable(record.name)})" if record.name else "")
    lines = [f"{who}, attendee of {printable(record.key.event_uid)}"]
    lines.append(_line("state", _state(record)))
    lines.append(_line("version", _version(record, event)))
    answer = str(record.partstat)
    if record.last_reply_at is not None:
        answer += f", answered {_when(record.last_reply_at)}"
    if record.answer_sequence:
        answer += f" (answers count from version {record.answer_sequence})"
    lines.append(_line("RSVP", answer))
    if record.origin:
        lines.append(_line("origin", printable(record.origin)))
    if record.sent_at is not None:
        lines.append(_line("sent at", _when(record.sent_at)))
    if record.delivery_id:
        lines.append(_line("delivery id", printable(record.delivery_id)))
    if record.deliveries:
        status = record.delivery_status
        latest = "no report about the last message" if status is None else status.value
        count = len(record.deliveries)
        lines.append(_line("delivery", f"{latest} ({count} report{'s' * (count != 1)} from "
                                       "the mail system; --json lists them)"))
    if record.failure_reason:
        lines.append(_line("failure", printable(record.failure_reason)))
    for field in dataclasses.fields(record):
        if field.name not in _SHOWN_FIRST:
            value = plain(getattr(record, field.name))
            if value not in (None, "", [], {}, 0):
                lines.append(_line(field.name.replace("_", " "), printable(str(value))))
    lines.extend(_history(record))
    return lines


def printable(text: str) -> str:
    """`text` with control characters (ESC, CR, NUL, ...) written as escapes."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def plain(value: Any) -> Any:
    """A record value as JSON has it: enums by value, times in ISO 8601, tuples as lists."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: plain(getattr(value, field.name))
                for field in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (tuple, list, frozenset, set)):
        return [plain(item) for item in value]
    return value


def _state(record: AttendeeRecord) -> str:
    if record.state is InviteState.CLAIMED:
        until = "" if record.lease_expires_at is None else \
            f" until {_when(record.lease_expires_at)}"
        return (f"claimed for version {record.claim_sequence or 0}{until}: a consumer is "
                "sending it (or died; the claim is taken over when it ends)")
    if record.state is InviteState.RELEASED:
        return "released: the last send failed for a passing reason; a retry sends it"
    if record.state is InviteState.FAILED:
        return "failed: the mail system refused it for good"
    return str(record.state)


def _version(record: AttendeeRecord, event: EventRecord | None) -> str:
    if record.sequence is None or record.standing is None:
        sent = "nothing sent yet"
    else:
        sent = (f"sent version {record.sequence}, {record.standing.value} "
                f"({record.standing.method.value})")
    if event is None:
        return sent
    behind = (" (behind: a fan-out or resend brings it)"
              if record.sequence is not None and record.sequence < event.sequence else "")
    return f"{sent}; the event is at version {event.sequence}{behind}"


def _history(record: AttendeeRecord) -> list[str]:
    entries = record.history
    if not entries:
        return ["  history: none"]
    lines = [f"  history ({len(entries)}):"]
    hidden = len(entries) - SHOWN_HISTORY
    if hidden > 0:
        lines.append(f"    ... {hidden} earlier entr{'y' if hidden == 1 else 'ies'} "
                     "(--json shows all)")
        entries = entries[hidden:]
    for entry in entries:
        lines.append(f"    {_when(entry.at)}  {entry.status!s:<13} "
                     f"{printable(entry.source)}")
    return lines


def _line(label: str, value: str) -> str:
    return f"  {label:<12} {value}"


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")
