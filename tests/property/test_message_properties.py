"""Message format v1 under fuzzing: any body is a message or a rejection naming its field."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from cis.domain.model import FanOut, InviteRequest, QueueMessage, Resend
from cis.domain.zones import iana_names
from cis.errors import InvalidRequestError, UnknownVersionError
from cis.messages.invite_format import MAX_BODY_BYTES, parse_body, parse_message
from tests.support import event_json

UID = "launch-2026"
ROOT_FIELDS = frozenset({"body", "Message"})
MODEL_SECTIONS = frozenset({"request", "event", "version"})
ZONES = sorted(iana_names())
EPOCH_MAX = 253402300799  # 9999-12-31T23:59:59Z, the parser's documented upper bound

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)

# Text that lands in a v1 field: anything unicode (lone surrogates included, which JSON can
# escape), the characters that are special somewhere, and sizes around the limits.
SPECIAL_CHARACTERS = [
    *"\r\n\x00\x1f\x7f\t\u2028\u2029\u200f\u202e\u0301\"\\<>&;:,@ ", "😀", "é", "ﬁ",
]
odd_text = st.text(st.characters(exclude_categories=()), max_size=40) | st.text(
    st.sampled_from(SPECIAL_CHARACTERS), max_size=40
)


@st.composite
def huge_strings(draw: st.DrawFn) -> str:
    """A string of one repeated piece, from just under a field limit to past the body limit."""
    piece = draw(st.text(min_size=1, max_size=4))
    size = draw(st.sampled_from([255, 256, 257, 1000, 1001, 20_001, 100_001, MAX_BODY_BYTES])
                | st.integers(1, MAX_BODY_BYTES + 10))
    return (piece * (size // len(piece) + 1))[:size]


fixed_offsets = st.integers(-1439, 1439).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)
time_values = st.one_of(
    st.sampled_from([0, -1, 1, EPOCH_MAX, EPOCH_MAX + 1, 0.5, EPOCH_MAX - 0.5]),
    st.integers(-(2**40), 2**40),
    st.floats(),
    st.datetimes().map(dt.datetime.isoformat),
    st.datetimes(timezones=fixed_offsets | st.timezones()).map(dt.datetime.isoformat),
    st.sampled_from(["", "2026-12-01", "2026-12-01T10:00:00Z", "24:00", "2026-13-01T00:00"]),
)
# Valid zones, every prefix of one ("America", "Europe/", "Eu"), and junk.
zone_names = st.one_of(
    st.sampled_from(ZONES),
    st.sampled_from(ZONES).flatmap(lambda key: st.integers(0, len(key)).map(lambda i: key[:i])),
    st.sampled_from(["", ".", "..", "../etc/passwd", "/etc/localtime", "UTC/", "localtime"]),
    odd_text,
)
addressish = st.one_of(
    st.emails().map(str), odd_text,
    st.tuples(odd_text, odd_text).map(lambda parts: "@".join(parts)),
    st.sampled_from(["", "a@b", "ann@example.org\r\nBcc: x@example.net", "<a@b.org>",
                     "Ann <ann@example.org>", "ann@exämple.org", "änn@example.org"]),
)
# What a careless producer puts in each field: the field's own kind of value, gone wrong.
FIELD_VALUES: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    ("event", "dtstart"): time_values,
    ("event", "dtend"): time_values,
    ("event", "timezone"): zone_names | st.none(),
    ("event", "mailto"): addressish,
    ("request", "email"): addressish,
    ("request", "uid"): odd_text | st.sampled_from([UID, UID + " ", UID.upper()]),
    ("event", "uid"): odd_text | st.sampled_from([UID, UID + " ", UID.upper()]),
    ("event", "sequence"): st.integers() | st.floats() | st.booleans(),
    ("event", "status"): st.sampled_from(["CONFIRMED", "confirmed", "CANCELLED", "Nope"]),
    ("request", "partstat"): st.sampled_from(["ACCEPTED", "accepted", "NEEDS-ACTION", "X"]),
    ("request", "role"): st.sampled_from(["CHAIR", "chair", "NON-PARTICIPANT", "X"]),
    ("event", "rrule"): st.sampled_from(["FREQ=WEEKLY;BYDAY=TU;COUNT=5", "FREQ=WEEKLY",
                                         "FREQ=DAILY;COUNT=2", "FREQ=SECONDLY;COUNT=2"])
    | odd_text,
    ("event", "exdates"): st.lists(time_values, max_size=3) | st.sampled_from(
        [["2026-12-15T10:00:00"], ["2026-12-15T10:00:00"] * 2, []]),
    ("event", "url"): st.sampled_from(["https://x.example/", "javascript:x", "http://a@b.c/"])
    | odd_text,
    ("event", "reminder_minutes"): st.integers() | st.floats() | st.booleans(),
}
replacement_values = st.one_of(
    json_values, odd_text, huge_strings(), time_values, zone_names,
    st.recursive(st.just([]), lambda inner: st.lists(inner, min_size=1, max_size=2)
                 | st.dictionaries(st.just("x"), inner, min_size=1), max_leaves=60),
)


def _valid_body() -> dict[str, Any]:
    # Every optional field set, so that mutations reach each one: a weekly series (Tuesdays,
    # as 2026-12-01 is one) with one exception, a link, a reminder and a role.
    return {
        "request": {"uid": UID, "email": "ann@example.org", "name": "Ann Lee", "origin": "web",
                    "role": "CHAIR"},
        "event": event_json(UID, description_html="<p>Hi</p>", sequence=1,
                            status="CONFIRMED", url="https://meet.example.org/launch",
                            reminder_minutes=15, rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=5",
                            exdates=["2026-12-08T10:00:00"]),
    }


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside nested dicts and lists, the root excluded."""
    found: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(
        value, list) else ()
    for key, child in items:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


