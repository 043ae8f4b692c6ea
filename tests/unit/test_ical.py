"""The calendar's TEXT values, names and times, read back as the organiser gave them."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
import vobject

from cis.domain.model import Event, EventStatus, Invitee, PartStat, Standing
from cis.domain.rendering.ical import render_calendar
from cis.domain.rendering.imip import compose_invitation
from cis.domain.rendering.invitation_template import InvitationTemplate
from cis.domain.rendering.vtimezone import vtimezone_for, wall_clock
from tests.support import FROZEN_NOW, RSVP_EMAIL, SENDER, sample_event

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
ANN = Invitee(email="ann@example.org", name="Ann Lee")
# 2026-10-25: Berlin's clocks go back from 03:00 CEST to 02:00 CET at 01:00 UTC.
CLOCKS_GO_BACK = dt.datetime(2026, 10, 25, 1, 0, tzinfo=dt.UTC)


def calendar_lines(event: Event, invitee: Invitee = ANN,
                   standing: Standing = Standing.INVITED) -> list[str]:
    calendar = render_calendar(event, invitee, rsvp_email=RSVP_EMAIL, dtstamp=FROZEN_NOW,
                               standing=standing)
    return calendar.decode("utf-8").replace("\r\n ", "").split("\r\n")


def line(lines: list[str], name: str) -> str:
    """The event's one `name` line (a VTIMEZONE has DTSTART lines of its own)."""
    event = lines[lines.index("BEGIN:VEVENT"):]
    (found,) = [x for x in event if re.match(rf"{name}[;:]", x)]
    return found


def zoned(start: dt.datetime, end: dt.datetime, zone: str = "Europe/Berlin") -> Event:
    return sample_event(start=start, end=end, timezone=zone)


def test_a_backslash_before_n_is_written_as_a_backslash_not_as_a_line_break() -> None:
    lines = calendar_lines(sample_event(summary="C:\\New\\nothing", location="a\\N"))
    assert line(lines, "SUMMARY") == "SUMMARY:C:\\\\New\\\\nothing"
    assert line(lines, "LOCATION") == "LOCATION:a\\\\N"


def test_text_is_escaped_exactly_as_rfc_5545_says() -> None:
    lines = calendar_lines(sample_event(description="a;b,c\\d\ne\tf"))
    assert line(lines, "DESCRIPTION") == "DESCRIPTION:a\\;b\\,c\\\\d\\ne\tf"


def test_vobject_reads_back_text_with_every_escape() -> None:
    text = "C:\\New;\\N, \\\\n\nnext"
    calendar = render_calendar(sample_event(summary=text, description=text), ANN,
                               rsvp_email=RSVP_EMAIL, dtstamp=FROZEN_NOW)
    vevent = vobject.readOne(calendar.decode("utf-8")).vevent
    assert vevent.summary.value == text
    assert vevent.description.value == text


def test_common_names_hold_no_double_quote_or_caret() -> None:
    lines = calendar_lines(sample_event(organizer='"Smith^John"'),
                           Invitee(email="ann@example.org", name='Ann "Lee" ^^'))
    assert line(lines, "ATTENDEE").startswith("ATTENDEE;CN=\"Ann 'Lee' \u02c6\u02c6\";")
    assert line(lines, "ORGANIZER") == "ORGANIZER;CN=\"'Smith\u02c6John'\":mailto:rsvp@example.com"


def test_ordinary_times_are_written_as_the_zone_s_wall_clock() -> None:
    lines = calendar_lines(zoned(CLOCKS_GO_BACK + dt.timedelta(hours=1),
                                 CLOCKS_GO_BACK + dt.timedelta(hours=2)))
    assert line(lines, "DTSTART") == "DTSTART;TZID=Europe/Berlin:20261025T030000"
    assert line(lines, "DTEND") == "DTEND;TZID=Europe/Berlin:20261025T040000"


