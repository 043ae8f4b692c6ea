"""A zone's changes of UTC offset, found from zoneinfo, and the yearly rules that repeat them.

zoneinfo exposes no transition list, so the changes are found by sampling its offsets; a
VTIMEZONE (`cis.domain.rendering.vtimezone`) is then written with whichever yearly rule
(the Nth weekday of a month, or a fixed date) reproduces them, as Outlook and Google write
theirs. Kept apart from the writing so the computation can be read, and checked, alone.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from cis.domain.recurrence_rule import WEEKDAY_CODES
from cis.domain.rendering.ical_lines import recur

__all__ = [
    "MonthDayRule",
    "NthWeekdayRule",
    "Transition",
    "YearlyRule",
    "offset_at",
    "rule_reproducing",
    "transitions_in_years",
]


_UTC = dt.UTC
_ONE_SECOND = dt.timedelta(seconds=1)
# Offset changes are weeks apart even in the busiest zones (Casablanca's Ramadan break),
# so one sample a day cannot step over a change and its reversal.
_SCAN_STEP = dt.timedelta(days=1)
# Where the scan of 9999 stops: any zone still reads this instant in 9999.
_LAST_SCANNED = dt.datetime(dt.MAXYEAR, 12, 30, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Transition:
    """One change of UTC offset, as RFC 5545 describes it in a DTSTART.

    ``wall`` is the local clock reading at the moment of change, read in the offset that was
    in force before it (RFC 5545 3.6.5: DTSTART is "local time ... in TZOFFSETFROM").
    With equal offsets it stands for the state a zone is in when a period begins.
    """

    wall: dt.datetime
    offset_from: dt.timedelta
    offset_to: dt.timedelta
    name: str
    saving: dt.timedelta

    @property
    def springs_forward(self) -> bool:
        """Whether clocks go forward: that side of the change is the DAYLIGHT block."""
        return self.offset_to > self.offset_from


class YearlyRule(Protocol):
    """A rule a change repeats on each year, as a VTIMEZONE's RRULE can state it."""

    def date_in(self, year: int) -> dt.date:
        """The day the rule gives in `year`, to test it against the zone's own changes."""
        ...

    def as_recur(self) -> str:
        """The rule as the RRULE value a VTIMEZONE block carries."""
        ...


@dataclass(frozen=True)
class NthWeekdayRule:
    """``BYDAY=<week><WD>`` in one month; week -1 means the last one of the month."""

    month: int
    week: int
    weekday: int

    def date_in(self, year: int) -> dt.date:
        """The day the rule gives in `year`, to test it against the zone's own changes."""
        first_weekday, days_in_month = calendar.monthrange(year, self.month)
        if self.week > 0:
            day = 1 + (self.weekday - first_weekday) % 7 + 7 * (self.week - 1)
        else:
            last_weekday = (first_weekday + days_in_month - 1) % 7
            day = days_in_month - (last_weekday - self.weekday) % 7
        return dt.date(year, self.month, day)

    def as_recur(self) -> str:
        """The rule as the RRULE value a VTIMEZONE block carries."""
        return recur({
            "FREQ": "YEARLY",
            "BYMONTH": self.month,
            "BYDAY": f"{self.week}{WEEKDAY_CODES[self.weekday]}",
        })


@dataclass(frozen=True)
class MonthDayRule:
    """A fixed calendar date each year, for zones (like Tehran until 2022) that use one."""

    month: int
    day: int

    def date_in(self, year: int) -> dt.date:
        """The day the rule gives in `year`, to test it against the zone's own changes."""
        return dt.date(year, self.month, self.day)

    def as_recur(self) -> str:
        """The rule as the RRULE value a VTIMEZONE block carries."""
        return recur({"FREQ": "YEARLY", "BYMONTH": self.month, "BYMONTHDAY": self.day})


def offset_at(zone: ZoneInfo, instant: dt.datetime) -> dt.timedelta:
    """The zone's UTC offset at `instant`, never None, so the scan can compare offsets."""
    offset = instant.astimezone(zone).utcoffset()
    if offset is None:  # ZoneInfo always has an offset; this guards the Optional type.
        raise ValueError(f"time zone {zone.key!r} has no UTC offset at {instant.isoformat()}")
    return offset


def transitions_in_years(zone: ZoneInfo, year: int, last: int | None = None) -> list[Transition]:
    """Find the offset changes of ``year`` to ``last`` (``year + 1``) by sampling zoneinfo.

    zoneinfo exposes no transition list, and reading TZif files ourselves would tie us to
    one tzdata layout; sampling needs only ``utcoffset``.
    """
    last = year + 1 if last is None else last
    start = dt.datetime(year, 1, 1, tzinfo=_UTC) - 2 * _SCAN_STEP
    end = (dt.datetime(last + 1, 1, 1, tzinfo=_UTC) + 2 * _SCAN_STEP
           if last < dt.MAXYEAR else _LAST_SCANNED)
    found: list[Transition] = []
    before, offset_before = start, offset_at(zone, start)
    while before < end:
        after = before + _SCAN_STEP
        offset_after = offset_at(zone, after)
        if offset_after != offset_before:
            found.append(_pinpoint_transition(zone, before, after))
        before, offset_before = after, offset_after
    return [t for t in found if year <= t.wall.year <= last]


def _pinpoint_transition(zone: ZoneInfo, before: dt.datetime, after: dt.datetime) -> Transition:
    """Bisect to the first second of the new offset; tzdata transitions fall on whole seconds."""
    offset_from = offset_at(zone, before)
    low, high = 0, int((after - before) / _ONE_SECOND)
    while high - low > 1:
        middle = (low + high) // 2
        if offset_at(zone, before + middle * _ONE_SECOND) == offset_from:
            low = middle
        else:
            high = middle
    moment = (before + high * _ONE_SECOND).astimezone(zone)
    offset_to = offset_at(zone, moment)
    return Transition(
        wall=(moment.astimezone(_UTC) + offset_from).replace(tzinfo=None),
        offset_from=offset_from,
        offset_to=offset_to,
        name=moment.tzname() or "",
        saving=moment.dst() or dt.timedelta(0),
    )


def rule_reproducing(transition: Transition, a_year_later: Transition) -> YearlyRule | None:
    """Pick the first candidate rule that lands on both years' dates, at the same clock time."""
    if transition.wall.time() != a_year_later.wall.time():
        return None
    for rule in _candidate_rules(transition.wall.date()):
        try:
            if rule.date_in(a_year_later.wall.year) == a_year_later.wall.date():
                return rule
        except ValueError:  # 29 February in a common year
            continue
    return None


def _candidate_rules(day: dt.date) -> list[YearlyRule]:
    """List the yearly rules that produce ``day``, in the order clients should prefer them.

    A date in days 22-28 is both "4th" and (maybe) "last" weekday; "last" comes first
    because that is how tzdata states most such rules (EU: last Sunday), and the next
    year's date then decides. Days 29-31 can only be "last".
    """
    _, days_in_month = calendar.monthrange(day.year, day.month)
    week = (day.day - 1) // 7 + 1
    candidates: list[YearlyRule] = []
    if day.day + 7 > days_in_month:
        candidates.append(NthWeekdayRule(day.month, -1, day.weekday()))
    if week <= 4:
        candidates.append(NthWeekdayRule(day.month, week, day.weekday()))
    candidates.append(MonthDayRule(day.month, day.day))
    return candidates
