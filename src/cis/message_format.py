"""Message format v1: the JSON body of one queue message, validated at the edge.

A body is `{"request": {...}, "event": {...}}`, or an SNS notification whose `Message` string
holds that JSON (SNS-to-SQS without raw delivery). Everything a caller can get wrong is
reported as an `InvalidRequestError` naming the field, never as a crash.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from cis.domain.model import Event, EventStatus, Invitee, InviteRequest, PartStat
from cis.errors import InvalidRequestError

MAX_BODY_BYTES = 256 * 1024
"""SQS's own limit; anything larger cannot have come from a well-behaved producer."""

UID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9@._:+=-]{0,254}$"
ORIGIN_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
_EPOCH_MAX = 7258118399  # 2199-12-31T23:59:59Z
_YEARS = range(1970, 2200)
"""Invitations are for events people attend: anything outside these years is a mistake, and
times near the ends of Python's datetime range overflow when moved between zones."""


def address_problem(value: str) -> str | None:
    """Why `value` cannot be an invite address (ASCII, RFC 5322 syntax), or None when it can."""
    try:
        validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None


def _check_address(value: str) -> str:
    problem = address_problem(value)
    if problem:
        raise ValueError(f"not a valid email address: {problem}")
    return value


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown IANA time zone {value!r}") from None
    return value


def _single_line(value: str) -> str:
    if any(ord(ch) < 32 and ch != "\t" for ch in value):
        raise ValueError("must not contain line breaks or control characters")
    return value


Address = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254),
                    AfterValidator(_check_address)]
Uid = Annotated[str, StringConstraints(pattern=UID_PATTERN)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]


