"""The Lambda entrypoint on in-memory adapters: partial batch responses and `raise` mode."""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from typing import Any

import pytest

from cis.adapters.memory import (
    InMemoryIntake,
    InMemoryInviteQueue,
    InMemoryInviteRepository,
    InMemoryMailer,
)
from cis.bootstrap import build_service
from cis.config import BatchFailureMode
from cis.errors import (
    BatchIncompleteError,
    ConfigurationError,
    InvalidEventError,
    MailerError,
    QueueError,
)
from cis.lambda_handler import LambdaRuntime, make_handler
from tests.support import RSVP_EMAIL, SENDER, body


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {"Records": [
        {"messageId": f"m{n}", "receiptHandle": f"r{n}", "body": b, "eventSource": "aws:sqs",
         "attributes": {"ApproximateReceiveCount": "1"}}
        for n, b in enumerate(bodies, 1)
    ]}


def memory_runtime(mode: BatchFailureMode = BatchFailureMode.REPORT) -> LambdaRuntime:
    mailer = InMemoryMailer()
    mailer.fail("slow@example.org", MailerError("throttled", transient=True))
    service = build_service(repository=InMemoryInviteRepository(), mailer=mailer,
                            sender=SENDER, rsvp_email=RSVP_EMAIL)
    return LambdaRuntime(service=service, queue=InMemoryInviteQueue(), batch_failure_mode=mode)


