"""Message format v1: the JSON body of one queue message, validated at the edge.

A body is one attendee's `{"request": {...}, "event": {...}}`, a fan-out `{"event": {...}}`, or
a resend `{"request": {..., "action": "resend"}}`, bare or in an SNS notification whose
`Message` string holds that JSON (SNS-to-SQS without raw delivery). Everything a caller can get
wrong is reported as an `InvalidRequestError` naming the field, never as a crash.

`parse_message` and `parse_body` check every body with `cis.messages.invite_validator` and never
import pydantic: that import and the building of the models were the largest part of what a
Lambda cold start paid beyond boto3's own. The pydantic models in `cis.messages.invite_models`
give the exported JSON Schema and are the reference the validator is tested against; they are
imported only when asked for by name.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, assert_never
from zoneinfo import ZoneInfo

from cis.domain.model import (
    Event,
    FanOut,
    InviteAction,
    InviteRequest,
    QueueMessage,
    Resend,
    Role,
)
from cis.errors import InvalidRequestError, UnknownVersionError
from cis.messages.invite_rules import (
    MAX_BODY_BYTES,
    ORIGIN_PATTERN,
    UID_PATTERN,
    address_problem,
    event_uid_of,
)
from cis.messages.invite_validator import (
    MessageProblems,
    json_object,
    validate_attendee_message,
    validate_message,
)

if TYPE_CHECKING:
    from cis.messages.invite_models import (
        EventV1,
        FanOutMessageV1,
        InviteMessageV1,
        QueueMessageV1,
        RequestV1,
        ResendMessageV1,
        ResendRequestV1,
        first_problem,
    )

__all__ = [
    "MAX_BODY_BYTES", "ORIGIN_PATTERN", "UID_PATTERN", "VERSION", "EventV1", "FanOutMessageV1",
    "InviteMessageV1", "QueueMessageV1", "RequestV1", "ResendMessageV1", "ResendRequestV1",
    "address_problem", "encode_message", "encode_request", "event_object", "first_problem",
    "json_schema",
    "parse_body", "parse_body_with_models", "parse_message", "parse_message_with_models",
]

_M = TypeVar("_M")

VERSION = 1
"""The message format version this code reads (a body says so with `"version": 1`, or not)."""

_FROM_MODELS = frozenset({
    "EventV1", "FanOutMessageV1", "InviteMessageV1", "QueueMessageV1", "RequestV1",
    "ResendMessageV1", "ResendRequestV1", "first_problem",
})


def __getattr__(name: str) -> Any:
    """The models and their error helper, imported (with pydantic) on first use only."""
    if name in _FROM_MODELS:
        from cis.messages import invite_models as message_models

        return getattr(message_models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def parse_message(body: str | bytes) -> QueueMessage:
    """Parse one queue message body of any kind: what it asks the consumer to send.

    One attendee's body gives an `InviteRequest` (its action INVITE or REMOVE), a fan-out a
    `FanOut`, a resend a `Resend`.

    Raises:
        InvalidRequestError: naming the field that is wrong, and the event uid when the body
            shows one, so the rejection can be counted against its event.
        UnknownVersionError: the body is of a later message format: hand it back.

    """
    return _validated(body, validate_message)


def parse_body(body: str | bytes) -> InviteRequest:
    """Parse one attendee's queue message body into an invite request.

    A fan-out or a resend body is refused, naming `parse_message`, which reads every kind.

    Raises:
        InvalidRequestError: naming the field that is wrong, and the event uid when the body
            shows one, so the rejection can be counted against its event.
        UnknownVersionError: the body is of a later message format: hand it back.

    """
    return _validated(body, validate_attendee_message)


def _validated(body: str | bytes, validate: Callable[[Any], _M]) -> _M:
    """`body` read and checked by `validate`; a problem names its field and the event uid."""
    data = _read_checked(body)
    try:
        return validate(data)
    except MessageProblems as exc:
        raise InvalidRequestError(exc.reason, field=exc.field,
                                  event_uid=event_uid_of(data)) from None


def _read_checked(body: str | bytes) -> Any:
    """The decoded v1 value of a body, once a body given as bytes is known to be UTF-8."""
    text, data = _read(body)
    problem = _encoding_problem(text) if isinstance(text, bytes) else None
    if problem:
        raise InvalidRequestError(problem, field="body", event_uid=event_uid_of(data))
    return data


def parse_message_with_models(body: str | bytes) -> QueueMessage:
    """`parse_message` with the pydantic models reading the v1 JSON text (imports pydantic).

    The independent reference the property tests hold `parse_message` to: it shares only the
    reading of the envelope and the telling of a body's kind by its shape.
    """
    from cis.messages.invite_models import validate_text

    return validate_text(*_read(body))


def parse_body_with_models(body: str | bytes) -> InviteRequest:
    """`parse_body` with the pydantic models reading the v1 JSON text (imports pydantic)."""
    from cis.messages.invite_models import validate_attendee_text

    return validate_attendee_text(*_read(body))


def _read(body: str | bytes) -> tuple[str | bytes, Any]:
    """The v1 JSON text of a body, out of its SNS envelope when it has one, and its value.

    A body of a later format is known by its version before anything else is checked: its
    fields are that format's, which v1's rules would refuse.
    """
    text, data = _unwrapped(body)
    _check_version(data)
    return text, data


def _check_version(data: Any) -> None:
    """Raise `UnknownVersionError` when a body says it is of a later message format.

    A later format is a number above 1 (2, 2.0, 1.5): a producer ahead of this consumer. Any
    other value but v1's own (1, 1.0, true) is left to the validator, which refuses it: no
    format is numbered 0, or as a string.
    """
    if not isinstance(data, dict):
        return
    version = data.get("version")
    if isinstance(version, int | float) and not isinstance(version, bool) and version > VERSION:
        raise UnknownVersionError(version, event_uid=event_uid_of(data))


def _unwrapped(body: str | bytes) -> tuple[str | bytes, Any]:
    """The JSON text of a body, out of its SNS envelope when it has one, and its value."""
    if len(body) > MAX_BODY_BYTES:
        raise InvalidRequestError(f"body is larger than {MAX_BODY_BYTES} bytes", field="body")
    try:
        data = _loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"not JSON: {exc}", field="body") from None
    except RecursionError:
        raise InvalidRequestError("JSON nested too deeply", field="body") from None
    if isinstance(data, dict) and data.get("Type") == "Notification" and "Message" in data:
        inner = data["Message"]
        if not isinstance(inner, str):
            raise InvalidRequestError("SNS Message must be a JSON string", field="Message")
        try:
            return inner, _loads(inner)
        except ValueError as exc:
            raise InvalidRequestError(f"SNS Message is not JSON: {exc}", field="Message") from None
        except RecursionError:
            raise InvalidRequestError("SNS Message nested too deeply", field="Message") from None
    return body, data


def _loads(text: str | bytes) -> Any:
    return json.loads(text, object_pairs_hook=json_object)


def _encoding_problem(text: bytes) -> str | None:
    """Why a v1 message given as bytes is not plain UTF-8, or None when it is.

    `json` reads UTF-16 and UTF-32, a byte order mark, and UTF-8 that encodes a surrogate; a
    v1 message is UTF-8 alone. (An SNS envelope is not held to this: its `Message` is a string
    by the time it is checked.)
    """
    encoding = json.detect_encoding(text)
    if encoding == "utf-8-sig":
        return "starts with a byte order mark; a v1 message is UTF-8 without one"
    if encoding != "utf-8":
        return f"is {encoding.upper()} text; a v1 message is UTF-8"
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"encodes a surrogate at byte {exc.start}, which UTF-8 does not allow"
    return None


def encode_request(request: InviteRequest) -> str:
    """Write one attendee's request as a v1 body (used by producers); `parse_body` reads it back.

    `action` is written only when it is not INVITE, and `role` only when it is not
    REQ-PARTICIPANT: an invitation's body holds neither, and reads the same to every reader
    of v1 (held byte for byte by test_an_invitation_encodes_byte_for_byte).
    """
    event = request.event
    invitee = request.invitee
    action = None if request.action is InviteAction.INVITE else str(request.action)
    role = None if invitee.role is Role.REQ_PARTICIPANT else str(invitee.role)
    return _dumps({
        "request": _drop_none({
            "uid": event.uid,
            "email": invitee.email,
            "name": invitee.name,
            "partstat": str(invitee.partstat),
            "origin": invitee.origin,
            "role": role,
            "action": action,
        }),
        "event": event_object(event),
    })


def encode_message(message: QueueMessage) -> str:
    """Write a queue message of any kind as a v1 body; `parse_message` reads it back equal."""
    if isinstance(message, InviteRequest):
        return encode_request(message)
    if isinstance(message, FanOut):
        return _dumps({"event": event_object(message.event)})
    if isinstance(message, Resend):
        return _dumps({"request": {"uid": message.event_uid, "email": message.email,
                                   "action": str(InviteAction.RESEND)}})
    assert_never(message)


def _dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def event_object(event: Event) -> dict[str, Any]:
    """The v1 `event` object of `event`, as bodies carry it and stores keep it.

    Fields without a value are left out.
    """
    return _drop_none({
        "uid": event.uid,
        "summary": event.summary,
        "description": event.description,
        "description_html": event.description_html,
        "dtstart": _time_value(event.start, event),
        "dtend": _time_value(event.end, event),
        "timezone": event.timezone,
        "location": event.location,
        "organizer": event.organizer,
        "mailto": event.mailto,
        "sequence": event.sequence,
        "status": str(event.status),
        "url": event.url,
        "reminder_minutes": event.reminder_minutes,
        "rrule": event.rrule,
        "exdates": [_time_value(moment, event) for moment in event.exdates] or None,
    })


def _time_value(value: dt.datetime, event: Event) -> str:
    """A time of the event as v1 writes it: a date alone for an all-day event, else `_iso`."""
    if event.all_day:
        return value.astimezone(dt.UTC).date().isoformat()
    return _iso(value, event.timezone)


def _iso(value: dt.datetime, timezone: str | None) -> str:
    """Wall-clock time in the event's zone (the zone travels beside it), else UTC with offset.

    A wall time the zone's clocks show twice is read as the first pass, so the second pass
    keeps its offset, which names it (held by test_a_time_shown_twice_is_encoded_as_its_instant).
    """
    if timezone:
        zone = ZoneInfo(timezone)
        local = value.astimezone(zone)
        wall = local.replace(tzinfo=None)
        if wall.replace(tzinfo=zone, fold=0).utcoffset() == local.utcoffset():
            return wall.isoformat()
        return local.isoformat()
    return value.astimezone(dt.UTC).isoformat()


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of message format v1, as exported to `docs/` (imports pydantic)."""
    from cis.messages.invite_models import json_schema as from_models

    return from_models()
