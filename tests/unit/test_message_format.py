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
    ("dtstart", "written"),
    [
        # 02:30 shows twice in Berlin on 2026-10-25: first at +02:00, then at +01:00.
        ("2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00"),
        ("2026-10-25T02:30:00+01:00", "2026-10-25T02:30:00+01:00"),
        ("2026-10-25T03:30:00+01:00", "2026-10-25T03:30:00"),
        # 02:30 never shows on 2026-03-29; as a wall time it is read back as written.
        ("2026-03-29T02:30:00", "2026-03-29T02:30:00"),
    ],
)
def test_a_time_shown_twice_is_encoded_as_its_instant(dtstart: str, written: str) -> None:
    request = parse_body(body("a@example.org", dtstart=dtstart, dtend="2026-10-25T06:00:00"))
    encoded = encode_request(request)
    again = parse_body(encoded)
    assert json.loads(encoded)["event"]["dtstart"] == written
    # Equal datetimes in one zone may still be an hour apart: compare the instants too.
    assert again == request
    assert again.event.start.timestamp() == request.event.start.timestamp()


@pytest.mark.parametrize(
    ("mutate", "field", "words"),
    [
        (lambda d: d["request"].__setitem__("email", "not-an-address"), "request.email",
         "not a valid email address"),
        (lambda d: d["request"].pop("email"), "request.email", "is required"),
        (lambda d: d["event"].__setitem__("uid", "bad uid with spaces"), "event.uid",
         "must be 1-255 characters of A-Z a-z 0-9 @ . _ : + = -, starting with a letter or "
         "digit"),
        (lambda d: d["request"].__setitem__("uid", "other"), "request.uid",
         "request.uid must equal event.uid"),
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
        (lambda d: d["event"].__setitem__("sequence", -1), "event.sequence", "must be at least 0"),
        (lambda d: d["event"].__setitem__("status", "MAYBE"), "event.status",
         "must be one of TENTATIVE, CONFIRMED, CANCELLED"),
        (lambda d: d["request"].__setitem__("partstat", "YES"), "request.partstat",
         "must be one of NEEDS-ACTION, ACCEPTED, DECLINED, TENTATIVE, DELEGATED"),
        (lambda d: d["event"].__setitem__("timezon", "Europe/Paris"), "event.timezon",
         "is not a field of message format v1"),
        (lambda d: d["request"].__setitem__("origin", "web site!"), "request.origin",
         "must be 1-64 characters of A-Z a-z 0-9 _ . : -, starting with a letter or digit"),
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


@pytest.mark.parametrize(
    ("mutate", "field", "reason"),
    [
        (lambda d: d["event"].__setitem__("summary", 5), "event.summary", "must be a string"),
        (lambda d: d["event"].pop("summary"), "event.summary", "is required"),
        (lambda d: d["event"].__setitem__("summary", ""), "event.summary", "must not be empty"),
        (lambda d: d["event"].__setitem__("organizer", " \u3000"), "event.organizer",
         "must not be empty or only white space"),
        (lambda d: d["request"].__setitem__("name", "x" * 257), "request.name",
         "must be at most 256 characters"),
        (lambda d: d["event"].__setitem__("sequence", 1.0), "event.sequence",
         "must be an integer"),
        (lambda d: d["event"].__setitem__("sequence", 2**31), "event.sequence",
         "must be at most 2147483647"),
        (lambda d: d.__setitem__("event", []), "event", "must be an object"),
        (lambda d: d.__setitem__("version", 0), "version", "must be 1"),
        (lambda d: d.__setitem__("extra", 1), "extra", "is not a field of message format v1"),
        (lambda d: d["request"].__setitem__("uid", "other"), "request.uid",
         "request.uid must equal event.uid"),
    ],
)
def test_each_kind_of_problem_says_what_is_expected(mutate: Any, field: str,
                                                    reason: str) -> None:
    data = json.loads(body("ann@example.org"))
    mutate(data)
    with pytest.raises(InvalidRequestError) as caught:
        parse_dict(data)
    assert (caught.value.field, caught.value.reason) == (field, reason)
    assert str(caught.value) == f"{field}: {reason}"


def test_first_problem_is_reported_with_the_count_of_the_others() -> None:
    data = json.loads(body("ann@example.org"))
    data["event"]["summary"] = ""
    data["event"]["timezon"] = "Europe/Paris"
    data["event"].pop("timezone")
    with pytest.raises(InvalidRequestError) as caught:
        parse_dict(data)
    # In each object a misspelt key comes first: it may explain what follows (here the times,
    # checked once the fields are valid, would lack the zone).
    assert caught.value.field == "event.timezon"
    assert caught.value.reason == ("is not a field of message format v1 "
                                   "(and 1 more problem(s))")
    assert caught.value.event_uid == "launch-2026"


def test_times_without_offset_or_zone_name_both_fields() -> None:
    data = json.loads(body("ann@example.org"))
    data["event"].pop("timezone")
    with pytest.raises(InvalidRequestError) as caught:
        parse_dict(data)
    assert caught.value.field == "event.dtstart"
    assert caught.value.reason == ("dtstart has no UTC offset, so `timezone` is required "
                                   "(and 1 more problem(s))")


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
    assert set(schema["$defs"]["InviteMessageV1"]["required"]) == {"request", "event"}
    event = schema["$defs"]["EventV1"]
    assert {"uid", "summary", "dtstart", "dtend", "organizer", "mailto"} <= set(event["required"])


def test_event_json_helper_is_itself_valid() -> None:
    assert parse_dict({"request": {"uid": "u1", "email": "a@example.org"},
                       "event": event_json("u1")}).event.uid == "u1"
