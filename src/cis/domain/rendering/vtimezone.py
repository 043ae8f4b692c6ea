"""VTIMEZONE components written with yearly rules, the way Outlook and Google write them."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from cis.domain.rendering.ical_lines import (
    content_line,
    date_time,
    recur,
    serialise,
    text,
    utc_offset,
)
from cis.domain.zones import iana_zone

__all__ = ["Observance", "VTimezone", "vtimezone_for", "wall_clock"]

# Google writes every rule-based VTIMEZONE with DTSTART in 1970, on the first occurrence of
# the rule in that year; Outlook writes 1601-01-01, which is not on the rule and which RFC 5545
# calls undefined ("DTSTART SHOULD be synchronized with the recurrence rule"), and which
# some parsers cannot represent. 1970 lies before any event we send, so the rules cover every
# date a receiving client will ask about (an event before 1970 uses its own year instead).
_REFERENCE_YEAR = 1970

_WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

_UTC = dt.UTC
_ONE_SECOND = dt.timedelta(seconds=1)
# Offset changes are weeks apart even in the busiest zones (Casablanca's Ramadan break),
# so one sample a day cannot step over a change and its reversal.
_SCAN_STEP = dt.timedelta(days=1)
# The last year a VTIMEZONE describes is the year after the first: 9999 at most.
_LAST_FIRST_YEAR = dt.MAXYEAR - 1
# Where the scan of 9999 stops: any zone still reads this instant in 9999.
_LAST_SCANNED = dt.datetime(dt.MAXYEAR, 12, 30, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Observance:
    """One STANDARD or DAYLIGHT block: from `onset` on, clocks read UTC plus `offset_to`.

    `onset` is a local time read in `offset_from` (RFC 5545 section 3.6.5); `rule`, an RRULE
    value, repeats it yearly, and without one the block is a single change.
    """

    daylight: bool
    onset: dt.datetime
    offset_from: dt.timedelta
    offset_to: dt.timedelta
    name: str
    rule: str | None = None

    def content_lines(self) -> list[str]:
        """The block's lines, unfolded; its properties in alphabetical order, as icalendar sorts."""
        kind = "DAYLIGHT" if self.daylight else "STANDARD"
        lines = [f"BEGIN:{kind}", content_line("DTSTART", date_time(self.onset, utc=False))]
        if self.rule is not None:
            lines.append(content_line("RRULE", self.rule))
        if self.name:
            lines.append(content_line("TZNAME", text(self.name)))
        lines += [
            content_line("TZOFFSETFROM", utc_offset(self.offset_from)),
            content_line("TZOFFSETTO", utc_offset(self.offset_to)),
            f"END:{kind}",
        ]
        return lines


@dataclass(frozen=True, slots=True)
class VTimezone:
    """A VTIMEZONE: the zone's name as events refer to it (TZID), and its observances."""

    tzid: str
    observances: tuple[Observance, ...]

    def content_lines(self) -> list[str]:
        """The component's lines, unfolded, from BEGIN:VTIMEZONE to END:VTIMEZONE."""
        lines = ["BEGIN:VTIMEZONE", content_line("TZID", text(self.tzid))]
        for observance in self.observances:
            lines += observance.content_lines()
        lines.append("END:VTIMEZONE")
        return lines

    def to_ical(self) -> bytes:
        """The component alone, folded, with CRLF line endings."""
        return serialise(self.content_lines())


@dataclass(frozen=True)
class _Transition:
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
        return self.offset_to > self.offset_from


class _YearlyRule(Protocol):
    def date_in(self, year: int) -> dt.date: ...

    def as_recur(self) -> str: ...


@dataclass(frozen=True)
class _NthWeekdayRule:
    """``BYDAY=<week><WD>`` in one month; week -1 means the last one of the month."""

    month: int
    week: int
    weekday: int

    def date_in(self, year: int) -> dt.date:
        first_weekday, days_in_month = calendar.monthrange(year, self.month)
        if self.week > 0:
            day = 1 + (self.weekday - first_weekday) % 7 + 7 * (self.week - 1)
        else:
            last_weekday = (first_weekday + days_in_month - 1) % 7
            day = days_in_month - (last_weekday - self.weekday) % 7
        return dt.date(year, self.month, day)

    def as_recur(self) -> str:
        return recur({
            "FREQ": "YEARLY",
            "BYMONTH": self.month,
            "BYDAY": f"{self.week}{_WEEKDAY_CODES[self.weekday]}",
        })


