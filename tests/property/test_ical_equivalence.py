"""The domain's own iCalendar writer, byte for byte the icalendar-based one cis used before.

`tests/reference_ical.py` is that writer, kept as it was (for VTIMEZONEs, icalendar writing
the zone rules the domain derives). Whole calendars, REQUEST and CANCEL, are compared on
fuzzed events (any caller text, any zone, times near offset changes), every VTIMEZONE on every
zone zoneinfo knows for years from 1900 to 9998, and each value format on its own against
the icalendar type it replaces, over many more inputs than whole calendars can afford.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from icalendar import (
    Parameters,
    vCalAddress,
    vDatetime,
    vDuration,
    vInt,
    vText,
    vUri,
    vUTCOffset,
)
from icalendar.parser import Contentline, Contentlines
from icalendar.timezone.tzid import get_equivalent_tzids

from cis.domain.model import Event, EventStatus, Invitee, PartStat, Role, Standing
from cis.domain.rendering import ical_lines
from cis.domain.rendering.ical import WRITTEN_AS_UTC, render_calendar
from cis.domain.rendering.vtimezone import vtimezone_for
from tests import reference_ical
from tests.property.test_invitation_properties import (
    ZONES,
    addresses,
    all_day_times,
    caller_text,
    event_times,
    links,
    nasty_text,
    reminders,
    series_for,
)
from tests.support import FROZEN_NOW, RSVP_EMAIL

UTC = dt.UTC
# Addresses no validator would pass: line breaks, non-ASCII, no `@`.
odd_addresses = nasty_text | st.sampled_from(
    ["r@ex.org\r\nBcc: x@y.org", "a\nb@ex.org", "bücher@bücher.de", "no-at-sign", ""])
uids = st.sampled_from(["launch-2026", "C:\\New\\N;,x", "a\\Nb", "a\r\nb\rc"]) | caller_text
stamps = st.datetimes(
    min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(9999, 12, 30),
    timezones=st.just(UTC) | st.sampled_from(ZONES).map(zoneinfo.ZoneInfo),
)
sequences = st.integers(0, 1000) | st.integers(-(2**31), 2**31 - 1)
# Now and then one fault, so that most calendars are written and compared byte for byte.
now_and_then = st.sampled_from([False] * 9 + [True])


Calendar = tuple[Event, Invitee, str, dt.datetime, Standing]


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    """Everything `render_calendar` takes, each part fuzzed, now and then out of bounds."""
    start, end, zone = draw(event_times())
    if draw(now_and_then):  # sub-second times, and ends at or before the start
        start += dt.timedelta(microseconds=draw(st.integers(0, 999_999)))
        end = start + dt.timedelta(microseconds=draw(st.integers(-2_000_000, 2_000_000)))
    tzinfo = zoneinfo.ZoneInfo(zone) if zone else UTC
    event = Event(
        uid=draw(uids),
        summary=draw(caller_text),
        start=start.astimezone(tzinfo),
        end=end.astimezone(tzinfo),
        organizer=draw(caller_text),
        mailto="organiser@example.org",
        timezone=zone,
        description=draw(st.none() | caller_text),
        location=draw(st.none() | caller_text),
        sequence=draw(st.integers() if draw(now_and_then) else sequences),
        status=draw(st.sampled_from(EventStatus)),
        url=draw(st.none() | links),
        reminder_minutes=draw(st.none() | reminders),
    )
    if draw(st.integers(0, 4)) == 0:
        event = replace(event, **draw(all_day_times()))
    if draw(st.integers(0, 2)) == 0:
        event = replace(event, **series_for(draw, event))
    invitee = Invitee(email=draw(odd_addresses if draw(now_and_then) else addresses),
                      name=draw(st.none() | caller_text),
                      partstat=draw(st.sampled_from(PartStat)),
                      role=draw(st.sampled_from(Role)))
    rsvp_email = draw(odd_addresses if draw(now_and_then) else
                      st.sampled_from([RSVP_EMAIL, "r@ex.org"]) | addresses)
    return event, invitee, rsvp_email, draw(stamps), draw(st.sampled_from(Standing))


def outcome(render: Callable[..., bytes], *args: object, **kwargs: object) -> object:
    """The bytes, or the error: its type, and its message where it does not name a position."""
    try:
        return render(*args, **kwargs)
    except UnicodeEncodeError:
        return UnicodeEncodeError
    except (ValueError, OverflowError) as exc:
        return type(exc), str(exc)


def zoned(zone: str, start: dt.datetime, **overrides: object) -> Event:
    values: dict[str, object] = {
        "uid": "u", "summary": "s", "start": start.astimezone(zoneinfo.ZoneInfo(zone)),
        "end": (start + dt.timedelta(hours=1)).astimezone(zoneinfo.ZoneInfo(zone)),
        "organizer": "Smith, John", "mailto": "o@example.org", "timezone": zone,
    }
    values.update(overrides)
    return Event(**values)  # type: ignore[arg-type]


ANN = Invitee(email="ann@example.org", name="Ann Lee")
SUMMER_2026 = dt.datetime(2026, 6, 1, 9, tzinfo=UTC)


def case(event: Event, invitee: Invitee = ANN, rsvp_email: str = RSVP_EMAIL,
         standing: Standing = Standing.INVITED) -> Calendar:
    return event, invitee, rsvp_email, FROZEN_NOW, standing


@settings(max_examples=400, deadline=None)
# Zones icalendar takes for UTC: times in them are written with Z, the VTIMEZONE still sent.
@example(calendar=case(zoned("Africa/Abidjan", SUMMER_2026)))
@example(calendar=case(zoned("Etc/UTC", SUMMER_2026)))
@example(calendar=case(zoned("Iceland", SUMMER_2026)))
@example(calendar=case(zoned("Europe/London", SUMMER_2026)))
@example(calendar=case(zoned("Europe/Dublin", dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC))))
@example(calendar=case(zoned("Africa/Casablanca", dt.datetime(2025, 3, 1, tzinfo=UTC))))
@example(calendar=case(zoned("Australia/Lord_Howe", SUMMER_2026)))
@example(calendar=case(zoned("America/Sao_Paulo", dt.datetime(2019, 1, 15, tzinfo=UTC))))
@example(calendar=case(zoned("Pacific/Kiritimati", dt.datetime(9998, 12, 31, 9, tzinfo=UTC))))
@example(calendar=case(zoned("Africa/Monrovia", dt.datetime(1971, 6, 1, tzinfo=UTC))))
# TEXT that icalendar's own escaping would change, and folds inside escapes and characters.
@example(calendar=case(zoned("Europe/Berlin", SUMMER_2026, uid="C:\\New\\N;,", summary="\\N"
                             * 40, description="é" * 100, location="😀" * 30 + "\\" * 80)))
@example(calendar=case(zoned("Europe/Berlin", SUMMER_2026, organizer="a\u2019b:c^d\"e " * 9),
                       Invitee(email="ann@example.org", name="O'Neil; ^ \"x\" " * 8)))
# A leading byte order mark, which icalendar dropped from a value (once).
@example(calendar=case(zoned("Europe/Berlin", SUMMER_2026, uid="\ufeff\ufeffx")))
# Faults, each refused the same way.
@example(calendar=case(zoned("Europe/Berlin", SUMMER_2026, summary="\ud800")))
@example(calendar=case(zoned("Europe/Berlin", SUMMER_2026, uid="\udfff")))
@example(calendar=case(zoned("Europe/Berlin", SUMMER_2026), rsvp_email="r@ex.org\r\nBcc: x"))
@example(calendar=case(zoned("Europe/Berlin", SUMMER_2026, sequence=2**31)))
@example(calendar=case(zoned("Europe/Berlin", SUMMER_2026, sequence=-(2**31))))
@example(calendar=case(zoned("Europe/Berlin", SUMMER_2026), Invitee(email="a\nb@ex.org")))
@example(calendar=case(zoned("Europe/Berlin", SUMMER_2026, end=SUMMER_2026)))
# A weekly series across a clock change with an exception, and one whose zone's rules change
# within its span (Brazil, 2017 to 2020): the VTIMEZONE describes every year of it.
@example(calendar=case(zoned("Europe/Berlin", dt.datetime(2027, 3, 8, 9, tzinfo=UTC),
                             rrule="FREQ=WEEKLY;COUNT=10;BYDAY=MO",
                             exdates=(dt.datetime(2027, 3, 29, 8, tzinfo=UTC),))))
@example(calendar=case(zoned("America/Sao_Paulo", dt.datetime(2017, 6, 5, 13, tzinfo=UTC),
                             rrule="FREQ=WEEKLY;UNTIL=20200601T130000Z;BYDAY=MO")))
# An all-day event: DATE values, no VTIMEZONE.
@example(calendar=case(replace(zoned("Europe/Berlin", SUMMER_2026), timezone=None, all_day=True,
                               start=dt.datetime(2027, 5, 1, tzinfo=UTC),
                               end=dt.datetime(2027, 5, 4, tzinfo=UTC))))
# A link and a reminder: the URL's commas and semicolons are the URI's own, not escaped; the
# VALARM only in a REQUEST.
@example(calendar=case(zoned("Europe/Berlin", SUMMER_2026, url="https://x.example/a,b;c?d=e"
                             + "f" * 80, reminder_minutes=90)))
@example(calendar=case(zoned("Europe/Berlin", SUMMER_2026, url="http://x.example",
                             reminder_minutes=0, sequence=1), standing=Standing.CANCELLED))
# The cancellations: the whole event (STATUS:CANCELLED), and one attendee taken off an event
# that goes on, whatever its own status (no STATUS), both asking for no answer.
@example(calendar=case(zoned("Europe/Berlin", SUMMER_2026, sequence=2,
                             status=EventStatus.CANCELLED), standing=Standing.CANCELLED))
@example(calendar=case(zoned("Europe/Berlin", SUMMER_2026, sequence=2),
                       standing=Standing.CANCELLED))
@example(calendar=case(zoned("Europe/Berlin", SUMMER_2026, sequence=1),
                       standing=Standing.REMOVED))
@example(calendar=case(zoned("Europe/Berlin", SUMMER_2026, status=EventStatus.TENTATIVE),
                       standing=Standing.REMOVED))
@given(calendar=calendars())
def test_a_calendar_is_byte_for_byte_what_the_icalendar_writer_wrote(calendar: Calendar) -> None:
    event, invitee, rsvp_email, dtstamp, standing = calendar
    expected = outcome(reference_ical.render_calendar, event, invitee, rsvp_email=rsvp_email,
                       dtstamp=dtstamp, standing=standing)
    assert outcome(render_calendar, event, invitee, rsvp_email=rsvp_email,
                   dtstamp=dtstamp, standing=standing) == expected


@pytest.mark.parametrize("year", [1900, 1975, 2000, 2026, 2038, 2199, 9998])
def test_every_zone_s_vtimezone_is_byte_for_byte_what_the_icalendar_writer_wrote(
    year: int,
) -> None:
    assert zones_written_otherwise(dt.datetime(year, 6, 15, 12, tzinfo=UTC)) == []


@pytest.mark.parametrize("around", [dt.datetime(2019, 1, 1, 1, 0, tzinfo=UTC),
                                    dt.datetime(2018, 12, 31, 23, 0),
                                    dt.datetime(1969, 7, 1, tzinfo=UTC)])
def test_vtimezones_around_new_year_naive_and_before_1970_match_too(around: dt.datetime) -> None:
    assert zones_written_otherwise(around) == []


def zones_written_otherwise(around: dt.datetime) -> list[str]:
    """The zones whose VTIMEZONE for an event at `around` differs from the reference's."""
    return [
        zone for zone in ZONES
        if vtimezone_for(zone, around).to_ical()
        != reference_ical.vtimezone_for(zone, around).to_ical()
    ]


