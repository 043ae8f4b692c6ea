"""The hand-written v1 validator: the Lambda's path without pydantic, and the odd JSON it defers."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import cis.messages.invite_format
from cis.errors import InvalidRequestError
from cis.messages.invite_format import parse_body, parse_body_with_models
from tests.support import body

ROOT = Path(__file__).parents[2]

def test_lambda_module_parses_and_rejects_bodies_without_importing_pydantic() -> None:
    script = textwrap.dedent("""
        import sys
        import cis.lambda_handler
        from cis.messages.invite_format import parse_body
        from tests.support import body
        parse_body(body("ann@example.org", name="Ann"))
        for bad in (body("not-an-address"), "[]", '{"request": {}, "event": 5}'):
            try:
                parse_body(bad)
            except Exception:
                pass
        assert "pydantic" not in sys.modules, "pydantic was imported"
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=False, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_good_requests_and_settings_are_checked_without_importing_email_validator() -> None:
    script = textwrap.dedent("""
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
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=False, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_models_are_still_named_by_the_message_format_module() -> None:
    assert cis.messages.invite_format.EventV1.__name__ == "EventV1"
    assert cis.messages.invite_format.first_problem.__name__ == "first_problem"
    with pytest.raises(AttributeError):
        _ = cis.messages.invite_format.NoSuchModel  # type: ignore[attr-defined]


def test_key_named_twice_counts_its_last_value_as_the_models_do() -> None:
    text = body("ann@example.org").replace('"email": "ann@example.org"',
                                           '"email": "bad", "email": "ann@example.org"')
    assert parse_body(text) == parse_body_with_models(text)
    assert parse_body(text).invitee.email == "ann@example.org"


@pytest.mark.parametrize(
    "text",
    [
        body("ann@example.org", name="\ud800"),  # a lone surrogate, escaped by json.dumps
        body("ann@example.org").replace('"Product launch"', "[" * 300 + "]" * 300),
    ],
)
def test_json_pydantic_reads_differently_gets_the_models_answer(text: str) -> None:
    with pytest.raises(InvalidRequestError) as fast:
        parse_body(text)
    with pytest.raises(InvalidRequestError) as reference:
        parse_body_with_models(text)
    assert (fast.value.field, fast.value.reason) == (reference.value.field,
                                                     reference.value.reason)


def test_utf8_bytes_with_a_byte_order_mark_get_the_models_answer() -> None:
    data = body("ann@example.org").encode("utf-8-sig")
    with pytest.raises(InvalidRequestError) as caught:
        parse_body(data)
    assert caught.value.field == "body"
    assert "Invalid JSON" in caught.value.reason
