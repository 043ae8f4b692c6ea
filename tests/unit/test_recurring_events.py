"""Recurring events: RRULE and EXDATE, checked, written, expanded alike by independent readers.

The occurrences a reader sees are computed here without cis: vobject reads the calendar and
its VTIMEZONE, and python-dateutil expands the RRULE from the DTSTART it read, in that
VTIMEZONE, then leaves out the EXDATEs it read. They must be the instants the organiser meant:
the wall-clock time of dtstart on each day, in the event's zone, across clock changes.
"""

from __future__ import annotations

import datetime as dt
import email
import json
from email import policy
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import vobject
from dateutil import rrule as dateutil_rrule

from cis.domain.model import Event, Invitee, Standing
from cis.domain.recurrence import event_series
from cis.domain.rendering.ical import render_calendar
from cis.domain.rendering.imip import compose_invitation
from cis.domain.rendering.invitation_template import InvitationTemplate
from cis.errors import InvalidRequestError
from cis.messages.invite_format import encode_request, parse_body
from cis.messages.invite_validator import MessageProblems, validate_event
from tests.support import FROZEN_NOW, RSVP_EMAIL, SENDER, body, event_json, sample_event

BERLIN = ZoneInfo("Europe/Berlin")
ANN = Invitee("ann@example.org", name="Ann")
# Mondays at 10:00 in Berlin from 8 March 2027: the clocks go forward on 28 March.
WEEKLY = {"dtstart": "2027-03-08T10:00:00", "dtend": "2027-03-08T11:00:00",
          "timezone": "Europe/Berlin", "rrule": "FREQ=WEEKLY;BYDAY=MO;COUNT=10"}


def event_of(**fields: Any) -> Event:
    return parse_body(body("ann@example.org", **{**WEEKLY, **fields})).event


def refusal(**fields: Any) -> tuple[str, str]:
    with pytest.raises(InvalidRequestError) as caught:
        parse_body(body("ann@example.org", **{**WEEKLY, **fields}))
    return caught.value.field, caught.value.reason


def calendar_text(event: Event, standing: Standing = Standing.INVITED) -> str:
    return render_calendar(event, ANN, rsvp_email=RSVP_EMAIL, dtstamp=FROZEN_NOW,
                           standing=standing).decode()


def read_occurrences(text: str) -> list[dt.datetime]:
    """The occurrences a calendar reader sees, computed by vobject and dateutil alone."""
    calendar = vobject.readOne(text)
    vevent = calendar.vevent
    zone = calendar.vtimezone.gettzinfo() if "vtimezone" in calendar.contents else None

    def value(prop: Any) -> dt.datetime | dt.date:
        read = prop.value
        if isinstance(read, dt.datetime) and "X-VOBJ-ORIGINAL-TZID" in prop.params:
            return read.replace(tzinfo=zone)
        return read  # type: ignore[no-any-return]

    start = value(vevent.dtstart)
    if not isinstance(start, dt.datetime):  # an all-day event: dates, as datetimes to expand
        start = dt.datetime.combine(start, dt.time())
    rule = dateutil_rrule.rrulestr(vevent.rrule.value, dtstart=start)
    left_out = set()
    for prop in vevent.contents.get("exdate", []):
        for moment in prop.value:
            if "TZID" in prop.params:  # vobject resolves it in a registry of its own
                moment = moment.replace(tzinfo=zone)
            left_out.add(moment if isinstance(moment, dt.datetime)
                         else dt.datetime.combine(moment, dt.time()))
    return [moment for moment in rule if moment not in left_out]