@dataclass(frozen=True)
class _MonthDayRule:
    """A fixed calendar date each year, for zones (like Tehran until 2022) that use one."""

    month: int
    day: int

    def date_in(self, year: int) -> dt.date:
        return dt.date(year, self.month, self.day)

    def as_recur(self) -> str:
        return recur({"FREQ": "YEARLY", "BYMONTH": self.month, "BYMONTHDAY": self.day})


def vtimezone_for(tzid: str, around: dt.datetime,
                  through: dt.datetime | None = None) -> VTimezone:
    """Describe ``tzid`` as a VTIMEZONE that Outlook accepts, for an event at ``around``.

    icalendar's own generator lists every transition since 1970 as RDATEs, which Outlook
    rejects; clients expect one STANDARD and one DAYLIGHT rule repeating yearly. The rules
    are taken from the transitions in the event's local year and confirmed against the
    following year, so the description is exact for both years (for an event in 9999, the
    year before and 9999). A recurring event's series lasts until ``through``: the rules are
    then confirmed against every year up to its local year too, so that each occurrence
    reads as the instant it is. Where no yearly rule reproduces every year described, their
    transitions are listed one by one instead. A naive ``around`` is read as wall-clock time
    in ``tzid``.

    Raises:
        ValueError: ``tzid`` is not a time zone that zoneinfo knows.

    """
    zone = _load_zone(tzid)
    year = _first_described_year(around, zone)
    last = max(year + 1, _last_described_year(through, zone)) if through else year + 1
    transitions = _transitions_in_years(zone, year, last)
    if not transitions:
        observances = [_fixed_offset_observance(zone, year)]
    else:
        this_year = [t for t in transitions if t.wall.year == year]
        next_year = [t for t in transitions if t.wall.year == year + 1]
        recurring = _recurring_observances(this_year, next_year, year)
        if recurring is not None and not _rules_hold(recurring, transitions, year + 2, last):
            recurring = None
        observances = recurring or _one_off_observances(zone, year, transitions)
    return VTimezone(tzid, tuple(observances))


def _last_described_year(through: dt.datetime, zone: ZoneInfo) -> int:
    """The local year of a series' end, the last a VTIMEZONE for it describes."""
    try:
        year = through.astimezone(zone).year
    except OverflowError:  # past 9999 on this zone's clocks
        year = dt.MAXYEAR
    return min(year, dt.MAXYEAR)


def _rules_hold(observances: list[Observance], transitions: list[_Transition],
                from_year: int, last: int) -> bool:
    """Whether the yearly rules give exactly the transitions of `from_year` to `last`.

    A year without a transition the rules give (a zone that stopped changing its clocks)
    fails as much as one with another.
    """
    expected = [
        (dt.datetime.combine(_rule_of(observance).date_in(year), observance.onset.time()),
         observance.offset_from, observance.offset_to)
        for year in range(from_year, last + 1) for observance in observances
    ]
    found = [(t.wall, t.offset_from, t.offset_to) for t in transitions
             if t.wall.year >= from_year]
    return sorted(expected) == sorted(found)


def _rule_of(observance: Observance) -> _YearlyRule:
    """The yearly rule an observance written by `_recurring_observances` repeats on."""
    assert observance.rule is not None  # recurring observances all have one
    parts = dict(part.split("=") for part in observance.rule.split(";"))
    month = int(parts["BYMONTH"])
    if "BYMONTHDAY" in parts:
        return _MonthDayRule(month, int(parts["BYMONTHDAY"]))
    week, weekday = parts["BYDAY"][:-2], parts["BYDAY"][-2:]
    return _NthWeekdayRule(month, int(week), _WEEKDAY_CODES.index(weekday))


def _load_zone(tzid: str) -> ZoneInfo:
    """The IANA zone `tzid`; every way it is not one raises the one error callers handle."""
    return iana_zone(tzid)


