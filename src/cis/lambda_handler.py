"""AWS Lambda entrypoints: thin wiring from the SQS event to the service `cis.bootstrap` built.

Nothing is read or built at import: the environment is checked and the AWS clients are made
on the first invocation, then reused by every later invocation of the same container. On
Lambda each invite and reply batch writes one metric line (CloudWatch embedded metric format)
on stdout.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cis.bootstrap import (
    FeedbackRuntime,
    LambdaRuntime,
    RsvpRuntime,
    aws_feedback_runtime,
    aws_rsvp_runtime,
    aws_runtime,
)
from cis.config import FUNCTION_NAME, LAMBDA_LOG_LEVEL, BatchFailureMode
from cis.errors import BatchIncompleteError, InvalidEventError, QueueError
from cis.ports.intake import Intake
from cis.ports.queue import QueueRecord
from cis.services.batch_metrics import (
    Metric,
    emf_document,
    invite_metrics,
    level_kept_by,
    reply_metrics,
)
from cis.services.invites import TimeLeft, acknowledge_processed
from cis.services.outcome_log import log_outcome

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
        batch = _read_sqs_batch(event)
        runtime = get_runtime()
        batch.log_refused("invite")
        started = time.perf_counter()
        report = runtime.service.process_batch(batch.records, time_left=_time_left(context))
        _publish(invite_metrics(report, duration_ms=_elapsed_ms(started),
                                refused=len(batch.refused)))
        if report.halted and runtime.intake is not None:
            _pause(runtime.intake, report.halted)
        if runtime.batch_failure_mode is BatchFailureMode.RAISE:
            acknowledge_processed(runtime.queue, report)
            refused = [record.receipt for record, _ in batch.refused if record.receipt]
            if refused:
                runtime.queue.acknowledge(refused)
            if report.retry_message_ids:
                raise BatchIncompleteError(report.retry_message_ids)
            return {"batchItemFailures": []}
        return report.batch_item_failures()

    return handler


def make_rsvp_handler(runtime_factory: Callable[[], RsvpRuntime]) -> Handler:
    """Build the RSVP handler: SQS records announcing received replies, partial batch response."""
    get_runtime = _built_once(runtime_factory)

    def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        batch = _read_sqs_batch(event)
        batch.log_refused("reply")
        runtime = get_runtime()
        started = time.perf_counter()
        report = runtime.service.process_batch(batch.records)
        _publish(reply_metrics((result.outcome for result in report.results),
                               duration_ms=_elapsed_ms(started), refused=len(batch.refused)))
        return report.batch_item_failures()

    return handler


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _publish(metrics: list[Metric]) -> None:
    """Write the batch's metrics as one raw JSON line on stdout, where CloudWatch reads them.

    Not through `logging`: with the JSON log format Lambda's formatter would wrap the document
    in a record of its own, and CloudWatch extracts metrics only from a line that is the
    document itself. Only inside Lambda (which names the function in the environment): a
    host that runs the handler otherwise (a script, a bench, a worker of its own) has no
    CloudWatch reading its stdout, and would get a line of JSON per batch in its output.
    """
    function_name = os.environ.get(FUNCTION_NAME, "").strip()
    if not function_name:
        return
    document = emf_document(
        metrics, function_name=function_name,
        timestamp_ms=int(time.time() * 1000),
        level=level_kept_by(os.environ.get(LAMBDA_LOG_LEVEL, "")))
    sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def make_feedback_handler(runtime_factory: Callable[[], FeedbackRuntime]) -> Handler:
    """Build the delivery feedback handler: SES reports through SNS, partial batch response."""
    get_runtime = _built_once(runtime_factory)

    def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        batch = _read_sqs_batch(event)
        batch.log_refused("feedback")
        return get_runtime().service.process_batch(batch.records).batch_item_failures()

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


@dataclass(frozen=True, slots=True)
class _SqsBatch:
    """The records of one SQS event: those to process, and those refused for their shape.

    A refused record has a message id but no body to read: it can never succeed, so it is
    acknowledged (never listed for retry) with its reason.
    """

    records: list[QueueRecord] = field(default_factory=list)
    refused: list[tuple[QueueRecord, str]] = field(default_factory=list)

    def log_refused(self, flow: str) -> None:
        """One rejected outcome record for each refused record, as the service logs its own."""
        for record, reason in self.refused:
            log_outcome(_log, outcome="rejected", message_id=record.message_id,
                        event_uid=None, address=None, reason=reason, level=logging.WARNING,
                        flow=flow)


def _read_sqs_batch(event: object) -> _SqsBatch:
    """The records of an SQS event, whatever shape each record has.

    A record that is not an object, or has no `messageId` (a non-empty string), is logged and
    left out: its outcome could not be reported back (an empty or unknown `itemIdentifier`
    fails the whole batch), nor, unnamed, could it be told from another. A record with an id
    but no string `body` is refused. Nothing here raises for a record, so the well-formed
    records of the batch are always processed.

    Raises:
        InvalidEventError: the event is not an SQS event (not an object with a list of
            `Records`), so no record can be read from it.

    """
    if not isinstance(event, Mapping):
        raise InvalidEventError(f"not an SQS event: the event is {_kind(event)}, not an object")
    if "Records" not in event:
        raise InvalidEventError("not an SQS event: it has no Records")
    raw_records = event["Records"]
    if not isinstance(raw_records, list):
        raise InvalidEventError(f"not an SQS event: Records is {_kind(raw_records)}, not a list")
    batch = _SqsBatch()
    count = len(raw_records)
    for position, raw in enumerate(raw_records, 1):
        if not isinstance(raw, Mapping):
            _log.error("SQS record %d of %d is %s, not an object: left out, it can be neither "
                       "processed nor reported for retry", position, count, _kind(raw))
            continue
        message_id = raw.get("messageId")
        if not isinstance(message_id, str) or not message_id.strip():
            _log.error("SQS record %d of %d has no messageId: left out, as its failure could "
                       "not be reported for retry", position, count)
            continue
        receipt = raw.get("receiptHandle")
        body = raw.get("body")
        record = QueueRecord(message_id=message_id, body=body if isinstance(body, str) else "",
                             receipt=receipt if isinstance(receipt, str) and receipt else None)
        if body is None:
            batch.refused.append((record, "body: the SQS record has no body"))
        elif not isinstance(body, str):
            batch.refused.append(
                (record, f"body: must be a string (the message text), not {_kind(body)}"))
        else:
            batch.records.append(record)
    return batch


def _kind(value: object) -> str:
    """The JSON kind of a decoded value, as a reason names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"


lambda_handler = make_handler(aws_runtime)
"""The invite function's handler: `cis.lambda_handler.lambda_handler`."""

rsvp_handler = make_rsvp_handler(aws_rsvp_runtime)
"""The RSVP function's handler: `cis.lambda_handler.rsvp_handler`."""

feedback_handler = make_feedback_handler(aws_feedback_runtime)
"""The delivery feedback function's handler: `cis.lambda_handler.feedback_handler`."""
