"""The one run-time validator: no pydantic on any run-time path, and the odd JSON it decides."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import cis.messages.invite_format
from cis.domain.model import InviteRequest
from cis.errors import InvalidRequestError
from cis.messages.invite_format import parse_body, parse_body_with_models
from tests.support import body, event_json, sns_wrapped

ROOT = Path(__file__).parents[2]
GOOD = body("ann@example.org", name="Ann")
# A fan-out, a resend and a removal: the bodies beside one attendee's invitation.
KINDS = [
    json.dumps({"event": event_json("u1")}),
    json.dumps({"request": {"uid": "u1", "email": "ann@example.org", "action": "resend"}}),
    json.dumps({"request": {"uid": "u1", "email": "ann@example.org", "action": "remove"},
                "event": event_json("u1")}),
]
DEEP_201 = "[" * 201 + "]" * 201  # its innermost list sits inside 200 others

# Bodies `json` reads but that are not plain UTF-8 JSON text, with the validator's answer:
# None when accepted, else the reason; the field is `body` unless the case names it.
ODD_JSON: dict[str, tuple[str | bytes, str | None]] = {
    "utf-8 after a byte order mark": (
        GOOD.encode("utf-8-sig"),
        "starts with a byte order mark; a v1 message is UTF-8 without one"),
    "utf-16 with a byte order mark": (
        GOOD.encode("utf-16"), "is UTF-16 text; a v1 message is UTF-8"),
    "utf-16 little-endian": (
        GOOD.encode("utf-16-le"), "is UTF-16-LE text; a v1 message is UTF-8"),
    "utf-32 big-endian": (
        GOOD.encode("utf-32-be"), "is UTF-32-BE text; a v1 message is UTF-8"),
    "utf-8 encoding a surrogate": (
        GOOD.replace('"Ann"', '"A\ud800n"').encode("utf-8", "surrogatepass"),
        "encodes a surrogate at byte 73, which UTF-8 does not allow"),
    "a lone surrogate escaped in a value": (
        GOOD.replace('"Ann"', '"A\\ud800n"'),
        "a string holds U+D800, a lone surrogate, which is not Unicode text"),
    "a lone surrogate escaped in an unknown key": (
        GOOD.replace('{"request": {', '{"\\udfff": 1, "request": {'),
        "a string holds U+DFFF, a lone surrogate, which is not Unicode text"),
    "a lone surrogate in a text body": (
        GOOD.replace('"Ann"', '"A\ud800n"'),
        "a string holds U+D800, a lone surrogate, which is not Unicode text"),
    "a lone surrogate in the SNS Message": (
        sns_wrapped(GOOD.replace('"Ann"', '"A\\ud800n"')),
        "a string holds U+D800, a lone surrogate, which is not Unicode text"),
    "a surrogate pair escaped": (GOOD.replace('"Ann"', '"A\\ud83d\\ude00n"'), None),
    "nesting 200 deep in request.name": (
        GOOD.replace('"Ann"', "[" * 199 + "]" * 199), "must be a string"),
    "nesting past 200 deep in a field": (
        GOOD.replace('"Ann"', "[" * 200 + "]" * 200),
        "nests arrays and objects more than 200 deep"),
    "nesting past 200 deep alone": (
        "[" + DEEP_201 + "]", "nests arrays and objects more than 200 deep"),
    "nesting past json's own limit": ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
    "a key named twice, the last value valid": (
        GOOD.replace('"email": "ann@example.org"', '"email": "bad", "email": "ann@example.org"'),
        None),
    "a key named twice, the last value invalid in request.email": (
        GOOD.replace('"email": "ann@example.org"', '"email": "ann@example.org", "email": "x"'),
        "not a valid email address: An email address must have an @-sign."),
    "a key named twice, the replaced value nested 200 deep": (
        GOOD.replace('{"request": {', '{"request": ' + DEEP_201[1:-1] + ', "request": {'),
        None),
    "a key named twice, the replaced value nested past 200": (
        GOOD.replace('{"request": {', '{"request": ' + DEEP_201 + ', "request": {'),
        "nests arrays and objects more than 200 deep"),
    "a key named twice, the replaced value a lone surrogate": (
        GOOD.replace('{"request": {', '{"request": "\\ud800", "request": {'),
        "a string holds U+D800, a lone surrogate, which is not Unicode text"),
    "an SNS envelope in UTF-16": (sns_wrapped(GOOD).encode("utf-16"), None),
    "an SNS envelope with a lone surrogate beside the Message": (
        json.dumps({"Type": "Notification", "Message": GOOD, "Subject": "\ud800"}), None),
}


def outcome(parse: object, text: str | bytes) -> InviteRequest | tuple[str | None, str | None]:
    try:
        request: InviteRequest = parse(text)  # type: ignore[operator]
    except InvalidRequestError as exc:
        return exc.field, exc.event_uid
    return request


@pytest.mark.parametrize("case", sorted(ODD_JSON))
def test_odd_json_is_decided_by_the_validator_with_a_reason_of_its_own(case: str) -> None:
    text, reason = ODD_JSON[case]
    if reason is None:
        assert parse_body(text).invitee.email == "ann@example.org"
        return
    with pytest.raises(InvalidRequestError) as caught:
        parse_body(text)
    field = case.rsplit(" in ", 1)[-1] if " in request." in case else "body"
    assert (caught.value.field, caught.value.reason) == (field, reason)


@pytest.mark.parametrize("case", sorted(ODD_JSON))
def test_odd_json_gets_the_models_decision(case: str) -> None:
    text, _ = ODD_JSON[case]
    assert outcome(parse_body, text) == outcome(parse_body_with_models, text)


def test_rejected_odd_json_still_names_the_event_it_shows() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_body(GOOD.encode("utf-16"))
    assert caught.value.event_uid == "launch-2026"


def run_fresh(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True,
                          text=True, check=False, cwd=ROOT, timeout=120)


LAMBDA_PATH = """
    import sys
    {extra_import}
    import cis.lambda_handler
    from cis.messages.invite_format import encode_message, parse_body, parse_message
    from tests.support import body
    from tests.unit.test_message_validator import KINDS, ODD_JSON
    parse_body(body("ann@example.org", name="Ann"))
    for text in KINDS:
        parse_message(encode_message(parse_message(text)))
    bad = [body("not-an-address"), "[]", '{{"request": {{}}, "event": 5}}', *KINDS,
           KINDS[1].replace("{{", '{{"event": 5, ', 1)]
    for text in bad + [text for text, _ in ODD_JSON.values()]:
        for parse in (parse_body, parse_message):
            try:
                parse(text)
            except Exception:
                pass
    assert "pydantic" not in sys.modules, "pydantic was imported"
