"""VTIMEZONE generation, checked against zoneinfo through two independent readers."""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import re
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
import vobject
from dateutil import rrule

from cis.domain.rendering.vtimezone import VTimezone, vtimezone_for, wall_clock
from cis.domain.zones import iana_names, iana_zone

UTC = dt.UTC
SAMPLE_STEP = dt.timedelta(hours=6)

# (tzid, year of the event): every shape the generator can produce.
CASES = [
    ("Europe/Berlin", 2025),
    ("America/New_York", 2025),
    ("Australia/Sydney", 2025),
    ("Asia/Kolkata", 2025),
    ("UTC", 2025),
    ("America/Sao_Paulo", 2018),  # DST over new year, abolished in 2019
    ("America/Sao_Paulo", 2019),  # last transition ever
    ("America/Sao_Paulo", 2025),
    ("Europe/London", 2025),
    ("Pacific/Chatham", 2025),  # +1245 / +1345
    ("Asia/Tehran", 2020),  # fixed dates that move with leap years
    ("Asia/Tehran", 2021),
    ("Asia/Tehran", 2022),  # DST abolished from 2023
    ("Asia/Tehran", 2025),
    ("Europe/Dublin", 2025),  # tzdata: negative DST in winter
    ("Africa/Casablanca", 2025),  # Ramadan breaks, four changes a year
    ("Australia/Lord_Howe", 2025),  # half-hour DST
    ("America/New_York", 2006),  # US rules changed in 2007
    ("Europe/Istanbul", 2010),  # 2011 start moved to a Monday
    ("Asia/Jerusalem", 2027),  # Friday before the last Sunday: 4th Friday in 2027 and 2028
]

VOBJECT_CASES = [
    ("Europe/Berlin", 2025),
    ("America/New_York", 2025),
    ("Australia/Sydney", 2025),
    ("Asia/Kolkata", 2025),
    ("Pacific/Chatham", 2025),
    ("America/Sao_Paulo", 2019),
    ("Asia/Tehran", 2020),
    ("Africa/Casablanca", 2025),
]


def case_id(case: tuple[str, int]) -> str:
    return f"{case[0]}-{case[1]}"


def event_start(tzid: str, year: int) -> dt.datetime:
    return dt.datetime(year, 6, 15, 9, 0, tzinfo=ZoneInfo(tzid))


def vtimezone_text(tzid: str, year: int) -> str:
    raw: bytes = vtimezone_for(tzid, event_start(tzid, year)).to_ical()
    return raw.decode()


def unfolded_lines(text: str) -> list[str]:
    return [line for line in re.sub(r"\r\n[ \t]", "", text).split("\r\n") if line]


def observances(text: str) -> list[tuple[str, dict[str, str]]]:
    """Read STANDARD/DAYLIGHT blocks by hand, so icalendar does not check itself."""
    found: list[tuple[str, dict[str, str]]] = []
    kind: str | None = None
    properties: dict[str, str] = {}
    for line in unfolded_lines(text):
        if line in ("BEGIN:STANDARD", "BEGIN:DAYLIGHT"):
            kind, properties = line.removeprefix("BEGIN:"), {}
        elif line in ("END:STANDARD", "END:DAYLIGHT"):
            assert kind is not None
            found.append((kind, properties))
            kind = None
        elif kind is not None:
            name, _, value = line.partition(":")
            assert name not in properties, f"{name} appears twice in {kind}"
            properties[name] = value
    return found


def parse_utc_offset(value: str) -> dt.timedelta:
    match = re.fullmatch(r"([+-])(\d\d)(\d\d)(\d\d)?", value)
    assert match, value
    sign, hours, minutes, seconds = match.groups()
    size = dt.timedelta(hours=int(hours), minutes=int(minutes), seconds=int(seconds or 0))
    return -size if sign == "-" else size


