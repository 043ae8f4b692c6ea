"""`cis enqueue` and `cis worker`: feed an SQS queue, and drain it without Lambda."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from cis.bootstrap import local_queue
from cis.cli.identity import resolve_identity
from cis.cli.inputs import CsvChanged, UsageError, read_attendees, read_event
from cis.cli.interruption import Interruption
from cis.cli.sending_runtime import sending_runtime
from cis.config import CLAIM_LEASE_SECONDS, LocalSettings
from cis.domain.claims import DEFAULT_LEASE
from cis.domain.model import FanOut, Invitee
from cis.errors import QueueError
from cis.services.invites import InviteService, Outcome, acknowledge_processed

if TYPE_CHECKING:
    from cis.adapters.sqs import SqsInviteQueue

RECEIVE_BACKOFF_SECONDS = 5
"""Pause after a receive that failed for a passing reason (SQS briefly unavailable)."""

_QUEUE_URL_REGION = re.compile(r"^https://sqs[.-]([a-z0-9-]+)\.amazonaws\.com")


def add_queue_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register enqueue and worker."""
    enqueue = commands.add_parser(
        "enqueue", help="put one invite request per CSV row on an SQS queue",
        description="Turn ATTENDEES.csv into message-format v1 requests for the event in "
        "EVENT.json and put them on the queue, 10 per call. Without ATTENDEES.csv, put one "
        "fan-out on the queue: the consumer brings every attendee already sent something to "
        "the version in EVENT.json (an update, or a cancellation when its status is "
        "CANCELLED).",
    )
    enqueue.add_argument("event", type=Path, metavar="EVENT.json")
    enqueue.add_argument("attendees", type=Path, metavar="ATTENDEES.csv", nargs="?")
    _add_aws(enqueue)
    enqueue.set_defaults(run=run_enqueue)

    worker = commands.add_parser(
        "worker", help="process invite requests from an SQS queue until stopped",
        description="Long-poll the queue, process each batch, delete what needs no retry and "
        "leave the rest for redelivery. SIGTERM or Ctrl-C stops it after the invitation in hand "
        "(exit 0): what it sent is recorded, the batch's records not started go back to the "
        "queue; a second signal abandons a send that hangs.",
    )
    _add_aws(worker)
    state = worker.add_mutually_exclusive_group()
    state.add_argument("--state", type=Path, default=Path("cis.db"),
                       help="SQLite state file (default: cis.db)")
    state.add_argument("--dynamodb-table", metavar="NAME", help="keep state in DynamoDB")
    mail = worker.add_mutually_exclusive_group()
    mail.add_argument("--outbox", type=Path, default=Path("outbox"),
                      help="folder for .eml files (default: outbox/)")
    mail.add_argument("--smtp", metavar="URL", help="send through an SMTP server")
    mail.add_argument("--ses", action="store_true", help="send through Amazon SES")
    worker.add_argument("--sender", help="From address (default: SENDER)")
    worker.add_argument("--rsvp-email", help="reply address (default: RSVP_EMAIL)")
    worker.add_argument("--wait-seconds", type=int, default=20, choices=range(0, 21),
                        metavar="0-20", help="long-poll wait (default: 20)")
    worker.add_argument("--exit-when-empty", action="store_true",
                        help="stop once a poll finds the queue empty")
    worker.add_argument("--claim-lease-seconds", type=_positive_seconds, metavar="N",
                        help="how long an attendee stays claimed by a worker that died "
                        "before recording its send (default: CLAIM_LEASE_SECONDS, else "
                        f"{int(DEFAULT_LEASE.total_seconds())})")
    worker.set_defaults(run=run_worker)


def _add_aws(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queue-url", required=True, metavar="URL")
    parser.add_argument("--region", help="AWS region (default: from the queue URL, REGION, "
                        "AWS_REGION or AWS_DEFAULT_REGION)")
    parser.add_argument("--endpoint-url", metavar="URL",
                        help="a local stand-in for AWS, e.g. http://127.0.0.1:5000")


def _region(args: argparse.Namespace) -> str:
    found = _QUEUE_URL_REGION.match(args.queue_url)
    for candidate in (args.region, found.group(1) if found else None,
                      os.environ.get("REGION"), os.environ.get("AWS_REGION"),
                      os.environ.get("AWS_DEFAULT_REGION")):
        if candidate:
            return candidate
    raise UsageError("--region: no AWS region given and none in the queue URL or environment")


def _positive_seconds(text: str) -> dt.timedelta:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return dt.timedelta(seconds=int(text))


def _claim_lease(args: argparse.Namespace) -> dt.timedelta:
    """The option, else CLAIM_LEASE_SECONDS as the Lambda reads it, else the default."""
    if args.claim_lease_seconds is not None:
        lease: dt.timedelta = args.claim_lease_seconds
        return lease
    text = os.environ.get(CLAIM_LEASE_SECONDS, "").strip()
    if not text:
        return DEFAULT_LEASE
    try:
        return _positive_seconds(text)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"{CLAIM_LEASE_SECONDS}: {exc}") from None


