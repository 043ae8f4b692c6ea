"""Message format v1 as pydantic models: the schema exported to `docs/`, and the reference.

No run-time path imports this module: every body and every input of the `cis` command is
checked by `cis.messages.invite_validator`. The models give `json_schema()`, and a property
test holds the validator to them (same bodies accepted, same message, same field named first).
A body's kind is told by its shape (`cis.messages.invite_rules.body_kind`, the union's
discriminator), so each kind is refused in the words of its own model.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NoReturn

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    StringConstraints,
    Tag,
    ValidationError,
    model_validator,
)

from cis.domain.limits import (
    MAX_DESCRIPTION_HTML_LENGTH,
    MAX_DESCRIPTION_LENGTH,
    MAX_LINK_LENGTH,
    MAX_LOCATION_LENGTH,
    MAX_REMINDER_MINUTES,
    MAX_SUMMARY_LENGTH,
)
from cis.domain.model import (
    Event,
    EventStatus,
    FanOut,
    InviteAction,
    InviteRequest,
    PartStat,
    QueueMessage,
    Resend,
    Role,
)
from cis.domain.recurrence import MAX_EXDATES
from cis.domain.shortening import HTML_MARK, LINE_MARK, TEXT_MARK
from cis.errors import InvalidRequestError
from cis.messages.invite_rules import (
    ORIGIN_PATTERN,
    UID_PATTERN,
    BodyKind,
    FieldProblem,
    Location,
    Problem,
    body_kind,
    check_address,
    check_event_times,
    check_link,
    check_rule,
    check_same_event,
    check_series,
    check_time_value,
    check_timezone,
    describe,
    domain_event,
    domain_invitee,
    domain_resend,
    event_uid_of,
    not_one_attendee,
    single_line,
)

__all__ = [
    "EventV1", "FanOutMessageV1", "InviteMessageV1", "QueueMessageV1", "RequestV1",
    "ResendMessageV1", "ResendRequestV1", "first_problem", "json_schema",
    "validate_attendee_text", "validate_text",
]

Address = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254),
                    AfterValidator(check_address)]
Uid = Annotated[str, StringConstraints(pattern=UID_PATTERN)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]


TimeValue = Annotated[
    int | float | str,
    BeforeValidator(check_time_value),
    Field(description="Unix epoch seconds, or ISO 8601 (an ISO time without offset needs "
          "`timezone`)."),
]


class RequestV1(BaseModel):
    """Who to send the event to, and whether to invite them or take them off it."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    uid: Uid = Field(description="The event's uid; must equal `event.uid`.")
    email: Address = Field(description="The attendee's address (ASCII).")
    name: Name | None = Field(default=None, description="The attendee's display name.")
    partstat: PartStat = Field(default=PartStat.NEEDS_ACTION,
                               description="The attendee's initial participation status.")
    origin: Annotated[str, StringConstraints(pattern=ORIGIN_PATTERN)] | None = Field(
        default=None, description="A free label such as `web` or `api`, counted in statistics.")
    role: Role = Field(default=Role.REQ_PARTICIPANT,
                       description="The attendee's ROLE, written in the ATTENDEE line, stored "
                       "and counted by role.")
    action: Literal["invite", "remove"] = Field(
        default="invite",
        description="`invite`: send the event at its sequence (an invitation, an update, or the "
        "event's cancellation when its status is CANCELLED). `remove`: take this attendee off "
        "an event that goes on (a CANCEL to them alone, at the event's sequence).")


