"""The RRULE values cis sends: the text read, checked part by part, and written back.

cis takes the rules that Outlook, Gmail and Apple Calendar expand alike: the recurrence
templates Exchange maps into its own recurrence ([MS-OXCICAL] section 2.1.3.2.2), which are
what those calendars write themselves. Every day or every N days; every week on some days of
the week; every month on a day of the month (1 to 28, or -1 for the last) or on the Nth of
some days of the week (BYSETPOS 1 to 4, or -1 for the last); every year likewise, in one
month. Anything else (hourly rules, BYWEEKNO, a day that some months lack) is refused with
the reason, never sent for calendars to read differently.

This module holds the rule alone, apart from any event's times, so a rule can be read,
refused or put in words (`cis.domain.rendering.recurrence_text`) without expanding it; the
occurrences it gives and the bounds on them are `cis.domain.recurrence`'s.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from cis.domain.rendering.ical_lines import recur

__all__ = [
    "MAX_COUNT",
    "MAX_INTERVAL",
    "MAX_RULE_LENGTH",
    "WEEKDAY_CODES",
    "Frequency",
    "Rule",
    "RuleError",
    "parse_rule",
]

MAX_COUNT = 999
"""Occurrences a COUNT may ask for: what Outlook's recurrence holds (three digits)."""
MAX_INTERVAL = 999
"""The largest INTERVAL."""
MAX_RULE_LENGTH = 500
"""Characters of an RRULE value; the longest rule cis takes is under 120."""

WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_PARTS = ("FREQ", "UNTIL", "COUNT", "INTERVAL", "BYMONTH", "BYDAY", "BYMONTHDAY", "BYSETPOS",
          "WKST")
_NOT_TAKEN = ("BYSECOND", "BYMINUTE", "BYHOUR", "BYYEARDAY", "BYWEEKNO", "RSCALE", "SKIP")
_SET_POSITIONS = (1, 2, 3, 4, -1)
_NUMBER = re.compile(r"[+-]?[0-9]{1,4}")
_UNTIL_DATE = re.compile(r"[0-9]{8}")
_UNTIL_TIME = re.compile(r"[0-9]{8}T[0-9]{6}Z")

class Frequency(StrEnum):
    """The FREQ values cis takes: none shorter than a day, which no invitation repeats at."""

    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    YEARLY = "YEARLY"


class RuleError(ValueError):
    """Raised when a rule is not one cis sends; the message names the part that is wrong."""


@dataclass(frozen=True, slots=True)
class Rule:
    """A checked RRULE. Weekdays are 0 (MO) to 6 (SU); `until` is a date, or a UTC time."""

    frequency: Frequency
    interval: int | None = None
    count: int | None = None
    until: dt.date | dt.datetime | None = None
    by_day: tuple[int, ...] = ()
    by_month_day: int | None = None
    by_month: int | None = None
    by_set_pos: int | None = None
    week_start: int | None = None

    @property
    def step(self) -> int:
        """How many periods (days, weeks, months, years) from one to the next."""
        return self.interval or 1

    def text(self) -> str:
        """The rule as cis writes it: its parts in the order Outlook prints them."""
        parts: dict[str, str | int] = {"FREQ": str(self.frequency)}
        if isinstance(self.until, dt.datetime):
            parts["UNTIL"] = self.until.strftime("%Y%m%dT%H%M%SZ")
        elif self.until is not None:
            parts["UNTIL"] = f"{self.until.year:04}{self.until.month:02}{self.until.day:02}"
        for name, value in (("COUNT", self.count), ("INTERVAL", self.interval),
                            ("BYMONTH", self.by_month), ("BYMONTHDAY", self.by_month_day),
                            ("BYSETPOS", self.by_set_pos)):
            if value is not None:
                parts[name] = value
        if self.by_day:
            parts["BYDAY"] = ",".join(WEEKDAY_CODES[day] for day in self.by_day)
        if self.week_start is not None:
            parts["WKST"] = WEEKDAY_CODES[self.week_start]
        return recur(parts)