def test_a_weekly_series_across_a_clock_change_reads_as_ten_o_clock_every_monday() -> None:
    event = event_of(exdates=["2027-03-29T10:00:00"])
    text = calendar_text(event)
    assert "RRULE:FREQ=WEEKLY;COUNT=10;BYDAY=MO\r\n" in text
    assert "EXDATE;TZID=Europe/Berlin:20270329T100000\r\n" in text
    read = read_occurrences(text)
    mondays = [dt.datetime(2027, 3, 8, 10, tzinfo=BERLIN) + dt.timedelta(weeks=n)
               for n in range(10) if n != 3]
    assert [moment.astimezone(dt.UTC) for moment in read] == [
        moment.astimezone(dt.UTC) for moment in mondays]
    # Before the change 09:00 UTC, after it 08:00 UTC: the wall clock is what repeats.
    assert {moment.astimezone(dt.UTC).hour for moment in read} == {8, 9}


def test_dateutil_expands_the_rule_in_the_zone_as_cis_does() -> None:
    event = event_of()
    series = event_series(event)
    assert series is not None
    expected = list(dateutil_rrule.rrulestr(
        "FREQ=WEEKLY;BYDAY=MO;COUNT=10", dtstart=dt.datetime(2027, 3, 8, 10, tzinfo=BERLIN)))
    assert list(series.starts) == expected


def test_the_bodies_say_the_rule_in_words_with_the_dates_left_out() -> None:
    event = event_of(exdates=["2027-03-29T10:00:00", "2027-04-12T10:00:00"])
    invitation = compose_invitation(event, ANN, sender=SENDER, rsvp_email=RSVP_EMAIL,
                                    now=FROZEN_NOW, email_id="m")
    message = email.message_from_bytes(invitation.data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    said = "Every Monday, 10 times, except Mon 29 Mar 2027, Mon 12 Apr 2027"
    plain = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    html = next(p for p in message.walk() if p.get_content_type() == "text/html")
    assert f"Repeats: {said}\r\n" in plain.get_content()  # type: ignore[union-attr]
    assert f"<strong>Repeats:</strong> {said}</p>" in html.get_content()  # type: ignore[union-attr]


@pytest.mark.parametrize(("rrule", "dtstart", "words"), [
    ("FREQ=DAILY;COUNT=5", "2027-03-08T10:00:00", "Every day, 5 times"),
    ("FREQ=DAILY;INTERVAL=3;COUNT=1", "2027-03-08T10:00:00", "Every 3 days, once"),
    ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;UNTIL=20270331T215959Z", "2027-03-08T10:00:00",
     "Every weekday (Monday to Friday), until Wed 31 Mar 2027"),
    ("FREQ=WEEKLY;INTERVAL=2;BYDAY=TH,MO;COUNT=4", "2027-03-08T10:00:00",
     "Every 2 weeks on Monday and Thursday, 4 times"),
    ("FREQ=MONTHLY;BYMONTHDAY=8;COUNT=3", "2027-03-08T10:00:00",
     "Every month on day 8, 3 times"),
    ("FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=3", "2027-03-31T10:00:00",
     "Every month on the last day, 3 times"),
    ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=2;COUNT=3", "2027-03-08T10:00:00",
     "Every month on the second Monday, 3 times"),
    ("FREQ=MONTHLY;INTERVAL=3;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=2", "2027-03-31T10:00:00",
     "Every 3 months on the last weekday, 2 times"),
    ("FREQ=YEARLY;COUNT=3", "2027-03-08T10:00:00", "Every year on 8 March, 3 times"),
    ("FREQ=YEARLY;BYMONTH=11;BYDAY=TH;BYSETPOS=4;COUNT=3", "2027-11-25T10:00:00",
     "Every year on the fourth Thursday of November, 3 times"),
])
def test_each_kind_of_rule_is_said_in_words_and_read_alike_by_dateutil(
    rrule: str, dtstart: str, words: str,
) -> None:
    start = dt.datetime.fromisoformat(dtstart)
    event = event_of(rrule=rrule, dtstart=dtstart,
                     dtend=(start + dt.timedelta(hours=1)).isoformat())
    from cis.domain.rendering.recurrence_text import repeats_text

    assert repeats_text(event) == words
    series = event_series(event)
    assert series is not None
    assert list(series.starts) == list(dateutil_rrule.rrulestr(
        rrule, dtstart=start.replace(tzinfo=BERLIN)))
    assert read_occurrences(calendar_text(event)) == list(series.starts)