"""


def test_lambda_module_parses_and_rejects_bodies_without_importing_pydantic() -> None:
    result = run_fresh(LAMBDA_PATH.format(extra_import=""))
    assert result.returncode == 0, result.stderr


def test_the_import_check_sees_pydantic_when_something_imports_it() -> None:
    result = run_fresh(LAMBDA_PATH.format(extra_import="import cis.messages.invite_models"))
    assert "pydantic was imported" in result.stderr


COMMAND_INPUTS = """
    import contextlib, io, json, pathlib, sys, tempfile
    from cis.cli import main
    from cis.cli.inputs import UsageError, attendee_row, read_attendees, read_event
    from tests.support import event_json
    folder = pathlib.Path(tempfile.mkdtemp())
    event = folder / "event.json"
    event.write_text(json.dumps(event_json("u1")), encoding="utf-8")
    wrong = folder / "wrong.json"
    wrong.write_text(json.dumps(event_json("u1", timezone="Mars/Base")), encoding="utf-8")
    attendees = folder / "attendees.csv"
    attendees.write_text("email,name,origin\\nann@example.org,Ann,web\\ncarol@,,\\n"
                         "dan@example.org,Dan,no way\\n", encoding="utf-8")
    outbox = str(folder / "outbox")
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        assert main(["send", str(event), str(attendees), "--outbox", outbox,
                     "--state", str(folder / "cis.db")]) == 1
        assert main(["send", str(wrong), str(attendees), "--outbox", outbox,
                     "--state", str(folder / "cis.db")]) == 2
        assert main(["render", str(event), "--to", "ann@example.org"]) == 0
        assert main(["render", str(event), "--to", "carol@"]) == 2
    assert "rejected: 2" in sink.getvalue(), sink.getvalue()
    for text in ('["x"]', '{"uid": "\\\\ud800"}', "[" * 300 + "]" * 300, "[" * 9999):
        wrong.write_text(text, encoding="utf-8")
        try:
            read_event(wrong)
        except UsageError:
            pass
    assert [row.line for row in read_attendees(attendees, "u1") if row.problem] == [3, 4]
    assert attendee_row(1, {"email": "x"}, "u1").problem
    assert "pydantic" not in sys.modules, "pydantic was imported"
"""


def test_cis_command_reads_and_checks_its_inputs_without_importing_pydantic() -> None:
    result = run_fresh(COMMAND_INPUTS)
    assert result.returncode == 0, result.stderr


def test_good_requests_and_settings_are_checked_without_importing_email_validator() -> None:
    result = run_fresh("""
        import sys
        import cis.lambda_handler
        from cis.config import Settings
        from cis.messages.invite_format import parse_body
        from tests.support import body
        Settings.from_env({"REGION": "eu-west-1", "DYNAMODB_TABLE": "cis",
                           "SENDER": "{} via Invites <invites@example.com>",
                           "RSVP_EMAIL": "rsvp@example.com",
                           "SQS_URL": "https://sqs.eu-west-1.amazonaws.com/1/cis"})
        parse_body(body("ann.lee+x@example.org", name="Ann"))
        assert "email_validator" not in sys.modules, "email_validator was imported"
        parse_body(body("Ann@EXAMPLE.org", name="Ann"))
        try:
            parse_body(body("ann@localhost"))
        except Exception as exc:
            assert "email_validator" in sys.modules and "period" in str(exc), exc
        else:
            raise AssertionError("ann@localhost was accepted")
    """)
    assert result.returncode == 0, result.stderr


def test_models_are_still_named_by_the_message_format_module() -> None:
    assert cis.messages.invite_format.EventV1.__name__ == "EventV1"
    assert cis.messages.invite_format.first_problem.__name__ == "first_problem"
    with pytest.raises(AttributeError):
        _ = cis.messages.invite_format.NoSuchModel  # type: ignore[attr-defined]


def test_an_event_file_is_checked_as_a_message_checks_its_event(tmp_path: Path) -> None:
    from cis.cli.inputs import UsageError, read_event

    event = event_json("u1", summary="", sequence=-1)
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event), encoding="utf-8")
    with pytest.raises(InvalidRequestError) as in_message:
        parse_body(json.dumps({"request": {"uid": "u1", "email": "a@example.org"},
                               "event": event}))
    with pytest.raises(UsageError) as in_file:
        read_event(path)
    assert str(in_file.value) == f"{path}: {in_message.value}"
