"""AWS Lambda entrypoints: thin wiring from the SQS event to the invite service.

Nothing is read or built at import: the environment is checked and the AWS clients are made
on the first invocation, then reused by every later invocation of the same container.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from cis.config import BatchFailureMode, RsvpSettings, Settings
from cis.errors import BatchIncompleteError
from cis.ports.queue import InviteQueue, QueueRecord
from cis.services.invites import InviteService, acknowledge_processed

if TYPE_CHECKING:
    from cis.services.replies import RsvpService

Handler = Callable[[Mapping[str, Any], Any], dict[str, Any]]
_R = TypeVar("_R")


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


@dataclass(frozen=True, slots=True)
class RsvpRuntime:
    """What the RSVP handler needs, built once per container."""

    service: RsvpService


def aws_rsvp_runtime(environ: Mapping[str, str] | None = None) -> RsvpRuntime:
    """Wire the RSVP service to DynamoDB and S3 from REGION and DYNAMODB_TABLE.

    Raises:
        cis.errors.ConfigurationError: listing every missing or malformed variable.

    """
    settings = RsvpSettings.from_env(os.environ if environ is None else environ)
    # Imported here, as the AWS adapters are: the invite function never loads the reply path.
    from cis.adapters.aws import build_rsvp_adapters
    from cis.services.replies import RsvpService

    adapters = build_rsvp_adapters(settings)
    return RsvpRuntime(RsvpService(repository=adapters.repository, store=adapters.store))


def make_rsvp_handler(runtime_factory: Callable[[], RsvpRuntime]) -> Handler:
    """Build the RSVP handler: SQS records announcing received replies, partial batch response."""
    get_runtime = _built_once(runtime_factory)

    def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        records = [_queue_record(raw) for raw in event.get("Records", [])]
        return get_runtime().service.process_batch(records).batch_item_failures()

    return handler


lambda_handler = make_handler(aws_runtime)
"""The invite function's handler: `cis.lambda_handler.lambda_handler`."""

rsvp_handler = make_rsvp_handler(aws_rsvp_runtime)
"""The RSVP function's handler: `cis.lambda_handler.rsvp_handler`."""