def test_the_zones_written_as_utc_are_those_icalendar_takes_for_utc() -> None:
    assert set(get_equivalent_tzids("UTC")) == WRITTEN_AS_UTC
    assert [zone for zone in ZONES if zone in WRITTEN_AS_UTC] == [
        zone for zone in ZONES if "UTC" in get_equivalent_tzids(zone)]


# Each value format against the icalendar type it replaces.

any_text = st.text() | nasty_text | st.text("\\^;,:\"' \u2019\r\nNn\u00e9\U0001f600a")


@settings(max_examples=1000, deadline=None)
@given(value=any_text)
def test_text_is_escaped_as_the_reference_escaped_summaries(value: str) -> None:
    assert ical_lines.text(value) == reference_ical._Text(value).to_ical().decode()


@settings(max_examples=1000, deadline=None)
@given(value=any_text)
def test_uid_text_is_escaped_as_icalendar_escapes_text(value: str) -> None:
    assert ical_lines.uid_text(value) == vText(value).to_ical().decode()


@settings(max_examples=1000, deadline=None)
@given(name=st.sampled_from(["CN", "PARTSTAT", "TZID", "ROLE"]), value=any_text)
def test_parameters_are_quoted_and_escaped_as_icalendar_writes_them(name: str, value: str) -> None:
    expected = Parameters({name: value}).to_ical().decode()
    if name == "TZID" and value == "UTC":  # icalendar drops it; cis writes such times with Z
        assert expected == ""
        return
    assert ical_lines.parameter(name, value) == expected