def test_an_all_day_series_is_dates_throughout() -> None:
    event = parse_body(body("ann@example.org", dtstart="2027-05-01", dtend="2027-05-02",
                            timezone=None, rrule="FREQ=WEEKLY;BYDAY=SA;UNTIL=20270529",
                            exdates=["2027-05-15"])).event
    text = calendar_text(event)
    assert "DTSTART;VALUE=DATE:20270501\r\n" in text
    assert "RRULE:FREQ=WEEKLY;UNTIL=20270529;BYDAY=SA\r\n" in text
    assert "EXDATE;VALUE=DATE:20270515\r\n" in text
    assert "VTIMEZONE" not in text
    assert read_occurrences(text) == [dt.datetime(2027, 5, day) for day in (1, 8, 22, 29)]


def test_a_series_in_utc_repeats_in_utc() -> None:
    event = parse_body(body("ann@example.org", dtstart="2027-03-08T09:00:00Z",
                            dtend="2027-03-08T10:00:00Z", timezone=None,
                            rrule="FREQ=DAILY;COUNT=3",
                            exdates=["2027-03-09T09:00:00+00:00"])).event
    text = calendar_text(event)
    assert "EXDATE:20270309T090000Z\r\n" in text
    assert [m.astimezone(dt.UTC) for m in read_occurrences(text)] == [
        dt.datetime(2027, 3, 8, 9, tzinfo=dt.UTC), dt.datetime(2027, 3, 10, 9, tzinfo=dt.UTC)]


def test_the_vtimezone_covers_a_series_through_a_change_of_the_zone_s_rules() -> None:
    # Brazil moved the start of summer time in 2018 and gave it up in 2019: a weekly series
    # from 2017 to 2020 needs every one of those years described, one change at a time.
    event = parse_body(body(
        "ann@example.org", dtstart="2017-06-05T10:00:00", dtend="2017-06-05T11:00:00",
        timezone="America/Sao_Paulo", rrule="FREQ=WEEKLY;BYDAY=MO;UNTIL=20200601T130000Z")).event
    read = read_occurrences(calendar_text(event))
    zone = ZoneInfo("America/Sao_Paulo")
    expected = [dt.datetime(2017, 6, 5, 10, tzinfo=zone) + dt.timedelta(weeks=n)
                for n in range(157)]
    assert [m.astimezone(dt.UTC) for m in read] == [m.astimezone(dt.UTC) for m in expected]


@pytest.mark.parametrize("standing", list(Standing))
def test_the_template_renders_a_series_byte_for_byte(standing: Standing) -> None:
    event = event_of(exdates=["2027-03-29T10:00:00"], sequence=3)
    template = InvitationTemplate(event, sender=SENDER, rsvp_email=RSVP_EMAIL, standing=standing)
    expected = compose_invitation(event, ANN, sender=SENDER, rsvp_email=RSVP_EMAIL,
                                  now=FROZEN_NOW, email_id="m", standing=standing)
    assert template.render(ANN, now=FROZEN_NOW, email_id="m") == expected
    assert template.fallbacks == 0


def test_a_rule_is_read_in_any_case_and_written_as_outlook_writes_it() -> None:
    event = event_of(rrule="byday=mo;count=10;freq=weekly;wkst=su")
    assert event.rrule == "FREQ=WEEKLY;COUNT=10;BYDAY=MO;WKST=SU"


def test_a_series_travels_in_a_body_and_back() -> None:
    request = parse_body(body("ann@example.org", **WEEKLY,
                              exdates=["2027-03-29T10:00:00", 1807516800]))
    written = json.loads(encode_request(request))["event"]
    assert written["rrule"] == "FREQ=WEEKLY;COUNT=10;BYDAY=MO"
    assert written["exdates"] == ["2027-03-29T10:00:00", "2027-04-12T10:00:00"]
    assert parse_body(encode_request(request)) == request


