"""AWS API calls and DynamoDB write units per invite at batch sizes 1 and 10, on moto.

Each run sends `--invites` new invitations (distinct attendees of one fresh event) through the
real handler, `make_handler` around `aws_runtime`, in batches of 1 and of 10, in `report` mode
(the deployed default) and in `raise` mode (the function deletes its messages itself). The
SQS events are built here; in `raise` mode their messages are first put on the queue, so that
the function deletes real receipt handles. Everything talks to one `moto_server` on 127.0.0.1
started by this script.

Calls are counted by a botocore `before-call.*.*` hook on each of the three clients the runtime
builds (DynamoDB, SES v2, SQS), registered by a factory wrapped around `aws_runtime`: what the
function itself asks of AWS, by operation. `before-call` fires once per API call, so a call
botocore retried would count once; none is retried on moto, which the script checks against
`before-send` (once per HTTP request).

Write units (WCU) are not taken from moto, whose ConsumedCapacity is a fixed figure; they are
computed from DynamoDB's documented rules, applied to the writes the function actually sent.
A `before-call.dynamodb.*` hook reads each item the request writes (a consistent BatchGetItem
on a separate, uncounted client) and an `after-call` hook reads it again, so every write's item is
measured before and after it:

- the size of an item is the sum over its attributes of the UTF-8 length of the name plus the
  value: a string its UTF-8 length, a number about (significant digits / 2) + 1 bytes, a
  Boolean or null 1 byte, a list or map 3 bytes plus its elements plus 1 byte per element
  ("DynamoDB item sizes and formats",
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html);
  the 100 bytes of per-item overhead there count towards storage, not throughput;
- a standard PutItem, UpdateItem or DeleteItem costs ceil(size / 1 KB) WCU, at least 1, where
  the size is the larger of the item before and after the write ("UpdateItem ... considers the
  size of the item as it appears before and after the update. The provisioned throughput
  consumed reflects the larger of these item sizes": "DynamoDB read and write operations",
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html);
- a TransactWriteItems costs twice that for every item it writes ("DynamoDB performs two
  underlying reads or writes of every item in the transaction: one to prepare the transaction
  and one to commit the transaction": "Amazon DynamoDB Transactions: How it works",
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html).

The statistics item's writes count like any other. On demand, one WCU is one write request
unit, so WCU/invite is also the on-demand write bill per invite.

How to read the table: every figure is per invite and is also shown as a ratio to the floor,
the least any design must do per invite: one SES SendEmail and one DynamoDB write of an item
under 1 KB, i.e. 2.0 calls and 1.0 WCU. (A design that claims the attendee before sending and
records the send after it, so that nothing is sent twice nor looks sent when it was not, writes
twice; the floor does not assume that design.) Targets, at batch size 10: at most 2.2 calls
and at most 2.2 WCU per invite. When the WCU target is not met the script says where the
units go and prints, computed from the same measured item sizes, what the alternatives would
cost.

Run from the repository root: `.venv/bin/python bench/aws_cost.py` (about 40 s on a 2-core
machine, most of it moto answering DynamoDB calls).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
import headlines
from headlines import Headline
from moto_process import free_port, provision, start_moto
from write_units import CLAIM, RECORD, STATISTICS, Write, item_sizes, written_items

from cis.lambda_handler import LambdaRuntime, aws_runtime, make_handler

REGION = "us-east-1"
BATCH_SIZES = (1, 10)
MODES = ("report", "raise")
DEFAULT_INVITES = 40
TARGET_BATCH = 10
TARGET_CALLS = 2.2
TARGET_WCU = 2.2
FLOOR_CALLS = 2.0  # one SES SendEmail + one DynamoDB write
FLOOR_WCU = 1.0  # that one write, of an item under 1 KB
STANDARD_WRITES = ("PutItem", "UpdateItem", "DeleteItem")
COLUMNS = ("UpdateItem", "SendEmail", "TransactWriteItems", "DeleteMessageBatch")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}


# --- moto ---------------------------------------------------------------------------------------


# --- counting hooks -----------------------------------------------------------------------------


@dataclass
class Meter:
    """What one runtime's clients asked of AWS: calls by operation, HTTP requests, writes."""

    inspector: Any  # an uncounted DynamoDB client that reads items back
    calls: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    writes: list[Write] = field(default_factory=list)

    def install(self, runtime: LambdaRuntime) -> LambdaRuntime:
        repository: Any = runtime.service.repository
        mailer: Any = runtime.service.mailer
        queue: Any = runtime.queue
        for client in (repository.client, mailer.client, queue.client):
            client.meta.events.register("before-call.*.*", self.count)
            client.meta.events.register("before-send.*.*", self.count_request)
        repository.client.meta.events.register("before-call.dynamodb.*", self.measure_before)
        repository.client.meta.events.register("after-call.dynamodb.*", self.measure_after)
        return runtime

    def count(self, event_name: str, **_: Any) -> None:
        self.calls[event_name.split(".")[2]] += 1

    def count_request(self, **_: Any) -> None:
        self.requests += 1

    def measure_before(self, model: Any, params: Mapping[str, Any],
                       context: dict[str, Any], **_: Any) -> None:
        items = written_items(model.name, json.loads(params["body"]))
        if items:
            sizes = self.sizes_now([(table, key) for table, key, _ in items])
            context["aws_cost_items"] = list(zip(items, sizes, strict=True))

    def measure_after(self, model: Any, context: Mapping[str, Any], **_: Any) -> None:
        measured = context.get("aws_cost_items", [])
        afters = self.sizes_now([(table, key) for (table, key, _), _ in measured])
        for ((_, _, role), before), after in zip(measured, afters, strict=True):
            self.writes.append(Write(operation=model.name, role=role, before=before, after=after))

    def sizes_now(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> list[int]:
        """The current size of each item (0 if absent): one consistent BatchGetItem per 100."""
        return item_sizes(self.inspector, items)


# --- one run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """The figures of one batch size and mode."""

    batch_size: int
    mode: str
    invites: int
    calls: Counter[str]
    writes: tuple[Write, ...]

    def calls_per_invite(self, operation: str | None = None) -> float:
        total = self.calls[operation] if operation else sum(self.calls.values())
        return total / self.invites

    def wcu_per_invite(self, *, role: str | None = None, operation: str | None = None,
                       standard: bool = False) -> float:
        chosen = [w for w in self.writes
                  if (role is None or w.role == role)
                  and (operation is None or w.operation == operation)]
        return sum(w.standard_wcu if standard else w.wcu for w in chosen) / self.invites

    def standard_wcu_per_write(self, role: str) -> float:
        """What one write of this role costs as a standard write, averaged over the run."""
        chosen = [w.standard_wcu for w in self.writes if w.role == role]
        return sum(chosen) / len(chosen) if chosen else 0.0

    def largest(self, *, statistics: bool) -> int:
        return max((max(w.before, w.after) for w in self.writes if w.statistics is statistics),
                   default=0)


def invite_body(event_uid: str, number: int) -> str:
    return json.dumps({
        "request": {"uid": event_uid, "email": f"attendee{number}@example.org",
                    "name": f"Attendee {number}"},
        "event": {"uid": event_uid, "summary": "Quarterly review", "dtstart": 1796115600,
                  "dtend": 1796119200, "organizer": "Ann Lee", "mailto": "ann@example.org"},
    })


def sqs_events(bodies: Sequence[str], batch_size: int, mode: str, sqs: Any,
               queue_url: str) -> list[dict[str, Any]]:
    """The events the SQS event source would hand over, `batch_size` records each.

    In `raise` mode the function deletes its messages, so they are put on the queue and
    received first (by an uncounted client) to give the records real receipt handles.
    """
    if mode == "raise":
        handles = enqueue_and_receive(bodies, sqs, queue_url)
    else:
        handles = {body: f"receipt-{uuid.uuid4().hex}" for body in bodies}
    records = [{"messageId": str(uuid.uuid4()), "receiptHandle": handles[body], "body": body,
                "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs",
                "awsRegion": REGION} for body in bodies]
    return [{"Records": records[start:start + batch_size]}
            for start in range(0, len(records), batch_size)]


def enqueue_and_receive(bodies: Sequence[str], sqs: Any, queue_url: str) -> dict[str, str]:
    for start in range(0, len(bodies), 10):
        sqs.send_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(n), "MessageBody": body}
            for n, body in enumerate(bodies[start:start + 10])])
    handles: dict[str, str] = {}
    deadline = time.monotonic() + 20
    while len(handles) < len(bodies) and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                           VisibilityTimeout=300).get("Messages", []):
            handles[message["Body"]] = message["ReceiptHandle"]
    if len(handles) < len(bodies):
        raise SystemExit(f"received {len(handles)} of {len(bodies)} messages from moto's SQS")
    return handles