def wall_clock(moment: dt.datetime, tzid: str, around: dt.datetime) -> dt.datetime | None:
    """``moment`` on the clocks of ``tzid``, when that reading names ``moment`` and no other.

    A DTSTART or DTEND with TZID is a wall-clock time, read through the VTIMEZONE that
    ``vtimezone_for(tzid, around)`` writes. It names one instant only where the clocks show
    it exactly once: a time in the repeated hour after clocks go back means its first pass
    (RFC 5545 section 3.3.5), whichever was meant, and readers disagree on a time the clocks
    skip. And the VTIMEZONE is exact only for the two years it is computed from. None for
    any other time, which is then better written in UTC.

    Raises:
        ValueError: ``tzid`` is not a time zone that zoneinfo knows.

    """
    zone = _load_zone(tzid)
    try:
        local = moment.astimezone(zone)
    except OverflowError:  # past 9999 on this zone's clocks
        return None
    first_year = _first_described_year(around, zone)
    if local.year not in (first_year, first_year + 1):
        return None
    if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
        return None
    return local


def _first_described_year(around: dt.datetime, zone: ZoneInfo) -> int:
    """Pick the year as the attendee's calendar sees it, not as UTC does (31 Dec vs 1 Jan).

    That year and the next are described; an event in 9999 is described with 9998.
    """
    try:
        year = around.year if around.utcoffset() is None else around.astimezone(zone).year
    except OverflowError:  # past 9999 on this zone's clocks
        year = dt.MAXYEAR
    # The scan reaches a day into the year before.
    if year <= dt.MINYEAR:
        raise ValueError(f"year {year} is outside the range a VTIMEZONE can be computed for")
    return min(year, _LAST_FIRST_YEAR)


def _offset_at(zone: ZoneInfo, instant: dt.datetime) -> dt.timedelta:
    offset = instant.astimezone(zone).utcoffset()
    if offset is None:  # ZoneInfo always has an offset; this guards the Optional type.
        raise ValueError(f"time zone {zone.key!r} has no UTC offset at {instant.isoformat()}")
    return offset


def _transitions_in_years(zone: ZoneInfo, year: int, last: int | None = None) -> list[_Transition]:
    """Find the offset changes of ``year`` to ``last`` (``year + 1``) by sampling zoneinfo.

    zoneinfo exposes no transition list, and reading TZif files ourselves would tie us to
    one tzdata layout; sampling needs only ``utcoffset``.
    """
    last = year + 1 if last is None else last
    start = dt.datetime(year, 1, 1, tzinfo=_UTC) - 2 * _SCAN_STEP
    end = (dt.datetime(last + 1, 1, 1, tzinfo=_UTC) + 2 * _SCAN_STEP
           if last < dt.MAXYEAR else _LAST_SCANNED)
    found: list[_Transition] = []
    before, offset_before = start, _offset_at(zone, start)
    while before < end:
        after = before + _SCAN_STEP
        offset_after = _offset_at(zone, after)
        if offset_after != offset_before:
            found.append(_pinpoint_transition(zone, before, after))
        before, offset_before = after, offset_after
    return [t for t in found if year <= t.wall.year <= last]


def _pinpoint_transition(zone: ZoneInfo, before: dt.datetime, after: dt.datetime) -> _Transition:
    """Bisect to the first second of the new offset; tzdata transitions fall on whole seconds."""
    offset_from = _offset_at(zone, before)
    low, high = 0, int((after - before) / _ONE_SECOND)
    while high - low > 1:
        middle = (low + high) // 2
        if _offset_at(zone, before + middle * _ONE_SECOND) == offset_from:
            low = middle
        else:
            high = middle
    moment = (before + high * _ONE_SECOND).astimezone(zone)
    offset_to = _offset_at(zone, moment)
    return _Transition(
        wall=(moment.astimezone(_UTC) + offset_from).replace(tzinfo=None),
        offset_from=offset_from,
        offset_to=offset_to,
        name=moment.tzname() or "",
        saving=moment.dst() or dt.timedelta(0),
    )


def _recurring_observances(
    this_year: list[_Transition], next_year: list[_Transition], year: int
) -> list[Observance] | None:
    """Build the STANDARD/DAYLIGHT pair, or None when the two years do not share rules.

    DAYLIGHT is whichever side has the larger offset, not zoneinfo's ``dst()``: Dublin's
    tzdata marks winter as negative daylight saving, and Outlook needs one of each kind.
    """
    if len(this_year) != 2 or len(next_year) != 2:
        return None
    first, second = this_year
    if first.springs_forward == second.springs_forward:
        return None
    if (first.offset_from, first.offset_to) != (second.offset_to, second.offset_from):
        return None

    observances: list[Observance] = []
    for transition in sorted(this_year, key=lambda t: t.springs_forward):
        same_change_next_year = [
            t
            for t in next_year
            if (t.offset_from, t.offset_to) == (transition.offset_from, transition.offset_to)
        ]
        if len(same_change_next_year) != 1:
            return None
        rule = _rule_reproducing(transition, same_change_next_year[0])
        if rule is None:
            return None
        first_onset = dt.datetime.combine(
            rule.date_in(min(_REFERENCE_YEAR, year)), transition.wall.time()
        )
        observances.append(
            Observance(
                daylight=transition.springs_forward,
                onset=first_onset,
                offset_from=transition.offset_from,
                offset_to=transition.offset_to,
                name=transition.name,
                rule=rule.as_recur(),
            )
        )
    return observances