def test_both_passes_of_the_repeated_hour_are_written_in_utc() -> None:
    first = CLOCKS_GO_BACK - dt.timedelta(minutes=30)  # 02:30 CEST
    second = CLOCKS_GO_BACK + dt.timedelta(minutes=30)  # 02:30 CET
    assert first.astimezone(BERLIN).replace(tzinfo=None) == dt.datetime(2026, 10, 25, 2, 30)
    assert second.astimezone(BERLIN).replace(tzinfo=None) == dt.datetime(2026, 10, 25, 2, 30)
    lines = calendar_lines(zoned(first.astimezone(BERLIN), second.astimezone(BERLIN)))
    assert line(lines, "DTSTART") == "DTSTART:20261025T003000Z"
    assert line(lines, "DTEND") == "DTEND:20261025T013000Z"
    assert "TZID:Europe/Berlin" in lines  # the organiser's zone still travels


def test_a_wall_time_the_clocks_skip_is_written_as_the_instant_python_and_rfc_5545_read() -> None:
    # 02:30 does not happen on 2026-03-29 in Berlin; both read it with the offset before the
    # gap (+01:00), which is 03:30 CEST.
    skipped = dt.datetime(2026, 3, 29, 2, 30, tzinfo=BERLIN)
    lines = calendar_lines(zoned(skipped, dt.datetime(2026, 3, 29, 4, 30, tzinfo=BERLIN)))
    assert line(lines, "DTSTART") == "DTSTART;TZID=Europe/Berlin:20260329T033000"
    assert line(lines, "DTEND") == "DTEND;TZID=Europe/Berlin:20260329T043000"


def test_a_time_outside_the_two_years_the_vtimezone_describes_is_written_in_utc() -> None:
    start = dt.datetime(2026, 12, 1, 10, 0, tzinfo=BERLIN)
    lines = calendar_lines(zoned(start, dt.datetime(2028, 1, 2, 10, 0, tzinfo=BERLIN)))
    assert line(lines, "DTSTART") == "DTSTART;TZID=Europe/Berlin:20261201T100000"
    assert line(lines, "DTEND") == "DTEND:20280102T090000Z"
    in_next_year = calendar_lines(zoned(start, dt.datetime(2027, 7, 1, 10, 0, tzinfo=BERLIN)))
    assert line(in_next_year, "DTEND") == "DTEND;TZID=Europe/Berlin:20270701T100000"


def test_an_event_in_9999_is_described_with_the_year_before() -> None:
    summer = dt.datetime(9999, 6, 1, 12, tzinfo=dt.UTC)
    timezone = vtimezone_for("Europe/Berlin", summer).to_ical().decode()
    assert "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU" in timezone.replace("\r\n ", "")
    assert wall_clock(summer, "Europe/Berlin", summer) == summer.astimezone(BERLIN)
    last = dt.datetime(9999, 12, 31, 23, tzinfo=dt.UTC)
    assert wall_clock(last, "Europe/Berlin", summer) is None  # past 9999 in Berlin


def test_fractions_of_a_second_are_dropped_from_both_ends() -> None:
    start = dt.datetime(2026, 12, 1, 9, 0, 0, 700_000, tzinfo=dt.UTC)
    lines = calendar_lines(sample_event(start=start, end=start + dt.timedelta(minutes=59,
                                                                             seconds=59.5)))
    assert line(lines, "DTSTART") == "DTSTART:20261201T090000Z"
    assert line(lines, "DTEND") == "DTEND:20261201T100000Z"


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (dt.datetime(2026, 12, 1, 9, 0, 0, 100_000, tzinfo=dt.UTC),
         dt.datetime(2026, 12, 1, 9, 0, 0, 900_000, tzinfo=dt.UTC)),
        (dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC), dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)),
        (dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC), dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)),
    ],
)
def test_an_event_that_does_not_end_a_whole_second_after_it_starts_is_rejected_by_both_renderers(
    start: dt.datetime, end: dt.datetime,
) -> None:
    event = sample_event(start=start, end=end)
    message = "must end at least a whole second after it starts"
    with pytest.raises(ValueError, match=message):
        compose_invitation(event, ANN, sender=SENDER, rsvp_email=RSVP_EMAIL, now=FROZEN_NOW,
                           email_id="m")
    with pytest.raises(ValueError, match=message):
        InvitationTemplate(event, sender=SENDER, rsvp_email=RSVP_EMAIL)


