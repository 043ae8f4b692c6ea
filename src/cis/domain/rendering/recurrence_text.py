"""A recurring event's rule in words for the bodies: "Every Monday, 10 times"."""

from __future__ import annotations

import datetime as dt

from cis.domain.model import Event
from cis.domain.recurrence_rule import Frequency, Rule, parse_rule
from cis.domain.zones import iana_zone

__all__ = ["SHOWN_EXCEPTIONS", "repeats_text"]

SHOWN_EXCEPTIONS = 10
"""Dates left out that the words name; beyond them they say how many more."""

_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_SHORT_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December")
_SHORT_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_POSITIONS = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
_WORKDAYS = (0, 1, 2, 3, 4)
_WEEKEND = (5, 6)


def repeats_text(event: Event) -> str | None:
    """How the event repeats, in words, independent of the machine's locale; None if it does not.

    The rule (`Every 2 weeks on Monday and Thursday`), how it ends (`, 10 times`, `, until
    Mon 31 May 2027`) and the dates left out (`, except Mon 12 Apr 2027`), dates read in the
    event's zone as the calendar's are.
    """
    if event.rrule is None:
        return None
    rule = parse_rule(event.rrule)
    first = _local_date(event.start, event)
    words = _every(rule, first)
    if rule.count is not None:
        words += ", once" if rule.count == 1 else f", {rule.count} times"
    elif isinstance(rule.until, dt.datetime):
        words += f", until {_date(_local_date(rule.until, event))}"
    elif rule.until is not None:
        words += f", until {_date(rule.until)}"
    if event.exdates:
        days = sorted(_local_date(moment, event) for moment in event.exdates)
        named = ", ".join(_date(day) for day in days[:SHOWN_EXCEPTIONS])
        more = len(days) - SHOWN_EXCEPTIONS
        words += f", except {named}" + (f" and {more} more" if more > 0 else "")
    return words


def _local_date(moment: dt.datetime, event: Event) -> dt.date:
    if event.all_day or not event.timezone:
        return moment.astimezone(dt.UTC).date()
    return moment.astimezone(iana_zone(event.timezone)).date()


def _date(day: dt.date) -> str:
    return f"{_SHORT_DAYS[day.weekday()]} {day.day} {_SHORT_MONTHS[day.month - 1]} {day.year}"


def _every(rule: Rule, first: dt.date) -> str:
    step = rule.step
    if rule.frequency is Frequency.DAILY:
        return "Every day" if step == 1 else f"Every {step} days"
    if rule.frequency is Frequency.WEEKLY:
        chosen = tuple(sorted(rule.by_day or (first.weekday(),)))
        if chosen == _WORKDAYS:
            return ("Every weekday (Monday to Friday)" if step == 1
                    else f"Every {step} weeks, Monday to Friday")
        days = _days(chosen)
        return f"Every {days}" if step == 1 else f"Every {step} weeks on {days}"
    if rule.frequency is Frequency.MONTHLY:
        every = "Every month" if step == 1 else f"Every {step} months"
        return f"{every} on {_day_of_month(rule, first)}"
    every = "Every year" if step == 1 else f"Every {step} years"
    month = _MONTH_NAMES[(rule.by_month or first.month) - 1]
    if rule.by_day or rule.by_month_day == -1:
        return f"{every} on {_day_of_month(rule, first)} of {month}"
    return f"{every} on {rule.by_month_day or first.day} {month}"


def _day_of_month(rule: Rule, first: dt.date) -> str:
    if rule.by_day:
        return f"the {_POSITIONS[rule.by_set_pos or 1]} {_kind_of_day(rule.by_day)}"
    if rule.by_month_day == -1:
        return "the last day"
    return f"day {rule.by_month_day or first.day}"


def _kind_of_day(days: tuple[int, ...]) -> str:
    chosen = tuple(sorted(days))
    if chosen == _WORKDAYS:
        return "weekday"
    if chosen == _WEEKEND:
        return "weekend day"
    if len(chosen) == 7:
        return "day"
    return " or ".join(_DAY_NAMES[day] for day in chosen)


def _days(days: tuple[int, ...]) -> str:
    names = [_DAY_NAMES[day] for day in days]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