def _check_time_value(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be Unix epoch seconds or an ISO 8601 string")
    if isinstance(value, str):
        try:
            year = dt.datetime.fromisoformat(value).year
        except ValueError:
            raise ValueError(f"not an ISO 8601 time: {value[:40]!r}") from None
        if year not in _YEARS:
            raise ValueError(f"year {year} is outside {_YEARS.start}-{_YEARS.stop - 1}")
    elif not 0 <= value <= _EPOCH_MAX:
        raise ValueError(f"epoch seconds out of range (0 to {_EPOCH_MAX}, years 1970-2199)")
    return value


TimeValue = Annotated[
    int | float | str,
    BeforeValidator(_check_time_value),
    Field(description="Unix epoch seconds, or ISO 8601 (an ISO time without offset needs "
          "`timezone`)."),
]


class RequestV1(BaseModel):
    """Who to invite."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    uid: Uid = Field(description="The event's uid; must equal `event.uid`.")
    email: Address = Field(description="The attendee's address (ASCII).")
    name: Name | None = Field(default=None, description="The attendee's display name.")
    partstat: PartStat = Field(default=PartStat.NEEDS_ACTION,
                               description="The attendee's initial participation status.")
    origin: Annotated[str, StringConstraints(pattern=ORIGIN_PATTERN)] | None = Field(
        default=None, description="A free label such as `web` or `api`, counted in statistics.")


class EventV1(BaseModel):
    """What the attendee is invited to."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    uid: Uid
    summary: Annotated[str, StringConstraints(min_length=1, max_length=1000),
                       AfterValidator(_single_line)]
    description: Annotated[str, StringConstraints(max_length=20_000)] | None = Field(
        default=None, description="Plain text.")
    description_html: Annotated[str, StringConstraints(max_length=100_000)] | None = Field(
        default=None, description="HTML; sanitised to a safe subset before it is sent.")
    dtstart: TimeValue
    dtend: TimeValue
    timezone: Annotated[str, StringConstraints(max_length=64),
                        AfterValidator(_check_timezone)] | None = Field(
        default=None, description="IANA time zone name; the invitation then carries TZID.")
    location: Annotated[str, StringConstraints(max_length=1000),
                        AfterValidator(_single_line)] | None = None
    organizer: Annotated[Name, AfterValidator(_single_line)] = Field(
        description="The organiser's display name.")
    mailto: Address = Field(description="The organiser's address.")
    sequence: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    status: EventStatus = EventStatus.CONFIRMED

    @model_validator(mode="after")
    def _end_after_start(self) -> EventV1:
        start = _to_datetime(self.dtstart, self.timezone, "dtstart")
        end = _to_datetime(self.dtend, self.timezone, "dtend")
        if end <= start:
            raise ValueError("dtend must be after dtstart")
        return self

    def to_domain(self) -> Event:
        """The domain event, with aware datetimes in the event's zone (or UTC)."""
        return Event(
            uid=self.uid,
            summary=self.summary,
            start=_to_datetime(self.dtstart, self.timezone, "dtstart"),
            end=_to_datetime(self.dtend, self.timezone, "dtend"),
            organizer=self.organizer,
            mailto=self.mailto,
            timezone=self.timezone,
            description=self.description,
            description_html=self.description_html,
            location=self.location,
            sequence=self.sequence,
            status=self.status,
        )


class InviteMessageV1(BaseModel):
    """One queue message: invite one attendee to one event."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True,
                              title="cis invite request, message format v1")

    version: Literal[1] = 1
    request: RequestV1
    event: EventV1

    @model_validator(mode="after")
    def _same_event(self) -> InviteMessageV1:
        if self.request.uid != self.event.uid:
            raise ValueError("request.uid must equal event.uid")
        return self

    def to_domain(self) -> InviteRequest:
        """The domain request this message asks for."""
        invitee = Invitee(
            email=self.request.email,
            name=self.request.name,
            partstat=self.request.partstat,
            origin=self.request.origin,
        )
        return InviteRequest(event=self.event.to_domain(), invitee=invitee)


def _to_datetime(value: int | float | str, timezone: str | None, field: str) -> dt.datetime:
    """Resolve a checked time value to whole seconds (iCalendar's resolution).

    `field` names the value in the one error left to find here.
    """
    zone = ZoneInfo(timezone) if timezone else dt.UTC
    if isinstance(value, int | float):
        moment = dt.datetime.fromtimestamp(value, dt.UTC).astimezone(zone)
    else:
        parsed = dt.datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            if timezone is None:
                raise ValueError(f"{field} has no UTC offset, so `timezone` is required")
            moment = parsed.replace(tzinfo=zone)
        else:
            moment = parsed.astimezone(zone)
    return moment.replace(microsecond=0)


def parse_body(body: str | bytes) -> InviteRequest:
    """Parse one queue message body into an invite request.

    Raises:
        InvalidRequestError: naming the field that is wrong, and the event uid when the body
            shows one, so the rejection can be counted against its event.

    """
    if len(body) > MAX_BODY_BYTES:
        raise InvalidRequestError(f"body is larger than {MAX_BODY_BYTES} bytes", field="body")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"not JSON: {exc}", field="body") from None
    except RecursionError:
        raise InvalidRequestError("JSON nested too deeply", field="body") from None
    text, data = _unwrap_sns(body, data)
    try:
        message = InviteMessageV1.model_validate_json(text)
    except ValidationError as exc:
        raise _invalid(exc, data) from None
    return message.to_domain()


def _unwrap_sns(body: str | bytes, data: Any) -> tuple[str | bytes, Any]:
    """The v1 JSON text and its decoded form, out of an SNS envelope when there is one."""
    if isinstance(data, dict) and data.get("Type") == "Notification" and "Message" in data:
        inner = data["Message"]
        if not isinstance(inner, str):
            raise InvalidRequestError("SNS Message must be a JSON string", field="Message")
        try:
            return inner, json.loads(inner)
        except ValueError as exc:
            raise InvalidRequestError(f"SNS Message is not JSON: {exc}", field="Message") from None
        except RecursionError:
            raise InvalidRequestError("SNS Message nested too deeply", field="Message") from None
    return body, data


def _invalid(exc: ValidationError, data: Any) -> InvalidRequestError:
    field, reason = first_problem(exc)
    return InvalidRequestError(reason, field=field, event_uid=_event_uid_of(data))


def first_problem(exc: ValidationError, *, within: str = "") -> tuple[str, str]:
    """The dotted field and the reason of the first problem, and how many more there are.

    `within` names the object that was validated when it was not a whole message (`event`).
    Problems found across fields (dtend before dtstart) are attributed to the field named.
    """
    errors = exc.errors(include_url=False)
    first = errors[0]
    field = ".".join([within] * bool(within) + [str(part) for part in first["loc"]]) or "body"
    reason = first["msg"].removeprefix("Value error, ")
    named = reason.split(" ", 1)[0]
    if field == "event" and named in ("dtstart", "dtend"):
        field = f"event.{named}"
    elif field == "body" and named == "request.uid":
        field = named
    if len(errors) > 1:
        reason += f" (and {len(errors) - 1} more problem(s))"
    return field, reason


def _event_uid_of(data: Any) -> str | None:
    """The event uid of an invalid body, if it shows a plausible one, to count the rejection."""
    if not isinstance(data, dict):
        return None
    for section in ("event", "request"):
        part = data.get(section)
        if isinstance(part, dict):
            uid = part.get("uid")
            if isinstance(uid, str) and re.fullmatch(UID_PATTERN, uid):
                return uid
    return None


def encode_request(request: InviteRequest) -> str:
    """Write a request as a v1 body (used by producers); `parse_body` reads it back equal."""
    event = request.event
    invitee = request.invitee
    body: dict[str, Any] = {
        "request": _drop_none({
            "uid": event.uid,
            "email": invitee.email,
            "name": invitee.name,
            "partstat": str(invitee.partstat),
            "origin": invitee.origin,
        }),
        "event": _drop_none({
            "uid": event.uid,
            "summary": event.summary,
            "description": event.description,
            "description_html": event.description_html,
            "dtstart": _iso(event.start, event.timezone),
            "dtend": _iso(event.end, event.timezone),
            "timezone": event.timezone,
            "location": event.location,
            "organizer": event.organizer,
            "mailto": event.mailto,
            "sequence": event.sequence,
            "status": str(event.status),
        }),
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _iso(value: dt.datetime, timezone: str | None) -> str:
    """Wall-clock time in the event's zone (the zone travels beside it), else UTC with offset."""
    if timezone:
        return value.astimezone(ZoneInfo(timezone)).replace(tzinfo=None).isoformat()
    return value.astimezone(dt.UTC).isoformat()


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of message format v1, as exported to `docs/`."""
    return InviteMessageV1.model_json_schema()