def test_report_mode_returns_only_transient_failures() -> None:
    runtime = memory_runtime()
    handler = make_handler(lambda: runtime)
    result = handler(sqs_event(body("a@example.org"), "nonsense", body("slow@example.org")), None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m3"}]}
    assert runtime.queue.acknowledged == []  # type: ignore[attr-defined]


def test_raise_mode_deletes_handled_messages_then_raises_for_the_rest() -> None:
    runtime = memory_runtime(BatchFailureMode.RAISE)
    handler = make_handler(lambda: runtime)
    with pytest.raises(BatchIncompleteError) as caught:
        handler(sqs_event(body("a@example.org"), "nonsense", body("slow@example.org")), None)
    assert caught.value.failed_message_ids == ["m3"]
    assert runtime.queue.acknowledged == ["r1", "r2"]  # type: ignore[attr-defined]


def test_raise_mode_returns_normally_when_everything_was_handled() -> None:
    runtime = memory_runtime(BatchFailureMode.RAISE)
    handler = make_handler(lambda: runtime)
    assert handler(sqs_event(body("a@example.org")), None) == {"batchItemFailures": []}
    assert runtime.queue.acknowledged == ["r1"]  # type: ignore[attr-defined]


def test_runtime_is_built_once_and_reused() -> None:
    built: list[LambdaRuntime] = []

    def factory() -> LambdaRuntime:
        built.append(memory_runtime())
        return built[-1]

    handler = make_handler(factory)
    handler(sqs_event(body("a@example.org")), None)
    handler(sqs_event(body("b@example.org")), None)
    assert len(built) == 1


def test_an_event_without_records_is_an_empty_response() -> None:
    assert make_handler(memory_runtime)({"Records": []}, None) == {"batchItemFailures": []}


# Malformed events and records


@pytest.mark.parametrize(("event", "words"), [
    ({}, "it has no Records"),
    ({"records": []}, "it has no Records"),
    ({"Records": None}, "Records is null, not a list"),
    ({"Records": {"0": {"messageId": "m1"}}}, "Records is an object, not a list"),
    ({"Records": "[]"}, "Records is a string, not a list"),
    ([], "the event is a list, not an object"),
    ("Records", "the event is a string, not an object"),
    (None, "the event is null, not an object"),
])
def test_an_event_that_is_not_an_sqs_event_fails_clearly_and_sends_nothing(
    event: Any, words: str,
) -> None:
    runtime = memory_runtime()

    with pytest.raises(InvalidEventError) as caught:
        make_handler(lambda: runtime)(event, None)

    assert str(caught.value).startswith("not an SQS event: ")
    assert words in str(caught.value)
    assert runtime.service.mailer.sent == []  # type: ignore[attr-defined]


def malformed_batch() -> dict[str, Any]:
    """m1 and m2 well formed, m3 to retry, and between them every malformed record shape."""
    event = sqs_event(body("a@example.org"), body("b@example.org"), body("slow@example.org"))
    event["Records"][1:1] = [
        "not a record",
        None,
        {"receiptHandle": "r-no-id", "body": body("c@example.org")},
        {"messageId": "", "receiptHandle": "r-empty-id", "body": body("d@example.org")},
        {"messageId": " ", "receiptHandle": "r-blank-id", "body": body("e@example.org")},
        {"messageId": 7, "receiptHandle": "r-number-id", "body": body("f@example.org")},
        {"messageId": "m-no-body", "receiptHandle": "r-no-body"},
        {"messageId": "m-null-body", "receiptHandle": "r-null-body", "body": None},
        {"messageId": "m-object-body", "receiptHandle": "r-object-body",
         "body": json.loads(body("g@example.org"))},
        {"messageId": "m-odd-receipt", "receiptHandle": 5, "body": body("h@example.org")},
    ]
    return event


def test_malformed_records_never_stop_the_well_formed_ones_of_their_batch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime = memory_runtime()

    with caplog.at_level(logging.INFO, logger="cis"):
        result = make_handler(lambda: runtime)(malformed_batch(), None)

    assert result == {"batchItemFailures": [{"itemIdentifier": "m3"}]}
    mailer: Any = runtime.service.mailer
    assert [email.recipient for email in mailer.sent] == [
        "a@example.org", "h@example.org", "b@example.org"]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 6
    assert "SQS record 2 of 13 is a string, not an object" in errors[0]
    assert "SQS record 3 of 13 is null, not an object" in errors[1]
    for position, error in zip((4, 5, 6, 7), errors[2:], strict=True):
        assert f"SQS record {position} of 13 has no messageId" in error
        assert "left out" in error
    rejected = {line["message_id"]: line["reason"] for line in outcome_lines(caplog)
                if line["outcome"] == "rejected"}
    assert rejected == {
        "m-no-body": "body: the SQS record has no body",
        "m-null-body": "body: the SQS record has no body",
        "m-object-body": "body: must be a string (the message text), not an object",
    }


def test_a_record_without_a_message_id_is_never_reported_with_an_empty_identifier() -> None:
    runtime = memory_runtime()
    event = sqs_event(body("a@example.org"))
    event["Records"].append({"receiptHandle": "r-no-id", "body": body("slow@example.org")})

    result = make_handler(lambda: runtime)(event, None)

    assert result == {"batchItemFailures": []}
    assert [e.recipient for e in runtime.service.mailer.sent] == [  # type: ignore[attr-defined]
        "a@example.org"]
    assert runtime.service.repository.get_attendee("launch-2026", "slow@example.org") is None


def test_in_raise_mode_a_record_without_a_body_is_deleted_and_never_retried() -> None:
    runtime = memory_runtime(BatchFailureMode.RAISE)
    event = sqs_event(body("a@example.org"), body("slow@example.org"))
    event["Records"].insert(1, {"messageId": "m-no-body", "receiptHandle": "r-no-body"})

    with pytest.raises(BatchIncompleteError) as caught:
        make_handler(lambda: runtime)(event, None)

    assert caught.value.failed_message_ids == ["m2"]
    assert sorted(runtime.queue.acknowledged) == ["r-no-body", "r1"]  # type: ignore[attr-defined]


def outcome_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The fields of each outcome record (they are the record's attributes)."""
    return [{"outcome": r.outcome, "message_id": r.message_id,  # type: ignore[attr-defined]
             "reason": getattr(r, "reason", None)}
            for r in caplog.records if getattr(r, "outcome", None) is not None]


def test_missing_configuration_fails_the_first_invocation_with_every_problem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("REGION", "DYNAMODB_TABLE", "SENDER", "RSVP_EMAIL", "SQS_URL"):
        monkeypatch.delenv(name, raising=False)
    from cis.lambda_handler import aws_runtime

    handler = make_handler(aws_runtime)
    with pytest.raises(ConfigurationError) as caught:
        handler(sqs_event(body("a@example.org")), None)
    assert len(caught.value.problems) == 5


def test_importing_the_handler_reads_no_environment_and_builds_no_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("built at import time")

    monkeypatch.setattr(boto3, "client", forbidden)
    monkeypatch.setattr(boto3.Session, "client", forbidden)
    monkeypatch.setattr(os, "environ", _Tripwire())
    for name in [m for m in sys.modules if m == "cis" or m.startswith("cis.")]:
        monkeypatch.delitem(sys.modules, name)
    module = importlib.import_module("cis.lambda_handler")
    assert callable(module.lambda_handler)


class _Tripwire(dict[str, str]):
    """An environment that fails any read made by cis code (libraries may read their own)."""

    def __init__(self) -> None:
        super().__init__(os.environ)

    def __getitem__(self, key: str) -> str:
        _fail_if_called_from_cis(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        _fail_if_called_from_cis(key)
        return super().get(key, default)


def _fail_if_called_from_cis(key: str) -> None:
    caller = sys._getframe(2).f_globals.get("__name__", "")
    if caller == "cis" or caller.startswith("cis."):
        raise AssertionError(f"{caller} read os.environ[{key!r}] at import time")


class Context:
    """The part of the Lambda context the handler reads: the time left."""

    def __init__(self, remaining_ms: list[int]) -> None:
        self.remaining_ms = remaining_ms
        self.function_name = "invites"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms.pop(0) if len(self.remaining_ms) > 1 else self.remaining_ms[0]


def test_a_batch_near_the_invocations_deadline_hands_back_what_it_cannot_finish() -> None:
    runtime = memory_runtime()
    handler = make_handler(lambda: runtime)
    result = handler(sqs_event(body("a@example.org"), body("b@example.org"),
                               body("c@example.org")), Context([60_000, 9_000]))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]}
    assert len(runtime.service.mailer.sent) == 1  # type: ignore[attr-defined]


def test_a_refusal_for_the_whole_account_pauses_the_intake() -> None:
    mailer = InMemoryMailer()
    mailer.fail("b@example.org", MailerError("SendingPausedException: paused", transient=True,
                                             account_level=True))
    service = build_service(repository=InMemoryInviteRepository(), mailer=mailer,
                            sender=SENDER, rsvp_email=RSVP_EMAIL)
    intake = InMemoryIntake()
    runtime = LambdaRuntime(service=service, queue=InMemoryInviteQueue(), intake=intake)
    result = make_handler(lambda: runtime)(
        sqs_event(body("a@example.org"), body("b@example.org"), body("c@example.org")), None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]}
    assert len(intake.paused) == 1 and "SendingPausedException" in intake.paused[0]


def test_a_pause_that_fails_is_logged_and_the_batch_still_answered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class BrokenIntake:
        def pause(self, reason: str) -> None:
            raise QueueError("AccessDeniedException")

    mailer = InMemoryMailer()
    mailer.fail("a@example.org", MailerError("paused", transient=True, account_level=True))
    service = build_service(repository=InMemoryInviteRepository(), mailer=mailer,
                            sender=SENDER, rsvp_email=RSVP_EMAIL)
    runtime = LambdaRuntime(service=service, queue=InMemoryInviteQueue(), intake=BrokenIntake())
    result = make_handler(lambda: runtime)(sqs_event(body("a@example.org")), None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert "could not pause" in caplog.text
