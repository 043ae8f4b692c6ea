"""VTIMEZONE components written with yearly rules, the way Outlook and Google write them.

Which offsets a zone changes between, and when, is `cis.domain.rendering.zone_transitions`'s;
this module chooses the years described and writes the STANDARD and DAYLIGHT blocks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cis.domain.recurrence_rule import WEEKDAY_CODES
from cis.domain.rendering.ical_lines import (
    content_line,
    date_time,
    serialise,
    text,
    utc_offset,
)
from cis.domain.rendering.zone_transitions import (
    MonthDayRule,
    NthWeekdayRule,
    Transition,
    YearlyRule,
    offset_at,
    rule_reproducing,
    transitions_in_years,
)
from cis.domain.zones import iana_zone

__all__ = ["Observance", "VTimezone", "vtimezone_for", "wall_clock"]

# Google writes every rule-based VTIMEZONE with DTSTART in 1970, on the first occurrence of
# the rule in that year; Outlook writes 1601-01-01, which is not on the rule and which RFC 5545
# calls undefined ("DTSTART SHOULD be synchronized with the recurrence rule"), and which
# some parsers cannot represent. 1970 lies before any event we send, so the rules cover every
# date a receiving client will ask about (an event before 1970 uses its own year instead).
_REFERENCE_YEAR = 1970

_UTC = dt.UTC
_ONE_SECOND = dt.timedelta(seconds=1)
# The last year a VTIMEZONE describes is the year after the first: 9999 at most.
_LAST_FIRST_YEAR = dt.MAXYEAR - 1


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
    transitions = transitions_in_years(zone, year, last)
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


def _rules_hold(observances: list[Observance], transitions: list[Transition],
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


def _rule_of(observance: Observance) -> YearlyRule:
    """The yearly rule an observance written by `_recurring_observances` repeats on."""
    assert observance.rule is not None  # recurring observances all have one
    parts = dict(part.split("=") for part in observance.rule.split(";"))
    month = int(parts["BYMONTH"])
    if "BYMONTHDAY" in parts:
        return MonthDayRule(month, int(parts["BYMONTHDAY"]))
    week, weekday = parts["BYDAY"][:-2], parts["BYDAY"][-2:]
    return NthWeekdayRule(month, int(week), WEEKDAY_CODES.index(weekday))


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


def _recurring_observances(
    this_year: list[Transition], next_year: list[Transition], year: int
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
        rule = rule_reproducing(transition, same_change_next_year[0])
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


def _one_off_observances(
    zone: ZoneInfo, year: int, transitions: list[Transition]
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


def _counts_as_daylight(change: Transition, negative_saving_offsets: list[dt.timedelta]) -> bool:
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


def _state_since_reference_year(zone: ZoneInfo, instant: dt.datetime, year: int) -> Transition:
    """Describe the offset at ``instant`` as if it had held since 1970 (or ``year``)."""
    local = instant.astimezone(zone)
    offset = offset_at(zone, local)
    return Transition(
        wall=dt.datetime(min(_REFERENCE_YEAR, year), 1, 1),
        offset_from=offset,
        offset_to=offset,
        name=local.tzname() or "",
        saving=local.dst() or dt.timedelta(0),
    )
