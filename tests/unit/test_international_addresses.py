"""An address whose domain is not ASCII is refused wherever cis reads an address, once, saying
how to write it: cis sends without SMTPUTF8, so it writes no header or envelope it cannot
carry (`ann@bücher.example` made a defective To header and broke the SMTP session)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from cis.adapters.memory import InMemoryInviteRepository, InMemoryMailer
from cis.bootstrap import build_service
from cis.cli.identity import resolve_identity
from cis.cli.inputs import UsageError, read_attendees, read_event
from cis.config import Settings
from cis.domain.model import Invitee, InviteRequest, Resend
from cis.errors import ConfigurationError, InvalidRequestError
from cis.messages.invite_format import parse_message, parse_message_with_models
from cis.messages.invite_rules import address_problem
from cis.services.invites import Outcome
from tests.support import RSVP_EMAIL, SENDER, body, event_json, sample_event

IDN = "ann@bücher.example"
ASCII_FORM = "ann@xn--bcher-kva.example"
VALID_SETTINGS = {
    "REGION": "eu-west-1",
    "DYNAMODB_TABLE": "cis-invites",
    "SENDER": "{} via Invites <invites@example.com>",
    "RSVP_EMAIL": "rsvp@example.com",
    "SQS_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/invites",
}


def assert_names_the_ascii_form(reason: str, ascii_form: str = ASCII_FORM) -> None:
    assert "must be ASCII" in reason, reason
    assert ascii_form in reason, reason


@pytest.mark.parametrize(("address", "ascii_form"), [
    (IDN, ASCII_FORM),
    ("Ann@Bücher.Example", "Ann@xn--bcher-kva.example"),
    ("ann@例え.テスト.example", "ann@xn--r8jz45g.xn--zckzah.example"),
])
def test_the_rule_refuses_a_non_ascii_domain_and_names_its_ascii_form(
    address: str, ascii_form: str,
) -> None:
    problem = address_problem(address)

    assert problem is not None
    assert_names_the_ascii_form(problem, ascii_form)
    assert address_problem(ascii_form) is None


def test_a_non_ascii_local_part_keeps_email_validators_reason() -> None:
    problem = address_problem("ünn@example.org")

    assert problem is not None and "before the @-sign" in problem


@pytest.mark.parametrize(("message", "field"), [
    (json.loads(body(IDN)), "request.email"),
    (json.loads(body("bob@example.org", mailto=IDN)), "event.mailto"),
    ({"request": {"uid": "launch-2026", "email": IDN, "action": "resend"}}, "request.email"),
    ({"event": event_json(mailto=IDN)}, "event.mailto"),
])
def test_a_queue_body_holding_it_is_rejected_naming_the_field(
    message: dict[str, Any], field: str,
) -> None:
    text = json.dumps(message, ensure_ascii=False)
    with pytest.raises(InvalidRequestError) as caught:
        parse_message(text)
    with pytest.raises(InvalidRequestError) as by_models:
        parse_message_with_models(text)

    assert caught.value.field == by_models.value.field == field
    assert caught.value.event_uid == "launch-2026"
    assert_names_the_ascii_form(caught.value.reason)
    assert_names_the_ascii_form(by_models.value.reason)


def test_an_event_file_with_it_as_the_organisers_address_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event_json(mailto=IDN), ensure_ascii=False), encoding="utf-8")

    with pytest.raises(UsageError) as caught:
        read_event(path)

    assert str(caught.value).startswith(f"{path}: event.mailto: ")
    assert_names_the_ascii_form(str(caught.value))


def test_a_csv_row_with_it_is_rejected_and_the_next_row_read(tmp_path: Path) -> None:
    path = tmp_path / "attendees.csv"
    path.write_text(f"email,name\n{IDN},Ann\nbob@example.org,Bob\n", encoding="utf-8")

    rows = list(read_attendees(path, "launch-2026"))

    assert [(row.line, row.invitee) for row in rows] == [
        (2, None), (3, Invitee("bob@example.org", name="Bob"))]
    assert rows[0].problem is not None and rows[0].problem.startswith(f"email {IDN!r}: ")
    assert_names_the_ascii_form(rows[0].problem)


@pytest.mark.parametrize(("name", "value"), [
    ("SENDER", "{} via Invites <ann@bücher.example>"),
    ("RSVP_EMAIL", IDN),
])
def test_settings_refuse_it_as_the_sender_or_the_rsvp_address(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**VALID_SETTINGS, name: value})

    [problem] = caught.value.problems
    assert problem.startswith(f"{name}=")
    assert_names_the_ascii_form(problem)


@pytest.mark.parametrize(("sender", "rsvp_email", "flag"), [
    ("Invites <ann@bücher.example>", None, "--sender"),
    (None, IDN, "--rsvp-email"),
])
def test_the_cis_command_refuses_it_as_the_sender_or_the_rsvp_address(
    sender: str | None, rsvp_email: str | None, flag: str,
) -> None:
    with pytest.raises(UsageError) as caught:
        resolve_identity(sender, rsvp_email, {}, io.StringIO())

    assert str(caught.value).startswith(flag)
    assert_names_the_ascii_form(str(caught.value))


@pytest.mark.parametrize("address", [IDN, "not-an-address", "ann@example.org\r\nBcc: e@x.org"])
def test_a_library_callers_invitee_with_an_address_cis_cannot_send_to_is_rejected_once(
    address: str,
) -> None:
    mailer = InMemoryMailer()
    repository = InMemoryInviteRepository()
    service = build_service(repository=repository, mailer=mailer, sender=SENDER,
                            rsvp_email=RSVP_EMAIL)

    report = service.send_invites([InviteRequest(sample_event(), Invitee(address)),
                                   InviteRequest(sample_event(), Invitee("bob@example.org"))])

    [rejected, sent] = report.results
    assert rejected.outcome is Outcome.REJECTED
    assert rejected.reason is not None
    assert rejected.reason.startswith("request.email: not a valid email address: ")
    assert sent.outcome is Outcome.SENT
    assert [email.recipient for email in mailer.sent] == ["bob@example.org"]
    assert repository.get_statistics("launch-2026").requests_rejected == 1


def test_a_library_callers_resend_to_it_finds_nothing_to_send() -> None:
    mailer = InMemoryMailer()
    service = build_service(mailer=mailer, sender=SENDER, rsvp_email=RSVP_EMAIL)

    report = service.process_messages([Resend("launch-2026", IDN)])

    assert report.count(Outcome.RETRY) == 0
    assert mailer.sent == []
