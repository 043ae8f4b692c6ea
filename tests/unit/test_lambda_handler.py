"""The Lambda entrypoint on in-memory adapters: partial batch responses and `raise` mode."""

from __future__ import annotations

import importlib
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
from cis.errors import BatchIncompleteError, ConfigurationError, MailerError, QueueError
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


def test_empty_event_is_an_empty_response() -> None:
    assert make_handler(memory_runtime)({}, None) == {"batchItemFailures": []}


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
