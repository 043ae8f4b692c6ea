"""AWS as it behaves under load, in front of moto: latency, transaction conflicts, the send rate.

moto answers every call at once and one after another; AWS takes milliseconds, cancels
DynamoDB writes that meet another on the same item, and refuses sends above the account's
rate. `AwsUnderLoad` models those three things. One object serves every client of every
consumer of a run (it is thread-safe); `attach(runtime)` hooks it onto a runtime's DynamoDB,
SES and SQS clients. Each HTTP attempt of those clients then comes to its `before-send`
handler, which returns the answer itself (moto's, or one of its own); botocore parses that
answer and applies its retry rules exactly as it would to AWS's.

Latency: every attempt waits `latency` seconds before it reaches moto (or the model's answer).

DynamoDB holds and conflicts: a TransactWriteItems, UpdateItem, PutItem or DeleteItem that
arrives holds every item it writes (table + key; for a transaction, the key of every Update,
Put, Delete and ConditionCheck action) for `hold` seconds. Its answer leaves once moto has
answered and the hold is over: DynamoDB answers a write when it is done with its items, so a
consumer never meets its own earlier write. A request arriving while another holds one of its
items is answered without reaching moto, as DynamoDB answers ("Transaction conflict handling
in DynamoDB", developerguide/transaction-apis.html):

- a transaction: HTTP 400 `TransactionCanceledException` whose `CancellationReasons` hold, in
  action order, `{"Code": "TransactionConflict", "Message": ...}` for each action on a held
  item and `{"Code": "None"}` for the others (its words under `Message`, the member name
  DynamoDB's model and moto use for this error); it writes and holds nothing;
- a plain write on an item a transaction holds: HTTP 400 `TransactionConflictException`.

A transaction conflicts with any write holding its item, plain or not. Two plain writes on one
item do not conflict: DynamoDB applies them one after the other and documents no conflict
between them (`plain_writes_conflict=True` makes them conflict too). botocore's standard retry
mode retries neither error: neither code is a throttling or transient one, nor modelled
retryable, so each costs the caller one attempt (the tests count attempts against calls).

SES send rate: SES v2 `SendEmail` takes from a token bucket of `quota` recipients per second
that holds at most one second's worth and starts full. SES defines its maximum send rate as
"the maximum number of emails that Amazon SES can accept from your account each second. You
can exceed this quota for short bursts, but not for sustained periods of time" (Developer
Guide, "Managing your Amazon SES sending limits"), and counts recipients: a bucket admits a
short burst above the rate and holds any longer stretch to `quota` per second, where a rolling
one-second window would never let more than `quota` through in any second. An attempt the
bucket cannot pay for is answered HTTP 429 `TooManyRequestsException` (`x-amzn-ErrorType`
header, JSON body with a `message`), which botocore's standard mode retries: each retry is a
new attempt on the bucket.

What it counts (`figures()`): API calls by operation (a `before-call` hook, once per call, as
bench/aws_cost.py counts), HTTP attempts by operation, conflicts by operation, throttled
attempts, accepted sends per recipient address with the time of the first and the last, and
the write units of every write that reached moto, by bench/write_units.py from the item sizes
before and after it. Requests reach moto one at a time, behind one lock: moto's conditional
writes are not atomic (tests/conftest.py), and a write's items are measured right before and
after it with nothing in between. An item's size before a write is its size after the
previous write through the model (read from moto the first time); after a write, it is read
with one consistent BatchGetItem on an uncounted client. When moto is bench/moto_load_server.py,
it reports both sizes in its answer (`x-load-item-sizes`) and nothing is read back. A request
the model answers itself writes nothing and is billed nothing here.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
from bench.write_units import Write, item_sizes, written_items
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from botocore.httpsession import URLLib3Session

__all__ = [
    "DEFAULT_HOLD", "DEFAULT_LATENCY", "HELD_OPERATIONS", "AwsUnderLoad", "LoadFigures",
    "SendRateBucket",
]

DEFAULT_LATENCY = 0.010
DEFAULT_HOLD = 0.015
HELD_OPERATIONS = frozenset({"TransactWriteItems", "UpdateItem", "PutItem", "DeleteItem"})
TRANSACTION = "TransactWriteItems"
SEND_EMAIL = "SendEmail"

_DYNAMODB_ERROR = "com.amazonaws.dynamodb.v20120810#"
_CONFLICT_MESSAGE = "Transaction is ongoing for the item"
_CANCELLED_MESSAGE = "Transaction cancelled, please refer cancellation reasons for specific reasons"
_SEND_RATE_MESSAGE = "Maximum sending rate exceeded."
_RECIPIENT_FIELDS = ("ToAddresses", "CcAddresses", "BccAddresses")
_ITEM_SIZES_HEADER = "x-load-item-sizes"  # bench/moto_load_server.py

_Key = tuple[str, str]  # (table, the key's attributes as canonical JSON)


@dataclass
class SendRateBucket:
    """Tokens of one recipient each: `rate` come per second, at most `capacity` are kept."""

    rate: float
    capacity: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, rate: float, now: float) -> SendRateBucket:
        """A bucket of one second's worth (at least one send), full at `now`."""
        capacity = max(rate, 1.0)
        return cls(rate=rate, capacity=capacity, tokens=capacity, updated=now)

    def take(self, count: int, now: float) -> bool:
        """Pay for `count` recipients at `now` if the bucket holds enough; say whether it did."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < count:
            return False
        self.tokens -= count
        return True

    def give_back(self, count: int) -> None:
        """Return tokens for a send the mail system refused for another reason."""
        self.tokens = min(self.capacity, self.tokens + count)


@dataclass(frozen=True)
class LoadFigures:
    """What the model counted since it was built: a copy, safe to keep after the run."""

    calls: Counter[str]
    attempts: Counter[str]
    conflicts: Counter[str]
    throttled: int
    sent_to: Counter[str]
    first_send: float | None
    last_send: float | None
    writes: tuple[Write, ...]

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def total_attempts(self) -> int:
        return sum(self.attempts.values())

    @property
    def transaction_conflicts(self) -> int:
        return self.conflicts[TRANSACTION]

    @property
    def write_conflicts(self) -> int:
        """Plain writes answered TransactionConflictException."""
        return sum(count for name, count in self.conflicts.items() if name != TRANSACTION)

    @property
    def sends(self) -> int:
        """Accepted sends, one per recipient."""
        return sum(self.sent_to.values())

    @property
    def send_span(self) -> float:
        """Seconds from the first accepted send to the last."""
        if self.first_send is None or self.last_send is None:
            return 0.0
        return self.last_send - self.first_send

    @property
    def write_units(self) -> int:
        return sum(write.wcu for write in self.writes)

    def emailed_more_than_once(self) -> int:
        """Recipients SES accepted more than one email for."""
        return sum(1 for count in self.sent_to.values() if count > 1)


@dataclass
class _Hold:
    end: float
    transactional: bool


@dataclass
class _Tally:
    calls: Counter[str] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)
    conflicts: Counter[str] = field(default_factory=Counter)
    throttled: int = 0
    sent_to: Counter[str] = field(default_factory=Counter)
    first_send: float | None = None
    last_send: float | None = None
    writes: list[Write] = field(default_factory=list)


class _Body:
    """The raw body of an answer the model makes itself, as botocore reads one."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


