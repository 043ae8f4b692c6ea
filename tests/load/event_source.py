"""The SQS event source of the invite function, in process and on the wall clock, for load runs.

`run_event_source` puts one message per attendee on an in-process queue and starts
`consumers` threads, each acting as one Lambda container: it builds its own handler (and so
its own runtime and clients, on the first invocation), receives batches of up to ten visible
messages, calls the handler with an SQS event and a context whose
`get_remaining_time_in_millis()` counts down from the function timeout, and then does what
the event source does with a partial batch response:

- the messages not listed in `batchItemFailures` are deleted; the listed ones stay invisible
  until their visibility timeout passes, then come back;
- a response naming a message that is not in the batch fails the whole batch, as Lambda
  treats an invalid partial batch response;
- a handler that raises, or returns after its timeout (Lambda would have stopped it), fails
  the whole batch: nothing is deleted, every message comes back after its visibility timeout;
- a delete carrying an older receipt than the message's latest receive is not applied, as
  SQS keeps a message whose receipt handle is stale;
- a message received `max_receives` times and still not deleted goes to the dead-letter list
  when it would be received once more, as a redrive policy's maxReceiveCount does.

The run ends when every message is deleted or dead-lettered; past `time_limit` it raises
`EventSourceTimeout`, naming what is left. Only `BATCH_FAILURE_MODE=report` is driven: in
`raise` mode the function deletes through SQS itself, which this queue is not. The function's
environment carries no AWS_LAMBDA_FUNCTION_NAME, so the runtime builds no way of pausing its
event source.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from cis.lambda_handler import Handler, LambdaRuntime, aws_runtime, make_handler
from tests.support import body

__all__ = [
    "FUNCTION_NAME", "EventSourceTimeout", "LambdaContext", "SourceResult", "SourceSettings",
    "attendee_address", "function_environment", "invite_bodies", "invite_handler",
    "run_event_source",
]

FUNCTION_NAME = "cis-invites-load"
REGION = "us-east-1"
ACCOUNT = "123456789012"


@dataclass(frozen=True)
class SourceSettings:
    """How the event source and the function are configured."""

    consumers: int
    function_timeout: float = 30.0
    visibility_timeout: float = 20.0
    max_receives: int = 5
    batch_size: int = 10
    time_limit: float = 600.0
    #: How long a consumer that found nothing visible waits before it asks again.
    poll_interval: float = 0.05


@dataclass(frozen=True)
class SourceResult:
    """What the event source saw: deliveries, outcomes of invocations, what was left over."""

    elapsed: float
    messages: int
    deleted: int
    dead_lettered: tuple[str, ...]  # bodies
    receives: int
    invocations: int
    reported_failures: int  # records named in batchItemFailures
    handler_errors: Counter[str]  # exception type names of invocations that raised
    timed_out: int  # invocations that returned after their timeout
    invalid_responses: int
    stale_deletes: int
    most_receives: int  # of one message, deleted or dead-lettered

    @property
    def redeliveries(self) -> int:
        return self.receives - self.messages


class EventSourceTimeout(AssertionError):
    """Raised when a run has not deleted or dead-lettered every message within its time limit."""


class LambdaContext:
    """The part of the Lambda context object a handler reads, with a real countdown."""

    def __init__(self, *, timeout: float, function_name: str = FUNCTION_NAME,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        self.memory_limit_in_mb = "512"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"load/{uuid.uuid4().hex}"
        self._clock = clock
        self.deadline = clock() + timeout

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the function's timeout, never below zero."""
        return max(0, int((self.deadline - self._clock()) * 1000))


def attendee_address(number: int) -> str:
    """The address of attendee `number` of a load run."""
    return f"attendee{number:05d}@example.org"


def invite_bodies(event_uid: str, attendees: int) -> list[str]:
    """One valid v1 message body per attendee of one event."""
    return [body(attendee_address(number), uid=event_uid, name=f"Attendee {number}")
            for number in range(attendees)]


