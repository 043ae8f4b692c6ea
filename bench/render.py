"""Render cost per invite: one event, many attendees, four ways, against a floor run alongside.

What it times, for `examples/event.json` (a Berlin event with description, HTML description
and location, so the calendar carries a VTIMEZONE), or the event `--event` names
(`examples/event-series.json`: a series three times a week with exceptions, a meeting link
and a reminder), and `--attendees` generated attendees, each with its own `now` and message
id, all in this process:

- `(a) naive`: per attendee, from scratch: an icalendar `Calendar` (VTIMEZONE from
  `vtimezone_for`, VEVENT, ORGANIZER, ATTENDEE) and an `email.mime` message (`MIMEMultipart`
  mixed and alternative, `MIMEText` plain, HTML and calendar, a base64 `MIMEBase`
  attachment), serialised with the SMTP policy. Not byte-identical to ours; the same content.
- `(b) floor`: one `str.format` per attendee of a prepared message string (a real rendered
  invitation with the address and the name as placeholders), as `bench/bulk_send.py` does.
  It is the least any renderer must do; its output is not a valid invitation.
- `(c) compose_invitation`: the straightforward path, everything rendered per attendee.
- `(d) InvitationTemplate`: the event rendered once (building the template is timed too),
  then `render` per attendee.

Each way runs `--repeats` times and the best run counts, in wall-clock and in CPU time (CPU
time is steadier on a busy machine). The slow ways, (a) and (c), run on the first
`--slow-sample` attendees only: their cost per invite does not depend on the list's length.
`x floor` divides a way's time per invite by the floor's: the target is (d) <= 10x.

Before timing, (c) and (d) are rendered for a sample of attendees spread over the list and
compared byte for byte; any difference fails the run (exit 1). `--names mixed` makes every
third name non-ASCII and every third one need quoting, to time the header encoding too; it
also gives every other attendee a role other than REQ-PARTICIPANT.

Run from the repository root: `.venv/bin/python bench/render.py` (10,000 attendees; about a
minute, mostly (a) and (c)).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email import encoders, policy
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from pathlib import Path

import headlines
import icalendar
from headlines import Headline
from text_table import aligned, cpus_available

from cis.cli.inputs import read_event
from cis.domain.model import Event, Invitee, Role
from cis.domain.rendering.ical import PRODID
from cis.domain.rendering.imip import compose_invitation, sender_address, when_text
from cis.domain.rendering.invitation_template import InvitationTemplate
from cis.domain.rendering.text import escape_html, one_line, plain_text, sanitise_html
from cis.domain.rendering.vtimezone import vtimezone_for

EVENT = Path(__file__).resolve().parents[1] / "examples" / "event.json"
SENDER = "{} via Invites <invites@example.org>"
RSVP_EMAIL = "rsvp@example.org"
SAMPLE_EMAIL = "sample.attendee@example.net"
SAMPLE_NAME = "Sample Attendee"
START = dt.datetime(2026, 11, 28, 9, 30, tzinfo=dt.UTC)
DEFAULT_ATTENDEES = 10_000
DEFAULT_SLOW_SAMPLE = 1_000
DEFAULT_REPEATS = 3
VERIFY_SAMPLE = 100
TARGET = 10.0
ROLES = (Role.REQ_PARTICIPANT, Role.CHAIR, Role.REQ_PARTICIPANT, Role.OPT_PARTICIPANT)


@dataclass(frozen=True)
class Attendee:
    """One attendee and the two inputs that differ per message."""

    invitee: Invitee
    now: dt.datetime
    message_id: str


@dataclass(frozen=True)
class Timing:
    """The best run of one way: wall-clock and CPU seconds for `invites` invitations."""

    way: str
    invites: int
    wall: float
    cpu: float


def attendees(n: int, names: str) -> list[Attendee]:
    """N distinct attendees, one second apart, each with its own message id."""
    result = []
    for number in range(n):
        name = f"Attendee {number}"
        if names == "mixed" and number % 3 == 1:
            name = f"Zoë Ünal {number}"
        elif names == "mixed" and number % 3 == 2:
            name = f"Lee, Ann {number}"
        role = ROLES[number % len(ROLES)] if names == "mixed" else Role.REQ_PARTICIPANT
        result.append(Attendee(
            Invitee(email=f"attendee.{number}@example.org", name=name, role=role),
            START + dt.timedelta(seconds=number),
            f"{number:032x}",
        ))
    return result


def naive_invitation(event: Event, attendee: Attendee) -> bytes:
    """The invitation built the naive way: icalendar and email.mime, from scratch."""
    invitee = attendee.invitee
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "REQUEST")
    if event.timezone:
        # Our VTIMEZONE (the same rules), read back into icalendar's own component.
        zone = vtimezone_for(event.timezone, event.start).to_ical()
        calendar.add_component(icalendar.Timezone.from_ical(zone))
    vevent = icalendar.Event()
    vevent.add("uid", event.uid)
    vevent.add("dtstamp", attendee.now)
    vevent.add("dtstart", event.start)
    vevent.add("dtend", event.end)
    vevent.add("summary", plain_text(event.summary))
    if event.description:
        vevent.add("description", plain_text(event.description))
    if event.location:
        vevent.add("location", plain_text(event.location))
    vevent.add("sequence", event.sequence)
    if event.rrule:
        vevent.add("rrule", icalendar.vRecur.from_ical(event.rrule))
        for moment in event.exdates:
            vevent.add("exdate", moment)
    if event.url:
        vevent.add("url", event.url)
    if event.reminder_minutes is not None:
        alarm = icalendar.Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", "Reminder")
        alarm.add("trigger", -dt.timedelta(minutes=event.reminder_minutes))
        vevent.add_component(alarm)
    vevent.add("status", str(event.status))
    vevent.add("organizer", icalendar.vCalAddress(f"mailto:{RSVP_EMAIL}"),
               parameters={"CN": one_line(event.organizer)})
    vevent.add("attendee", icalendar.vCalAddress(f"mailto:{invitee.email}"), parameters={
        "CN": one_line(invitee.name or ""), "CUTYPE": "INDIVIDUAL", "ROLE": str(invitee.role),
        "PARTSTAT": str(invitee.partstat), "RSVP": "TRUE",
    })
    calendar.add_component(vevent)
    ics: bytes = calendar.to_ical()

    text = (f"{one_line(event.organizer)} invites you to: {one_line(event.summary)}\n\n"
            f"When: {when_text(event)}\nWhere: {one_line(event.location or '')}\n\n"
            f"{plain_text(event.description or '')}\n")
    html = (f"<p>{escape_html(one_line(event.organizer))} invites you to:</p>\n"
            f"<h2>{escape_html(one_line(event.summary))}</h2>\n"
            f"<p>{escape_html(when_text(event))}</p>\n"
            f"{sanitise_html(event.description_html or '')}\n")
    alternative = MIMEMultipart("alternative")
    alternative.attach(MIMEText(text, "plain", "utf-8"))
    alternative.attach(MIMEText(html, "html", "utf-8"))
    calendar_part = MIMEText(ics.decode("utf-8"), "calendar", "utf-8")
    calendar_part.set_param("method", "REQUEST")
    alternative.attach(calendar_part)
    attachment = MIMEBase("application", "ics")
    attachment.set_payload(ics)
    encoders.encode_base64(attachment)
    attachment.add_header("Content-Disposition", "attachment", filename="invite.ics")

    from_address = sender_address(SENDER, event.organizer)
    message = MIMEMultipart("mixed")
    message["From"] = str(from_address)
    message["To"] = formataddr((one_line(invitee.name or ""), invitee.email))
    message["Subject"] = one_line(event.summary)
    message["Date"] = format_datetime(attendee.now.astimezone(dt.UTC))
    message["Message-ID"] = f"<{attendee.message_id}@{from_address.domain}>"
    message.attach(alternative)
    message.attach(attachment)
    return message.as_bytes(policy=policy.SMTP)


def prepared_message(event: Event) -> str:
    """One real rendered invitation with the address and the name turned into placeholders."""
    invitation = compose_invitation(
        event, Invitee(email=SAMPLE_EMAIL, name=SAMPLE_NAME), sender=SENDER,
        rsvp_email=RSVP_EMAIL, now=START, email_id="0" * 32,
    )
    text = invitation.data.decode("utf-8").replace("{", "{{").replace("}", "}}")
    return text.replace(SAMPLE_EMAIL, "{email}").replace(SAMPLE_NAME, "{name}")


def best_of(way: str, repeats: int, invites: int, run: Callable[[], object]) -> Timing:
    """Run `run` `repeats` times; keep the fastest wall-clock and the fastest CPU time."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    _say(f"{way}: best {min(walls) / invites * 1e6:,.1f} us/invite")
    return Timing(way, invites, min(walls), min(cpus))