@pytest.mark.parametrize(("fields", "field", "reason"), [
    ({"rrule": "FREQ=HOURLY;COUNT=3"}, "event.rrule",
     "FREQ: HOURLY is not taken: an invitation repeats daily at most"),
    ({"rrule": "FREQ=WEEKLY;BYDAY=MO"}, "event.rrule",
     "must end: give COUNT (at most 999) or UNTIL, at most ten years after dtstart"),
    ({"rrule": "FREQ=WEEKLY;BYDAY=MO;COUNT=3;UNTIL=20270501T000000Z"}, "event.rrule",
     "COUNT: not with UNTIL"),
    ({"rrule": "FREQ=WEEKLY;BYDAY=XX;COUNT=3"}, "event.rrule",
     "BYDAY: 'XX' is not a day of the week (MO, TU, WE, TH, FR, SA, SU)"),
    ({"rrule": "FREQ=MONTHLY;BYDAY=2MO;COUNT=3"}, "event.rrule",
     "BYDAY: 2MO: write the week of the month as BYSETPOS, the form Outlook reads: "
     "BYDAY=MO;BYSETPOS=2"),
    ({"rrule": "FREQ=MONTHLY;BYMONTHDAY=31;COUNT=3"}, "event.rrule",
     "BYMONTHDAY: 31 is not in every month"),
    ({"rrule": "FREQ=DAILY;BYHOUR=9;COUNT=3"}, "event.rrule", "BYHOUR: not taken"),
    ({"rrule": "FREQ=DAILY;COUNT=1000"}, "event.rrule", "COUNT: must be 1 to 999"),
    ({"rrule": "RRULE:FREQ=DAILY;COUNT=3"}, "event.rrule",
     "write the rule's value alone, without RRULE:"),
    ({"rrule": "FREQ=DAILY;;COUNT=3"}, "event.rrule", "holds an empty part"),
    ({"rrule": "FREQ=DAILY;COLOR=red;COUNT=3"}, "event.rrule",
     "COLOR: is not a part of an RRULE"),
    ({"rrule": "FREQ=DAILY;COUNT=3;UNTIL=20270501"}, "event.rrule", "COUNT: not with UNTIL"),
    ({"rrule": "FREQ=DAILY;UNTIL=20270501"}, "event.rrule",
     "UNTIL: must be a UTC time (20270501T215959Z) for an event with times"),
    ({"rrule": "FREQ=DAILY;UNTIL=20270230T000000Z"}, "event.rrule",
     "UNTIL: '20270230T000000Z' is not a date or time that exists"),
    ({"rrule": "FREQ=WEEKLY;BYDAY=TU;COUNT=3"}, "event.rrule",
     "dtstart (Mon 8 Mar 2027) is not an occurrence of the rule"),
    ({"rrule": "FREQ=DAILY;UNTIL=20270301T000000Z"}, "event.rrule", "UNTIL: is before dtstart"),
    ({"rrule": "FREQ=DAILY;COUNT=999", "dtstart": "2027-03-08T02:30:00",
      "dtend": "2027-03-08T03:00:00"}, "event.rrule",
     "the occurrence on Sun 28 Mar 2027 at 02:30 falls in the hour Europe/Berlin's clocks "
     "skip"),
    ({"rrule": "FREQ=WEEKLY;BYDAY=SU;COUNT=40", "dtstart": "2027-03-07T02:30:00",
      "dtend": "2027-03-07T03:00:00"}, "event.rrule",
     "the occurrence on Sun 28 Mar 2027 at 02:30 falls in the hour"),
    ({"rrule": "FREQ=WEEKLY;BYDAY=SU;COUNT=40", "dtstart": "2027-10-03T02:30:00",
      "dtend": "2027-10-03T03:00:00"}, "event.rrule",
     "the occurrence on Sun 31 Oct 2027 at 02:30 falls in the hour Europe/Berlin's clocks "
     "show twice"),
    ({"rrule": "FREQ=YEARLY;COUNT=12"}, "event.rrule",
     "lasts past Sun 8 Mar 2037: a series may last at most ten years"),
    ({"rrule": "FREQ=DAILY;COUNT=3", "dtend": "2027-03-09T12:00:00"}, "event.dtend",
     "a recurring event must end before its next occurrence starts"),
    ({"exdates": ["2027-03-30T10:00:00"]}, "event.exdates.0",
     "2027-03-30T10:00:00+02:00 is not an occurrence of the rule"),
    ({"exdates": ["2027-03-29T10:00:00", "2027-03-29T08:00:00Z"]}, "event.exdates.1",
     "2027-03-29T10:00:00+02:00 is given twice"),
    ({"rrule": "FREQ=DAILY;COUNT=2", "exdates": ["2027-03-08T10:00:00", "2027-03-09T10:00:00"]},
     "event.exdates", "leaves out every occurrence"),
    ({"rrule": None, "exdates": ["2027-03-08T10:00:00"]}, "event.exdates",
     "are only for a recurring event: give rrule too"),
    ({"exdates": "2027-03-29T10:00:00"}, "event.exdates", "must be an array"),
    ({"exdates": ["next monday"]}, "event.exdates.0", "not an ISO 8601 time"),
    ({"exdates": ["2027-03-29T10:00:00"] * 1001}, "event.exdates",
     "must hold at most 1000 dates"),
    ({"exdates": ["2027-03-29T10:00:00"], "timezone": None, "dtstart": "2027-03-08T09:00:00Z",
      "dtend": "2027-03-08T10:00:00Z"}, "event.exdates.0",
     "exdate has no UTC offset, so `timezone` is required"),
])
def test_a_rule_or_exception_calendars_would_read_differently_is_refused_by_name(
    fields: dict[str, Any], field: str, reason: str,
) -> None:
    got_field, got_reason = refusal(**fields)
    assert got_field == field
    assert got_reason.startswith(reason), got_reason


