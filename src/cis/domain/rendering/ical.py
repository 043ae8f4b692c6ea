"""The iCalendar message (RFC 5545 / RFC 5546) one attendee receives: a REQUEST or a CANCEL."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from cis.domain.limits import reminder_problem
from cis.domain.links import link_problem
from cis.domain.model import Event, EventStatus, Invitee, Standing
from cis.domain.recurrence import event_series
from cis.domain.recurrence_rule import parse_rule
from cis.domain.rendering.ical_lines import (
    cal_address,
    content_line,
    date_time,
    date_value,
    duration,
    integer,
    serialise,
    text,
    uid_text,
    uri,
)
from cis.domain.rendering.text import common_name, plain_text
from cis.domain.rendering.vtimezone import vtimezone_for, wall_clock
from cis.domain.zones import iana_zone

PRODID = "-//cis//Calendar Invite Server//EN"

#: Zones whose times are written in UTC (``...Z``, no TZID) all the same: the zones
#: icalendar's table of equivalent zone ids takes for UTC, so that the bytes match the
#: icalendar-based reference writer and an update reads as the invitation a client holds
#: (held by test_the_zones_written_as_utc_are_those_icalendar_takes_for_utc).
WRITTEN_AS_UTC = frozenset({
    "Africa/Abidjan", "Africa/Accra", "Africa/Bamako", "Africa/Banjul", "Africa/Conakry",
    "Africa/Dakar", "Africa/Freetown", "Africa/Lome", "Africa/Nouakchott", "Africa/Ouagadougou",
    "Africa/Timbuktu", "Atlantic/Reykjavik", "Atlantic/St_Helena", "Etc/GMT", "Etc/GMT+0",
    "Etc/GMT-0", "Etc/GMT0", "Etc/Greenwich", "Etc/UCT", "Etc/UTC", "Etc/Universal", "Etc/Zulu",
    "GMT", "GMT+0", "GMT-0", "GMT0", "Greenwich", "Iceland", "UCT", "UTC", "Universal", "Zulu",
})


def render_calendar(
    event: Event, invitee: Invitee, *, rsvp_email: str, dtstamp: dt.datetime,
    standing: Standing = Standing.INVITED,
) -> bytes:
    """Serialise the calendar one message carries: CRLF line endings, lines folded at 75 octets.

    `standing` says which message (RFC 5546): INVITED writes a REQUEST, the first invitation
    or, at a higher SEQUENCE, an update, which asks for an answer (RSVP=TRUE) again; CANCELLED
    and REMOVED write a CANCEL, which asks for none (RSVP=FALSE). Every message of an event
    has its UID and the event's SEQUENCE; its STATUS is `written_status`.

    The ORGANIZER is `rsvp_email`, so that every client's Accept/Decline reply reaches the
    address whose mail cis reads. Times are UTC (`Z`) unless the event names a zone, which
    then travels as TZID plus a rule-based VTIMEZONE; a time whose wall clock there would
    not name it exactly (see `wall_clock`) is written in UTC all the same. Times are whole
    seconds, as iCalendar has them: the fraction is dropped, as the v1 parser drops it.

    Raises:
        ValueError: the event does not end at least a whole second after it starts (RFC
            5545 wants DTEND later than DTSTART), names a zone zoneinfo does not know, has a
            SEQUENCE outside 32 bits, or an address holds a line break; or (as
            UnicodeEncodeError) some text holds a lone surrogate, which UTF-8 cannot carry.

    """
    start, end = _whole_second(event.start), _whole_second(event.end)
    if end <= start:
        raise ValueError(
            f"event {event.uid!r} must end at least a whole second after it starts "
            f"(starts {start.isoformat()}, ends {end.isoformat()})"
        )
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        content_line("PRODID", PRODID),
        "CALSCALE:GREGORIAN",
        content_line("METHOD", str(standing.method)),
    ]
    recurrence = event_series(event)
    if event.all_day:
        _check_all_day(event, start, end)
    elif event.timezone:
        through = recurrence.last_end if recurrence else None
        lines += vtimezone_for(event.timezone, event.start, through).content_lines()
    lines += _vevent(event, invitee, rsvp_email, dtstamp, start, end, standing)
    lines.append("END:VCALENDAR")
    return serialise(lines)


def written_status(event: Event, standing: Standing) -> EventStatus | None:
    """The VEVENT's STATUS in the message that leaves an attendee at `standing`; None: none.

    RFC 5546 section 3.2.5: a CANCEL of the whole event carries STATUS:CANCELLED, and a
    CANCEL that takes some attendees off an event that goes on carries no STATUS. Where
    Outlook differs, cis follows the RFC: Outlook sends a removed attendee the meeting
    cancellation it sends for the whole event ([MS-OXOCAL] 3.1.4.9.1.1), STATUS:CANCELLED
    included, and a calendar that keeps cancelled events (struck through) would then show
    the removed attendee an event that still takes place as cancelled. METHOD:CANCEL is what
    takes the event out of their calendar. A REQUEST carries the event's own status.
    """
    if standing is Standing.INVITED:
        return event.status
    return EventStatus.CANCELLED if standing is Standing.CANCELLED else None


def _vevent(
    event: Event, invitee: Invitee, rsvp_email: str, dtstamp: dt.datetime,
    start: dt.datetime, end: dt.datetime, standing: Standing,
) -> list[str]:
    """The VEVENT's lines, its properties in the reference writer's order.

    The values that can be refused are made in a fixed order (DTSTAMP, DTSTART, DTEND,
    SEQUENCE, ORGANIZER, ATTENDEE), so that an event with more than one fault is refused
    for the same one every time; the byte-for-byte tests in test_ical_equivalence.py hold
    both orders.
    """
    _check_link_and_reminder(event)
    stamp = _date_time_line("DTSTAMP", dtstamp.astimezone(dt.UTC))
    if event.all_day:
        starts, ends = _date_line("DTSTART", start), _date_line("DTEND", end)
    else:
        starts = _date_time_line("DTSTART", _when(start, event))
        ends = _date_time_line("DTEND", _when(end, event))
    sequence = integer(event.sequence)
    organizer = _address("ORGANIZER", rsvp_email, event.organizer)
    attendee = _address(
        "ATTENDEE", invitee.email, invitee.name, CUTYPE="INDIVIDUAL", ROLE=str(invitee.role),
        PARTSTAT=str(invitee.partstat), RSVP=rsvp(standing),
    )
    lines = [
        "BEGIN:VEVENT",
        content_line("SUMMARY", text(plain_text(event.summary))),
        starts,
        ends,
        stamp,
        content_line("UID", uid_text(event.uid)),
        content_line("SEQUENCE", sequence),
        *_recurrence_lines(event),
        attendee,
    ]
    if event.description:
        lines.append(content_line("DESCRIPTION", text(plain_text(event.description))))
    if event.location:
        lines.append(content_line("LOCATION", text(plain_text(event.location))))
    lines.append(organizer)
    status = written_status(event, standing)
    if status is not None:
        lines.append(content_line("STATUS", text(str(status))))
    lines.append("TRANSP:OPAQUE")
    if event.url:
        lines.append(content_line("URL", uri(event.url)))
    if event.reminder_minutes is not None and standing is Standing.INVITED:
        lines += _alarm(event.reminder_minutes)
    lines.append("END:VEVENT")
    return lines


def _check_link_and_reminder(event: Event) -> None:
    """Refuse a link or reminder the validator would refuse (a library caller's own Event)."""
    problem = link_problem(event.url) if event.url is not None else None
    if problem is not None:
        raise ValueError(f"event url {problem}")
    if event.reminder_minutes is not None:
        problem = reminder_problem(event.reminder_minutes)
        if problem is not None:
            raise ValueError(f"event reminder_minutes {problem}")


REMINDER_TEXT = "Reminder"
"""The VALARM's DESCRIPTION, which RFC 5545 requires of a DISPLAY alarm."""


def _alarm(minutes: int) -> list[str]:
    """A DISPLAY alarm `minutes` before the start (RFC 5545 section 3.6.6).

    Only a REQUEST carries one: RFC 5546 section 3.2.5 allows no VALARM in a CANCEL.
    """
    return [
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        content_line("DESCRIPTION", text(REMINDER_TEXT)),
        content_line("TRIGGER", duration(-dt.timedelta(minutes=minutes))),
        "END:VALARM",
    ]


def rsvp(standing: Standing) -> str:
    """The ATTENDEE's RSVP: a REQUEST asks for an answer, a CANCEL asks for none."""
    return "TRUE" if standing is Standing.INVITED else "FALSE"


def _whole_second(moment: dt.datetime) -> dt.datetime:
    """The instant in UTC, its fraction of a second dropped."""
    return moment.astimezone(dt.UTC).replace(microsecond=0)


def _when(instant: dt.datetime, event: Event) -> dt.datetime:
    """The event's wall clock (TZID) where it names the instant exactly, otherwise UTC."""
    if event.timezone is None:
        return instant
    local = wall_clock(instant, event.timezone, event.start)
    return instant if local is None else local


def _date_time_line(name: str, moment: dt.datetime) -> str:
    """A DATE-TIME line: a zone's wall clock with its TZID, UTC (or `WRITTEN_AS_UTC`) as ``Z``."""
    zone = moment.tzinfo
    if isinstance(zone, ZoneInfo) and zone.key not in WRITTEN_AS_UTC:
        return content_line(name, date_time(moment, utc=False), {"TZID": zone.key})
    # Converted, not relabelled: some of those zones were not on UTC before 1970 (Accra,
    # Reykjavik), where icalendar wrote their wall clock with a Z.
    return content_line(name, date_time(moment.astimezone(dt.UTC), utc=True))


def _recurrence_lines(event: Event) -> list[str]:
    """RRULE and one EXDATE line per occurrence left out, each written as DTSTART is.

    `render_calendar` has checked the series (`event_series`): each EXDATE is an
    occurrence, a wall-clock time the zone shows once, within the years the VTIMEZONE
    describes; Google Calendar writes EXDATEs one a line too.
    """
    if event.rrule is None:
        return []
    lines = [content_line("RRULE", parse_rule(event.rrule).text())]
    for moment in event.exdates:
        if event.all_day:
            lines.append(_date_line("EXDATE", moment.astimezone(dt.UTC)))
        elif event.timezone:
            lines.append(_date_time_line("EXDATE", moment.astimezone(iana_zone(event.timezone))))
        else:
            lines.append(_date_time_line("EXDATE", moment.astimezone(dt.UTC)))
    return lines


def _check_all_day(event: Event, start: dt.datetime, end: dt.datetime) -> None:
    """Refuse an all-day event whose times are not whole days in no zone (see `Event`)."""
    if event.timezone is not None:
        raise ValueError(f"all-day event {event.uid!r} names a time zone; its dates have none")
    for name, moment in (("start", start), ("end", end)):
        if moment.time() != dt.time():
            raise ValueError(f"all-day event {event.uid!r} must {name} at midnight UTC, "
                             f"the first moment of a date ({moment.isoformat()})")


def _date_line(name: str, moment: dt.datetime) -> str:
    """A DATE line: the day `moment` (midnight UTC) begins, ``;VALUE=DATE``."""
    return content_line(name, date_value(moment.date()), {"VALUE": "DATE"})


def _address(name: str, email: str, common: str | None, **parameters: str) -> str:
    """An ORGANIZER or ATTENDEE line, with a CN where there is a name to give."""
    cn = common_name(common) if common else ""
    if cn:
        parameters["CN"] = cn
    return content_line(name, cal_address(f"mailto:{email}"), parameters)