def function_environment(base: Mapping[str, str], *, consumers: int, max_send_rate: float | None,
                         claim_lease_seconds: int, log_level: str = "WARNING") -> dict[str, str]:
    """The function's environment: `base` (region, table, queue, sender, endpoint) and pacing.

    MAX_SEND_RATE is the account's SES rate and MAX_CONCURRENCY the number of consumers that
    share it; without a rate, MAX_SEND_RATE is left out (no pacing).
    """
    environment = {**base, "MAX_CONCURRENCY": str(consumers),
                   "CLAIM_LEASE_SECONDS": str(claim_lease_seconds),
                   "BATCH_FAILURE_MODE": "report", "LOG_LEVEL": log_level}
    if max_send_rate is not None:
        environment["MAX_SEND_RATE"] = f"{max_send_rate:g}"
    return environment


def invite_handler(environment: Mapping[str, str],
                   prepare: Callable[[LambdaRuntime], LambdaRuntime] = lambda runtime: runtime,
                   ) -> Callable[[], Handler]:
    """A maker of fresh handlers, one per container, as deployed: `make_handler(aws_runtime)`.

    `prepare` sees each runtime once it is built (to attach a model, say).
    """
    frozen = dict(environment)
    return lambda: make_handler(lambda: prepare(aws_runtime(frozen)))


@dataclass
class _Message:
    message_id: str
    body: str
    sent_at: float  # seconds since 1970, as SQS reports it
    receive_count: int = 0
    visible_at: float = 0.0
    receipt: str = ""
    first_received: float | None = None  # seconds since 1970


@dataclass
class _Tally:
    receives: int = 0
    invocations: int = 0
    reported_failures: int = 0
    handler_errors: Counter[str] = field(default_factory=Counter)
    timed_out: int = 0
    invalid_responses: int = 0
    stale_deletes: int = 0
    deleted: int = 0
    most_receives: int = 0


class _Queue:
    """A standard SQS queue with a redrive policy, in memory; every method is thread-safe."""

    def __init__(self, bodies: Sequence[str], settings: SourceSettings,
                 clock: Callable[[], float]) -> None:
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._messages = {message.message_id: message for message in (
            _Message(str(uuid.uuid4()), text, time.time()) for text in bodies)}
        self.dead_letters: list[_Message] = []
        self.tally = _Tally()

    def receive(self) -> list[_Message]:
        """Up to a batch of visible messages, oldest first, now invisible for the timeout."""
        settings = self._settings
        with self._lock:
            now = self._clock()
            visible = sorted((m for m in self._messages.values() if m.visible_at <= now),
                             key=lambda m: m.visible_at)
            batch = []
            for message in visible:
                if message.receive_count >= settings.max_receives:
                    del self._messages[message.message_id]
                    self.dead_letters.append(message)
                    self.tally.most_receives = max(self.tally.most_receives,
                                                   message.receive_count)
                    continue
                message.receive_count += 1
                message.receipt = uuid.uuid4().hex
                message.visible_at = now + settings.visibility_timeout
                if message.first_received is None:
                    message.first_received = time.time()
                batch.append(_Message(**vars(message)))
                if len(batch) == settings.batch_size:
                    break
            self.tally.receives += len(batch)
            return batch

    def delete(self, message: _Message) -> None:
        with self._lock:
            current = self._messages.get(message.message_id)
            if current is None:
                return
            if current.receipt != message.receipt:
                self.tally.stale_deletes += 1
                return
            del self._messages[message.message_id]
            self.tally.deleted += 1
            self.tally.most_receives = max(self.tally.most_receives, current.receive_count)

    def left(self) -> tuple[int, int]:
        """(messages not deleted nor dead-lettered, of which invisible now)."""
        with self._lock:
            now = self._clock()
            return (len(self._messages),
                    sum(1 for m in self._messages.values() if m.visible_at > now))

    def record(self, update: Callable[[_Tally], None]) -> None:
        with self._lock:
            update(self.tally)