# Every message of an invitation's life (RFC 5546): REQUEST, and CANCEL for a cancelled event
# or a removed attendee.


def named(lines: list[str], name: str) -> list[str]:
    return [x for x in lines if re.match(rf"{name}[;:]", x)]


def test_an_update_is_a_request_at_the_event_s_sequence_that_asks_for_an_answer_again() -> None:
    lines = calendar_lines(sample_event(sequence=3))
    assert "METHOD:REQUEST" in lines
    assert line(lines, "SEQUENCE") == "SEQUENCE:3"
    assert line(lines, "STATUS") == "STATUS:CONFIRMED"
    assert line(lines, "ATTENDEE").endswith(";RSVP=TRUE:mailto:ann@example.org")


def test_a_cancelled_event_is_a_cancel_with_status_cancelled_that_asks_for_no_answer() -> None:
    event = sample_event(sequence=2, status=EventStatus.CANCELLED)
    lines = calendar_lines(event, Invitee("ann@example.org", "Ann Lee", PartStat.ACCEPTED),
                           Standing.CANCELLED)
    assert named(lines, "METHOD") == ["METHOD:CANCEL"]
    assert line(lines, "UID") == "UID:launch-2026"
    assert line(lines, "SEQUENCE") == "SEQUENCE:2"
    assert line(lines, "STATUS") == "STATUS:CANCELLED"
    assert line(lines, "ATTENDEE") == (
        'ATTENDEE;CN="Ann Lee";CUTYPE=INDIVIDUAL;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT'
        ";RSVP=FALSE:mailto:ann@example.org")
    assert line(lines, "ORGANIZER") == 'ORGANIZER;CN="Smith, John":mailto:rsvp@example.com'


def test_a_cancellation_says_cancelled_whatever_status_the_event_was_given() -> None:
    lines = calendar_lines(sample_event(sequence=1), standing=Standing.CANCELLED)
    assert line(lines, "STATUS") == "STATUS:CANCELLED"


@pytest.mark.parametrize("status", list(EventStatus))
def test_a_removed_attendee_gets_a_cancel_without_status_for_the_event_goes_on(
    status: EventStatus,
) -> None:
    lines = calendar_lines(sample_event(sequence=1, status=status), standing=Standing.REMOVED)
    assert named(lines, "METHOD") == ["METHOD:CANCEL"]
    assert named(lines, "STATUS") == []
    assert line(lines, "SEQUENCE") == "SEQUENCE:1"
    assert line(lines, "ATTENDEE").endswith(";RSVP=FALSE:mailto:ann@example.org")


@pytest.mark.parametrize("standing", list(Standing))
def test_every_message_of_an_event_keeps_its_uid_times_and_organizer(standing: Standing) -> None:
    event = zoned(dt.datetime(2026, 12, 1, 14, tzinfo=BERLIN),
                  dt.datetime(2026, 12, 1, 15, 30, tzinfo=BERLIN))
    first = calendar_lines(event)
    later = calendar_lines(event, standing=standing)
    for name in ("UID", "DTSTART", "DTEND", "ORGANIZER", "SUMMARY", "SEQUENCE"):
        assert line(later, name) == line(first, name)
    assert "TZID:Europe/Berlin" in later


def test_vobject_reads_a_removal_as_a_cancel_of_the_same_event() -> None:
    event = sample_event(sequence=4)
    invitation = vobject.readOne(render_calendar(
        event, ANN, rsvp_email=RSVP_EMAIL, dtstamp=FROZEN_NOW, standing=Standing.REMOVED,
    ).decode("utf-8"))
    assert invitation.method.value == "CANCEL"
    vevent = invitation.vevent
    assert vevent.uid.value == "launch-2026"
    assert vevent.sequence.value == "4"
    assert "status" not in vevent.contents
    assert vevent.attendee.value == "mailto:ann@example.org"
    assert vevent.attendee.params["RSVP"] == ["FALSE"]
