"""One structured log line per invite outcome, with the attendee's address masked."""

from __future__ import annotations

import json
import logging

LOGGER_NAME = "cis"


def mask_address(address: str | None) -> str | None:
    """Keep enough of an address to tell attendees apart in logs, not enough to harvest it."""
    if not address or "@" not in address:
        return address and "***"
    local, domain = address.rsplit("@", 1)
    return f"{local[:1]}***@{domain}"


def log_outcome(
    logger: logging.Logger,
    *,
    outcome: str,
    message_id: str,
    event_uid: str | None,
    address: str | None,
    reason: str | None = None,
    level: int = logging.INFO,
) -> None:
    """Write the line operators search for: which event, what happened, and why."""
    fields = {
        "message": "invite outcome",
        "outcome": outcome,
        "message_id": message_id,
        "event_uid": event_uid,
        "attendee": mask_address(address),
    }
    if reason:
        fields["reason"] = reason
    logger.log(level, json.dumps(fields, ensure_ascii=False))
