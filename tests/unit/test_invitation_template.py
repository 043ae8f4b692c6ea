"""The invitation template renders exactly the bytes `compose_invitation` does, cheaply."""

from __future__ import annotations

import datetime as dt
import re
import string
import zoneinfo
from collections.abc import Callable
from dataclasses import replace
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from icalendar.parser import Contentline

from cis.adapters.memory import InMemoryInviteRepository, InMemoryMailer
from cis.bootstrap import build_service
from cis.domain.model import (
    Event,
    EventStatus,
    Invitee,
    InviteRequest,
    PartStat,
    Role,
    Standing,
)
from cis.domain.rendering import invitation_template
from cis.domain.rendering.imip import compose_invitation
from cis.domain.rendering.invitation_template import InvitationTemplate
from cis.domain.rendering.text import one_line
from cis.messages.invite_format import parse_body
from cis.ports.queue import QueueRecord
from cis.services import template_cache as service_module
from cis.services.invites import InviteService, Outcome
from tests.property.test_invitation_properties import (
    all_day_times,
    links,
    reminders,
    series_for,
)
from tests.support import FROZEN_NOW, RSVP_EMAIL, SENDER, Clock, body, counter_ids, sample_event
from tests.unit.test_invitation import berlin_event

FIXTURES = Path(__file__).parents[1] / "fixtures"
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe",
         "Pacific/Chatham", "Africa/Casablanca", "UTC"]

# Pieces special to some layer: header quoting, encoded words and folding, iCalendar escaping
# (backslash, caret) and folding (multi-byte characters at the 75th octet), quoted-printable
# ("=", trailing blanks, long lines), and characters some parsers take as line breaks.
PIECES = [
    " ", "  ", "\t", "\r\n", "\n", "\r", "\x00", "\x0b", "\x1c", "\x7f", "\x85", "\xa0",
    "\u2028", "\u3000", "\ufeff", "\u0301", ",", ";", ":", ".", "@", "<", ">", "(", ")", "[",
    "]", "\\", '"', "'", "\u2019", "^", "^n", "=", "=?", "?=", "=?utf-8?q?x?=", "_", "-", "!",
    "é", "ß", "Ω", "中文", "😀", "👩\u200d👩\u200d👧", "a", "Z", "0", "Lee", "Ann", "Zoë",
]
piece = st.sampled_from(PIECES) | st.text(min_size=1, max_size=4)
pieces_text = st.lists(piece, max_size=12).map("".join)
ascii_piece = st.text(string.printable, min_size=1, max_size=12)
plain_text = st.text(string.ascii_letters + string.digits + " ,.;:'-()", max_size=40)
short_text = plain_text | st.text(max_size=30) | pieces_text