def measure(batch_size: int, mode: str, invites: int, environment: Mapping[str, str],
            session: boto3.session.Session) -> Run:
    endpoint = environment["AWS_ENDPOINT_URL"]
    meter = Meter(inspector=session.client("dynamodb", endpoint_url=endpoint))
    function_env = {**environment, "BATCH_FAILURE_MODE": mode}
    handler = make_handler(lambda: meter.install(aws_runtime(function_env)))
    event_uid = f"cost-{batch_size}-{mode}-{uuid.uuid4().hex[:8]}"
    bodies = [invite_body(event_uid, number) for number in range(invites)]
    events = sqs_events(bodies, batch_size, mode, session.client("sqs", endpoint_url=endpoint),
                        environment["SQS_URL"])
    for event in events:
        result = handler(event, None)
        if result != {"batchItemFailures": []}:
            raise SystemExit(f"batch {batch_size}, {mode} mode: not every invite sent: {result}")
    if meter.calls["SendEmail"] != invites:
        raise SystemExit(f"batch {batch_size}, {mode} mode: {meter.calls['SendEmail']} "
                         f"SendEmail calls for {invites} invites")
    if meter.requests != sum(meter.calls.values()):
        print(f"note: batch {batch_size}, {mode} mode: {meter.requests} HTTP requests for "
              f"{sum(meter.calls.values())} calls (botocore retried)")
    return Run(batch_size, mode, invites, meter.calls, tuple(meter.writes))


