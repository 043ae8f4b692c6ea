"""AWS Lambda entrypoints: thin wiring from the SQS event to the invite service.

Nothing is read or built at import: the environment is checked and the AWS clients are made
on the first invocation, then reused by every later invocation of the same container.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cis.config import BatchFailureMode, Settings
from cis.errors import BatchIncompleteError
from cis.ports.queue import InviteQueue
from cis.service import InviteService, QueueRecord, acknowledge_processed

Handler = Callable[[Mapping[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class LambdaRuntime:
    """What a handler needs, built once per container."""

    service: InviteService
    queue: InviteQueue
    batch_failure_mode: BatchFailureMode = BatchFailureMode.REPORT


def aws_runtime(environ: Mapping[str, str] | None = None) -> LambdaRuntime:
    """Wire the service to SQS, SES and DynamoDB from the environment.

    Raises:
        cis.errors.ConfigurationError: listing every missing or malformed variable.

    """
    settings = Settings.from_env(os.environ if environ is None else environ)
    from cis.adapters.aws import build_aws_adapters

    adapters = build_aws_adapters(settings)
    service = InviteService(
        repository=adapters.repository,
        mailer=adapters.mailer,
        sender=settings.sender,
        rsvp_email=settings.rsvp_email,
        claim_lease=settings.claim_lease,
    )
    return LambdaRuntime(
        service=service, queue=adapters.queue, batch_failure_mode=settings.batch_failure_mode
    )


def make_handler(runtime_factory: Callable[[], LambdaRuntime]) -> Handler:
    """Build a handler that creates its runtime on first use and keeps it.

    Tests and other hosts pass a factory with in-memory or local adapters.
    """
    runtime: LambdaRuntime | None = None
    lock = threading.Lock()

    def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        nonlocal runtime
        with lock:
            if runtime is None:
                runtime = runtime_factory()
        records = [_queue_record(raw) for raw in event.get("Records", [])]
        report = runtime.service.process_batch(records)
        if runtime.batch_failure_mode is BatchFailureMode.RAISE:
            acknowledge_processed(runtime.queue, report)
            if report.retry_message_ids:
                raise BatchIncompleteError(report.retry_message_ids)
            return {"batchItemFailures": []}
        return report.batch_item_failures()

    return handler


def _queue_record(raw: Mapping[str, Any]) -> QueueRecord:
    return QueueRecord(
        message_id=str(raw.get("messageId", "")),
        body=str(raw.get("body", "")),
        receipt=raw.get("receiptHandle"),
    )


lambda_handler = make_handler(aws_runtime)
"""The invite function's handler: `cis.lambda_handler.lambda_handler`."""