def parse_rule(text: str) -> Rule:
    """The rule an RRULE value states (RFC 5545 section 3.3.10), if cis sends it.

    Part names and values are read in any case; the rule is written back in Outlook's order
    (`Rule.text`).

    Raises:
        RuleError: naming the part that is wrong, and what is expected.

    """
    if len(text) > MAX_RULE_LENGTH:
        raise RuleError(f"must be at most {MAX_RULE_LENGTH} characters")
    if text[:6].upper() == "RRULE:":
        raise RuleError("write the rule's value alone, without RRULE: "
                        "(FREQ=WEEKLY;BYDAY=MO;COUNT=10)")
    parts = _parts(text)
    frequency = _frequency(parts)
    interval = _bounded(parts, "INTERVAL", MAX_INTERVAL)
    count = _bounded(parts, "COUNT", MAX_COUNT)
    until = _until(parts.get("UNTIL"))
    if count is not None and until is not None:
        raise RuleError("COUNT: not with UNTIL: a rule ends one way or the other")
    if count is None and until is None:
        raise RuleError(f"must end: give COUNT (at most {MAX_COUNT}) or UNTIL, at most ten "
                        "years after dtstart")
    rule = Rule(
        frequency=frequency, interval=interval, count=count, until=until,
        by_day=_weekdays(parts.get("BYDAY")),
        by_month_day=_month_day(parts.get("BYMONTHDAY"), frequency),
        by_month=_month(parts.get("BYMONTH")),
        by_set_pos=_set_position(parts.get("BYSETPOS")),
        week_start=_weekday(parts["WKST"], "WKST") if "WKST" in parts else None,
    )
    _check_shape(rule)
    return rule


