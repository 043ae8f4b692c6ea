"""Message format v1's bodies: one attendee's (invite or remove), a fan-out, a resend."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cis.domain.model import (
    EventStatus,
    FanOut,
    InviteAction,
    Invitee,
    InviteRequest,
    PartStat,
    Resend,
)
from cis.errors import InvalidRequestError
from cis.messages.invite_format import (
    encode_message,
    encode_request,
    json_schema,
    parse_body,
    parse_message,
)
from cis.messages.invite_validator import MessageProblems, validate_request
from tests.support import body, event_json, sample_event, sns_wrapped

UID = "launch-2026"
EVENT = event_json(UID, sequence=2)
RESEND = {"request": {"uid": UID, "email": "ann@example.org", "action": "resend"}}


def attendee(action: str | None = None, **request: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"uid": UID, "email": "ann@example.org", **request}
    if action is not None:
        fields["action"] = action
    return {"request": fields, "event": EVENT}


def refusal(parse: Any, data: Any) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as caught:
        parse(json.dumps(data))
    return caught.value


def test_a_body_without_action_is_an_invitation() -> None:
    message = parse_message(body("ann@example.org"))
    assert isinstance(message, InviteRequest)
    assert message.action is InviteAction.INVITE
    assert message == parse_body(body("ann@example.org"))


@pytest.mark.parametrize(("action", "expected"), [
    ("invite", InviteAction.INVITE), ("remove", InviteAction.REMOVE),
])
def test_request_action_says_what_is_sent_to_the_attendee(action: str,
                                                         expected: InviteAction) -> None:
    data = attendee(action)
    message = parse_message(json.dumps(data))
    assert isinstance(message, InviteRequest)
    assert message.action is expected
    assert message.event.sequence == 2
    assert parse_body(json.dumps(data)) == message


def test_a_removal_of_a_cancelled_event_is_still_a_removal() -> None:
    data = attendee("remove")
    data["event"] = event_json(UID, sequence=3, status="CANCELLED")
    message = parse_body(json.dumps(data))
    assert message.action is InviteAction.REMOVE
    assert message.event.status is EventStatus.CANCELLED


def test_a_body_with_an_event_and_no_request_is_a_fan_out() -> None:
    message = parse_message(json.dumps({"event": EVENT}))
    assert message == FanOut(parse_body(json.dumps(attendee())).event)


def test_a_resend_names_the_event_and_the_attendee_only() -> None:
    assert parse_message(json.dumps(RESEND)) == Resend(UID, "ann@example.org")


def test_a_resend_address_is_stripped_and_checked_as_any_address() -> None:
    data = {"request": {"uid": UID, "email": " Ann@Example.org\u3000", "action": "resend"}}
    assert parse_message(json.dumps(data)) == Resend(UID, "Ann@Example.org")
    data["request"]["email"] = "ann@"
    assert refusal(parse_message, data).field == "request.email"


@pytest.mark.parametrize("data", [
    {"event": EVENT}, RESEND, attendee("remove"), {**RESEND, "version": 1},
    {"event": EVENT, "version": 1.0},
])
def test_every_kind_is_read_out_of_an_sns_envelope(data: dict[str, Any]) -> None:
    bare = json.dumps(data)
    assert parse_message(sns_wrapped(bare)) == parse_message(bare)


@pytest.mark.parametrize(("data", "field", "reason"), [
    (attendee("cancel"), "request.action", "must be one of invite, remove, resend"),
    (attendee("REMOVE"), "request.action", "must be one of invite, remove, resend"),
    ({"request": {**attendee()["request"], "action": None}, "event": EVENT}, "request.action",
     "must be one of invite, remove, resend"),
    ({**RESEND, "event": EVENT}, "event",
     "is ambiguous in a resend, which sends the event's current version as stored: leave out "
     "event to resend that, or leave out request.action to send this event"),
    ({"request": {**RESEND["request"], "name": "Ann"}}, "request.name",
     "is not a field of a resend, which takes only uid, email and action"),
    ({"request": {**RESEND["request"], "partstat": "ACCEPTED"}}, "request.partstat",
     "is not a field of a resend, which takes only uid, email and action"),
    ({"request": {**RESEND["request"], "origin": "web"}}, "request.origin",
     "is not a field of a resend, which takes only uid, email and action"),
    ({"request": {"uid": UID, "action": "resend"}}, "request.email", "is required"),
    ({"request": attendee("remove")["request"]}, "event",
     "is required for a removal, which carries the event at the SEQUENCE of the removal"),
    ({"request": attendee()["request"]}, "event", "is required"),
    ({"request": attendee("invite")["request"]}, "event", "is required"),
    ({"event": {**EVENT, "summary": ""}}, "event.summary", "must not be empty"),
    ({"event": EVENT, "version": "2"}, "version", "must be 1"),
    ({"event": EVENT, "invitee": {}}, "invitee", "is not a field of message format v1"),
    ({"event": None}, "event", "must be an object"),
    ({"request": None, "event": EVENT}, "request", "must be an object"),
    ({}, "request", "is required (and 1 more problem(s))"),
])
def test_each_refusal_of_the_new_bodies_says_what_is_expected(
    data: dict[str, Any], field: str, reason: str
) -> None:
    refused = refusal(parse_message, data)
    assert (refused.field, refused.reason) == (field, reason)


def test_a_resend_with_an_event_is_refused_before_its_other_problems() -> None:
    # Unknown keys come first in each object, and the event is one in a resend.
    data = {"request": {**RESEND["request"], "email": "ann@"}, "event": EVENT}
    assert refusal(parse_message, data).field == "event"


def test_rejections_of_every_kind_carry_the_event_uid() -> None:
    assert refusal(parse_message, {"event": {**EVENT, "summary": ""}}).event_uid == UID
    assert refusal(parse_message, {"request": {**RESEND["request"], "name": "A"}}).event_uid == UID
    assert refusal(parse_message, {**RESEND, "event": EVENT}).event_uid == UID


@pytest.mark.parametrize(("data", "field", "reason"), [
    ({"event": EVENT}, "request",
     "is required by parse_body, which reads one attendee's body; a body with event and no "
     "request is a fan-out to the event's attendees: read it with parse_message"),
    (RESEND, "request.action",
     "resend is read by parse_message: parse_body reads one attendee's body, which carries "
     "the event, and a resend carries none"),
])
def test_parse_body_refuses_a_fan_out_or_a_resend_naming_parse_message(
    data: dict[str, Any], field: str, reason: str
) -> None:
    for text in (json.dumps(data), sns_wrapped(json.dumps(data))):
        refused = refusal(parse_body, json.loads(text))
        assert (refused.field, refused.reason, refused.event_uid) == (field, reason, UID)


@pytest.mark.parametrize("data", [
    {"event": {**EVENT, "summary": ""}, "extra": 1},
    {"request": {"uid": UID, "email": "ann@", "action": "resend"}, "event": EVENT},
])
def test_parse_body_refuses_by_kind_before_any_field(data: dict[str, Any]) -> None:
    assert "parse_message" in refusal(parse_body, data).reason


def test_parse_body_still_refuses_what_cannot_be_read_first() -> None:
    text = json.dumps({"event": EVENT}).encode("utf-16")
    with pytest.raises(InvalidRequestError) as caught:
        parse_body(text)
    assert caught.value.reason == "is UTF-16 text; a v1 message is UTF-8"
    with pytest.raises(InvalidRequestError) as caught:
        parse_body(json.dumps(RESEND).replace('"resend"', '"resend", "x": "\\ud800"'))
    assert caught.value.field == "body"


def test_a_request_alone_refuses_an_action() -> None:
    # The `cis` command's CSV row names an invitee; what is asked of them is a whole message's.
    with pytest.raises(MessageProblems) as caught:
        validate_request({"uid": UID, "email": "ann@example.org", "action": "invite"})
    assert (caught.value.field, caught.value.reason) == (
        "request.action", "is not read from a request alone, which names only the invitee")


INVITE = InviteRequest(
    sample_event(timezone="Europe/Berlin", description="Agenda:\n1. Demo", location="Room 4",
                 sequence=3, status=EventStatus.TENTATIVE),
    Invitee("Ann@Example.org", name="Ann Lee", partstat=PartStat.ACCEPTED, origin="web"),
)
# An invitation's body, byte for byte: it holds no `action`, and readers of v1 rely on its form.
INVITE_BODY = (
    '{"request":{"uid":"launch-2026","email":"Ann@Example.org","name":"Ann Lee",'
    '"partstat":"ACCEPTED","origin":"web"},"event":{"uid":"launch-2026",'
    '"summary":"Product launch","description":"Agenda:\\n1. Demo",'
    '"dtstart":"2026-12-01T10:00:00","dtend":"2026-12-01T11:30:00","timezone":"Europe/Berlin",'
    '"location":"Room 4","organizer":"Smith, John","mailto":"john.smith@example.org",'
    '"sequence":3,"status":"TENTATIVE"}}'
)


def test_an_invitation_encodes_byte_for_byte() -> None:
    assert encode_request(INVITE) == INVITE_BODY
    assert encode_message(INVITE) == INVITE_BODY


def test_a_removal_encodes_its_action_after_the_invitee() -> None:
    removal = InviteRequest(INVITE.event, INVITE.invitee, InviteAction.REMOVE)
    encoded = encode_request(removal)
    assert encoded == INVITE_BODY.replace('"origin":"web"}', '"origin":"web","action":"remove"}')
    assert parse_body(encoded) == removal


def test_a_fan_out_encodes_as_its_event_alone() -> None:
    encoded = encode_message(FanOut(INVITE.event))
    assert encoded == '{"event":' + INVITE_BODY.split('"event":', 1)[1]
    assert parse_message(encoded) == FanOut(INVITE.event)


def test_a_resend_encodes_as_its_request_alone() -> None:
    encoded = encode_message(Resend(UID, "ann@example.org"))
    assert json.loads(encoded) == RESEND
    assert parse_message(encoded) == Resend(UID, "ann@example.org")


def test_the_schema_offers_exactly_one_of_the_three_bodies() -> None:
    schema = json_schema()
    assert [choice["$ref"] for choice in schema["oneOf"]] == [
        "#/$defs/InviteMessageV1", "#/$defs/FanOutMessageV1", "#/$defs/ResendMessageV1"]
    kinds = schema["$defs"]
    assert set(kinds["InviteMessageV1"]["required"]) == {"request", "event"}
    assert set(kinds["FanOutMessageV1"]["required"]) == {"event"}
    assert set(kinds["ResendMessageV1"]["required"]) == {"request"}
    assert all(kinds[name]["additionalProperties"] is False
               for name in ("InviteMessageV1", "FanOutMessageV1", "ResendMessageV1"))
    assert kinds["RequestV1"]["properties"]["action"]["enum"] == ["invite", "remove"]
    assert kinds["RequestV1"]["properties"]["action"]["default"] == "invite"
    resend = kinds["ResendRequestV1"]
    assert resend["properties"]["action"]["const"] == "resend"
    assert set(resend["required"]) == {"uid", "email", "action"}
    assert set(resend["properties"]) == {"uid", "email", "action"}


def test_the_documented_examples_parse_to_what_the_documentation_says() -> None:
    text = (Path(__file__).parents[2] / "docs" / "message-format.md").read_text(encoding="utf-8")
    examples = [parse_message(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]
    assert [type(example).__name__ for example in examples] == [
        "InviteRequest", "InviteRequest", "FanOut", "Resend", "InviteRequest"]
    invitation, removal, fan_out, resend, series = examples
    assert isinstance(series, InviteRequest)
    assert series.event.rrule == "FREQ=WEEKLY;COUNT=10;BYDAY=MO"
    assert [moment.isoformat() for moment in series.event.exdates] == [
        "2027-03-29T10:00:00+02:00"]
    assert isinstance(invitation, InviteRequest) and isinstance(removal, InviteRequest)
    assert invitation.action is InviteAction.INVITE and invitation.invitee.name == "Ann Lee"
    assert removal.action is InviteAction.REMOVE and removal.event.sequence == 2
    assert isinstance(fan_out, FanOut) and fan_out.event.sequence == 1
    assert resend == Resend(UID, "ann@example.org")
