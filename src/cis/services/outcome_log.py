"""One structured log record per outcome, with every address in it masked.

The record's fields travel as `extra=` attributes: Lambda's JSON log format writes each of them
as a field of the JSON line, so Logs Insights filters on `outcome` or `event_uid` without
`parse`. The message repeats them as `key=value` text, so a plain formatter (the `cis` command,
another host) prints a line that reads on its own.
"""

from __future__ import annotations

import json
import logging
import re

__all__ = [
    "LOGGER_NAME", "MAX_FIELD_CHARS", "log_outcome", "mask_address", "mask_addresses",
]

LOGGER_NAME = "cis"
MAX_FIELD_CHARS = 1000
"""Characters of one field (a reason, a uid) a log record keeps; the rest is counted, not kept.

A rejection's reason can quote what the body held, and a mail system's error can be long: a
record stays one readable line whatever a caller sent."""

# A run of characters that can form an address part: no white space, brackets, quotes or
# separators a message puts around an address. The look-behind lets a match start only where
# such a run starts, so a long run without an @ is scanned once, not once per character.
_PART = r"[^\s<>()\[\]{}\"'`,;:@]"
_ADDRESS = re.compile(rf"(?<!{_PART})({_PART}+)@({_PART}+)")
_PLAIN_VALUE = re.compile(r"[\w.@*:#+=/-]+")


def mask_address(address: str | None) -> str | None:
    """Keep enough of an address to tell attendees apart in logs, not enough to harvest it."""
    if not address or "@" not in address:
        return address and "***"
    local, domain = address.rsplit("@", 1)
    return f"{local[:1]}***@{domain}"


def mask_addresses(text: str) -> str:
    """`text` with every address in it masked as `mask_address` masks one.

    A mail system's error quotes the recipient (`Address blacklisted: ann@example.org`), and a
    rejection can quote the address a body held: such text is masked before it is logged.
    """
    return _ADDRESS.sub(lambda found: f"{found.group(1)[:1]}***@{found.group(2)}", text)


def log_outcome(
    logger: logging.Logger,
    *,
    outcome: str,
    message_id: str,
    event_uid: str | None,
    address: str | None,
    reason: str | None = None,
    level: int = logging.INFO,
    flow: str = "invite",
    delivery_id: str | None = None,
    sent_as: str | None = None,
) -> None:
    """Write the record operators search for: which flow and event, what happened, and why.

    Fields: `flow` (`invite`, `reply`), `outcome`, `message_id` (the queue's id), `event_uid`,
    `attendee` (masked), and when known `sent_as` (what a sent message was), `delivery_id` (the
    mail system's id) and `reason` (addresses masked). Each is at most `MAX_FIELD_CHARS` long.
    """
    fields = {
        "flow": flow,
        "outcome": outcome,
        "message_id": message_id,
        "event_uid": event_uid,
        "attendee": mask_address(address),
        "sent_as": sent_as,
        "delivery_id": delivery_id,
        "reason": mask_addresses(reason) if reason else None,
    }
    kept = {name: _bounded(value) for name, value in fields.items() if value is not None}
    text = " ".join(f"{name}={_quoted(value)}" for name, value in kept.items()
                    if name not in ("flow", "outcome"))
    logger.log(level, "%s %s: %s", flow, outcome, text, extra=kept)


def _bounded(value: str) -> str:
    if len(value) <= MAX_FIELD_CHARS:
        return value
    return f"{value[:MAX_FIELD_CHARS]}... ({len(value) - MAX_FIELD_CHARS} more characters)"


def _quoted(value: str) -> str:
    """The value as is when it is one plain word, else as a JSON string (one line, escaped)."""
    if _PLAIN_VALUE.fullmatch(value):
        return value
    return json.dumps(value, ensure_ascii=False)