def onsets_by_expansion(text: str, until: dt.datetime) -> list[tuple[dt.datetime, dt.timedelta]]:
    """Expand every observance with dateutil.rrule into (UTC instant, new offset) pairs."""
    onsets: list[tuple[dt.datetime, dt.timedelta]] = []
    for _, properties in observances(text):
        start = dt.datetime.strptime(properties["DTSTART"], "%Y%m%dT%H%M%S")
        offset_from = parse_utc_offset(properties["TZOFFSETFROM"])
        offset_to = parse_utc_offset(properties["TZOFFSETTO"])
        if "RRULE" in properties:
            rule = rrule.rrulestr(properties["RRULE"], dtstart=start)
            local_onsets = rule.between(start, until.replace(tzinfo=None), inc=True)
        else:
            local_onsets = [start]
        onsets.extend(
            ((local - offset_from).replace(tzinfo=UTC), offset_to) for local in local_onsets
        )
    return sorted(onsets)


def offset_from_onsets(
    onsets: list[tuple[dt.datetime, dt.timedelta]], instant: dt.datetime
) -> dt.timedelta:
    index = bisect.bisect_right([moment for moment, _ in onsets], instant) - 1
    assert index >= 0, f"no observance covers {instant}"
    return onsets[index][1]


def instants(first_year: int, last_year: int, step: dt.timedelta) -> Iterator[dt.datetime]:
    instant = dt.datetime(first_year, 1, 1, tzinfo=UTC)
    end = dt.datetime(last_year + 1, 1, 1, tzinfo=UTC)
    while instant < end:
        yield instant
        instant += step


def zoneinfo_offset(zone: ZoneInfo, instant: dt.datetime) -> dt.timedelta | None:
    return instant.astimezone(zone).utcoffset()


def zoneinfo_transition_edges(zone: ZoneInfo, first_year: int, last_year: int) -> list[dt.datetime]:
    """Last second before and first second after each zoneinfo transition in the years."""
    grid = list(instants(first_year, last_year, SAMPLE_STEP))
    edges = []
    for low, high in itertools.pairwise(grid):
        if zoneinfo_offset(zone, low) == zoneinfo_offset(zone, high):
            continue
        while high - low > dt.timedelta(seconds=1):
            middle = low + (high - low) // 2
            middle -= dt.timedelta(microseconds=middle.microsecond)
            if zoneinfo_offset(zone, middle) == zoneinfo_offset(zone, low):
                low = middle
            else:
                high = middle
        edges += [low, high]
    return edges


def instants_to_check(zone: ZoneInfo, first_year: int, last_year: int) -> list[dt.datetime]:
    """A six-hour grid plus both sides of every transition, to the second."""
    grid = list(instants(first_year, last_year, SAMPLE_STEP))
    return sorted(grid + zoneinfo_transition_edges(zone, first_year, last_year))


def mismatches_by_expansion(tzid: str, year: int, last_year: int) -> list[str]:
    text = vtimezone_text(tzid, year)
    onsets = onsets_by_expansion(text, dt.datetime(last_year + 1, 1, 2, tzinfo=UTC))
    zone = ZoneInfo(tzid)
    wrong = []
    for instant in instants_to_check(zone, year, last_year):
        expected = zoneinfo_offset(zone, instant)
        actual = offset_from_onsets(onsets, instant)
        if actual != expected:
            wrong.append(f"{instant.isoformat()}: vtimezone {actual}, zoneinfo {expected}")
    return wrong


def vobject_tzinfo(tzid: str, year: int) -> dt.tzinfo:
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//cis//tests//EN\r\n"
        + vtimezone_text(tzid, year)
        + "END:VCALENDAR\r\n"
    )
    tzinfo: dt.tzinfo = vobject.readOne(text).vtimezone.gettzinfo()
    return tzinfo


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_offsets_from_expanded_rules_match_zoneinfo_for_the_year_and_the_next(
    case: tuple[str, int],
) -> None:
    tzid, year = case
    wrong = mismatches_by_expansion(tzid, year, year + 1)
    assert wrong == [], "\n".join(wrong[:10])


@pytest.mark.parametrize(
    "tzid",
    ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Europe/London", "Pacific/Chatham"],
)
def test_yearly_rules_stay_right_for_a_decade(tzid: str) -> None:
    wrong = mismatches_by_expansion(tzid, 2025, 2035)
    assert wrong == [], "\n".join(wrong[:10])


