"""An event's end must come after its start as instants, not as wall-clock readings.

On 2026-03-29 Berlin's clocks jump from 02:00 to 03:00: a wall time in between names no moment
and is read with the offset before the jump (RFC 5545 section 3.3.5), 02:30 as 03:30 CEST. So
02:30 to 03:00 looks like half an hour and is no time at all; such an event passed validation
and then failed to render for every attendee. On 2026-10-25 they go back from 03:00 to 02:00:
02:45 (first pass) to 02:15 (second pass) looks backwards and is half an hour.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from cis.cli.inputs import UsageError, read_event
from cis.domain.model import Invitee
from cis.domain.rendering.imip import compose_invitation
from cis.errors import InvalidRequestError
from cis.messages.invite_format import parse_body, parse_message, parse_message_with_models
from tests.support import FROZEN_NOW, RSVP_EMAIL, SENDER, body, event_json

GAP_DAY = "2026-03-29"


@pytest.mark.parametrize(("dtstart", "dtend", "read_as"), [
    # The start falls in the hour skipped and is read as the end's instant or later.
    ("02:30:00", "03:00:00", "dtstart 2026-03-29T02:30:00 does not exist in Europe/Berlin"),
    ("02:00:00", "03:00:00", "dtstart 2026-03-29T02:00:00 does not exist in Europe/Berlin"),
    ("02:30:00", "03:30:00", "is read as 2026-03-29T03:30:00+02:00"),
    ("02:45:00", "03:10:00", "is read as 2026-03-29T03:45:00+02:00"),
])
def test_an_event_that_ends_when_or_before_it_starts_once_the_gap_is_read_is_refused(
    dtstart: str, dtend: str, read_as: str,
) -> None:
    text = body("ann@example.org", dtstart=f"{GAP_DAY}T{dtstart}", dtend=f"{GAP_DAY}T{dtend}")

    with pytest.raises(InvalidRequestError) as caught:
        parse_message(text)
    with pytest.raises(InvalidRequestError) as by_models:
        parse_message_with_models(text)

    assert caught.value.field == by_models.value.field == "event.dtend"
    assert caught.value.event_uid == "launch-2026"
    assert caught.value.reason.startswith("dtend must be after dtstart: ")
    assert read_as in caught.value.reason
    assert "skip" in caught.value.reason


def test_a_start_in_epoch_seconds_and_an_end_in_the_gap_are_compared_as_instants() -> None:
    # 01:30 UTC is 03:30 CEST; 02:45 in the gap is read as 03:45 CEST: a quarter of an hour.
    request = parse_body(body("ann@example.org", dtstart=1774747800,
                              dtend=f"{GAP_DAY}T02:45:00"))

    assert request.event.end.timestamp() - request.event.start.timestamp() == 15 * 60


def test_an_end_in_the_gap_after_a_start_before_it_is_an_event_and_renders() -> None:
    request = parse_body(body("ann@example.org", dtstart=f"{GAP_DAY}T01:30:00",
                              dtend=f"{GAP_DAY}T02:30:00"))
    invitation = compose_invitation(request.event, Invitee("ann@example.org"), sender=SENDER,
                                    rsvp_email=RSVP_EMAIL, now=FROZEN_NOW, email_id="m1")

    assert request.event.end.timestamp() - request.event.start.timestamp() == 3600
    assert b"DTEND" in invitation.data


def test_an_event_across_the_hour_shown_twice_is_read_as_instants_and_renders() -> None:
    request = parse_body(body("ann@example.org", dtstart="2026-10-25T02:45:00+02:00",
                              dtend="2026-10-25T02:15:00+01:00"))
    invitation = compose_invitation(request.event, Invitee("ann@example.org"), sender=SENDER,
                                    rsvp_email=RSVP_EMAIL, now=FROZEN_NOW, email_id="m1")

    assert request.event.start.astimezone(dt.UTC) == dt.datetime(2026, 10, 25, 0, 45,
                                                                  tzinfo=dt.UTC)
    assert request.event.end.timestamp() - request.event.start.timestamp() == 30 * 60
    assert b"DTSTART" in invitation.data


def test_an_event_file_in_the_gap_is_refused_naming_both_fields(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event_json(dtstart=f"{GAP_DAY}T02:30:00",
                                          dtend=f"{GAP_DAY}T03:00:00")), encoding="utf-8")

    with pytest.raises(UsageError) as caught:
        read_event(path)

    assert str(caught.value).startswith(f"{path}: event.dtend: dtend must be after dtstart: ")
    assert "dtstart 2026-03-29T02:30:00 does not exist in Europe/Berlin" in str(caught.value)


@pytest.mark.parametrize(("dtstart", "dtend"), [
    ("2026-12-01T10:00:00", "2026-12-01T10:00:00"),
    ("2026-12-01T10:00:00", "2026-12-01T09:00:00"),
])
def test_outside_a_clock_change_the_reason_is_the_plain_one(dtstart: str, dtend: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_message(body("ann@example.org", dtstart=dtstart, dtend=dtend))

    assert (caught.value.field, caught.value.reason) == ("event.dtend",
                                                         "dtend must be after dtstart")
