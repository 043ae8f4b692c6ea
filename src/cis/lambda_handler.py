"""AWS Lambda entrypoints: thin wiring from the SQS event to the service `cis.bootstrap` built.

Nothing is read or built at import: the environment is checked and the AWS clients are made
on the first invocation, then reused by every later invocation of the same container.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from cis.bootstrap import (
    FeedbackRuntime,
    LambdaRuntime,
    RsvpRuntime,
    aws_feedback_runtime,
    aws_rsvp_runtime,
    aws_runtime,
)
from cis.config import BatchFailureMode
from cis.errors import BatchIncompleteError, QueueError
from cis.ports.intake import Intake
from cis.ports.queue import QueueRecord
from cis.services.invites import TimeLeft, acknowledge_processed

__all__ = [
    "FeedbackRuntime", "Handler", "LambdaRuntime", "RsvpRuntime", "aws_feedback_runtime",
    "aws_rsvp_runtime", "aws_runtime", "feedback_handler", "lambda_handler",
    "make_feedback_handler", "make_handler", "make_rsvp_handler", "rsvp_handler",
]

Handler = Callable[[Mapping[str, Any], Any], dict[str, Any]]
_R = TypeVar("_R")
_log = logging.getLogger("cis")


def _built_once(factory: Callable[[], _R]) -> Callable[[], _R]:
    """Call `factory` on first use only; a failed build is tried again on the next call."""
    built: list[_R] = []
    lock = threading.Lock()

    def get() -> _R:
        with lock:
            if not built:
                built.append(factory())
            return built[0]

    return get


def make_handler(runtime_factory: Callable[[], LambdaRuntime]) -> Handler:
    """Build a handler that creates its runtime on first use and keeps it.

    Tests and other hosts pass a factory with in-memory or local adapters.
    """
    get_runtime = _built_once(runtime_factory)

    def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        runtime = get_runtime()
        records = [_queue_record(raw) for raw in event.get("Records", [])]
        report = runtime.service.process_batch(records, time_left=_time_left(context))
        if report.halted and runtime.intake is not None:
            _pause(runtime.intake, report.halted)
        if runtime.batch_failure_mode is BatchFailureMode.RAISE:
            acknowledge_processed(runtime.queue, report)
            if report.retry_message_ids:
                raise BatchIncompleteError(report.retry_message_ids)
            return {"batchItemFailures": []}
        return report.batch_item_failures()

    return handler


def make_rsvp_handler(runtime_factory: Callable[[], RsvpRuntime]) -> Handler:
    """Build the RSVP handler: SQS records announcing received replies, partial batch response."""
    get_runtime = _built_once(runtime_factory)

    def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        records = [_queue_record(raw) for raw in event.get("Records", [])]
        return get_runtime().service.process_batch(records).batch_item_failures()

    return handler


def make_feedback_handler(runtime_factory: Callable[[], FeedbackRuntime]) -> Handler:
    """Build the delivery feedback handler: SES reports through SNS, partial batch response."""
    get_runtime = _built_once(runtime_factory)

    def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        records = [_queue_record(raw) for raw in event.get("Records", [])]
        return get_runtime().service.process_batch(records).batch_item_failures()

    return handler


def _time_left(context: Any) -> TimeLeft | None:
    """Seconds the invocation has left, from the Lambda context (None without one)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    return lambda: float(remaining()) / 1000.0


def _pause(intake: Intake, reason: str) -> None:
    """Stop the event source; a failure to is logged, and the batch's report still returned."""
    try:
        intake.pause(reason)
    except QueueError:
        _log.exception("could not pause taking invites; every batch will be handed back")


def _queue_record(raw: Mapping[str, Any]) -> QueueRecord:
    return QueueRecord(
        message_id=str(raw.get("messageId", "")),
        body=str(raw.get("body", "")),
        receipt=raw.get("receiptHandle"),
    )


lambda_handler = make_handler(aws_runtime)
"""The invite function's handler: `cis.lambda_handler.lambda_handler`."""

rsvp_handler = make_rsvp_handler(aws_rsvp_runtime)
"""The RSVP function's handler: `cis.lambda_handler.rsvp_handler`."""

feedback_handler = make_feedback_handler(aws_feedback_runtime)
"""The delivery feedback function's handler: `cis.lambda_handler.feedback_handler`."""