class EventV1(BaseModel):
    """What the attendee is invited to."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    uid: Uid
    summary: Annotated[str, StringConstraints(min_length=1), AfterValidator(single_line)] = (
        Field(description=f"One line. Longer than {MAX_SUMMARY_LENGTH} characters, it is cut "
              f"at a space and ends in '{LINE_MARK.strip()}'."))
    description: str | None = Field(
        default=None, description=f"Plain text. Longer than {MAX_DESCRIPTION_LENGTH} "
        f"characters, it is cut at a paragraph, line or word and ends in "
        f"'{TEXT_MARK.strip()}' on a line of its own.")
    description_html: str | None = Field(
        default=None, description="HTML; sanitised to a safe subset before it is sent. "
        f"Longer than {MAX_DESCRIPTION_HTML_LENGTH} characters, it is cut between tags and "
        f"ends in {HTML_MARK}.")
    dtstart: TimeValue
    dtend: TimeValue
    timezone: Annotated[str, StringConstraints(max_length=64),
                        AfterValidator(check_timezone)] | None = Field(
        default=None, description="IANA time zone name; the invitation then carries TZID.")
    location: Annotated[str, AfterValidator(single_line)] | None = Field(
        default=None, description=f"One line. Longer than {MAX_LOCATION_LENGTH} characters, "
        f"it is cut at a space and ends in '{LINE_MARK.strip()}'.")
    organizer: Annotated[Name, AfterValidator(single_line)] = Field(
        description="The organiser's display name.")
    mailto: Address = Field(description="The organiser's address (ASCII).")
    sequence: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    status: EventStatus = EventStatus.CONFIRMED
    url: Annotated[str, AfterValidator(check_link)] | None = Field(
        default=None, description="A link to the meeting (a video call, say): an absolute "
        f"http or https URL of at most {MAX_LINK_LENGTH} characters, in the characters RFC 3986 "
        "allows, with no user name or password. Written as the calendar's URL and shown in "
        "the invitation's bodies.")
    reminder_minutes: Annotated[int, Field(ge=0, le=MAX_REMINDER_MINUTES)] | None = Field(
        default=None, description="Minutes before the start at which the attendee's "
        "calendar reminds them (a VALARM with ACTION:DISPLAY); absent: no reminder.")
    rrule: Annotated[str, AfterValidator(check_rule)] | None = Field(
        default=None, description="An RRULE value (RFC 5545 section 3.3.10) such as "
        "`FREQ=WEEKLY;BYDAY=MO;COUNT=10`, of the forms Outlook, Gmail and Apple Calendar "
        "expand alike, ending (COUNT or UNTIL) within ten years of dtstart, which must be its "
        "first occurrence.")
    exdates: Annotated[list[TimeValue], Field(max_length=MAX_EXDATES)] | None = Field(
        default=None, description="Occurrences left out (EXDATE), each written the way "
        "dtstart is: epoch seconds, ISO 8601 (read in `timezone` without an offset), or a "
        "date for an all-day event. Each must start an occurrence of `rrule`.")

    @model_validator(mode="after")
    def _end_after_start(self) -> EventV1:
        self.to_domain()
        return self

    def to_domain(self) -> Event:
        """The domain event, with aware datetimes in the event's zone (or UTC)."""
        start, end, whole_days = check_event_times(self.dtstart, self.dtend, self.timezone)
        exdates = check_series(self.rrule, self.exdates, start=start, end=end,
                               timezone=self.timezone, all_day=whole_days)
        return domain_event(self.__dict__, start=start, end=end, all_day=whole_days,
                            exdates=exdates)


class InviteMessageV1(BaseModel):
    """One attendee's message: send them one version of one event."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    version: Literal[1] = 1
    request: RequestV1
    event: EventV1

    @model_validator(mode="after")
    def _same_event(self) -> InviteMessageV1:
        check_same_event(self.request.uid, self.event.uid)
        return self

    def to_domain(self) -> InviteRequest:
        """The domain request this message asks for."""
        return InviteRequest(event=self.event.to_domain(),
                             invitee=domain_invitee(self.request.__dict__),
                             action=InviteAction(self.request.action))


class FanOutMessageV1(BaseModel):
    """A fan-out: bring every attendee already sent something to this version of the event.

    Attendees taken off the event are left out; the rest get an update, or the event's
    cancellation when its status is CANCELLED.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    version: Literal[1] = 1
    event: EventV1

    def to_domain(self) -> FanOut:
        """The domain fan-out this message asks for."""
        return FanOut(self.event.to_domain())