# --- report -------------------------------------------------------------------------------------


def met(value: float, target: float) -> str:
    return "met" if round(value, 9) <= target else "NOT met"


def print_table(runs: Sequence[Run]) -> None:
    invites = runs[0].invites
    print(f"AWS cost per new invite: {invites} invites per row, distinct attendees of one event, "
          "happy path, moto on 127.0.0.1")
    print(f"floor (any design): 1 SendEmail + 1 DynamoDB write under 1 KB = "
          f"{FLOOR_CALLS:.1f} calls, {FLOOR_WCU:.1f} WCU per invite")
    print()
    header = (f"{'batch':>5}  {'mode':<6}{'calls':>7}{'x floor':>9}"
              + "".join(f"{name:>{len(name) + 2}}" for name in COLUMNS)
              + f"{'WCU':>7}{'x floor':>9}  target (calls <= {TARGET_CALLS}, WCU <= {TARGET_WCU})")
    print(header)
    print("-" * len(header))
    for run in runs:
        calls, wcu = run.calls_per_invite(), run.wcu_per_invite()
        verdict = (f"calls {met(calls, TARGET_CALLS)}, WCU {met(wcu, TARGET_WCU)}"
                   if run.batch_size == TARGET_BATCH else "-")
        print(f"{run.batch_size:>5}  {run.mode:<6}{calls:>7.2f}{calls / FLOOR_CALLS:>9.2f}"
              + "".join(f"{run.calls_per_invite(name):>{len(name) + 2}.2f}" for name in COLUMNS)
              + f"{wcu:>7.2f}{wcu / FLOOR_WCU:>9.2f}  {verdict}")
    other = sorted({name for run in runs for name in run.calls} - set(COLUMNS))
    if other:
        print(f"(also counted, included in calls: {', '.join(other)})")


def print_where_units_go(run: Run) -> None:
    parts = [
        ("claim, standard conditional UpdateItem", CLAIM, "UpdateItem"),
        ("claim, inside the TransactWriteItems", CLAIM, "TransactWriteItems"),
        ("record sent, inside the TransactWriteItems", RECORD, "TransactWriteItems"),
        ("statistics ADD, inside the TransactWriteItems", STATISTICS, "TransactWriteItems"),
    ]
    print()
    print(f"where the WCU go at batch {run.batch_size}, {run.mode} mode "
          f"(largest attendee item {run.largest(statistics=False)} B, "
          f"statistics item {run.largest(statistics=True)} B, before or after a write):")
    for label, role, operation in parts:
        billed = run.wcu_per_invite(role=role, operation=operation)
        standard = run.wcu_per_invite(role=role, operation=operation, standard=True)
        how = (f"  (transactional: 2 x {standard:.2f} as a standard write)"
               if operation == "TransactWriteItems" else "")
        print(f"  {label:<48}{billed:>5.2f} WCU/invite{how}")
    print(f"  {'total':<48}{run.wcu_per_invite():>5.2f} WCU/invite")


