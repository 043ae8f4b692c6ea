"""`cis attendee` and `cis redrive`: look up one attendee, and move dead letters back.

Both work on the deployed stack (`--dynamodb-table`, `--queue-url`, with `--region` and
`--endpoint-url`) as well as `cis attendee` does on the local state file.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import TYPE_CHECKING, TextIO

from cis.bootstrap import local_dead_letter_queue
from cis.cli.attendee_view import attendee_json, attendee_lines
from cis.cli.inputs import UsageError
from cis.cli.stores import add_aws_location, add_store, aws_region, event_uid, open_store, queue_url
from cis.config import LocalSettings
from cis.errors import QueueError
from cis.messages.invite_rules import address_problem
from cis.services.pacing import SendPacer

if TYPE_CHECKING:
    from cis.adapters.sqs_redrive import SqsDeadLetterQueue

__all__ = [
    "DEFAULT_REDRIVE_RATE", "MAX_REDRIVE_RATE", "REDRIVE_BATCH", "REDRIVE_VISIBILITY_SECONDS",
    "REDRIVE_WAIT_SECONDS", "add_operator_commands",
]

EXIT_OK, EXIT_NOT_DONE = 0, 1

DEFAULT_REDRIVE_RATE = 10.0
"""Messages per second `cis redrive` moves unless told otherwise: slow enough that the
consumer's concurrency and the mail account's rate are not swamped by a backlog at once."""
MAX_REDRIVE_RATE = 500.0
"""The fastest `--rate` taken (SQS's own message move task stops there too)."""
REDRIVE_BATCH = 10
"""The most messages one move asks for: what SQS hands out, takes or deletes in one call."""
REDRIVE_VISIBILITY_SECONDS = 30
"""How long a received dead letter stays hidden while it is sent and deleted; after a crash
between the two it reappears in the dead-letter queue after this long."""
REDRIVE_WAIT_SECONDS = 1
"""The receive's long-poll wait: any wait asks every SQS server, so an empty answer means
the dead-letter queue is empty (of visible messages) and the run ends."""


def add_operator_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register attendee and redrive."""
    attendee = commands.add_parser(
        "attendee", help="show one attendee's record and its history",
        description="Show what is recorded for EMAIL on EVENT_UID: where the invitation "
        "stands (state, the version sent, standing), the RSVP answer, the delivery id or the "
        "failure reason, and every change with its time and source. Exit status: 0 shown, "
        "1 no such attendee, 2 bad usage.")
    attendee.add_argument("event_uid", metavar="EVENT_UID", type=event_uid)
    attendee.add_argument("email", metavar="EMAIL")
    add_store(attendee)
    attendee.add_argument("--json", action="store_true", help="print every field as JSON")
    attendee.set_defaults(run=run_attendee)

    redrive = commands.add_parser(
        "redrive", help="move messages from a dead-letter queue back to their queue",
        description="Move the messages of the dead-letter queue at --queue-url back to the "
        "queue whose RedrivePolicy names it (--to, or the one queue SQS lists as its source), "
        "at most --rate per second, until it is empty or --max were moved (by default as many "
        "as it held at the start, so messages that fail again and come back are not moved "
        "round and round). Each message is "
        "sent before it is deleted, with its message attributes: a crash can leave a copy in "
        "both queues, which the consumer finds a duplicate, never in neither. Exit status: 0 "
        "moved, 1 some message could not be moved, 2 bad usage.")
    redrive.add_argument("--queue-url", required=True, metavar="DLQ_URL", type=queue_url,
                         help="the dead-letter queue")
    redrive.add_argument("--to", metavar="SOURCE_URL", type=queue_url,
                         help="the queue to move them to; it must name the dead-letter queue "
                         "in its RedrivePolicy (default: the one queue that does)")
    redrive.add_argument("--rate", type=_rate, default=DEFAULT_REDRIVE_RATE, metavar="N",
                         help=f"messages per second (default: {DEFAULT_REDRIVE_RATE:g}, at most "
                         f"{MAX_REDRIVE_RATE:g})")
    redrive.add_argument("--max", type=_count, metavar="N", dest="max_messages",
                         help="move at most N messages (default: as many as the queue holds "
                         "at the start, at least 10)")
    add_aws_location(redrive)
    redrive.add_argument("--json", action="store_true", help="print the summary as JSON")
    redrive.set_defaults(run=run_redrive)


def run_attendee(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the attendee's record; exit 1 when there is none."""
    problem = address_problem(args.email.strip())
    if problem:
        raise UsageError(f"EMAIL: {problem}")
    with open_store(args, "run `cis send` first") as repository:
        record = repository.get_attendee(args.event_uid, args.email.strip())
        event = repository.get_event(args.event_uid) if record is not None else None
    if record is None:
        err.write(f"cis attendee: no attendee {args.email.strip()} on event {args.event_uid}\n")
        return EXIT_NOT_DONE
    if args.json:
        out.write(json.dumps(attendee_json(record, event)) + "\n")
    else:
        out.write("\n".join(attendee_lines(record, event)) + "\n")
    return EXIT_OK


def run_redrive(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Move dead letters back at the rate asked; exit 1 when one could not be moved."""
    settings = LocalSettings(queue_url=args.queue_url, endpoint_url=args.endpoint_url,
                             region=aws_region(args.region, args.queue_url))
    dead_letters = local_dead_letter_queue(settings)
    source = _source(dead_letters, args.to)
    # By default, what the queue holds now as SQS counts it (at least a batch, as that count
    # lags): messages that fail again and come back during the run are not moved round and
    # round.
    limit: int = args.max_messages or max(dead_letters.approximate_depth()[0], REDRIVE_BATCH)
    pacer = SendPacer(args.rate)
    batch = max(1, min(REDRIVE_BATCH, math.floor(args.rate)))
    moved = not_deleted = 0
    problems: list[str] = []
    while moved < limit:
        wanted = min(batch, limit - moved)
        for _ in range(wanted):
            pacer.wait()  # booked before the receive: a message is never held hidden waiting
        try:
            result = dead_letters.move(source, max_messages=wanted,
                                       visibility_timeout=REDRIVE_VISIBILITY_SECONDS,
                                       wait_seconds=REDRIVE_WAIT_SECONDS)
        except QueueError as exc:
            problems.append(str(exc))
            break
        moved += result.moved
        not_deleted += result.not_deleted
        problems.extend(result.problems)
        if result.received == 0 or result.problems:
            break
    try:
        left: tuple[int, int] | None = dead_letters.approximate_depth()
    except QueueError:
        left = None
    _report(args, out, source=source, moved=moved, not_deleted=not_deleted, left=left,
            problems=problems)
    return EXIT_NOT_DONE if problems else EXIT_OK


def _source(dead_letters: SqsDeadLetterQueue, to: str | None) -> str:
    """The queue to move to: --to if it names this dead-letter queue, else the one that does.

    Raises:
        UsageError: --to is this queue or sends its dead letters elsewhere; or, without --to,
            no queue or several name this one.

    """
    dead_letter_url = dead_letters.queue_url
    if to is None:
        sources = dead_letters.source_queues()
        if len(sources) == 1:
            return sources[0]
        if not sources:
            raise UsageError(f"--queue-url: no queue names {dead_letter_url} as its dead-letter "
                             "queue; give the queue to move to with --to")
        raise UsageError(f"--to: {len(sources)} queues name {dead_letter_url} as their "
                         "dead-letter queue, say which: " + ", ".join(sorted(sources)))
    if to == dead_letter_url:
        raise UsageError("--to: that is the dead-letter queue itself")
    target, dead_letter_arn = dead_letters.dead_letter_target(to), dead_letters.arn()
    if target != dead_letter_arn:
        named = f"names {target}" if target else "has no RedrivePolicy"
        raise UsageError(f"--to: {to} {named}, not {dead_letter_arn}; messages go back only "
                         "to the queue they failed on")
    return to


def _report(args: argparse.Namespace, out: TextIO, *, source: str, moved: int,
            not_deleted: int, left: tuple[int, int] | None, problems: list[str]) -> None:
    if args.json:
        out.write(json.dumps({
            "from": args.queue_url, "to": source, "moved": moved, "not_deleted": not_deleted,
            "left_visible": None if left is None else left[0],
            "left_in_flight": None if left is None else left[1], "problems": problems,
        }) + "\n")
        return
    out.write(f"Moved {moved} message(s) from {args.queue_url} to {source} "
              f"(at most {args.rate:g}/s)\n")
    for problem in problems:
        out.write(f"  {problem}\n")
    if left is not None:
        out.write(f"  left in the dead-letter queue: about {left[0]} waiting, {left[1]} in "
                  "flight\n")
    if problems:
        out.write("  Messages not sent stay in the dead-letter queue; run the same command "
                  "again.\n")


def _rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = math.nan
    if not 0 < rate <= MAX_REDRIVE_RATE:
        raise argparse.ArgumentTypeError(
            f"{text[:50]!r} is not a rate above 0 and at most {MAX_REDRIVE_RATE:g} per second")
    return rate


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text[:50]!r} is not a positive whole number")
    return int(text)