def run_event_source(bodies: Sequence[str], handler_factory: Callable[[], Handler],
                     settings: SourceSettings,
                     clock: Callable[[], float] = time.monotonic) -> SourceResult:
    """Deliver every body to `settings.consumers` containers until all are deleted or dead.

    Raises:
        EventSourceTimeout: `settings.time_limit` passed first.

    """
    queue = _Queue(bodies, settings, clock)
    stop = threading.Event()
    crashes: list[BaseException] = []
    started = clock()

    def consume(number: int) -> None:
        try:
            _consume(queue, handler_factory(), settings, stop, clock)
        except BaseException as exc:  # a fault of the harness itself: fail the run
            crashes.append(exc)
            stop.set()

    threads = [threading.Thread(target=consume, args=(n,), name=f"consumer-{n}", daemon=True)
               for n in range(settings.consumers)]
    for thread in threads:
        thread.start()
    try:
        while not stop.is_set():
            left, _ = queue.left()
            if left == 0:
                break
            if clock() - started > settings.time_limit:
                left, invisible = queue.left()
                raise EventSourceTimeout(
                    f"after {settings.time_limit:.0f}s, {left} of {len(bodies)} messages are "
                    f"neither deleted nor dead-lettered ({invisible} invisible); "
                    f"{queue.tally.invocations} invocations, {queue.tally.receives} receives")
            time.sleep(settings.poll_interval)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=settings.function_timeout + 5)
    if crashes:
        raise crashes[0]
    tally = queue.tally
    return SourceResult(
        elapsed=clock() - started, messages=len(bodies), deleted=tally.deleted,
        dead_lettered=tuple(m.body for m in queue.dead_letters), receives=tally.receives,
        invocations=tally.invocations, reported_failures=tally.reported_failures,
        handler_errors=Counter(tally.handler_errors), timed_out=tally.timed_out,
        invalid_responses=tally.invalid_responses, stale_deletes=tally.stale_deletes,
        most_receives=tally.most_receives,
    )


def _consume(queue: _Queue, handler: Handler, settings: SourceSettings, stop: threading.Event,
             clock: Callable[[], float]) -> None:
    """One container: receive, invoke, delete what succeeded; until the run stops."""
    while not stop.is_set():
        batch = queue.receive()
        if not batch:
            stop.wait(settings.poll_interval)
            continue
        context = LambdaContext(timeout=settings.function_timeout, clock=clock)
        event = {"Records": [_sqs_record(message) for message in batch]}
        queue.record(_count_invocation)
        try:
            response = handler(event, context)
        except Exception as exc:
            queue.record(partial(_count_error, type(exc).__name__))
            continue
        if clock() > context.deadline:
            queue.record(_count_timeout)
            continue
        failed = _failed_ids(response, batch)
        if failed is None:
            queue.record(_count_invalid)
            continue
        queue.record(partial(_count_failures, len(failed)))
        for message in batch:
            if message.message_id not in failed:
                queue.delete(message)


def _failed_ids(response: Any, batch: Sequence[_Message]) -> set[str] | None:
    """The ids a partial batch response names; None when it is invalid (the batch fails)."""
    if response is None:
        return set()
    if not isinstance(response, Mapping):
        return None
    failures = response.get("batchItemFailures") or []
    ids = {message.message_id for message in batch}
    named: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not identifier or identifier not in ids:
            return None
        named.add(identifier)
    return named


def _sqs_record(message: _Message) -> dict[str, Any]:
    first = message.first_received or message.sent_at
    return {
        "messageId": message.message_id,
        "receiptHandle": message.receipt,
        "body": message.body,
        "attributes": {
            "ApproximateReceiveCount": str(message.receive_count),
            "SentTimestamp": str(int(message.sent_at * 1000)),
            "SenderId": ACCOUNT,
            "ApproximateFirstReceiveTimestamp": str(int(first * 1000)),
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(message.body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{FUNCTION_NAME}",
        "awsRegion": REGION,
    }


def _count_invocation(tally: _Tally) -> None:
    tally.invocations += 1


def _count_error(name: str, tally: _Tally) -> None:
    tally.handler_errors[name] += 1


def _count_timeout(tally: _Tally) -> None:
    tally.timed_out += 1


def _count_invalid(tally: _Tally) -> None:
    tally.invalid_responses += 1


def _count_failures(count: int, tally: _Tally) -> None:
    tally.reported_failures += count