@settings(max_examples=1000, deadline=None)
@given(line=st.builds("{}:{}".format, st.sampled_from(["SUMMARY", "ATTENDEE;CN=x", "X"]),
                      any_text.map(lambda text: text.replace("\r", "").replace("\n", ""))))
def test_lines_are_folded_as_icalendar_folds_them(line: str) -> None:
    assert ical_lines.fold(line.encode()) == Contentline(line).to_ical()
    lines = Contentlines([Contentline(line), Contentline("END:X"), Contentline("")])
    assert ical_lines.serialise([line, "END:X"]) == lines.to_ical()


@settings(max_examples=1000, deadline=None)
@given(offset=st.timedeltas(min_value=dt.timedelta(days=-2), max_value=dt.timedelta(days=2))
       | st.integers(-26 * 3600, 26 * 3600).map(lambda s: dt.timedelta(seconds=s)))
def test_utc_offsets_are_written_as_icalendar_writes_them(offset: dt.timedelta) -> None:
    assert ical_lines.utc_offset(offset) == vUTCOffset(offset).to_ical()


@settings(max_examples=1000, deadline=None)
@given(delta=st.timedeltas(min_value=dt.timedelta(days=-400), max_value=dt.timedelta(days=400))
       | st.integers(-40_320, 40_320).map(lambda minutes: dt.timedelta(minutes=minutes)))
