"""Message format v1 as pydantic models: the schema exported to `docs/`, and the reference.

No run-time path imports this module: every body and every input of the `cis` command is
checked by `cis.messages.invite_validator`. The models give `json_schema()`, and a property
test holds the validator to them (same bodies accepted, same request, same field named first).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

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

from cis.domain.model import Event, EventStatus, InviteRequest, PartStat
from cis.errors import InvalidRequestError
from cis.messages.invite_rules import (
    ORIGIN_PATTERN,
    UID_PATTERN,
    Location,
    Problem,
    check_address,
    check_event_times,
    check_same_event,
    check_time_value,
    check_timezone,
    describe,
    domain_event,
    domain_invitee,
    event_uid_of,
    single_line,
    to_datetime,
)

__all__ = [
    "EventV1", "InviteMessageV1", "RequestV1", "first_problem", "json_schema", "validate_text",
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
                       AfterValidator(single_line)]
    description: Annotated[str, StringConstraints(max_length=20_000)] | None = Field(
        default=None, description="Plain text.")
    description_html: Annotated[str, StringConstraints(max_length=100_000)] | None = Field(
        default=None, description="HTML; sanitised to a safe subset before it is sent.")
    dtstart: TimeValue
    dtend: TimeValue
    timezone: Annotated[str, StringConstraints(max_length=64),
                        AfterValidator(check_timezone)] | None = Field(
        default=None, description="IANA time zone name; the invitation then carries TZID.")
    location: Annotated[str, StringConstraints(max_length=1000),
                        AfterValidator(single_line)] | None = None
    organizer: Annotated[Name, AfterValidator(single_line)] = Field(
        description="The organiser's display name.")
    mailto: Address = Field(description="The organiser's address.")
    sequence: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    status: EventStatus = EventStatus.CONFIRMED

    @model_validator(mode="after")
    def _end_after_start(self) -> EventV1:
        check_event_times(self.dtstart, self.dtend, self.timezone)
        return self

    def to_domain(self) -> Event:
        """The domain event, with aware datetimes in the event's zone (or UTC)."""
        return domain_event(
            self.__dict__,
            start=to_datetime(self.dtstart, self.timezone, "dtstart"),
            end=to_datetime(self.dtend, self.timezone, "dtend"),
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
        check_same_event(self.request.uid, self.event.uid)
        return self

    def to_domain(self) -> InviteRequest:
        """The domain request this message asks for."""
        return InviteRequest(event=self.event.to_domain(),
                             invitee=domain_invitee(self.request.__dict__))


def validate_text(text: str | bytes, data: Any) -> InviteRequest:
    """Check a v1 JSON text with pydantic's own JSON reader.

    `data`, the text as `json` decoded it, names the event of a rejection.

    Raises:
        InvalidRequestError: naming the field that is wrong.

    """
    try:
        message = InviteMessageV1.model_validate_json(text)
    except ValidationError as exc:
        field, reason = first_problem(exc)
        raise InvalidRequestError(reason, field=field, event_uid=event_uid_of(data)) from None
    return message.to_domain()


def first_problem(exc: ValidationError) -> tuple[str, str]:
    """The dotted field and pydantic's reason for the first problem of a whole message.

    A check across fields fails on the model that holds them; its problem is placed on the
    field its message names first (`dtend must be after dtstart` on `event.dtend`), where the
    validator places it.
    """
    problems = [_placed(tuple(error["loc"]), error["msg"])
                for error in exc.errors(include_url=False)]
    return describe(problems)


def _placed(location: Location, message: str) -> Problem:
    reason = message.removeprefix("Value error, ")
    named = reason.split(" ", 1)[0]
    if location == ("event",) and named in ("dtstart", "dtend"):
        return ("event", named), reason
    if location == () and named == "request.uid":
        return ("request", "uid"), reason
    return location, reason


def json_schema() -> dict[str, Any]:
    """The JSON Schema of message format v1, as exported to `docs/`."""
    return InviteMessageV1.model_json_schema()
