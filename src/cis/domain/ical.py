"""The iCalendar REQUEST (RFC 5545 / RFC 5546) that one attendee receives."""

from __future__ import annotations

import datetime as dt

import icalendar

from cis.domain.model import Event, Invitee
from cis.domain.text import one_line, plain_text
from cis.domain.vtimezone import vtimezone_for

PRODID = "-//cis//Calendar Invite Server//EN"


def render_calendar(
    event: Event, invitee: Invitee, *, rsvp_email: str, dtstamp: dt.datetime
) -> bytes:
    """Serialise the invitation calendar: CRLF line endings, lines folded at 75 octets.

    The ORGANIZER is `rsvp_email`, so that every client's Accept/Decline reply reaches the
    address whose mail cis reads. Times are UTC (`Z`) unless the event names a zone, which
    then travels as TZID plus a rule-based VTIMEZONE.
    """
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "REQUEST")
    if event.timezone:
        calendar.add_component(vtimezone_for(event.timezone, event.start))
    calendar.add_component(_vevent(event, invitee, rsvp_email, dtstamp))
    serialised: bytes = calendar.to_ical()
    return serialised


def _vevent(
    event: Event, invitee: Invitee, rsvp_email: str, dtstamp: dt.datetime
) -> icalendar.Event:
    vevent = icalendar.Event()
    vevent.add("uid", event.uid)
    vevent.add("dtstamp", dtstamp.astimezone(dt.UTC))
    vevent.add("dtstart", _when(event.start, event.timezone))
    vevent.add("dtend", _when(event.end, event.timezone))
    vevent.add("summary", plain_text(event.summary))
    if event.description:
        vevent.add("description", plain_text(event.description))
    if event.location:
        vevent.add("location", plain_text(event.location))
    vevent.add("sequence", event.sequence)
    vevent.add("status", str(event.status))
    vevent.add("transp", "OPAQUE")
    vevent.add("organizer", _address(rsvp_email, event.organizer))
    attendee = _address(invitee.email, invitee.name)
    attendee.params["CUTYPE"] = "INDIVIDUAL"
    attendee.params["ROLE"] = "REQ-PARTICIPANT"
    attendee.params["PARTSTAT"] = str(invitee.partstat)
    attendee.params["RSVP"] = "TRUE"
    vevent.add("attendee", attendee)
    return vevent


def _when(moment: dt.datetime, timezone: str | None) -> dt.datetime:
    """Keep the event's zone when it has one (TZID), otherwise write UTC."""
    return moment if timezone else moment.astimezone(dt.UTC)


def _address(email: str, name: str | None) -> icalendar.vCalAddress:
    address = icalendar.vCalAddress(f"mailto:{email}")
    common_name = one_line(name) if name else ""
    if common_name:
        address.params["CN"] = common_name
    return address