def test_durations_are_written_as_icalendar_writes_them(delta: dt.timedelta) -> None:
    assert ical_lines.duration(delta) == vDuration(delta).to_ical().decode()


@settings(max_examples=300, deadline=None)
@given(value=any_text | links)
def test_uris_are_written_and_refused_as_icalendar_does(value: str) -> None:
    try:
        expected: object = vUri(value).to_ical().decode()
    except ValueError as exc:
        expected = str(exc)
    try:
        actual: object = ical_lines.uri(value)
    except ValueError as exc:
        actual = str(exc)
    assert actual == expected


@settings(max_examples=1000, deadline=None)
@given(moment=st.datetimes(timezones=st.none() | st.just(UTC)))
def test_date_times_are_written_as_icalendar_writes_them(moment: dt.datetime) -> None:
    expected = vDatetime(moment).to_ical().decode()
    assert ical_lines.date_time(moment, utc=moment.tzinfo is not None) == expected


@settings(max_examples=300, deadline=None)
@given(number=st.integers(-(2**31) - 5, 2**31 + 5) | st.integers())
def test_integers_are_written_and_refused_as_icalendar_does(number: int) -> None:
    try:
        expected: object = vInt(number).to_ical().decode()
    except ValueError as exc:
        expected = str(exc)
    try:
        actual: object = ical_lines.integer(number)
    except ValueError as exc:
        actual = str(exc)
    assert actual == expected


@settings(max_examples=300, deadline=None)
@given(address=any_text)
def test_cal_addresses_are_written_and_refused_as_icalendar_does(address: str) -> None:
    try:
        expected: object = vCalAddress(address).to_ical().decode()
    except ValueError as exc:
        expected = str(exc)
    try:
        actual: object = ical_lines.cal_address(address)
    except ValueError as exc:
        actual = str(exc)
    assert actual == expected


@pytest.mark.parametrize("parts", [
    {"FREQ": "YEARLY", "BYMONTH": 3, "BYDAY": "-1SU"},
    {"BYDAY": "4FR", "FREQ": "YEARLY", "BYMONTH": 3},
    {"FREQ": "YEARLY", "BYMONTH": 9, "BYMONTHDAY": 22},
])
def test_rules_are_written_in_the_order_the_reference_wrote(parts: dict[str, str | int]) -> None:
    kwargs = dict(parts)
    expected = reference_ical._RecurInOutlookOrder(**kwargs).to_ical().decode()
    assert ical_lines.recur(parts) == expected