@pytest.mark.parametrize("case", VOBJECT_CASES, ids=case_id)
def test_offsets_read_back_by_vobject_match_zoneinfo(case: tuple[str, int]) -> None:
    tzid, year = case
    parsed = vobject_tzinfo(tzid, year)
    zone = ZoneInfo(tzid)
    wrong = []
    for instant in instants_to_check(zone, year, year + 1):
        expected = zoneinfo_offset(zone, instant)
        actual = instant.astimezone(parsed).utcoffset()
        if actual != expected:
            wrong.append(f"{instant.isoformat()}: vobject {actual}, zoneinfo {expected}")
    assert wrong == [], "\n".join(wrong[:10])


def test_transition_edges_are_found_to_the_second() -> None:
    # Guards the checker itself: Berlin 2025 changes at 01:00:00 UTC twice.
    assert zoneinfo_transition_edges(ZoneInfo("Europe/Berlin"), 2025, 2025) == [
        dt.datetime(2025, 3, 30, 0, 59, 59, tzinfo=UTC),
        dt.datetime(2025, 3, 30, 1, 0, 0, tzinfo=UTC),
        dt.datetime(2025, 10, 26, 0, 59, 59, tzinfo=UTC),
        dt.datetime(2025, 10, 26, 1, 0, 0, tzinfo=UTC),
    ]


def test_berlin_has_last_sunday_rules() -> None:
    assert observances(vtimezone_text("Europe/Berlin", 2025)) == [
        (
            "STANDARD",
            {
                "DTSTART": "19701025T030000",
                "RRULE": "FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
                "TZNAME": "CET",
                "TZOFFSETFROM": "+0200",
                "TZOFFSETTO": "+0100",
            },
        ),
        (
            "DAYLIGHT",
            {
                "DTSTART": "19700329T020000",
                "RRULE": "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
                "TZNAME": "CEST",
                "TZOFFSETFROM": "+0100",
                "TZOFFSETTO": "+0200",
            },
        ),
    ]


def test_berlin_text_carries_the_rule_as_outlook_and_google_print_it() -> None:
    assert "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n" in vtimezone_text("Europe/Berlin", 2025)


@pytest.mark.parametrize("year", range(2026, 2034))
def test_berlin_stays_last_sunday_in_years_where_that_is_also_the_fourth(year: int) -> None:
    rules = [props["RRULE"] for _, props in observances(vtimezone_text("Europe/Berlin", year))]
    assert rules == [
        "FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
        "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
    ]


def test_jerusalem_takes_fourth_friday_when_next_years_last_friday_is_a_week_later() -> None:
    # 26 March 2027 is both the 4th and the last Friday; in 2028 the change is on the
    # 24th (4th) while the last Friday is the 31st, so only "4th" reproduces both years.
    found = dict(observances(vtimezone_text("Asia/Jerusalem", 2027)))
    assert found["DAYLIGHT"]["RRULE"] == "FREQ=YEARLY;BYMONTH=3;BYDAY=4FR"
    assert found["DAYLIGHT"]["DTSTART"] == "19700327T020000"


def test_new_york_changes_on_second_sunday_of_march_and_first_of_november() -> None:
    text = vtimezone_text("America/New_York", 2025)
    assert "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\n" in text
    assert observances(text) == [
        (
            "STANDARD",
            {
                "DTSTART": "19701101T020000",
                "RRULE": "FREQ=YEARLY;BYMONTH=11;BYDAY=1SU",
                "TZNAME": "EST",
                "TZOFFSETFROM": "-0400",
                "TZOFFSETTO": "-0500",
            },
        ),
        (
            "DAYLIGHT",
            {
                "DTSTART": "19700308T020000",
                "RRULE": "FREQ=YEARLY;BYMONTH=3;BYDAY=2SU",
                "TZNAME": "EDT",
                "TZOFFSETFROM": "-0500",
                "TZOFFSETTO": "-0400",
            },
        ),
    ]


def test_sydney_keeps_daylight_over_new_year_with_first_sunday_rules() -> None:
    assert observances(vtimezone_text("Australia/Sydney", 2025)) == [
        (
            "STANDARD",
            {
                "DTSTART": "19700405T030000",
                "RRULE": "FREQ=YEARLY;BYMONTH=4;BYDAY=1SU",
                "TZNAME": "AEST",
                "TZOFFSETFROM": "+1100",
                "TZOFFSETTO": "+1000",
            },
        ),
        (
            "DAYLIGHT",
            {
                "DTSTART": "19701004T020000",
                "RRULE": "FREQ=YEARLY;BYMONTH=10;BYDAY=1SU",
                "TZNAME": "AEDT",
                "TZOFFSETFROM": "+1000",
                "TZOFFSETTO": "+1100",
            },
        ),
    ]


