"""Builders shared by the tests: sample events, bodies, records and a controllable clock."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any

from cis.domain.model import AttendeeKey, Claim, Event, Invitee

SENDER = "{} via Invites <invites@example.com>"
RSVP_EMAIL = "rsvp@example.com"
FROZEN_NOW = dt.datetime(2026, 11, 28, 9, 30, tzinfo=dt.UTC)


def event_json(uid: str = "launch-2026", **overrides: Any) -> dict[str, Any]:
    """A valid v1 `event` object."""
    event: dict[str, Any] = {
        "uid": uid,
        "summary": "Product launch",
        "description": "Agenda:\n1. Demo\n2. Questions",
        "dtstart": "2026-12-01T10:00:00",
        "dtend": "2026-12-01T11:30:00",
        "timezone": "Europe/Berlin",
        "location": "Room 4, Main St. 1",
        "organizer": "Smith, John",
        "mailto": "john.smith@example.org",
    }
    event.update(overrides)
    return event


def body(email: str, *, uid: str = "launch-2026", name: str | None = None,
         origin: str | None = None, **event_overrides: Any) -> str:
    """A valid v1 message body inviting `email`."""
    request: dict[str, Any] = {"uid": uid, "email": email}
    if name is not None:
        request["name"] = name
    if origin is not None:
        request["origin"] = origin
    return json.dumps({"request": request, "event": event_json(uid, **event_overrides)})


def sns_wrapped(inner: str) -> str:
    """The body SQS holds when SNS delivers without raw message delivery."""
    return json.dumps({
        "Type": "Notification",
        "MessageId": "b3f1c0de-0000-4000-8000-000000000001",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:invites",
        "Message": inner,
        "Timestamp": "2026-11-28T09:30:00.000Z",
    })


def sample_event(uid: str = "launch-2026", **overrides: Any) -> Event:
    """A domain event in UTC."""
    values: dict[str, Any] = {
        "uid": uid,
        "summary": "Product launch",
        "start": dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC),
        "end": dt.datetime(2026, 12, 1, 10, 30, tzinfo=dt.UTC),
        "organizer": "Smith, John",
        "mailto": "john.smith@example.org",
    }
    values.update(overrides)
    return Event(**values)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: dt.datetime = FROZEN_NOW) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def counter_ids(prefix: str = "id") -> Any:
    """Deterministic ids: id-1, id-2, ..."""
    numbers = itertools.count(1)
    return lambda: f"{prefix}-{next(numbers)}"


def make_claim(email: str, token: str, now: dt.datetime, *, uid: str = "launch-2026",
               lease_minutes: int = 15, name: str | None = None,
               origin: str | None = None) -> Claim:
    """A claim on one attendee, as the service would make it."""
    return Claim(
        key=AttendeeKey.of(uid, email),
        invitee=Invitee(email=email, name=name, origin=origin),
        token=token,
        now=now,
        lease_expires_at=now + dt.timedelta(minutes=lease_minutes),
    )