def print_alternatives(run: Run) -> None:
    """What other ways of recording the outcome would cost, from the same measured writes.

    Each design is described by how many writes of each kind it makes per invite and how many
    calls they take; the write units are those counts times what one write of that kind cost
    in this run, as a standard write (and twice that inside a transaction).
    """
    size = run.batch_size
    sends = run.calls_per_invite("SendEmail")
    deletes = run.calls_per_invite("DeleteMessageBatch")
    claim = run.standard_wcu_per_write(CLAIM)
    record = run.standard_wcu_per_write(RECORD)
    counters = run.standard_wcu_per_write(STATISTICS)
    rows = [
        ("as measured: each send recorded, with its counters, in the transaction that "
         "claims the next attendee", run.calls_per_invite(), run.wcu_per_invite(),
         "1 send", "exact"),
        ("one TransactWriteItems per batch for all records and counters, claims alone",
         sends + deletes + 1 + 1 / size, claim + 2 * record + 2 * counters / size,
         f"{size} sends", "exact"),
        ("each send recorded by its own TransactWriteItems with its counters",
         sends + deletes + 2, claim + 2 * record + 2 * counters, "1 send", "exact"),
        ("each send recorded by one conditional UpdateItem, counters one ADD per batch",
         sends + deletes + 2 + 1 / size, claim + record + counters / size,
         "1 send", "drift on a crash"),
        ("claim and the previous record in one PartiQL BatchExecuteStatement (*), counters "
         "one ADD per batch", sends + deletes + 1 + 2 / size, claim + record + counters / size,
         "1 send", "drift on a crash"),
    ]
    print()
    print(f"alternatives at batch {size}, {run.mode} mode, from the same measured item sizes:")
    width = max(len(name) for name, *_ in rows)
    print(f"  {'design':<{width}}{'calls':>7}{'WCU':>7}  {'target':<27}"
          f"{'duplicate window':<18}counters")
    for name, calls, wcu, window, exact in rows:
        verdict = f"calls {met(calls, TARGET_CALLS)}, WCU {met(wcu, TARGET_WCU)}"
        print(f"  {name:<{width}}{calls:>7.2f}{wcu:>7.2f}  {verdict:<27}{window:<18}{exact}")
    print("  duplicate window: how many accepted sends one crash can leave unrecorded, each sent "
          "again on redelivery. counters: whether the statistics stay equal to the records when a "
          "consumer crashes between two writes (\"drift\" means `cis stats --recount` repairs "
          "them).")
    print("  (*) BatchExecuteStatement is not transactional, so each statement is taken to cost "
          "what the same UpdateItem costs; the AWS pages cited above do not say so outright.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invites", type=int, default=DEFAULT_INVITES,
                        help="new invites sent per batch size and mode (a multiple of 10)")
    headlines.add_option(parser)
    args = parser.parse_args()
    if args.invites <= 0 or args.invites % TARGET_BATCH:
        parser.error(f"--invites must be a positive multiple of {TARGET_BATCH}")
    # Fake credentials for this process: the runtime's boto3 session reads them from here,
    # and they guarantee nothing reaches real AWS.
    os.environ.update(CREDENTIALS)
    port = free_port()
    server = start_moto(port)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        session = boto3.session.Session(region_name=REGION)
        environment = provision(session, endpoint, name_prefix="cis-cost")
        runs = [measure(size, mode, args.invites, environment, session)
                for mode in MODES for size in BATCH_SIZES]
    finally:
        server.terminate()
        server.wait(timeout=10)
    print_table(runs)
    target = next(r for r in runs if r.batch_size == TARGET_BATCH and r.mode == "report")
    calls, wcu = target.calls_per_invite(), target.wcu_per_invite()
    headlines.write(args.headlines, [
        Headline("aws_cost", f"AWS calls per invite, batch {TARGET_BATCH}", f"{calls:.2f}",
                 f"<= {TARGET_CALLS}", round(calls, 9) <= TARGET_CALLS),
        Headline("aws_cost", f"DynamoDB WCU per invite, batch {TARGET_BATCH}", f"{wcu:.2f}",
                 f"<= {TARGET_WCU}", round(wcu, 9) <= TARGET_WCU),
    ])
    if round(target.wcu_per_invite(), 9) > TARGET_WCU:
        print()
        print(f"WCU target NOT met at batch {TARGET_BATCH}: each invite writes its attendee item "
              "twice (claim, then record sent) and the statistics item once, all but the "
              "batch's first claim inside a transaction, which DynamoDB bills double (prepare "
              "+ commit). That buys a duplicate window of one send and counters that never "
              "drift; no design below meets both targets with both.")
        print_where_units_go(target)
        print_alternatives(target)


if __name__ == "__main__":
    main()
