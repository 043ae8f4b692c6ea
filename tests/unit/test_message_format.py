"""Message format v1: what parses, and the field named for everything that cannot."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from cis.domain.model import EventStatus, PartStat
from cis.errors import InvalidRequestError
from cis.messages.invite_format import MAX_BODY_BYTES, encode_request, json_schema, parse_body
from tests.support import body, event_json, sns_wrapped

SCHEMA_FILE = Path(__file__).parents[2] / "docs" / "message-format.schema.json"


def parse_dict(data: Any) -> Any:
    return parse_body(json.dumps(data))


def test_valid_body_becomes_a_request_with_zone_aware_times() -> None:
    request = parse_body(body("Ann@Example.org", name="Ann", origin="web"))
    assert request.invitee.email == "Ann@Example.org"
    assert request.invitee.name == "Ann"
    assert request.invitee.origin == "web"
    assert request.invitee.partstat is PartStat.NEEDS_ACTION
    assert request.event.start == dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    assert str(request.event.start.tzinfo) == "Europe/Berlin"
    assert request.event.status is EventStatus.CONFIRMED


def test_epoch_seconds_without_timezone_are_utc() -> None:
    request = parse_body(body("a@example.org", dtstart=1796115600, dtend=1796119200,
                              timezone=None))
    assert request.event.start == dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    assert request.event.start.utcoffset() == dt.timedelta(0)


def test_sns_envelope_is_unwrapped() -> None:
    assert parse_body(sns_wrapped(body("a@example.org"))) == parse_body(body("a@example.org"))


def test_encoded_request_parses_back_equal() -> None:
    request = parse_body(body("a@example.org", name="A", origin="api"))
    assert parse_body(encode_request(request)) == request


@pytest.mark.parametrize(
    ("mutate", "field", "words"),
    [
        (lambda d: d["request"].__setitem__("email", "not-an-address"), "request.email",
         "not a valid email address"),
        (lambda d: d["request"].pop("email"), "request.email", "Field required"),
        (lambda d: d["event"].__setitem__("uid", "bad uid with spaces"), "event.uid",
         "should match pattern"),
        (lambda d: d["request"].__setitem__("uid", "other"), "request.uid",
         "request.uid must equal event.uid"),
        (lambda d: d["event"].__setitem__("summary", "x" * 1001), "event.summary",
         "at most 1000 characters"),
        (lambda d: d["event"].__setitem__("summary", "Hi\r\nBcc: x@y.z"), "event.summary",
         "line breaks"),
        (lambda d: d["event"].__setitem__("dtend", "2026-12-01T09:00:00"), "event.dtend",
         "dtend must be after dtstart"),
        (lambda d: d["event"].pop("timezone"), "event.dtstart", "`timezone` is required"),
        (lambda d: d["event"].__setitem__("timezone", "Mars/Olympus"), "event.timezone",
         "unknown IANA time zone"),
        # Debian's zoneinfo folder has it, but it names the host's own zone, not an IANA one.
        (lambda d: d["event"].__setitem__("timezone", "localtime"), "event.timezone",
         "unknown IANA time zone"),
        (lambda d: d["event"].__setitem__("dtstart", True), "event.dtstart",
         "epoch seconds or an ISO 8601 string"),
        (lambda d: d["event"].__setitem__("dtstart", "next tuesday"), "event.dtstart",
         "not an ISO 8601 time"),
        (lambda d: d["event"].__setitem__("sequence", -1), "event.sequence",
         "greater than or equal to 0"),
        (lambda d: d["event"].__setitem__("status", "MAYBE"), "event.status", "Input should be"),
        (lambda d: d["request"].__setitem__("partstat", "YES"), "request.partstat",
         "Input should be"),
        (lambda d: d["event"].__setitem__("timezon", "Europe/Paris"), "event.timezon",
         "Extra inputs are not permitted"),
        (lambda d: d["request"].__setitem__("origin", "web site!"), "request.origin",
         "should match pattern"),
        (lambda d: d["event"].__setitem__("mailto", "organiser"), "event.mailto",
         "not a valid email address"),
    ],
)
def test_invalid_field_is_named_in_the_rejection(mutate: Any, field: str, words: str) -> None:
    data = json.loads(body("ann@example.org"))
    mutate(data)
    with pytest.raises(InvalidRequestError) as caught:
        parse_dict(data)
    assert caught.value.field == field
    assert words in caught.value.reason


def test_megabyte_summary_is_rejected_before_parsing() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_body(body("ann@example.org", summary="x" * 1_000_000))
    assert caught.value.field == "body"
    assert "larger than" in caught.value.reason


def test_rejection_carries_the_event_uid_so_it_can_be_counted() -> None:
    data = json.loads(body("not-an-address"))
    with pytest.raises(InvalidRequestError) as caught:
        parse_dict(data)
    assert caught.value.event_uid == "launch-2026"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("{not json", "body"),
        ("[]", "body"),
        ('"just a string"', "body"),
        (json.dumps({"Type": "Notification", "Message": "{broken"}), "Message"),
        (json.dumps({"Type": "Notification", "Message": {"request": {}}}), "Message"),
        ("x" * (MAX_BODY_BYTES + 1), "body"),
    ],
)
def test_bodies_that_are_not_v1_json_are_rejected(raw: str, field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_body(raw)
    assert caught.value.field == field
    assert caught.value.event_uid is None


def test_exported_json_schema_matches_the_models() -> None:
    exported = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert exported == json_schema(), "run `make schema` to regenerate docs/"


def test_schema_requires_what_the_models_require() -> None:
    schema = json_schema()
    assert set(schema["required"]) == {"request", "event"}
    event = schema["$defs"]["EventV1"]
    assert {"uid", "summary", "dtstart", "dtend", "organizer", "mailto"} <= set(event["required"])


def test_event_json_helper_is_itself_valid() -> None:
    assert parse_dict({"request": {"uid": "u1", "email": "a@example.org"},
                       "event": event_json("u1")}).event.uid == "u1"
