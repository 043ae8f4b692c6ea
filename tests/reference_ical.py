"""Reference: the icalendar-based calendar writer, as cis shipped it before it wrote its own.

`render_calendar` here is the domain's code from the day the domain stopped importing
icalendar, unchanged in behaviour, writing also the CANCEL messages (RFC 5546 section 3.2.5,
from the RFC's table of that method's properties), and `vtimezone_for` serialises the
domain's VTIMEZONE description with icalendar's components, as the domain used to. The
zone rules themselves are the domain's (tests/unit/test_vtimezone.py checks them against
dateutil and tzdata): what the equivalence tests hold to these bytes is the writing. Nothing
in `src` may import this module.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import icalendar
from icalendar.prop import vRecur

from cis.domain.model import Event, Invitee, Standing
from cis.domain.recurrence import event_series
from cis.domain.rendering import vtimezone
from cis.domain.rendering.text import common_name, plain_text
from cis.domain.rendering.vtimezone import wall_clock


class _RecurInOutlookOrder(vRecur):
    """An RRULE that prints BYMONTH before BYDAY.

    icalendar orders the parts as RFC 5545's grammar lists them (BYDAY first); Outlook,
    Exchange and Google all print ``FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU``, and some strict
    consumers compare VTIMEZONEs textually against their own.
    """

    canonical_order = (
        "RSCALE",
        "FREQ",
        "UNTIL",
        "COUNT",
        "INTERVAL",
        "BYSECOND",
        "BYMINUTE",
        "BYHOUR",
        "BYMONTH",
        "BYDAY",
        "BYWEEKDAY",
        "BYMONTHDAY",
        "BYYEARDAY",
        "BYWEEKNO",
        "BYSETPOS",
        "WKST",
        "SKIP",
    )


def vtimezone_for(tzid: str, around: dt.datetime,
                  through: dt.datetime | None = None) -> icalendar.Timezone:
    """The domain's VTIMEZONE for ``tzid`` around ``around``, as icalendar components.

    Raises:
        ValueError: ``tzid`` is not a time zone that zoneinfo knows.

    """
    description = vtimezone.vtimezone_for(tzid, around, through)
    timezone = icalendar.Timezone()
    timezone.add("TZID", description.tzid)
    for observance in description.observances:
        component: icalendar.Component = (
            icalendar.TimezoneDaylight() if observance.daylight else icalendar.TimezoneStandard()
        )
        component.add("DTSTART", observance.onset)
        component.add("TZOFFSETFROM", observance.offset_from)
        component.add("TZOFFSETTO", observance.offset_to)
        if observance.name:
            component.add("TZNAME", observance.name)
        if observance.rule is not None:
            component.add("RRULE", _RecurInOutlookOrder(vRecur.from_ical(observance.rule)))
        timezone.add_component(component)
    return timezone


# The calendar, from cis.domain.rendering.ical.

PRODID = "-//cis//Calendar Invite Server//EN"


def render_calendar(
    event: Event, invitee: Invitee, *, rsvp_email: str, dtstamp: dt.datetime,
    standing: Standing = Standing.INVITED,
) -> bytes:
    """Serialise the invitation calendar: CRLF line endings, lines folded at 75 octets.

    The ORGANIZER is `rsvp_email`, so that every client's Accept/Decline reply reaches the
    address whose mail cis reads. Times are UTC (`Z`) unless the event names a zone, which
    then travels as TZID plus a rule-based VTIMEZONE; a time whose wall clock there would
    not name it exactly (see `wall_clock`) is written in UTC all the same. Times are whole
    seconds, as iCalendar has them: the fraction is dropped, as the v1 parser drops it.

    Raises:
        ValueError: the event does not end at least a whole second after it starts (RFC
            5545 wants DTEND later than DTSTART), or names a zone zoneinfo does not know.

    """
    start, end = _whole_second(event.start), _whole_second(event.end)
    if end <= start:
        raise ValueError(
            f"event {event.uid!r} must end at least a whole second after it starts "
            f"(starts {start.isoformat()}, ends {end.isoformat()})"
        )
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "REQUEST" if standing is Standing.INVITED else "CANCEL")
    # The series' span (how many years the VTIMEZONE describes) is the domain's to say.
    recurrence = event_series(event)
    if event.timezone and not event.all_day:
        through = recurrence.last_end if recurrence else None
        calendar.add_component(vtimezone_for(event.timezone, event.start, through))
    calendar.add_component(_vevent(event, invitee, rsvp_email, dtstamp, start, end, standing))
    serialised: bytes = calendar.to_ical()
    return serialised


def _vevent(
    event: Event, invitee: Invitee, rsvp_email: str, dtstamp: dt.datetime,
    start: dt.datetime, end: dt.datetime, standing: Standing,
) -> icalendar.Event:
    vevent = icalendar.Event()
    vevent.add("uid", event.uid)
    vevent.add("dtstamp", dtstamp.astimezone(dt.UTC))
    if event.all_day:  # DATE values, in no zone
        vevent.add("dtstart", start.date())
        vevent.add("dtend", end.date())
    else:
        vevent.add("dtstart", _when(start, event))
        vevent.add("dtend", _when(end, event))
    vevent.add("summary", _Text(plain_text(event.summary)))
    if event.description:
        vevent.add("description", _Text(plain_text(event.description)))
    if event.location:
        vevent.add("location", _Text(plain_text(event.location)))
    vevent.add("sequence", event.sequence)
    if event.rrule is not None:
        vevent.add("rrule", _RecurInOutlookOrder(vRecur.from_ical(event.rrule)))
        for moment in event.exdates:
            if event.all_day:
                vevent.add("exdate", moment.astimezone(dt.UTC).date())
            elif event.timezone:
                vevent.add("exdate", moment.astimezone(ZoneInfo(event.timezone)))
            else:
                vevent.add("exdate", moment.astimezone(dt.UTC))
    # RFC 5546 section 3.2.5: STATUS is CANCELLED in a CANCEL of the whole event, and
    # absent from one that uninvites some attendees; a CANCEL asks for no answer.
    if standing is Standing.INVITED:
        vevent.add("status", str(event.status))
    elif standing is Standing.CANCELLED:
        vevent.add("status", "CANCELLED")
    vevent.add("transp", "OPAQUE")
    vevent.add("organizer", _address(rsvp_email, event.organizer))
    attendee = _address(invitee.email, invitee.name)
    attendee.params["CUTYPE"] = "INDIVIDUAL"
    attendee.params["ROLE"] = str(invitee.role)
    attendee.params["PARTSTAT"] = str(invitee.partstat)
    attendee.params["RSVP"] = "TRUE" if standing is Standing.INVITED else "FALSE"
    vevent.add("attendee", attendee)
    if event.url:
        vevent.add("url", event.url)
    # RFC 5546 section 3.2.5: a CANCEL carries no VALARM.
    if event.reminder_minutes is not None and standing is Standing.INVITED:
        alarm = icalendar.Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", "Reminder")
        alarm.add("trigger", -dt.timedelta(minutes=event.reminder_minutes))
        vevent.add_component(alarm)
    return vevent


def _whole_second(moment: dt.datetime) -> dt.datetime:
    """The instant in UTC, its fraction of a second dropped."""
    return moment.astimezone(dt.UTC).replace(microsecond=0)


def _when(instant: dt.datetime, event: Event) -> dt.datetime:
    """The event's wall clock (TZID) where it names the instant exactly, otherwise UTC."""
    if event.timezone is None:
        return instant
    local = wall_clock(instant, event.timezone, event.start)
    return instant if local is None else local


class _Text(icalendar.vText):
    """A TEXT value escaped as RFC 5545 section 3.3.11 says, and nothing more.

    icalendar (7.3) first turns a backslash followed by a capital N into a line break, so a
    summary holding one (a Windows path, say) would be read back with a line break in it.
    """

    __slots__ = ()

    def to_ical(self) -> bytes:
        escaped = (
            self.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\n", "\\n")
        )
        return escaped.encode("utf-8")


def _address(email: str, name: str | None) -> icalendar.vCalAddress:
    address = icalendar.vCalAddress(f"mailto:{email}")
    name = common_name(name) if name else ""
    if name:
        address.params["CN"] = name
    return address
