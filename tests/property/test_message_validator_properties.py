"""The v1 validator and the pydantic models, an independent reference, agree on any body.

Both accept it and build the same message, or both reject it naming the same field first and
the same event uid, whether it is read as any kind (`parse_message`) or as one attendee's
(`parse_body`). The words are the validator's own, so they are not compared.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from cis.domain.model import InviteRequest, QueueMessage
from cis.errors import InvalidRequestError, UnknownVersionError
from cis.messages.invite_format import (
    parse_body,
    parse_body_with_models,
    parse_message,
    parse_message_with_models,
)
from cis.messages.invite_rules import MAX_BODY_BYTES, UID_PATTERN, WHITE_SPACE
from cis.messages.invite_validator import MessageProblems, validate_event, validate_request
from tests.property.test_invitation_properties import links
from tests.property.test_message_properties import (
    UID,
    ZONES,
    _sns,
    _valid_body,
    addressish,
    deeply_nested_body,
    huge_strings,
    json_values,
    mutated_bodies,
    odd_text,
    time_values,
    zone_names,
)

Outcome = QueueMessage | tuple[str | None, str | None]


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


def assert_same_answer(body: str | bytes) -> None:
    assert outcome(parse_body, body) == outcome(parse_body_with_models, body)
    assert outcome(parse_message, body) == outcome(parse_message_with_models, body)


# Each field's own kind of value at and around its limits, with the white space that is stripped
# (and the U+001C..U+001F that only Python's str.strip() would strip).
edge_space = st.text(st.sampled_from([*WHITE_SPACE, *"\x1c\x1d\x1e\x1f\u200b\ufeff"]),
                     max_size=2)


@st.composite
def sized_text(draw: st.DrawFn, limits: tuple[int, ...]) -> str:
    size = draw(st.sampled_from([0, 1, *limits, *(limit + 1 for limit in limits)]))
    piece = draw(st.sampled_from(["x", "é", "😀", " ", "\n", "ab"]))
    return draw(edge_space) + (piece * size)[:size] + draw(edge_space)


def spaced(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(edge_space, strategy, edge_space).map("".join)


dates = st.sampled_from(["2026-12-01", "2026-12-02", "2026-11-30", "20261201", "2026-02-29",
                         "1969-12-31", "2199-12-31"])
names = spaced(st.sampled_from(["Ann", "", "Ann\nLee", "Ann\tLee", "Smith, John"])) | sized_text(
    (255, 256))
uids = st.sampled_from([UID, UID + "\n", UID.upper(), "", "a" * 255, "a" * 256, "-x", "a b"])
FIELDS: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    ("request", "uid"): uids | odd_text,
    ("request", "email"): spaced(addressish) | sized_text((254,)).map(lambda s: s + "@x.org"),
    ("request", "name"): names | st.none(),
    ("request", "partstat"): st.sampled_from(["ACCEPTED", "accepted", "NEEDS-ACTION", "X", ""]),
    ("request", "origin"): st.sampled_from(["web", "web\n", "a" * 64, "a" * 65, "_x", ""]),
    ("request", "role"): st.sampled_from(["CHAIR", "chair", "OPT-PARTICIPANT", "X", ""]),
    ("request", "action"): st.sampled_from(["invite", "remove", "resend", "Remove", "cancel", ""])
    | st.none() | st.booleans() | st.integers(),
    ("event", "uid"): uids,
    ("event", "summary"): sized_text((1000,)) | names,
    ("event", "description"): sized_text((20_000,)) | st.none(),
    ("event", "description_html"): sized_text((100_000,)) | st.none(),
    ("event", "dtstart"): time_values | dates,
    ("event", "dtend"): time_values | dates,
    ("event", "timezone"): zone_names | sized_text((64,)) | st.none(),
    ("event", "location"): sized_text((1000,)) | st.none(),
    ("event", "organizer"): names,
    ("event", "mailto"): spaced(addressish),
    ("event", "sequence"): st.sampled_from([0, 1, -1, 2**31 - 1, 2**31, 2**70, -(2**70)])
    | st.integers() | st.floats() | st.booleans() | st.just("1"),
    ("event", "status"): st.sampled_from(["CONFIRMED", "confirmed", "CANCELLED", "Nope", ""]),
    ("event", "url"): st.sampled_from([
        "https://meet.example.org/a?b=c", "javascript:alert(1)", "https://u@x.example/",
        "https://x.example/ a", "http://", "https://x.example/%2", ""]) | sized_text((2000,))
    | st.none(),
    ("event", "reminder_minutes"): st.sampled_from([0, 15, -1, 40_320, 40_321, 1.0, True, "5"])
    | st.none(),
    ("event", "rrule"): st.sampled_from([
        "FREQ=DAILY;COUNT=3", "FREQ=WEEKLY;BYDAY=TU;COUNT=3", "FREQ=WEEKLY;BYDAY=MO",
        "FREQ=HOURLY;COUNT=2", "freq=daily;count=2", "FREQ=DAILY;COUNT=1000", "RRULE:FREQ=DAILY",
        "FREQ=MONTHLY;BYMONTHDAY=31;COUNT=2", "FREQ=DAILY;UNTIL=20261205T000000Z",
        "FREQ=DAILY;UNTIL=20261205", "FREQ=YEARLY;COUNT=20", "", "FREQ=DAILY;;COUNT=2"])
    | sized_text((500,)) | st.none(),
    ("event", "exdates"): st.lists(time_values | dates | st.sampled_from(
        ["2026-12-02T10:00:00", "2026-12-01T10:00:00"]), max_size=3)
    | st.sampled_from([[], "2026-12-02T10:00:00", ["2026-12-02T10:00:00"] * 2]) | st.none(),
}
any_value = st.one_of(json_values, odd_text, huge_strings(), time_values)
versions = st.sampled_from([1, 1.0, True, False, 0, 2, 1.5, "1", None, [], {}, 2**64 + 1])


@st.composite
def near_valid_bodies(draw: st.DrawFn) -> Any:
    """A valid body with a few fields set to edge values, removed, or given any JSON value."""
    data: Any = _valid_body()
    for section, name in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=4)):
        change = draw(st.sampled_from(["edge", "edge", "remove", "anything"]))
        if change == "edge":
            data[section][name] = draw(FIELDS[section, name])
        elif change == "remove":
            data[section].pop(name, None)
        else:
            data[section][name] = draw(any_value)
    if draw(st.booleans()):
        data["version"] = draw(versions)
    for where in draw(st.lists(st.sampled_from(["", "request", "event"]), max_size=2)):
        target = data[where] if where else data
        target[draw(st.sampled_from(["extra", "uid", "Version", ""]))] = draw(json_values)
    if draw(st.integers(0, 9)) == 0:
        data[draw(st.sampled_from(["request", "event"]))] = draw(json_values)
    return data


# Valid bodies, varied in every way the models accept and normalise.
white = st.text(st.sampled_from(WHITE_SPACE), max_size=2)
valid_names = st.tuples(white, st.text(st.characters(min_codepoint=32, exclude_categories=(
    "Cs", "Cc", "Z")), min_size=1, max_size=20), white).map("".join)
instants = st.integers(86_400, 7258118399 - 2 * 86_400)  # no offset moves a wall year out


@st.composite
def event_times(draw: st.DrawFn) -> dict[str, Any]:
    form = draw(st.sampled_from(["int", "float", "utc", "offset", "wall", "date"]))
    start = draw(instants)
    if form == "date":  # an all-day event: dates alone, in no zone
        days = dt.timedelta(days=draw(st.integers(1, 30)))
        first = min(dt.date(1970, 1, 1) + dt.timedelta(days=start // 86_400),
                    dt.date(2199, 12, 31) - days)  # both in the years a date may name
        return {"dtstart": first.isoformat(), "dtend": (first + days).isoformat(),
                "timezone": None}
    # Wall times are read in the zone: a gap longer than any clock change keeps them ordered.
    end = start + draw(st.integers(3 * 3600 if form == "wall" else 1, 86_400))
    zone = draw(st.none() | st.sampled_from(ZONES))
    if form in ("int", "float"):
        kind = int if form == "int" else float
        return {"dtstart": kind(start), "dtend": kind(end), "timezone": zone}
    if form == "wall" and zone is None:
        zone = "Europe/Berlin"
    offset = dt.timezone(dt.timedelta(minutes=draw(st.integers(-720, 720))))
    iso = [dt.datetime.fromtimestamp(moment, dt.UTC).astimezone(offset if form == "offset"
                                                                 else dt.UTC)
           for moment in (start, end)]
    if form == "wall":
        iso = [moment.replace(tzinfo=None) for moment in iso]
    return {"dtstart": iso[0].isoformat(), "dtend": iso[1].isoformat(), "timezone": zone}


@st.composite
def valid_bodies(draw: st.DrawFn) -> dict[str, Any]:
    uid = draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9@._:+=-]{0,30}", fullmatch=True))
    request: dict[str, Any] = {"uid": uid, "email": draw(white) + "ann@example.org" + draw(white)}
    optional = {
        "name": valid_names | st.none(),
        "partstat": st.sampled_from(["NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE",
                                     "DELEGATED"]),
        "origin": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,20}", fullmatch=True) | st.none(),
        "role": st.sampled_from(["REQ-PARTICIPANT", "OPT-PARTICIPANT", "NON-PARTICIPANT",
                                 "CHAIR"]),
        "action": st.sampled_from(["invite", "remove"]),
    }
    for name, values in optional.items():
        if draw(st.booleans()):
            request[name] = draw(values)
    event: dict[str, Any] = {
        "uid": uid, "summary": draw(st.text(st.characters(min_codepoint=32, exclude_categories=(
            "Cs",)), min_size=1, max_size=40)),
        "organizer": draw(valid_names), "mailto": " john.smith@example.org\u3000",
        **draw(event_times()),
    }
    event_optional = {
        "description": st.text(max_size=40) | st.none(),
        "description_html": st.text(max_size=40) | st.none(),
        "location": st.text(st.characters(min_codepoint=32, exclude_categories=("Cs",)),
                            max_size=40) | st.none(),
        "sequence": st.integers(0, 2**31 - 1),
        "status": st.sampled_from(["TENTATIVE", "CONFIRMED", "CANCELLED"]),
        "url": links,
        "reminder_minutes": st.integers(0, 40_320),
    }
    for name, values in event_optional.items():
        if draw(st.booleans()):
            event[name] = draw(values)
    if event["timezone"] is None and draw(st.booleans()):
        # A daily series in UTC or of whole days: no clock change to fall in.
        count = draw(st.integers(2, 5))
        event["rrule"] = f"FREQ=DAILY;COUNT={count}"
        first = dt.datetime.fromisoformat(str(event["dtstart"])) if isinstance(
            event["dtstart"], str) else dt.datetime.fromtimestamp(event["dtstart"], dt.UTC)
        if isinstance(event["dtstart"], str) and len(event["dtstart"]) == 10:
            event["exdates"] = [(first + dt.timedelta(days=1)).date().isoformat()]
            event["dtend"] = (first + dt.timedelta(days=1)).date().isoformat()
        elif first.tzinfo is not None:
            event["exdates"] = [(first + dt.timedelta(days=1)).isoformat()]
            length = dt.timedelta(seconds=draw(st.integers(1, 3600)))
            event["dtend"] = (first + length).isoformat() if isinstance(
                event["dtend"], str) else event["dtstart"] + length.total_seconds()
    body: dict[str, Any] = {"request": request, "event": event}
    if draw(st.booleans()):
        body["version"] = draw(st.sampled_from([1, 1.0, True]))
    return body


def as_body(data: Any, form: str) -> str | bytes:
    text = json.dumps(data, ensure_ascii=form == "ascii")
    if form == "sns":
        return json.dumps(_sns(text))
    if form in ("utf-8", "utf-8-sig", "utf-16"):
        return text.encode(form, "surrogatepass")
    return text


forms = st.sampled_from(["ascii", "unicode", "sns", "utf-8", "utf-8-sig", "utf-16"])


@settings(max_examples=1500, deadline=None)
@given(near_valid_bodies(), forms)
@example({**_valid_body(), "version": True}, "ascii")
@example({"request": {"uid": UID, "email": "\x1cann@example.org"}, "event": _valid_body()["event"]},
         "ascii")
def test_near_valid_bodies_get_the_same_answer_from_both(data: Any, form: str) -> None:
    assert_same_answer(as_body(data, form))


@settings(max_examples=500, deadline=None)
@given(valid_bodies(), st.sampled_from(["ascii", "unicode", "sns", "utf-8"]))
def test_valid_bodies_become_the_same_request_from_both(data: Any, form: str) -> None:
    text = as_body(data, form)
    assert isinstance(parse_body(text), InviteRequest)
    assert_same_answer(text)


@settings(max_examples=500, deadline=None)
@given(mutated_bodies())
def test_mutated_bodies_get_the_same_answer_from_both(data: Any) -> None:
    assert_same_answer(json.dumps(data))


@settings(max_examples=300, deadline=None)
@given(json_values, forms)
def test_any_json_value_gets_the_same_answer_from_both(value: Any, form: str) -> None:
    assert_same_answer(as_body(value, form))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(st.characters(exclude_categories=()), max_size=300))
def test_any_bytes_or_text_get_the_same_answer_from_both(body: str | bytes) -> None:
    assert_same_answer(body)


@settings(max_examples=100, deadline=None)
@given(
    field=st.sampled_from(sorted(FIELDS)),
    text=st.sampled_from(['"\\ud800"', '"a\\udfff"', '"\\ud83d\\ude00"', "1", '"x", "x": 1']),
)
def test_odd_text_gets_the_same_answer_from_both(field: tuple[str, str], text: str) -> None:
    # Lone surrogates and repeated keys: JSON that `json` reads, and pydantic's reader not alike.
    section, name = field
    marker = "__marker__"
    data = _valid_body()
    data[section][name] = marker
    assert_same_answer(json.dumps(data).replace(json.dumps(marker), text))


@settings(max_examples=30, deadline=None)
@given(
    depth=st.sampled_from([30, 31, 32, 33, 150, 198, 199, 200, 201, 202, 500]),
    brackets=st.sampled_from([("[", "]"), ('{"a":', "}")]),
    where=st.sampled_from(["bare", "name", "sns"]),
)
def test_deep_nesting_gets_the_same_answer_from_both(
    depth: int, brackets: tuple[str, str], where: str
) -> None:
    assert_same_answer(deeply_nested_body(depth, brackets, where))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(ZONES), st.sampled_from(["2026-03-29T02:30:00", "2026-10-25T02:30:00",
                                                "2026-12-01T10:00:00+01:00", 1796115600]))
def test_any_zone_gets_the_same_answer_from_both(timezone: str, dtstart: Any) -> None:
    data = _valid_body()
    data["event"].update(timezone=timezone, dtstart=dtstart, dtend="2199-12-31T23:00:00")
    assert_same_answer(json.dumps(data))


odd_values = st.sampled_from(['"\\ud800"', '"\\udc00x"', "[" * 200 + "]" * 200,
                              "[" * 201 + "]" * 201, '{"a": ' * 199 + "0" + "}" * 199, '"ok"'])


@settings(max_examples=100, deadline=None)
@given(field=st.sampled_from([("", "request"), ("", "event"), *sorted(FIELDS)]),
       replaced=odd_values, last=st.sampled_from(["valid", "invalid"]))
def test_a_key_named_twice_gets_the_same_answer_from_both(
    field: tuple[str, str], replaced: str, last: str
) -> None:
    # The replaced value is gone once read, yet still has to be text and not nested too deep.
    section, name = field
    data: Any = _valid_body()
    target = data[section] if section else data
    value = target.get(name, "ACCEPTED") if last == "valid" else "__invalid__"
    marker = "__marker__"
    target[name] = marker
    twice = f"{replaced}, {json.dumps(name)}: {json.dumps(value)}"
    assert_same_answer(json.dumps(data).replace(json.dumps(marker), twice))


INVITEE_FIELDS = ("uid", "email", "name", "partstat", "origin", "role")


def problem_of(check: Any, *args: Any) -> tuple[str | None, str] | None:
    """The field and reason `check` rejects with, or None when it accepts."""
    try:
        check(*args)
    except (InvalidRequestError, MessageProblems) as exc:
        return exc.field, exc.reason
    return None


@settings(max_examples=500, deadline=None)
@given(near_valid_bodies())
@example({"event": {**_valid_body()["event"], "mailto": "\ud800"}})
def test_an_event_alone_gets_the_answer_it_gets_in_a_message(data: Any) -> None:
    # The `cis` command checks EVENT.json with `validate_event`: what a message would say.
    event = data["event"]
    uid = event.get("uid") if isinstance(event, dict) else None
    valid_uid = isinstance(uid, str) and re.fullmatch(UID_PATTERN, uid) is not None
    message = json.dumps({"request": {"uid": uid if valid_uid else UID,
                                      "email": "ann@example.org"}, "event": event})
    assume(len(message) <= MAX_BODY_BYTES)  # refused by size before it is read
    expected = problem_of(parse_body, message)
    if expected and expected[0] == "body":
        expected = ("event", expected[1])  # text that is not text: alone, the event holds it
    assert problem_of(validate_event, event) == expected


@settings(max_examples=300, deadline=None)
@given(near_valid_bodies())
@example({"request": {"uid": "\ud800", "email": "ann@example.org"}})
def test_a_request_alone_gets_the_answer_it_gets_in_a_message(data: Any) -> None:
    # The `cis` command checks each CSV row with `validate_request`.
    request = data["request"]
    event = _valid_body()["event"]
    message = json.dumps({"request": request, "event": event})
    assume(len(message) <= MAX_BODY_BYTES)  # refused by size before it is read
    expected = problem_of(parse_body, message)
    if expected == ("request.uid", "request.uid must equal event.uid"):
        expected = None  # a check of whole messages
    if expected and expected[0] == "body":
        expected = ("request", expected[1])  # text that is not text: alone, the request holds it
    got = problem_of(validate_request, request)
    if isinstance(request, dict) and "action" in request and (expected or ("",))[0] != "request":
        # What is asked of the invitee is a whole message's: a request alone refuses `action`
        # with the keys that are not its fields, which come first.
        first = next(key for key in request if key not in INVITEE_FIELDS)
        assert (got or ("",))[0] == f"request.{first}"
        return
    assert got == expected
    if expected is None:
        same_event = json.dumps({"request": {**request, "uid": UID}, "event": event})
        assert validate_request(request) == parse_body(same_event).invitee