def test_london_changes_at_one_and_two_in_the_morning_on_last_sundays() -> None:
    found = dict(observances(vtimezone_text("Europe/London", 2025)))
    assert found["DAYLIGHT"]["DTSTART"] == "19700329T010000"
    assert found["DAYLIGHT"]["TZNAME"] == "BST"
    assert found["STANDARD"]["DTSTART"] == "19701025T020000"
    assert found["STANDARD"]["TZOFFSETTO"] == "+0000"


def test_chatham_offsets_keep_their_quarter_hours() -> None:
    assert observances(vtimezone_text("Pacific/Chatham", 2025)) == [
        (
            "STANDARD",
            {
                "DTSTART": "19700405T034500",
                "RRULE": "FREQ=YEARLY;BYMONTH=4;BYDAY=1SU",
                "TZNAME": "+1245",
                "TZOFFSETFROM": "+1345",
                "TZOFFSETTO": "+1245",
            },
        ),
        (
            "DAYLIGHT",
            {
                "DTSTART": "19700927T024500",
                "RRULE": "FREQ=YEARLY;BYMONTH=9;BYDAY=-1SU",
                "TZNAME": "+1345",
                "TZOFFSETFROM": "+1245",
                "TZOFFSETTO": "+1345",
            },
        ),
    ]


def test_dublin_gets_a_rule_pair_with_summer_as_daylight_despite_negative_saving() -> None:
    found = observances(vtimezone_text("Europe/Dublin", 2025))
    assert [
        (kind, props["TZNAME"], props["TZOFFSETTO"], props["RRULE"]) for kind, props in found
    ] == [
        ("STANDARD", "GMT", "+0000", "FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU"),
        ("DAYLIGHT", "IST", "+0100", "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU"),
    ]


def test_casablanca_calls_the_hour_ahead_daylight_around_its_ramadan_break() -> None:
    found = observances(vtimezone_text("Africa/Casablanca", 2025))
    assert [(kind, props["TZOFFSETTO"]) for kind, props in found] == [
        ("DAYLIGHT", "+0100"),
        ("STANDARD", "+0000"),
        ("DAYLIGHT", "+0100"),
        ("STANDARD", "+0000"),
        ("DAYLIGHT", "+0100"),
    ]


@pytest.mark.parametrize(
    ("tzid", "year", "offset", "name"),
    [
        ("Asia/Kolkata", 2025, "+0530", "IST"),
        ("UTC", 2025, "+0000", "UTC"),
        ("America/Sao_Paulo", 2025, "-0300", "-03"),
        ("America/Sao_Paulo", 2020, "-0300", "-03"),
        ("Asia/Tehran", 2025, "+0330", "+0330"),
    ],
)
def test_zone_without_changes_has_one_fixed_standard_observance(
    tzid: str, year: int, offset: str, name: str
) -> None:
    assert observances(vtimezone_text(tzid, year)) == [
        (
            "STANDARD",
            {
                "DTSTART": "19700101T000000",
                "TZNAME": name,
                "TZOFFSETFROM": offset,
                "TZOFFSETTO": offset,
            },
        )
    ]


def test_sao_paulo_in_its_last_daylight_year_lists_the_final_change_without_a_rule() -> None:
    assert observances(vtimezone_text("America/Sao_Paulo", 2019)) == [
        (
            "DAYLIGHT",
            {
                "DTSTART": "19700101T000000",
                "TZNAME": "-02",
                "TZOFFSETFROM": "-0300",
                "TZOFFSETTO": "-0200",
            },
        ),
        (
            "STANDARD",
            {
                "DTSTART": "20190217T000000",
                "TZNAME": "-03",
                "TZOFFSETFROM": "-0200",
                "TZOFFSETTO": "-0300",
            },
        ),
    ]


