"""An event as the `event` object of message format v1: how stores keep an event's version.

Stores write the newest version of each event (`cis.domain.events.EventRecord`) as this JSON
text and read it back through the same validator as a queue body, so a stored event means
exactly what the request that carried it meant.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

from cis.domain.model import Event
from cis.messages.invite_validator import MessageProblems, validate_event

__all__ = ["event_from_text", "event_object", "event_text"]


def event_object(event: Event) -> dict[str, Any]:
    """The v1 `event` object of `event`; fields without a value are left out."""
    fields: dict[str, Any] = {
        "uid": event.uid,
        "summary": event.summary,
        "description": event.description,
        "description_html": event.description_html,
        "dtstart": _iso(event.start, event.timezone),
        "dtend": _iso(event.end, event.timezone),
        "timezone": event.timezone,
        "location": event.location,
        "organizer": event.organizer,
        "mailto": event.mailto,
        "sequence": event.sequence,
        "status": str(event.status),
    }
    return {key: value for key, value in fields.items() if value is not None}


def event_text(event: Event) -> str:
    """`event_object` as compact JSON text."""
    return json.dumps(event_object(event), ensure_ascii=False, separators=(",", ":"))


def event_from_text(text: str) -> Event:
    """The event stored as `event_text`.

    Raises:
        ValueError: the text is not a v1 event (the store holds something cis did not write).

    """
    try:
        return validate_event(json.loads(text))
    except (ValueError, MessageProblems) as exc:
        raise ValueError(f"stored event is not a v1 event: {exc}") from exc


def _iso(value: dt.datetime, timezone: str | None) -> str:
    """The instant in the event's zone (else UTC), with its offset.

    Exact also in the hour clocks repeat when they go back, where a wall-clock time alone
    names two instants.
    """
    zone = ZoneInfo(timezone) if timezone else dt.UTC
    return value.astimezone(zone).isoformat()