def _rule_reproducing(transition: _Transition, a_year_later: _Transition) -> _YearlyRule | None:
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


def _candidate_rules(day: dt.date) -> list[_YearlyRule]:
    """List the yearly rules that produce ``day``, in the order clients should prefer them.

    A date in days 22-28 is both "4th" and (maybe) "last" weekday; "last" comes first
    because that is how tzdata states most such rules (EU: last Sunday), and the next
    year's date then decides. Days 29-31 can only be "last".
    """
    _, days_in_month = calendar.monthrange(day.year, day.month)
    week = (day.day - 1) // 7 + 1
    candidates: list[_YearlyRule] = []
    if day.day + 7 > days_in_month:
        candidates.append(_NthWeekdayRule(day.month, -1, day.weekday()))
    if week <= 4:
        candidates.append(_NthWeekdayRule(day.month, week, day.weekday()))
    candidates.append(_MonthDayRule(day.month, day.day))
    return candidates


def _one_off_observances(
    zone: ZoneInfo, year: int, transitions: list[_Transition]
) -> list[Observance]:
    """List each transition of the years described, after the offset in force before the first.

    Without that opening observance a client would have no offset for the weeks before the
    first listed change.
    """
    # Read just before the first change, not at local midnight: a change can fall exactly
    # on 1 January 00:00 (Bissau, 1975).
    first_change = (transitions[0].wall - transitions[0].offset_from).replace(tzinfo=_UTC)
    opening = _state_since_reference_year(zone, first_change - _ONE_SECOND, year)
    changes = [opening, *transitions]
    negative_saving_offsets = [c.offset_to for c in changes if c.saving < dt.timedelta(0)]
    observances = []
    for change in changes:
        daylight = _counts_as_daylight(change, negative_saving_offsets)
        offset_from = change.offset_from
        if change is opening and daylight:
            # Readers such as dateutil take TZOFFSETTO - TZOFFSETFROM as the saving; an
            # opening DAYLIGHT with equal offsets would save nothing and mislead their
            # handling of the repeated hour. It came from the offset it next returns to.
            offset_from = transitions[0].offset_to
        observances.append(
            Observance(
                daylight=daylight,
                onset=change.wall,
                offset_from=offset_from,
                offset_to=change.offset_to,
                name=change.name,
            )
        )
    return observances


def _counts_as_daylight(change: _Transition, negative_saving_offsets: list[dt.timedelta]) -> bool:
    """Call the higher side DAYLIGHT even where tzdata records negative saving.

    tzdata writes Casablanca's Ramadan hour (and Dublin's winter) as daylight saving of
    minus one hour; clients only know positive saving, and dateutil, for one, misreads the
    repeated hour when both sides are STANDARD.
    """
    if change.saving > dt.timedelta(0):
        return True
    return any(change.offset_to > offset for offset in negative_saving_offsets)


def _fixed_offset_observance(zone: ZoneInfo, year: int) -> Observance:
    state = _state_since_reference_year(zone, dt.datetime(year, 1, 1, tzinfo=zone), year)
    return Observance(
        daylight=False,
        onset=state.wall,
        offset_from=state.offset_from,
        offset_to=state.offset_to,
        name=state.name,
    )


def _state_since_reference_year(zone: ZoneInfo, instant: dt.datetime, year: int) -> _Transition:
    """Describe the offset at ``instant`` as if it had held since 1970 (or ``year``)."""
    local = instant.astimezone(zone)
    offset = _offset_at(zone, local)
    return _Transition(
        wall=dt.datetime(min(_REFERENCE_YEAR, year), 1, 1),
        offset_from=offset,
        offset_to=offset,
        name=local.tzname() or "",
        saving=local.dst() or dt.timedelta(0),
    )