class ResendRequestV1(BaseModel):
    """Who to send the event's current version again."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    uid: Uid = Field(description="The event's uid.")
    email: Address = Field(description="The attendee's address (ASCII).")
    action: Literal["resend"]


class ResendMessageV1(BaseModel):
    """A resend: send one attendee the event's current version again, as stored; no `event`."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    version: Literal[1] = 1
    request: ResendRequestV1

    def to_domain(self) -> Resend:
        """The domain resend this message asks for."""
        return domain_resend(self.request.__dict__)


def _kind(data: Any) -> str:
    return str(body_kind(data))


class QueueMessageV1(RootModel[Annotated[
    Annotated[InviteMessageV1, Tag(BodyKind.ATTENDEE)]
    | Annotated[FanOutMessageV1, Tag(BodyKind.FAN_OUT)]
    | Annotated[ResendMessageV1, Tag(BodyKind.RESEND)],
    Discriminator(_kind),
]]):
    """One queue body: one attendee's message, a fan-out, or a resend, told by its shape."""

    model_config = ConfigDict(frozen=True, title="cis queue message, message format v1")

    def to_domain(self) -> QueueMessage:
        """The domain message this body asks for."""
        return self.root.to_domain()


def validate_text(text: str | bytes, data: Any) -> QueueMessage:
    """Check a v1 JSON text of any kind with pydantic's own JSON reader.

    `data`, the text as `json` decoded it, names the event of a rejection.

    Raises:
        InvalidRequestError: naming the field that is wrong.

    """
    try:
        message = QueueMessageV1.model_validate_json(text)
    except ValidationError as exc:
        field, reason = first_problem(exc)
        raise InvalidRequestError(reason, field=field, event_uid=event_uid_of(data)) from None
    return message.to_domain()


def validate_attendee_text(text: str | bytes, data: Any) -> InviteRequest:
    """`validate_text` for one attendee's body: a fan-out or a resend is refused by its kind.

    The kind is refused once the text reads as JSON, before any field is checked.

    Raises:
        InvalidRequestError: naming the field that is wrong.

    """
    refusal = not_one_attendee(data)
    try:
        message = QueueMessageV1.model_validate_json(text)
    except ValidationError as exc:
        if refusal and not _unreadable(exc):
            _refuse(refusal, data)
        field, reason = first_problem(exc)
        raise InvalidRequestError(reason, field=field, event_uid=event_uid_of(data)) from None
    if refusal:
        _refuse(refusal, data)
    request = message.to_domain()
    assert isinstance(request, InviteRequest)
    return request


def _unreadable(exc: ValidationError) -> bool:
    """Whether pydantic could not read the text as JSON, before it looked at any field."""
    return any(error["type"] in ("json_invalid", "string_unicode") and not error["loc"]
               for error in exc.errors(include_url=False))


def _refuse(problem: Problem, data: Any) -> NoReturn:
    field, reason = describe([problem])
    raise InvalidRequestError(reason, field=field, event_uid=event_uid_of(data))


def first_problem(exc: ValidationError) -> tuple[str, str]:
    """The dotted field and pydantic's reason for the first problem of a whole message.

    A check across fields fails on the model that holds them; its problem is placed on the
    field its message names first (`dtend must be after dtstart` on `event.dtend`), where the
    validator places it.
    """
    problems = [_placed(_untagged(tuple(error["loc"])), error["msg"],
                        error.get("ctx", {}).get("error"))
                for error in exc.errors(include_url=False)]
    return describe(problems)


_TAGS = frozenset(str(kind) for kind in BodyKind)


def _untagged(location: Location) -> Location:
    """The location within the body: the union places each problem under its kind's tag."""
    return location[1:] if location and location[0] in _TAGS else location


def _placed(location: Location, message: str, error: object = None) -> Problem:
    reason = message.removeprefix("Value error, ")
    if isinstance(error, FieldProblem):  # a check across fields names the field it concerns
        return (*location, *error.location), str(error)
    named = reason.split(" ", 1)[0]
    if location == ("event",) and named in ("dtstart", "dtend"):
        return ("event", named), reason
    if location == () and named == "request.uid":
        return ("request", "uid"), reason
    return location, reason


def json_schema() -> dict[str, Any]:
    """The JSON Schema of message format v1, as exported to `docs/`."""
    return QueueMessageV1.model_json_schema()