def verify(event: Event, people: Sequence[Attendee]) -> tuple[int, int]:
    """Render a spread-out sample both ways; (how many compared, how many differ)."""
    template = InvitationTemplate(event, sender=SENDER, rsvp_email=RSVP_EMAIL)
    step = max(1, len(people) // VERIFY_SAMPLE)
    sample = people[::step]
    differ = sum(
        template.render(a.invitee, now=a.now, email_id=a.message_id).data
        != compose_invitation(event, a.invitee, sender=SENDER, rsvp_email=RSVP_EMAIL,
                              now=a.now, email_id=a.message_id).data
        for a in sample
    )
    return len(sample), differ


def table(timings: Sequence[Timing], floor: Timing) -> str:
    """The figures, one way per row, times per invite and as multiples of the floor."""
    header = ("way", "invites", "us/invite", "x floor", "cpu us/invite", "cpu x floor")
    floor_wall, floor_cpu = floor.wall / floor.invites, floor.cpu / floor.invites
    lines = [header]
    for timing in timings:
        wall, cpu = timing.wall / timing.invites, timing.cpu / timing.invites
        lines.append((timing.way, f"{timing.invites:,}", f"{wall * 1e6:,.1f}",
                      f"{wall / floor_wall:,.1f}", f"{cpu * 1e6:,.1f}",
                      f"{cpu / floor_cpu:,.1f}"))
    return aligned(lines)


def machine() -> str:
    """The facts needed to compare figures between machines."""
    cpus = cpus_available()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"Python {platform.python_version()}, icalendar {icalendar.__version__}, "
            f"{cpus} CPU(s) available, load average {load:.1f}, "
            f"{platform.system()} {platform.machine()}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The bench's options; see the module docstring for how to read the output."""
    parser = argparse.ArgumentParser(
        prog="bench/render.py",
        description="Time rendering one event's invitation for many attendees four ways "
        "(naive icalendar + email.mime, a str.format floor, compose_invitation, "
        "InvitationTemplate), and check that the last two agree byte for byte.",
    )
    parser.add_argument("--attendees", type=int, default=DEFAULT_ATTENDEES,
                        help=f"attendees of the event (default {DEFAULT_ATTENDEES:,})")
    parser.add_argument("--slow-sample", type=int, default=DEFAULT_SLOW_SAMPLE,
                        help="attendees the naive way and compose_invitation render "
                        f"(default {DEFAULT_SLOW_SAMPLE:,}; 0 for all)")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS,
                        help=f"runs of each way, the best counts (default {DEFAULT_REPEATS})")
    parser.add_argument("--names", choices=("plain", "mixed"), default="plain",
                        help="plain ASCII names, or a third non-ASCII and a third quoted "
                        "(and roles other than REQ-PARTICIPANT)")
    parser.add_argument("--event", type=Path, default=EVENT,
                        help="the EVENT.json to render (default examples/event.json; "
                        "examples/event-series.json uses a series, a link and a reminder)")
    headlines.add_option(parser)
    args = parser.parse_args(argv)
    if args.attendees < 1 or args.repeats < 1 or args.slow_sample < 0:
        parser.error("--attendees and --repeats must be positive, --slow-sample not negative")
    return args