def _aws_settings(args: argparse.Namespace) -> LocalSettings:
    """The settings of a run that talks to SQS: the queue, its region and endpoint."""
    return LocalSettings(queue_url=args.queue_url, region=_region(args),
                         endpoint_url=args.endpoint_url)


def run_enqueue(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Enqueue a request per valid row (invalid rows reported, exit 1), or one fan-out.

    The list is checked whole before the queue is touched; if it stops reading as it did
    (changed under the run), what was read before is enqueued, the count said, and the
    command exits 2 naming the line. Without a list, the event's fan-out is enqueued.
    """
    from cis.services.producer import enqueue_invites, enqueue_messages

    event = read_event(args.event, err=err)
    if args.attendees is None:
        enqueue_messages(local_queue(_aws_settings(args)), [FanOut(event)])
        out.write(f"Enqueued a fan-out of {event.uid} (version {event.sequence}, "
                  f"{event.status.value}) to every attendee already sent something\n")
        return 0
    try:
        attendees = read_attendees(args.attendees, event.uid)
    except UsageError as exc:
        raise UsageError(f"{exc}; nothing was enqueued") from None
    queue = local_queue(_aws_settings(args))
    problems = 0
    stopped: str | None = None

    def valid_invitees() -> Iterator[Invitee]:
        nonlocal problems, stopped
        try:
            for row in attendees:
                if row.invitee is None:
                    problems += 1
                    err.write(f"  line {row.line}: rejected: {row.problem}\n")
                else:
                    yield row.invitee
        except CsvChanged as exc:
            stopped = str(exc)

    count = enqueue_invites(queue, event, valid_invitees())
    out.write(f"Enqueued {count} invite request(s) for {event.uid}; rejected {problems} row(s)\n")
    if stopped is not None:
        out.flush()
        raise UsageError(stopped)
    return 1 if problems else 0


def run_worker(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Process batches until SIGTERM/SIGINT (or an empty queue with --exit-when-empty).

    A signal is the worker's normal way to end, so it exits 0 after it: the invitation in
    hand is finished and recorded, the batch's records not started are left on the queue
    for redelivery. It exits 1 when the mail system refuses every send.
    """
    identity = resolve_identity(args.sender, args.rsvp_email, os.environ, err)
    settings = replace(
        _aws_settings(args), sender=identity.sender, rsvp_email=identity.rsvp_email,
        state=args.state, dynamodb_table=args.dynamodb_table, outbox=args.outbox,
        smtp_url=args.smtp, ses=args.ses, claim_lease=_claim_lease(args),
    )
    queue = local_queue(settings)
    interruption = Interruption(err, command="cis worker")
    with sending_runtime(settings, interruption, relay=queue) as runtime, interruption:
        return _drain(runtime.service, queue, args, out, err, interruption)


def _drain(
    service: InviteService, queue: SqsInviteQueue, args: argparse.Namespace,
    out: TextIO, err: TextIO, interruption: Interruption,
) -> int:
    """Receive, process and acknowledge batches until told to stop."""
    halted = False
    err.write(f"cis worker: polling {args.queue_url}\n")
    err.flush()
    while not interruption.stopping.is_set():
        try:
            records = queue.receive(max_messages=10, wait_seconds=args.wait_seconds)
        except QueueError as exc:
            if not exc.transient:
                raise
            err.write(f"cis worker: {exc}; polling again in {RECEIVE_BACKOFF_SECONDS}s\n")
            err.flush()
            interruption.stopping.wait(RECEIVE_BACKOFF_SECONDS)
            continue
        if not records:
            if args.exit_when_empty:
                break
            continue
        report = service.process_batch(records)
        left = acknowledge_processed(queue, report)
        counts = ", ".join(f"{o.value} {report.count(o)}" for o in Outcome)
        undeleted = f", {len(left)} not deleted" if left else ""
        out.write(f"batch of {len(records)}: {counts}{undeleted}\n")
        out.flush()
        if report.halted:
            # Every send would be refused: stop polling rather than use up receives.
            err.write(f"cis worker: stopped taking invites: {report.halted}\n")
            halted = True
            break
    if interruption.name:
        err.write(f"cis worker: {interruption.name} received, stopped after the invitation in "
                  "hand; records not started are left on the queue\n")
    err.write("cis worker: stopped\n")
    return 1 if halted else 0
