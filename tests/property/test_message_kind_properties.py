"""Fan-outs, resends and removals: the validator and the models agree, and encoding round-trips.

The bodies are the valid and near-valid ones of the other property tests, reshaped into each
kind (a request dropped, reduced to a resend, given an action; an event dropped or kept where
it does not belong), so every field's edge values reach every kind.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from cis.domain.model import FanOut, InviteAction, InviteRequest, QueueMessage, Resend
from cis.errors import InvalidRequestError, UnknownVersionError
from cis.messages.invite_format import (
    encode_message,
    encode_request,
    parse_body,
    parse_body_with_models,
    parse_message,
    parse_message_with_models,
)
from tests.property.test_message_properties import (
    UID,
    _sns,
    _valid_body,
    assert_parses_or_names_the_field,
)
from tests.property.test_message_validator_properties import (
    as_body,
    forms,
    near_valid_bodies,
    valid_bodies,
)

Outcome = QueueMessage | tuple[str | None, str | None]
RESEND_FIELDS = ("uid", "email")
INVITEE_ONLY = ("name", "partstat", "origin")
actions = st.sampled_from(["invite", "remove", "resend", "Resend", "cancel", "", None, 1, True,
                           ["resend"], {"resend": 1}])


def outcome(parse: Any, body: str | bytes) -> Outcome:
    """The message built, or the field named first and the event uid of the rejection.

    A body of a later format is neither: it is handed back, named by its version.
    """
    try:
        message: QueueMessage = parse(body)
    except InvalidRequestError as exc:
        return exc.field, exc.event_uid
    except UnknownVersionError as exc:
        return f"newer version {exc.version!r}", exc.event_uid
    return message


def assert_same_answers(body: str | bytes) -> None:
    assert outcome(parse_message, body) == outcome(parse_message_with_models, body)
    assert outcome(parse_body, body) == outcome(parse_body_with_models, body)


def reshape(draw: st.DrawFn, data: Any, kind: str) -> Any:
    """`data` made into a body of `kind`, with the mistakes a producer of that kind makes."""
    if not isinstance(data, dict):
        return data
    request = data.get("request")
    if kind == "fan-out":
        data.pop("request", None)
    elif kind == "resend" and isinstance(request, dict):
        # Mostly a request of uid and email, sometimes still holding an invitee's fields.
        data["request"] = {key: value for key, value in request.items()
                           if key not in INVITEE_ONLY or draw(st.integers(0, 3)) == 0}
        data["request"]["action"] = "resend"
        if draw(st.integers(0, 4)):
            data.pop("event", None)
    elif kind in ("remove", "invite") and isinstance(request, dict):
        request["action"] = kind
        if draw(st.integers(0, 4)) == 0:
            data.pop("event", None)
    elif kind == "any action" and isinstance(request, dict):
        request["action"] = draw(actions)
    return data


kinds = st.sampled_from(["fan-out", "resend", "remove", "invite", "any action"])


@st.composite
def near_valid_messages(draw: st.DrawFn) -> Any:
    return reshape(draw, draw(near_valid_bodies()), draw(kinds))


@st.composite
def valid_messages(draw: st.DrawFn) -> Any:
    data = draw(valid_bodies())
    kind = draw(st.sampled_from(["fan-out", "resend", "remove", "invite", "as is"]))
    if kind == "resend":
        data["request"] = {key: data["request"][key] for key in RESEND_FIELDS}
        data["request"]["action"] = "resend"
        data.pop("event")
    elif kind == "fan-out":
        data.pop("request")
    elif kind != "as is":
        data["request"]["action"] = kind
    return data


@settings(max_examples=1500, deadline=None)
@given(near_valid_messages(), forms)
@example({"request": {"uid": UID, "email": "ann@example.org", "action": "resend"},
          "event": _valid_body()["event"]}, "sns")
@example({"request": {"uid": UID, "email": "ann@example.org", "action": "remove"}}, "ascii")
@example({"event": _valid_body()["event"], "request": None}, "utf-16")
def test_near_valid_messages_of_every_kind_get_the_same_answer_from_both(
    data: Any, form: str
) -> None:
    assert_same_answers(as_body(data, form))


@settings(max_examples=500, deadline=None)
@given(valid_messages(), st.sampled_from(["ascii", "unicode", "sns", "utf-8"]))
def test_valid_messages_of_every_kind_become_the_same_message_from_both(
    data: Any, form: str
) -> None:
    text = as_body(data, form)
    message = parse_message(text)
    expected = {"fan-out": FanOut, "resend": Resend}.get(
        "fan-out" if "request" not in data else data["request"].get("action", ""), InviteRequest)
    assert isinstance(message, expected)
    assert_same_answers(text)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["invite", "remove", "resend"]), st.sampled_from(["resend", "remove", 5]),
       st.sampled_from([True, False]))
def test_an_action_named_twice_counts_with_its_last_value_in_both(
    first: str, last: object, with_event: bool
) -> None:
    data: dict[str, Any] = {"request": {"uid": UID, "email": "ann@example.org",
                                        "action": "__marker__"}}
    if with_event:
        data["event"] = _valid_body()["event"]
    twice = f'"{first}", "action": {json.dumps(last)}'
    assert_same_answers(json.dumps(data).replace('"__marker__"', twice))


def same_instants(first: QueueMessage, second: QueueMessage) -> bool:
    """Datetimes in one zone compare equal across a fold; their instants must be equal too."""
    if isinstance(first, Resend) or isinstance(second, Resend):
        return True
    return (first.event.start.timestamp(), first.event.end.timestamp()) == (
        second.event.start.timestamp(), second.event.end.timestamp())


@settings(max_examples=500, deadline=None)
@given(valid_messages())
def test_every_message_read_is_encoded_and_read_back_equal(data: Any) -> None:
    message = parse_message(json.dumps(data))
    again = parse_message(encode_message(message))
    assert again == message
    assert same_instants(again, message)
    if isinstance(message, InviteRequest):
        assert encode_request(message) == encode_message(message)
        written = json.loads(encode_request(message))["request"]
        assert ("action" in written) == (message.action is not InviteAction.INVITE)


@settings(max_examples=300, deadline=None)
@given(near_valid_messages())
def test_any_message_is_read_or_refused_naming_a_field(data: Any) -> None:
    for parse in (parse_message, parse_body):
        assert_parses_or_names_the_field(json.dumps(data), parse)
        assert_parses_or_names_the_field(json.dumps(_sns(json.dumps(data))), parse)