class AwsUnderLoad:
    """Latency, DynamoDB holds and conflicts, and the SES send rate, for every attached client."""

    def __init__(
        self,
        *,
        latency: float = DEFAULT_LATENCY,
        hold: float = DEFAULT_HOLD,
        quota: float | None = None,
        conflicts: bool = True,
        plain_writes_conflict: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Model AWS in front of moto.

        Args:
            latency: seconds every HTTP attempt takes before it reaches moto.
            hold: seconds a write holds each item it writes, from its arrival.
            quota: SES sends (recipients) accepted per second; None accepts every send.
            conflicts: False keeps the holds' timing but answers no conflict, for a run that
                measures what the machine can do.
            plain_writes_conflict: make two plain writes on one item conflict too.
            clock: seconds, for holds, the bucket and send times.
            sleep: how the model waits.

        """
        self.latency = latency
        self.hold = hold
        self.quota = quota
        self.conflicts = conflicts
        self.plain_writes_conflict = plain_writes_conflict
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()  # the holds, the bucket and the tally
        self._moto = threading.Lock()  # one request at a time to moto
        self._holds: defaultdict[_Key, list[_Hold]] = defaultdict(list)
        self._bucket = None if quota is None else SendRateBucket.full(quota, clock())
        self._tally = _Tally()
        self._sizes: dict[tuple[str, str, str], int] = {}
        self._http = URLLib3Session(timeout=60, max_pool_connections=4)
        self._inspector: Any = None
        self._moto_reports_sizes = False
        self._id = f"aws-under-load-{uuid.uuid4().hex}"

    # --- attaching ------------------------------------------------------------------------------

    def attach(self, runtime: Any) -> Any:
        """Hook the model onto the runtime's DynamoDB, SES and SQS clients; return the runtime."""
        service = runtime.service
        for client in (service.repository.client, service.mailer.client, runtime.queue.client):
            self.attach_client(client)
        return runtime

    def attach_client(self, client: Any) -> Any:
        """Hook the model onto one botocore client (once, however often it is called)."""
        events = client.meta.events
        events.register("before-call.*.*", self._count_call, unique_id=f"{self._id}-call")
        events.register("before-send.*.*", self._answer, unique_id=f"{self._id}-send")
        if client.meta.service_model.service_name == "dynamodb":
            with self._moto:
                if self._inspector is None:
                    self._inspector = boto3.session.Session().client(
                        "dynamodb", endpoint_url=client.meta.endpoint_url,
                        region_name=client.meta.region_name,
                        config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
        return client

    # --- reading --------------------------------------------------------------------------------

    def figures(self) -> LoadFigures:
        """A copy of everything counted so far."""
        with self._lock:
            tally = self._tally
            return LoadFigures(
                calls=Counter(tally.calls), attempts=Counter(tally.attempts),
                conflicts=Counter(tally.conflicts), throttled=tally.throttled,
                sent_to=Counter(tally.sent_to), first_send=tally.first_send,
                last_send=tally.last_send, writes=tuple(tally.writes),
            )

    def holding(self, table: str, key: Mapping[str, Any]) -> bool:
        """Whether some write holds the item now."""
        with self._lock:
            return bool(self._live_holds((table, _canonical(key)), self._clock()))

    # --- hooks ----------------------------------------------------------------------------------

    def _count_call(self, event_name: str, **_: Any) -> None:
        with self._lock:
            self._tally.calls[event_name.split(".")[2]] += 1

    def _answer(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse:
        _, service, operation = event_name.split(".")
        self._sleep(self.latency)
        with self._lock:
            self._tally.attempts[operation] += 1
        if service == "dynamodb" and operation in HELD_OPERATIONS:
            return self._write(operation, request)
        if service == "sesv2" and operation == SEND_EMAIL:
            return self._send_email(request)
        return self._forward(request)

    # --- DynamoDB -------------------------------------------------------------------------------

    def _write(self, operation: str, request: AWSPreparedRequest) -> AWSResponse:
        items = written_items(operation, _json(request))
        keys = [(table, _canonical(key)) for table, key, _ in items]
        transactional = operation == TRANSACTION
        with self._lock:
            arrived = self._clock()
            held = [self._conflicts_with(key, transactional, arrived) for key in keys]
            if any(held):
                self._tally.conflicts[operation] += 1
                return _conflict(request.url, transactional, held)
            ends = arrived + self.hold
            for key in keys:
                self._holds[key].append(_Hold(ends, transactional))
        answer = self._forward(request, operation=operation, items=items)
        left = ends - self._clock()
        if left > 0:
            self._sleep(left)
        return answer

    def _conflicts_with(self, key: _Key, transactional: bool, now: float) -> bool:
        if not self.conflicts:
            return False
        return any(transactional or hold.transactional or self.plain_writes_conflict
                   for hold in self._live_holds(key, now))

    def _live_holds(self, key: _Key, now: float) -> list[_Hold]:
        live = [hold for hold in self._holds.get(key, ()) if hold.end > now]
        if live:
            self._holds[key] = live
        else:
            self._holds.pop(key, None)
        return live

    # --- SES ------------------------------------------------------------------------------------

    def _send_email(self, request: AWSPreparedRequest) -> AWSResponse:
        destination = _json(request).get("Destination", {})
        recipients = [address.lower() for name in _RECIPIENT_FIELDS
                      for address in destination.get(name, [])]
        cost = max(1, len(recipients))
        with self._lock:
            paid = self._bucket is None or self._bucket.take(cost, self._clock())
            if not paid:
                self._tally.throttled += 1
        if not paid:
            return _too_many_requests(request.url)
        answer = self._forward(request)
        with self._lock:
            if 200 <= answer.status_code < 300:
                now = self._clock()
                tally = self._tally
                tally.sent_to.update(recipients)
                tally.first_send = now if tally.first_send is None else tally.first_send
                tally.last_send = now
            elif self._bucket is not None:
                self._bucket.give_back(cost)
        return answer

    # --- moto -----------------------------------------------------------------------------------

    def _forward(self, request: AWSPreparedRequest, *, operation: str = "",
                 items: Sequence[tuple[str, dict[str, Any], str]] = ()) -> AWSResponse:
        """Send the request to moto, one at a time, measuring the items a write writes."""
        with self._moto:
            reads_sizes = bool(items) and not self._moto_reports_sizes
            before = self._sizes_before(items) if reads_sizes else []
            answer = self._http.send(request)
            answer.content  # noqa: B018 - read the whole answer while moto is ours
            if not items:
                return answer
            reported = answer.headers.get(_ITEM_SIZES_HEADER)
            if reported is not None:
                self._moto_reports_sizes = True
                pairs = json.loads(reported)
                before, after = [pair[0] for pair in pairs], [pair[1] for pair in pairs]
            else:
                after = item_sizes(self._inspector, [(table, key) for table, key, _ in items])
            writes = []
            for (table, key, role), size_before, size_after in zip(items, before, after,
                                                                  strict=True):
                self._sizes[_item_id(table, key)] = size_after
                writes.append(Write(operation=operation, role=role, before=size_before,
                                    after=size_after))
        with self._lock:
            self._tally.writes.extend(writes)
        return answer

    def _sizes_before(self, items: Sequence[tuple[str, dict[str, Any], str]]) -> list[int]:
        unknown = [(table, key) for table, key, _ in items
                   if _item_id(table, key) not in self._sizes]
        if unknown:
            for (table, key), size in zip(unknown, item_sizes(self._inspector, unknown),
                                          strict=True):
                self._sizes[_item_id(table, key)] = size
        return [self._sizes[_item_id(table, key)] for table, key, _ in items]


# --- answers the model makes itself -------------------------------------------------------------


def _conflict(url: str, transactional: bool, held: Sequence[bool]) -> AWSResponse:
    """DynamoDB's answer to a write that met another on one of its items."""
    if not transactional:
        return _dynamodb_error(url, "TransactionConflictException", {"message": _CONFLICT_MESSAGE})
    reasons = [{"Code": "TransactionConflict", "Message": _CONFLICT_MESSAGE} if conflict
               else {"Code": "None"} for conflict in held]
    codes = ", ".join(reason["Code"] for reason in reasons)
    return _dynamodb_error(url, "TransactionCanceledException", {
        "CancellationReasons": reasons, "Message": f"{_CANCELLED_MESSAGE} [{codes}]"})


def _dynamodb_error(url: str, code: str, fields: Mapping[str, Any]) -> AWSResponse:
    body = json.dumps({"__type": _DYNAMODB_ERROR + code, **fields}).encode()
    return AWSResponse(url, 400, {
        "Content-Type": "application/x-amz-json-1.0",
        "Content-Length": str(len(body)),
        "x-amzn-RequestId": uuid.uuid4().hex.upper(),
        "x-amz-crc32": str(zlib.crc32(body)),
    }, _Body(body))


def _too_many_requests(url: str) -> AWSResponse:
    """SES v2's answer to a send above the account's maximum send rate."""
    body = json.dumps({"message": _SEND_RATE_MESSAGE}).encode()
    return AWSResponse(url, 429, {
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "x-amzn-ErrorType": "TooManyRequestsException",
        "x-amzn-RequestId": str(uuid.uuid4()),
    }, _Body(body))


def _json(request: AWSPreparedRequest) -> dict[str, Any]:
    body = request.body
    if body is None:
        return {}
    if hasattr(body, "read"):
        raise TypeError("streamed request bodies are not modelled")
    loaded: dict[str, Any] = json.loads(body)
    return loaded


def _canonical(key: Mapping[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


def _item_id(table: str, key: Mapping[str, Any]) -> tuple[str, str, str]:
    return table, key["pk"]["S"], key["sk"]["S"]
