"""An event as the `event` object of message format v1: how stores keep an event's version.

Stores write the newest version of each event (`cis.domain.events.EventRecord`) as this JSON
text and read it back through the same validator as a queue body, so a stored event means
exactly what the request that carried it meant.
"""

from __future__ import annotations

import json

from cis.domain.model import Event
from cis.messages.invite_format import event_object
from cis.messages.invite_validator import MessageProblems, validate_event

__all__ = ["event_from_text", "event_text"]


def event_text(event: Event) -> str:
    """The event's v1 `event` object, as a queue body carries it, in compact JSON text."""
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