def test_tehran_fixed_dates_become_month_day_rules_when_next_year_repeats_them() -> None:
    rules = [props.get("RRULE") for _, props in observances(vtimezone_text("Asia/Tehran", 2021))]
    assert rules == ["FREQ=YEARLY;BYMONTH=9;BYMONTHDAY=22", "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=22"]


def test_tehran_dates_that_shift_next_year_become_single_transitions() -> None:
    found = observances(vtimezone_text("Asia/Tehran", 2020))
    assert all("RRULE" not in props for _, props in found)
    assert [props["DTSTART"] for _, props in found] == [
        "19700101T000000",
        "20200321T000000",
        "20200921T000000",
        "20210322T000000",
        "20210922T000000",
    ]


def test_rules_that_change_next_year_become_single_transitions() -> None:
    found = observances(vtimezone_text("America/New_York", 2006))
    assert all("RRULE" not in props for _, props in found)
    assert [(kind, props["DTSTART"]) for kind, props in found] == [
        ("STANDARD", "19700101T000000"),
        ("DAYLIGHT", "20060402T020000"),
        ("STANDARD", "20061029T020000"),
        ("DAYLIGHT", "20070311T020000"),
        ("STANDARD", "20071104T020000"),
    ]


def test_year_is_the_event_local_year_not_the_utc_year() -> None:
    # 01:00 UTC on 1 January 2019 is still 2018 in Sao Paulo, whose DST began in Nov 2018.
    late_2018 = vtimezone_for("America/Sao_Paulo", dt.datetime(2019, 1, 1, 1, 0, tzinfo=UTC))
    early_2019 = vtimezone_for("America/Sao_Paulo", dt.datetime(2019, 1, 1, 3, 0, tzinfo=UTC))
    assert b"DTSTART:20181104T000000" in late_2018.to_ical()
    assert b"DTSTART:20181104T000000" not in early_2019.to_ical()


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_serialisation_uses_crlf_and_no_rdate(case: tuple[str, int]) -> None:
    raw = vtimezone_for(case[0], event_start(*case)).to_ical()
    assert raw.endswith(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert b"RDATE" not in raw


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_result_is_a_timezone_named_by_tzid_with_one_or_two_rules_or_dated_changes(
    case: tuple[str, int],
) -> None:
    tzid, year = case
    timezone = vtimezone_for(tzid, event_start(tzid, year))
    assert isinstance(timezone, VTimezone)
    assert timezone.tzid == tzid
    found = observances(timezone.to_ical().decode())
    rules = [props for _, props in found if "RRULE" in props]
    if rules:
        assert sorted(kind for kind, _ in found) == ["DAYLIGHT", "STANDARD"]
        assert len(rules) == 2


def test_same_input_gives_identical_output() -> None:
    start = event_start("Australia/Sydney", 2025)
    assert vtimezone_for("Australia/Sydney", start).to_ical() == (
        vtimezone_for("Australia/Sydney", start).to_ical()
    )


def test_naive_event_start_is_read_as_wall_clock_time_in_the_zone() -> None:
    naive = vtimezone_for("America/Sao_Paulo", dt.datetime(2018, 12, 31, 23, 0))
    assert b"DTSTART:20181104T000000" in naive.to_ical()


@pytest.mark.parametrize("tzid", ["Not/AZone", "Europe", "", "../etc/passwd", "europe/berlin"])
def test_unknown_zone_raises_value_error_naming_it(tzid: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(tzid))):
        vtimezone_for(tzid, dt.datetime(2025, 6, 1, tzinfo=UTC))


# Factory is the database's own, but names no place: "local time not set".
@pytest.mark.parametrize(
    "name", ["localtime", "posixrules", "Factory", "Mars/Olympus", "../etc/passwd", ""])
def test_only_names_of_the_iana_database_are_zones(name: str) -> None:
    with pytest.raises(ValueError, match="unknown IANA time zone"):
        vtimezone_for(name, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(ValueError, match="unknown IANA time zone"):
        wall_clock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), name, dt.datetime(2026, 1, 1))


def test_every_iana_name_loads_and_the_list_is_the_database() -> None:
    names = iana_names()
    assert {"Europe/Berlin", "America/New_York", "UTC", "Etc/GMT+5"} <= names
    assert "localtime" not in names and "posixrules" not in names
    assert all(iana_zone(name).key == name for name in names)