@pytest.mark.parametrize(("fields", "reason"), [
    ({"rrule": "FREQ=DAILY;UNTIL=20270510T000000Z"}, "UNTIL: must be a date (20270501)"),
    ({"rrule": "FREQ=DAILY;COUNT=3", "exdates": ["2027-05-02T00:00:00Z"]},
     "must be a date (2027-05-08), as dtstart is: an all-day event"),
])
def test_an_all_day_series_takes_dates_only(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_body(body("ann@example.org", dtstart="2027-05-01", dtend="2027-05-02",
                        timezone=None, **fields))
    assert caught.value.reason.startswith(reason)


def test_event_json_takes_a_series_as_a_message_does() -> None:
    event = validate_event(event_json(**WEEKLY, exdates=["2027-03-29T10:00:00"]))
    assert event == event_of(exdates=["2027-03-29T10:00:00"])
    with pytest.raises(MessageProblems) as caught:
        validate_event(event_json(**{**WEEKLY, "rrule": "FREQ=WEEKLY"}))
    assert caught.value.field == "event.rrule"


def test_a_library_caller_s_series_is_checked_as_the_parser_checks_it() -> None:
    start = dt.datetime(2027, 3, 8, 10, tzinfo=BERLIN)
    event = sample_event(start=start, end=start + dt.timedelta(hours=1),
                         timezone="Europe/Berlin", rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=3")
    with pytest.raises(ValueError, match="is not an occurrence of the rule"):
        render_calendar(event, ANN, rsvp_email=RSVP_EMAIL, dtstamp=FROZEN_NOW)
    with pytest.raises(ValueError, match="are only for a recurring event"):
        render_calendar(sample_event(exdates=(start,)), ANN, rsvp_email=RSVP_EMAIL,
                        dtstamp=FROZEN_NOW)