def _parent(root: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        root = root[key]
    return root


@st.composite
def mutated_bodies(draw: st.DrawFn) -> Any:
    """A valid body after a few deletions, replacements and additions, maybe in an envelope."""
    data: Any = _valid_body()
    # Drawn values are copied: a sampled list is the same object every time it is drawn, and
    # the mutations below append to lists, which would change what later examples draw.
    for section, name in draw(st.lists(st.sampled_from(sorted(FIELD_VALUES)), max_size=3)):
        data[section][name] = copy.deepcopy(draw(FIELD_VALUES[section, name]))
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(data, path)
        action = draw(st.sampled_from(["delete", "replace", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "replace":
            parent[path[-1]] = copy.deepcopy(draw(replacement_values))
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = copy.deepcopy(draw(json_values))
        else:
            parent.append(copy.deepcopy(draw(json_values)))
    wrapping = draw(st.sampled_from(["bare", "sns", "sns around junk"]))
    if wrapping == "bare":
        return data
    if wrapping == "sns":
        return _sns(json.dumps(data))
    return _sns(draw(st.one_of(json_values, odd_text, json_values.map(json.dumps))))


def _sns(message: Any) -> dict[str, Any]:
    return {"Type": "Notification", "MessageId": "m-1", "Message": message,
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:invites"}


def deeply_nested_body(depth: int, brackets: tuple[str, str], where: str) -> str:
    """JSON nested `depth` deep, bare, as the attendee's name, or as an SNS Message."""
    opening, closing = brackets
    nested = opening * depth + "0" + closing * depth
    if where == "bare":
        return nested
    if where == "name":
        return json.dumps(_valid_body()).replace('"Ann Lee"', nested)
    return json.dumps({"Type": "Notification", "Message": nested})


def _later_version(body: str | bytes) -> bool:
    """Whether the body (or the SNS Message inside it) says it is of a format after v1."""
    try:
        value = json.loads(body)
        if isinstance(value, dict) and isinstance(value.get("Message"), str):
            value = json.loads(value["Message"])
    except (ValueError, RecursionError):
        return False
    version = value.get("version") if isinstance(value, dict) else None
    return isinstance(version, int | float) and not isinstance(version, bool) and version > 1


def _top_level_keys(body: str | bytes) -> set[str]:
    """Keys of the body and of the SNS Message inside it: a stray key names itself."""
    keys: set[str] = set()
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return keys
    if isinstance(value, dict):
        keys |= set(value)
        inner = value.get("Message")
        if isinstance(inner, str):
            try:
                decoded = json.loads(inner)
            except (ValueError, RecursionError):
                decoded = None
            if isinstance(decoded, dict):
                keys |= set(decoded)
    return keys


Parse = Callable[[str | bytes], QueueMessage]


def parse_outcome(
    body: str | bytes, parse: Parse,
) -> QueueMessage | InvalidRequestError | UnknownVersionError:
    """What `parse` makes of a body; any other exception escapes and fails the test."""
    try:
        return parse(body)
    except (InvalidRequestError, UnknownVersionError) as exc:
        return exc


def assert_parses_or_names_the_field(body: str | bytes, parse: Parse | None = None) -> None:
    """`parse` (both `parse_body` and `parse_message` when not given) reads or names a field."""
    for each in (parse_body, parse_message) if parse is None else (parse,):
        _assert_parses_or_names_the_field(body, each)


def _assert_parses_or_names_the_field(body: str | bytes, parse: Parse) -> None:
    outcome = parse_outcome(body, parse)
    if isinstance(outcome, InviteRequest | FanOut | Resend):
        return
    if isinstance(outcome, UnknownVersionError):
        # Handed back, not refused: only a body whose version is a number above 1.
        assert _later_version(body), outcome
        return
    assert isinstance(outcome.field, str) and outcome.field, outcome
    assert isinstance(outcome.reason, str) and outcome.reason, outcome
    names_a_path = (
        outcome.field in ROOT_FIELDS
        or outcome.field.split(".", 1)[0] in MODEL_SECTIONS
        or outcome.field in _top_level_keys(body)
    )
    assert names_a_path, f"{outcome.field!r} names no path of the body"


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_value_is_a_request_or_a_rejection_naming_a_field(value: Any) -> None:
    assert_parses_or_names_the_field(json.dumps(value))


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_any_json_value_as_bytes_is_a_request_or_a_rejection_naming_a_field(value: Any) -> None:
    assert_parses_or_names_the_field(json.dumps(value, ensure_ascii=False).encode())


@settings(max_examples=600, deadline=None)
@given(mutated_bodies())
def test_mutated_body_is_a_request_or_a_rejection_naming_a_field(value: Any) -> None:
    assert_parses_or_names_the_field(json.dumps(value))


@settings(max_examples=300, deadline=None)
# Valid times whose instant is past 9999-12-31 in the event's zone (or in UTC).
@example(dtstart=0, dtend=EPOCH_MAX, timezone="Africa/Addis_Ababa")
@example(dtstart="9999-12-31T22:00:00-05:00", dtend="9999-12-31T23:00:00-05:00", timezone=None)
@given(dtstart=time_values, dtend=time_values, timezone=st.none() | st.sampled_from(ZONES))
def test_any_event_times_are_a_request_or_a_rejection_naming_a_field(
    dtstart: Any, dtend: Any, timezone: str | None
) -> None:
    data = _valid_body()
    data["event"].update(dtstart=dtstart, dtend=dtend, timezone=timezone)
    assert_parses_or_names_the_field(json.dumps(data))


@settings(max_examples=200, deadline=None)
@example("Asia")  # a folder of tzdata, not a zone
@given(zone_names)
def test_any_zone_name_is_a_request_or_a_rejection_naming_a_field(timezone: str) -> None:
    data = _valid_body()
    data["event"]["timezone"] = timezone
    assert_parses_or_names_the_field(json.dumps(data))


@settings(max_examples=50, deadline=None)
@given(
    depth=st.integers(1, 50_000),
    brackets=st.sampled_from([("[", "]"), ('{"a":', "}")]),
    where=st.sampled_from(["bare", "name", "sns"]),
)
@example(depth=10_000, brackets=("[", "]"), where="bare")
def test_deeply_nested_json_is_a_rejection_not_a_crash(
    depth: int, brackets: tuple[str, str], where: str
) -> None:
    assert_parses_or_names_the_field(deeply_nested_body(depth, brackets, where))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(st.characters(exclude_categories=()), max_size=300))
def test_arbitrary_bytes_or_text_is_a_request_or_a_rejection_naming_a_field(
    body: str | bytes,
) -> None:
    assert_parses_or_names_the_field(body)