def _parts(text: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for part in text.split(";"):
        name, equals, value = part.partition("=")
        if not part:
            raise RuleError("holds an empty part: two ; in a row, or one at either end")
        if not equals or not name or not value:
            raise RuleError(f"{part[:40]!r} is not a part of the form NAME=VALUE")
        name = name.upper()
        if name in _NOT_TAKEN:
            raise RuleError(f"{name}: not taken: cis sends the rules Outlook, Gmail and Apple "
                            "Calendar expand alike, and the time of day is dtstart's")
        if name not in _PARTS:
            raise RuleError(f"{name[:40]}: is not a part of an RRULE (RFC 5545 section 3.3.10)")
        if name in parts:
            raise RuleError(f"{name}: is given twice")
        parts[name] = value.upper()
    return parts


def _frequency(parts: dict[str, str]) -> Frequency:
    value = parts.get("FREQ")
    if value is None:
        raise RuleError("FREQ: is required: DAILY, WEEKLY, MONTHLY or YEARLY")
    if value in ("SECONDLY", "MINUTELY", "HOURLY"):
        raise RuleError(f"FREQ: {value} is not taken: an invitation repeats daily at most")
    try:
        return Frequency(value)
    except ValueError:
        raise RuleError("FREQ: must be one of DAILY, WEEKLY, MONTHLY, YEARLY") from None


def _number(value: str, name: str) -> int:
    if not _NUMBER.fullmatch(value):
        raise RuleError(f"{name}: {value[:20]!r} is not a whole number")
    return int(value)


def _bounded(parts: dict[str, str], name: str, highest: int) -> int | None:
    if name not in parts:
        return None
    number = _number(parts[name], name)
    if not 1 <= number <= highest:
        raise RuleError(f"{name}: must be 1 to {highest}")
    return number


def _until(value: str | None) -> dt.date | dt.datetime | None:
    if value is None:
        return None
    try:
        if _UNTIL_DATE.fullmatch(value):
            return dt.datetime.strptime(value, "%Y%m%d").date()
        if _UNTIL_TIME.fullmatch(value):
            return dt.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise RuleError(f"UNTIL: {value[:20]!r} is not a date or time that exists") from None
    raise RuleError("UNTIL: must be a date (20270501) for an all-day event, or a UTC time "
                    "(20270501T215959Z)")


def _weekday(value: str, name: str) -> int:
    if value not in WEEKDAY_CODES:
        raise RuleError(f"{name}: {value[:20]!r} is not a day of the week "
                        f"({', '.join(WEEKDAY_CODES)})")
    return WEEKDAY_CODES.index(value)


def _weekdays(value: str | None) -> tuple[int, ...]:
    if value is None:
        return ()
    days: list[int] = []
    for code in value.split(","):
        numbered = re.fullmatch(r"([+-]?[0-9]{1,2})([A-Z]{2})", code)
        if numbered:
            week, day = numbered.groups()
            raise RuleError(
                f"BYDAY: {code}: write the week of the month as BYSETPOS, the form Outlook "
                f"reads: BYDAY={day};BYSETPOS={int(week)}")
        day_number = _weekday(code, "BYDAY")
        if day_number in days:
            raise RuleError(f"BYDAY: {code} is given twice")
        days.append(day_number)
    return tuple(days)


def _month_day(value: str | None, frequency: Frequency) -> int | None:
    if value is None:
        return None
    if "," in value:
        raise RuleError("BYMONTHDAY: one day only: Outlook reads no list of days")
    day = _number(value, "BYMONTHDAY")
    highest = 28 if frequency is Frequency.MONTHLY else 31
    if frequency is Frequency.MONTHLY and 29 <= day <= 31:
        raise RuleError(
            f"BYMONTHDAY: {day} is not in every month, and calendars differ on the months "
            "without it (RFC 5545 leaves them out, Outlook takes their last day): use -1 for "
            "the last day of the month")
    if not (1 <= day <= highest or day == -1):
        raise RuleError(f"BYMONTHDAY: must be 1 to {highest}, or -1 for the last day")
    return day


def _month(value: str | None) -> int | None:
    if value is None:
        return None
    if "," in value:
        raise RuleError("BYMONTH: one month only: Outlook reads no list of months")
    month = _number(value, "BYMONTH")
    if not 1 <= month <= 12:
        raise RuleError("BYMONTH: must be 1 to 12")
    return month


def _set_position(value: str | None) -> int | None:
    if value is None:
        return None
    position = _number(value, "BYSETPOS") if "," not in value else None
    if position not in _SET_POSITIONS:
        raise RuleError("BYSETPOS: must be 1, 2, 3, 4 or -1 (the last)")
    return position


def _check_shape(rule: Rule) -> None:
    """Refuse the combinations of parts no recurrence template of Outlook's has."""
    frequency = rule.frequency
    given = {"BYDAY": bool(rule.by_day), "BYMONTHDAY": rule.by_month_day is not None,
             "BYMONTH": rule.by_month is not None, "BYSETPOS": rule.by_set_pos is not None}
    allowed = {
        Frequency.DAILY: set(),
        Frequency.WEEKLY: {"BYDAY"},
        Frequency.MONTHLY: {"BYDAY", "BYMONTHDAY", "BYSETPOS"},
        Frequency.YEARLY: {"BYDAY", "BYMONTHDAY", "BYSETPOS", "BYMONTH"},
    }[frequency]
    for name, present in given.items():
        if present and name not in allowed:
            hint = (": for days of the week, write FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
                    if name == "BYDAY" and frequency is Frequency.DAILY else "")
            raise RuleError(f"{name}: not with FREQ={frequency}{hint}")
    if frequency in (Frequency.MONTHLY, Frequency.YEARLY):
        if rule.by_day and rule.by_set_pos is None:
            raise RuleError("BYDAY: needs BYSETPOS to say which of the days in the month "
                            "(BYSETPOS=1 for the first, -1 for the last)")
        if rule.by_set_pos is not None and not rule.by_day:
            raise RuleError("BYSETPOS: needs BYDAY, the days it counts")
        if rule.by_day and rule.by_month_day is not None:
            raise RuleError("BYMONTHDAY: not with BYDAY: a day of the month or a day of the "
                            "week, one or the other")
    if frequency is Frequency.YEARLY and rule.by_day and rule.by_month is None:
        raise RuleError("BYMONTH: is required with BYDAY in a yearly rule")