def long_text(pieces: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Text long enough to fold several times: a few pieces repeated."""
    return st.builds(
        lambda parts, size: ("".join(parts) * size)[: size * 8],
        st.lists(pieces, min_size=1, max_size=3), st.integers(8, 80),
    )


any_text = short_text | long_text(piece)
ascii_text = plain_text | st.text(string.printable, max_size=30) | long_text(ascii_piece)

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
atoms = st.text(ATEXT, min_size=1, max_size=20)
dot_atoms = st.lists(atoms, min_size=1, max_size=4).map(".".join)
odd_local_parts = st.text(max_size=20).filter(lambda s: "\r" not in s and "\n" not in s)
addresses = st.builds(
    "{}@{}".format,
    dot_atoms | odd_local_parts,
    dot_atoms | st.sampled_from(["example.org", "mail.example.co.uk", "[127.0.0.1]", "bücher.de"]),
)
names = st.none() | st.just("") | ascii_text | any_text
invitees = st.builds(Invitee, email=addresses, name=names, partstat=st.sampled_from(PartStat),
                     role=st.sampled_from(Role))

uuid_hex = st.uuids().map(lambda u: u.hex)
email_ids = st.one_of(
    uuid_hex, uuid_hex, dot_atoms, st.text(ATEXT + ".", min_size=40, max_size=90),
    st.text(max_size=40),
)
offsets = st.integers(-23 * 60, 23 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
moments = st.datetimes(
    min_value=dt.datetime(1900, 1, 2), max_value=dt.datetime(2200, 1, 1),
    timezones=st.just(dt.UTC) | offsets | st.sampled_from(ZONES).map(zoneinfo.ZoneInfo),
) | st.datetimes(
    min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30),
    timezones=st.just(dt.UTC),
)
senders = st.sampled_from([
    SENDER, "invites@example.org", "{} <invites@example.org>", "Ünïcode {} <a@example.org>",
    "Invites <invites@a-very-long-subdomain.of-a-long-domain.example.org>",
])


@st.composite
def events(draw: st.DrawFn) -> Event:
    """UTC and zoned events with caller text in every free field, short, long or absent.

    Half of them are all ASCII, so that the calendar part is sent 7bit unless the attendee
    makes it quoted-printable.
    """
    text = draw(st.sampled_from([ascii_text, any_text]))
    zone_name = draw(st.none() | st.sampled_from(ZONES))
    zone = zoneinfo.ZoneInfo(zone_name) if zone_name else dt.UTC
    start = draw(st.datetimes(min_value=dt.datetime(1971, 1, 1),
                              max_value=dt.datetime(2100, 1, 1))).replace(tzinfo=zone)
    times = {"start": start, "timezone": zone_name,
             "end": start + draw(st.timedeltas(dt.timedelta(minutes=1), dt.timedelta(days=3)))}
    if draw(st.integers(0, 3)) == 0:
        times = draw(all_day_times())
    event = Event(
        uid=draw(dot_atoms | text),
        summary=draw(text),
        organizer=draw(text),
        mailto="organiser@example.org",
        **times,  # type: ignore[arg-type]
        description=draw(st.none() | text),
        description_html=draw(st.none() | text | st.just("<p>Hi <b>there</b></p>")),
        location=draw(st.none() | text),
        sequence=draw(st.integers(0, 1000)),
        status=draw(st.sampled_from(EventStatus)),
        url=draw(st.none() | links),
        reminder_minutes=draw(st.none() | reminders),
    )
    if draw(st.integers(0, 2)) == 0:
        event = replace(event, **series_for(draw, event))
    return event


def outcome(call: Callable[[], object]) -> object:
    """What `call` returns, or its error, so that rejected inputs must be rejected alike."""
    try:
        return call()
    except Exception as exc:
        return type(exc), str(exc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    event=events(), sender=senders, rsvp_email=st.sampled_from([RSVP_EMAIL, "r@ex.org"]),
    renders=st.lists(st.tuples(invitees, moments, email_ids), min_size=1, max_size=4),
    standing=st.sampled_from(Standing), first=st.booleans(),
)
# Each message of a non-ASCII event's life: the calendar part goes quoted-printable.
@example(event=sample_event(summary="Zoë", sequence=1), sender=SENDER, rsvp_email=RSVP_EMAIL,
         renders=[(Invitee("ann@example.org", "Ann"), FROZEN_NOW, "m")],
         standing=Standing.INVITED, first=False)
@example(event=sample_event(summary="Zoë", sequence=2), sender=SENDER, rsvp_email=RSVP_EMAIL,
         renders=[(Invitee("ann@example.org", "Ann"), FROZEN_NOW, "m")],
         standing=Standing.CANCELLED, first=False)
@example(event=sample_event(sequence=2), sender=SENDER, rsvp_email=RSVP_EMAIL,
         renders=[(Invitee("ann@example.org", "Zoë"), FROZEN_NOW, "m")],
         standing=Standing.REMOVED, first=False)
def test_template_renders_the_same_bytes_as_compose_invitation(
    event: Event, sender: str, rsvp_email: str,
    renders: list[tuple[Invitee, dt.datetime, str]], standing: Standing, first: bool,
) -> None:
    try:
        template = InvitationTemplate(event, sender=sender, rsvp_email=rsvp_email,
                                      standing=standing, first=first)
    except ValueError as exc:  # an event compose_invitation rejects, whoever the attendee
        for invitee, now, email_id in renders:
            with pytest.raises(ValueError, match=re.escape(str(exc))):
                compose_invitation(event, invitee, sender=sender, rsvp_email=rsvp_email,
                                   now=now, email_id=email_id, standing=standing, first=first)
        return
    assert template.exact_by_assembly
    rejected = 0
    for invitee, now, email_id in renders:
        expected = outcome(partial(
            compose_invitation, event, invitee, sender=sender, rsvp_email=rsvp_email, now=now,
            email_id=email_id, standing=standing, first=first,
        ))
        assert outcome(partial(
            template.render, invitee, now=now, email_id=email_id,
        )) == expected
        rejected += isinstance(expected, tuple)
    # Every message that compose_invitation accepts was assembled, not composed.
    assert template.fallbacks <= rejected


@pytest.mark.parametrize(
    ("name", "event"),
    [("invite-utc.eml", sample_event(description="Agenda:\n1. Demo", location="Room 4")),
     ("invite-berlin.eml", berlin_event())],
)
def test_template_renders_the_golden_messages(name: str, event: Event) -> None:
    template = InvitationTemplate(event, sender=SENDER, rsvp_email=RSVP_EMAIL)
    invitation = template.render(
        Invitee(email="Ann.Lee@Example.org", name="Ann Lee"), now=FROZEN_NOW,
        email_id="msg-0001",
    )
    assert invitation.data == (FIXTURES / name).read_bytes()
    assert invitation.envelope_sender == "invites@example.com"
    assert invitation.recipient == "Ann.Lee@Example.org"
    assert template.fallbacks == 0


@pytest.mark.parametrize(("sequence", "standing"), [
    (0, Standing.INVITED), (1, Standing.INVITED), (2, Standing.CANCELLED), (2, Standing.REMOVED),
])
def test_many_attendees_of_one_event_each_get_their_own_message(
    sequence: int, standing: Standing,
) -> None:
    event = replace(berlin_event(), sequence=sequence)
    template = InvitationTemplate(event, sender=SENDER, rsvp_email=RSVP_EMAIL, standing=standing)
    attendee_names = ["Ann Lee", "Lee, Ann", "Zoë Ünal", None, "李小龙", "😀" * 30, "A" * 90]
    for number, name in enumerate(attendee_names):
        invitee = Invitee(email=f"attendee.{number}@example.org", name=name)
        now = FROZEN_NOW + dt.timedelta(seconds=number)
        expected = compose_invitation(event, invitee, sender=SENDER, rsvp_email=RSVP_EMAIL,
                                      now=now, email_id=f"id-{number}", standing=standing)
        assert template.render(invitee, now=now, email_id=f"id-{number}") == expected
    assert template.exact_by_assembly
    assert template.fallbacks == 0


@pytest.mark.parametrize("address", ["no-at-sign.example.org", "a@b.org\r\nBcc: x@y.org"])
def test_an_address_compose_rejects_is_rejected_alike(address: str) -> None:
    template = InvitationTemplate(sample_event(), sender=SENDER, rsvp_email=RSVP_EMAIL)
    expected = outcome(partial(
        compose_invitation, sample_event(), Invitee(email=address), sender=SENDER,
        rsvp_email=RSVP_EMAIL, now=FROZEN_NOW, email_id="m",
    ))
    assert isinstance(expected, tuple)
    assert expected[0] is ValueError
    assert outcome(partial(
        template.render, Invitee(email=address), now=FROZEN_NOW, email_id="m",
    )) == expected
    assert template.fallbacks == 1


def test_an_event_compose_rejects_is_rejected_when_the_template_is_built() -> None:
    with pytest.raises(ValueError, match="SENDER is not an email address"):
        InvitationTemplate(sample_event(), sender="nobody", rsvp_email=RSVP_EMAIL)
    with pytest.raises(ValueError, match="unknown IANA time zone"):
        InvitationTemplate(sample_event(timezone="Mars/Olympus"), sender=SENDER,
                           rsvp_email=RSVP_EMAIL)


def test_an_event_whose_text_holds_the_reference_boundary_still_renders_exactly() -> None:
    seed = invitation_template._digest(invitation_template._REFERENCE_IDS[0])
    event = sample_event(description=f"=_cis_{seed}_1 and --=_cis_{seed}_0")
    template = InvitationTemplate(event, sender=SENDER, rsvp_email=RSVP_EMAIL)
    invitee = Invitee(email="ann@example.org", name="Ann")
    assert template.exact_by_assembly
    assert template.render(invitee, now=FROZEN_NOW, email_id="m") == compose_invitation(
        event, invitee, sender=SENDER, rsvp_email=RSVP_EMAIL, now=FROZEN_NOW, email_id="m",
    )


def test_a_template_that_cannot_cut_its_reference_composes_every_invitation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(invitation_template, "_HEADER_ORDER", (b"From", b"X-Changed"))
    template = InvitationTemplate(berlin_event(), sender=SENDER, rsvp_email=RSVP_EMAIL)
    invitee = Invitee(email="ann@example.org", name="Ann")
    assert not template.exact_by_assembly
    assert template.render(invitee, now=FROZEN_NOW, email_id="m") == compose_invitation(
        berlin_event(), invitee, sender=SENDER, rsvp_email=RSVP_EMAIL, now=FROZEN_NOW,
        email_id="m",
    )
    assert template.fallbacks == 1


# The per-attendee pieces against the libraries they imitate, over many more inputs than the
# whole-message property can afford.


def serialised_header(name: str, value: object) -> bytes:
    message = EmailMessage(policy=policy.SMTP)
    message[name] = value
    return message.as_bytes(policy=policy.SMTP).removesuffix(b"\r\n")


@settings(max_examples=600, deadline=None)
@given(name=st.none() | short_text | st.text(min_size=50, max_size=90), email=addresses)
@example(name="0 \xa00", email="0@example.org")  # a no-break space between two words
def test_to_header_is_written_as_the_email_package_writes_it(
    name: str | None, email: str,
) -> None:
    display = one_line(name or "")
    username, domain = email.rsplit("@", 1)
    expected = outcome(lambda: serialised_header(
        "To", Address(display_name=display, username=username, domain=domain)))
    assert outcome(lambda: invitation_template._to_line(display, email)) == expected


@settings(max_examples=300, deadline=None)
@given(email_id=email_ids, domain=dot_atoms | st.text(max_size=30))
def test_message_id_header_is_written_as_the_email_package_writes_it(
    email_id: str, domain: str,
) -> None:
    expected = outcome(lambda: serialised_header("Message-ID", f"<{email_id}@{domain}>"))
    assert outcome(lambda: invitation_template._message_id_line(email_id, domain)) == expected


@settings(max_examples=300, deadline=None)
@given(now=moments)
def test_date_header_is_written_as_the_email_package_writes_it(now: dt.datetime) -> None:
    utc = now.astimezone(dt.UTC)
    assert invitation_template._date_line(utc) == serialised_header("Date", format_datetime(utc))


@settings(max_examples=800, deadline=None)
@given(text=any_text)
def test_content_lines_are_folded_as_icalendar_folds_them(text: str) -> None:
    line = "ATTENDEE;CN=" + one_line(text)
    assert invitation_template._fold(line.encode()) == Contentline(line).to_ical()


# The service renders through a small cache of templates.


class CountingTemplate(InvitationTemplate):
    built: list[Event] = []  # noqa: RUF012 -- reset by the fixture for each test

    def __init__(self, event: Event, **kwargs: Any) -> None:
        CountingTemplate.built.append(event)
        super().__init__(event, **kwargs)


@pytest.fixture
def counting_templates(monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    CountingTemplate.built = []
    monkeypatch.setattr(service_module, "InvitationTemplate", CountingTemplate)
    return CountingTemplate.built


def make_service() -> tuple[InviteService, InMemoryMailer]:
    mailer = InMemoryMailer()
    service = build_service(repository=InMemoryInviteRepository(), mailer=mailer, sender=SENDER,
                            rsvp_email=RSVP_EMAIL, clock=Clock(), new_id=counter_ids())
    return service, mailer


def assert_each_message_is_what_compose_invitation_renders(
    mailer: InMemoryMailer, requests: list[InviteRequest],
) -> None:
    by_address = {request.invitee.email: request for request in requests}
    for sent in mailer.sent:
        request = by_address[sent.recipient]
        match = re.search(rb"^Message-ID: <(.+)@", sent.data, re.MULTILINE)
        assert match is not None
        assert sent.data == compose_invitation(
            request.event, request.invitee, sender=SENDER, rsvp_email=RSVP_EMAIL,
            now=FROZEN_NOW, email_id=match.group(1).decode(),
        ).data


def test_a_batch_of_ten_for_one_event_builds_its_template_once(
    counting_templates: list[Event],
) -> None:
    service, mailer = make_service()
    bodies = [body(f"attendee.{n}@example.org", name=f"Attendee {n}") for n in range(10)]
    report = service.process_batch([QueueRecord(f"m{n}", b) for n, b in enumerate(bodies)])

    assert [r.outcome for r in report.results] == [Outcome.SENT] * 10
    assert len(counting_templates) == 1
    assert_each_message_is_what_compose_invitation_renders(
        mailer, [parse_body(b) for b in bodies])


def test_equal_events_written_in_other_zones_get_their_own_template(
    counting_templates: list[Event],
) -> None:
    # Equal as values (datetimes compare by instant), yet the text body shows the wall clock.
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    in_berlin = sample_event(start=dt.datetime(2026, 12, 1, 10, 0, tzinfo=berlin),
                             end=dt.datetime(2026, 12, 1, 11, 30, tzinfo=berlin))
    in_utc = sample_event()
    assert in_berlin == in_utc
    requests = [InviteRequest(in_berlin, Invitee("ann@example.org")),
                InviteRequest(in_utc, Invitee("bob@example.org"))]
    service, mailer = make_service()
    service.send_invites(requests)

    assert len(counting_templates) == 2
    assert_each_message_is_what_compose_invitation_renders(mailer, requests)


def test_the_least_recently_used_template_is_dropped_beyond_the_cache_size(
    counting_templates: list[Event], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service_module, "TEMPLATE_CACHE_SIZE", 2)
    service, _ = make_service()
    for number, uid in enumerate(["e1", "e2", "e1", "e3", "e1", "e2"]):
        service.send_invites([InviteRequest(sample_event(uid), Invitee(f"a{number}@x.org"))])

    assert [event.uid for event in counting_templates] == ["e1", "e2", "e3", "e2"]


def test_render_bench_runs_on_a_tiny_list_and_prints_its_four_ways(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bench import render as render_bench

    status = render_bench.main(
        ["--attendees", "12", "--slow-sample", "2", "--repeats", "1", "--names", "mixed"])

    output = capsys.readouterr().out
    assert status == 0
    for way in ("(a) naive", "(b) floor", "(c) compose_invitation", "(d) InvitationTemplate"):
        assert way in output
    assert "byte-identical for 12 attendees" in output
    assert "composed 0 of 12" in output


def test_render_bench_runs_on_a_series_with_a_link_a_reminder_and_roles(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bench import render as render_bench

    series = Path(__file__).parents[2] / "examples" / "event-series.json"
    status = render_bench.main(["--attendees", "12", "--slow-sample", "2", "--repeats", "1",
                                "--names", "mixed", "--event", str(series)])

    output = capsys.readouterr().out
    assert status == 0
    assert "One event (standup-2027@example.org)" in output
    assert "byte-identical for 12 attendees" in output
    assert "composed 0 of 12" in output