def _say(message: str) -> None:
    print(f"render: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Time the four ways and print the table; 1 if the template and compose disagree."""
    args = parse_args(argv)
    event = read_event(args.event)
    people = attendees(args.attendees, args.names)
    slow = people[: args.slow_sample or len(people)]

    compared, differ = verify(event, people)
    if differ:
        _say(f"InvitationTemplate differs from compose_invitation for {differ} of {compared}")
        return 1

    prepared = prepared_message(event)

    def floor() -> None:
        for a in people:
            prepared.format(email=a.invitee.email, name=a.invitee.name)

    def naive() -> None:
        for a in slow:
            naive_invitation(event, a)

    def compose() -> None:
        for a in slow:
            compose_invitation(event, a.invitee, sender=SENDER, rsvp_email=RSVP_EMAIL,
                               now=a.now, email_id=a.message_id)

    fallbacks = 0

    def template() -> None:
        nonlocal fallbacks
        built = InvitationTemplate(event, sender=SENDER, rsvp_email=RSVP_EMAIL)
        for a in people:
            built.render(a.invitee, now=a.now, email_id=a.message_id)
        fallbacks = built.fallbacks

    floor_timing = best_of("(b) floor: str.format", args.repeats, len(people), floor)
    timings = [
        best_of("(a) naive: icalendar + email.mime", args.repeats, len(slow), naive),
        floor_timing,
        best_of("(c) compose_invitation", args.repeats, len(slow), compose),
        best_of("(d) InvitationTemplate.render", args.repeats, len(people), template),
    ]

    ratio = (timings[3].wall / timings[3].invites) / (floor_timing.wall / floor_timing.invites)
    cpu_ratio = (timings[3].cpu / timings[3].invites) / (floor_timing.cpu / floor_timing.invites)
    print(f"One event ({event.uid}), {len(people):,} attendees, {args.names} names; "
          f"best of {args.repeats}.")
    print(machine())
    print()
    print(table(timings, floor_timing))
    print()
    met = "met" if max(ratio, cpu_ratio) <= TARGET else "NOT met"
    print(f"Target (d) <= {TARGET:g}x floor: {met} ({ratio:.1f}x wall, {cpu_ratio:.1f}x cpu).")
    print(f"(c) and (d) byte-identical for {compared} attendees spread over the list; "
          f"(d) composed {fallbacks} of {len(people):,} through compose_invitation.")
    per_floor = floor_timing.wall / floor_timing.invites
    naive_ratio = (timings[0].wall / timings[0].invites) / per_floor
    bench = "render" if args.event == EVENT else f"render ({args.event.stem})"
    headlines.write(args.headlines, [
        Headline(bench, "InvitationTemplate per invite, x str.format floor (wall / cpu)",
                 f"{ratio:.1f} / {cpu_ratio:.1f}", f"<= {TARGET:g}",
                 max(ratio, cpu_ratio) <= TARGET),
        Headline(bench, "naive icalendar + email.mime per invite, x floor (wall)",
                 f"{naive_ratio:.0f}"),
        Headline(bench, "template byte-identical to compose_invitation",
                 f"{compared} of {compared}", "all", True),
    ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
