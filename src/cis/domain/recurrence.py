"""Recurring events: the occurrences a rule gives with the event's times, and their bounds.

The rule itself (which RRULEs cis takes, read and checked) is `cis.domain.recurrence_rule`,
kept apart so the rule can be read or put in words without the event's times.

A series must end (COUNT or UNTIL) within `MAX_SERIES_DAYS` of its start: its VTIMEZONE is
computed for, and exact over, every year it spans (`cis.domain.rendering.vtimezone`), and
each occurrence must be a wall-clock time its zone shows exactly once (none in the hour the
clocks skip or repeat, which calendars resolve differently). DTSTART must be the first
occurrence: RFC 5545 leaves a DTSTART off the rule undefined, and Outlook moves it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cis.domain.model import Event
from cis.domain.recurrence_rule import Frequency, Rule, parse_rule
from cis.domain.zones import iana_zone

__all__ = [
    "MAX_EXDATES",
    "MAX_SERIES_DAYS",
    "Series",
    "SeriesError",
    "event_series",
    "series",
]

MAX_SERIES_DAYS = 3653
"""Ten years: the last occurrence starts at most this many days after the first."""
MAX_EXDATES = 1000
"""Occurrences an event may leave out (each is a line of every invitation's calendar)."""

_MONTH_DAYS_IN_EVERY_YEAR = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class SeriesError(ValueError):
    """Raised when a rule, with the event's times, makes no series calendars read alike.

    `location` names the event field the problem is placed on (`rrule`, `dtend`, or
    `exdates` and an index).
    """

    def __init__(self, location: tuple[str | int, ...], reason: str) -> None:
        super().__init__(reason)
        self.location = location


@dataclass(frozen=True, slots=True)
class Series:
    """Every occurrence of a rule with the event's times, before EXDATEs leave some out.

    `starts` are aware datetimes: in the event's zone, UTC for an event without one, and
    midnight UTC for an all-day event. `last_end` is when the last occurrence ends.
    `shortest_gap` is the least time from one occurrence's start to the next's, as clocks
    read it (None for one occurrence).
    """

    starts: tuple[dt.datetime, ...]
    last_end: dt.datetime
    shortest_gap: dt.timedelta | None


def event_series(event: Event) -> Series | None:
    """The occurrences of a recurring event, checked as the validator checks them; else None.

    Raises:
        RuleError: see `parse_rule`.
        SeriesError: see `series`; also for EXDATEs on an event with no rule.

    """
    if event.rrule is None:
        if event.exdates:
            raise SeriesError(("exdates",), "are only for a recurring event: give rrule too")
        return None
    return series(event.rrule, event.start, event.end, event.timezone, event.all_day,
                  event.exdates)


def series(rule_text: str, start: dt.datetime, end: dt.datetime, timezone: str | None,
           all_day: bool, exdates: Sequence[dt.datetime] = ()) -> Series:
    """The occurrences of the rule for an event from `start` to `end`, checked.

    `start` is read on the clocks of `timezone` as it was written (a time the clocks skip
    stays as written, and is refused); `exdates` must each be an occurrence, once.

    Raises:
        RuleError: the rule itself is not one cis sends.
        SeriesError: the rule and the times make no series calendars read alike; its
            `location` names the field to blame.

    """
    rule = parse_rule(rule_text)
    zone = iana_zone(timezone) if timezone and not all_day else None
    if zone is not None and isinstance(start.tzinfo, ZoneInfo) and start.tzinfo.key == (
            zone.key):
        wall = start.replace(tzinfo=None, fold=0)
    else:
        wall = start.astimezone(zone or dt.UTC).replace(tzinfo=None)
    found = _series(rule, wall, timezone if zone else None, all_day)
    duration = end - start
    if found.shortest_gap is not None and _wall_length(start, end, zone) > found.shortest_gap:
        raise SeriesError(("dtend",), (
            "a recurring event must end before its next occurrence starts (Outlook "
            f"refuses one that overlaps the next): it lasts {_length(end - start)}, and "
            f"occurrences can be {_length(found.shortest_gap)} apart"))
    _check_exdates(found, exdates)
    return Series(found.starts, found.starts[-1] + duration, found.shortest_gap)


def _wall_length(start: dt.datetime, end: dt.datetime, zone: ZoneInfo | None) -> dt.timedelta:
    """How long the event lasts as its zone's clocks read it."""
    if zone is None:
        return end - start
    return (end.astimezone(zone).replace(tzinfo=None)
            - start.astimezone(zone).replace(tzinfo=None))


def _length(span: dt.timedelta) -> str:
    days, seconds = span.days, span.seconds
    hours, minutes = seconds // 3600, seconds % 3600 // 60
    pieces = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    if hours:
        pieces.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if minutes or not pieces:
        pieces.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    return " ".join(pieces)


def _check_exdates(found: Series, exdates: Sequence[dt.datetime]) -> None:
    if len(exdates) > MAX_EXDATES:
        raise SeriesError(("exdates",), f"must hold at most {MAX_EXDATES} dates")
    starts = {moment.astimezone(dt.UTC) for moment in found.starts}
    seen: set[dt.datetime] = set()
    for index, moment in enumerate(exdates):
        instant = moment.astimezone(dt.UTC)
        if instant not in starts:
            raise SeriesError(("exdates", index), (
                f"{moment.isoformat()} is not an occurrence of the rule: an exception names "
                "the start of an occurrence it leaves out"))
        if instant in seen:
            raise SeriesError(("exdates", index), f"{moment.isoformat()} is given twice")
        seen.add(instant)
    if len(seen) == len(starts):
        raise SeriesError(("exdates",), "leaves out every occurrence: the event would never "
                                        "take place")


@functools.lru_cache(maxsize=64)
def _series(rule: Rule, wall: dt.datetime, timezone: str | None, all_day: bool) -> Series:
    """The occurrences from the first's wall-clock start; cached, as a batch repeats one event."""
    zone = iana_zone(timezone) if timezone else None
    first = wall.date()
    _check_until_kind(rule, all_day)
    _check_first_is_an_occurrence(rule, first)
    starts: list[dt.datetime] = []
    try:
        last_allowed = first + dt.timedelta(days=MAX_SERIES_DAYS)
    except OverflowError:  # a library caller's event near 9999
        last_allowed = dt.date.max
    for day in _dates(rule, first):
        if rule.count is not None and len(starts) == rule.count:
            break
        moment = _occurrence(day, wall, zone, all_day)
        if rule.until is not None and _after_until(rule.until, day, moment):
            break
        if zone is not None:
            _check_shown_once(moment, day, zone)
        if day > last_allowed:
            raise SeriesError(("rrule",), (
                f"lasts past {_words_date(last_allowed)}: a series may last at most ten years "
                f"({MAX_SERIES_DAYS} days), the span its time zone is written for"))
        starts.append(moment)
    if not starts:
        raise SeriesError(("rrule",), "UNTIL: is before dtstart: the series would have no "
                                      "occurrence")
    gaps = [_naive(b) - _naive(a) for a, b in itertools.pairwise(starts)]
    return Series(tuple(starts), starts[-1], min(gaps) if gaps else None)


def _naive(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=None)


def _check_until_kind(rule: Rule, all_day: bool) -> None:
    """RFC 5545: UNTIL has the value type of DTSTART (a UTC time for a zoned one)."""
    if rule.until is None:
        return
    if all_day and isinstance(rule.until, dt.datetime):
        raise SeriesError(("rrule",), "UNTIL: must be a date (20270501) for an all-day event")
    if not all_day and not isinstance(rule.until, dt.datetime):
        raise SeriesError(("rrule",), "UNTIL: must be a UTC time (20270501T215959Z) for an "
                                      "event with times, as RFC 5545 has it")


def _check_first_is_an_occurrence(rule: Rule, first: dt.date) -> None:
    if rule.frequency is Frequency.MONTHLY and rule.by_month_day is None and not rule.by_day \
            and first.day > 28:
        raise SeriesError(("rrule",), (
            f"dtstart's day {first.day} is not in every month, and calendars differ on the "
            "months without it: give BYMONTHDAY=-1 for the last day of the month, or start "
            "on day 1 to 28"))
    if rule.frequency is Frequency.YEARLY and rule.by_month_day is None and not rule.by_day \
            and first.day > _MONTH_DAYS_IN_EVERY_YEAR[(rule.by_month or first.month) - 1]:
        raise SeriesError(("rrule",), (
            f"dtstart's day {first.day} is not in that month every year: give "
            "BYMONTHDAY=-1 for the month's last day"))
    if rule.frequency is Frequency.YEARLY and rule.by_month_day not in (None, -1):
        month = rule.by_month or first.month
        if rule.by_month_day > _MONTH_DAYS_IN_EVERY_YEAR[month - 1]:
            raise SeriesError(("rrule",), (
                f"BYMONTHDAY: {rule.by_month_day} is not in month {month} every year: use -1 "
                "for its last day"))
    if first not in _period(rule, first, 0):
        raise SeriesError(("rrule",), (
            f"dtstart ({_words_date(first)}) is not an occurrence of the rule: start the "
            "event on its first occurrence (RFC 5545 leaves any other start undefined, and "
            "Outlook moves it)"))


def _after_until(until: dt.date | dt.datetime, day: dt.date, moment: dt.datetime) -> bool:
    if isinstance(until, dt.datetime):
        return moment.astimezone(dt.UTC) > until
    return day > until


def _occurrence(day: dt.date, wall: dt.datetime, zone: ZoneInfo | None,
                all_day: bool) -> dt.datetime:
    """The start of the occurrence on `day`: dtstart's wall clock that day, in the zone."""
    if all_day:
        return dt.datetime.combine(day, dt.time(), dt.UTC)
    return dt.datetime.combine(day, wall.time(), zone or dt.UTC)


def _check_shown_once(first: dt.datetime, day: dt.date, zone: ZoneInfo) -> None:
    """Refuse an occurrence whose wall clock the zone skips or shows twice."""
    local = first.replace(tzinfo=None)
    shown = first.astimezone(dt.UTC).astimezone(zone)
    if shown.replace(tzinfo=None) != local:
        raise SeriesError(("rrule",), (
            f"the occurrence on {_words_date(day)} at {local:%H:%M} falls in the hour "
            f"{zone.key}'s clocks skip, which calendars read differently: move the event out "
            "of the night's clock change"))
    if local.replace(tzinfo=zone, fold=1).utcoffset() != first.utcoffset():
        raise SeriesError(("rrule",), (
            f"the occurrence on {_words_date(day)} at {local:%H:%M} falls in the hour "
            f"{zone.key}'s clocks show twice, which calendars read differently: move the "
            "event out of the night's clock change"))


_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _words_date(day: dt.date) -> str:
    """A date in a reason, whatever the machine's locale: ``Sun 28 Mar 2027``."""
    return f"{_DAY_NAMES[day.weekday()]} {day.day} {_MONTH_NAMES[day.month - 1]} {day.year}"


def _dates(rule: Rule, first: dt.date) -> Iterator[dt.date]:
    """The rule's dates from `first` on, in order; the caller stops it."""
    index = 0
    while True:
        for day in _period(rule, first, index):
            if day >= first:
                yield day
        index += 1


def _period(rule: Rule, first: dt.date, index: int) -> list[dt.date]:
    """The dates of the `index`-th period of the rule (counting only those it recurs in)."""
    step = rule.step * index
    if rule.frequency is Frequency.DAILY:
        return [first + dt.timedelta(days=step)]
    if rule.frequency is Frequency.WEEKLY:
        week_start = rule.week_start if rule.week_start is not None else 0
        opening = first - dt.timedelta(days=(first.weekday() - week_start) % 7)
        opening += dt.timedelta(weeks=step)
        days = rule.by_day or (first.weekday(),)
        return sorted(opening + dt.timedelta(days=(day - week_start) % 7) for day in days)
    if rule.frequency is Frequency.MONTHLY:
        months = first.year * 12 + first.month - 1 + step
        return [_day_in_month(rule, months // 12, months % 12 + 1, first)]
    return [_day_in_month(rule, first.year + step, rule.by_month or first.month, first)]


def _day_in_month(rule: Rule, year: int, month: int, first: dt.date) -> dt.date:
    last = calendar.monthrange(year, month)[1]
    if rule.by_day:
        matching = [day for day in range(1, last + 1)
                    if dt.date(year, month, day).weekday() in rule.by_day]
        position = rule.by_set_pos or 1
        return dt.date(year, month, matching[position - 1 if position > 0 else position])
    day = rule.by_month_day if rule.by_month_day is not None else first.day
    return dt.date(year, month, last if day == -1 else day)
