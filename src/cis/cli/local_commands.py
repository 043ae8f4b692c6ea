"""`cis send`, `cis stats` and `cis render`: the whole job on one machine, no AWS needed."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TextIO, TypeVar

from cis.adapters.sqlite import SqliteInviteRepository
from cis.bootstrap import local_rsvp_runtime, local_runtime
from cis.cli.identity import resolve_identity
from cis.cli.inputs import AttendeeRow, UsageError, attendee_row, read_attendees, read_event
from cis.cli.options import (
    add_identity,
    add_mail_target,
    add_state,
    local_settings,
    require_state,
    where_mail_goes,
)
from cis.cli.progress import Progress
from cis.cli.versions import check_version
from cis.config import LocalSettings
from cis.domain.model import Event, Invitee, InviteRequest
from cis.domain.rendering.imip import compose_invitation
from cis.domain.rsvp import ReplyOutcome
from cis.services.invites import InviteService, Outcome, RecordResult, random_id, utc_now

CHUNK = 100
"""Rows per service batch: large enough to amortise settle calls, small enough to stream."""
RETRY_DELAYS = (0.5, 2.0)
"""In-run retries of passing failures before they are reported as pending."""
SHOWN_PROBLEMS = 20

_T = TypeVar("_T")


@dataclass
class SendSummary:
    """What one `cis send` did; problem lists are capped so huge lists stay in bounded memory."""

    sent: int = 0
    duplicates: int = 0
    #: Nothing to send (a cancellation for someone never invited), or a version they passed.
    skipped: int = 0
    rejected: int = 0
    failed: int = 0
    pending: int = 0
    problems: list[str] = field(default_factory=list)
    #: Why the run stopped before the end of the list (the mail account refuses every send).
    stopped: str | None = None

    def note(self, line: int, kind: str, reason: str | None) -> None:
        """Keep the first problems, by CSV line, for the report."""
        if len(self.problems) < SHOWN_PROBLEMS:
            self.problems.append(f"  line {line}: {kind}: {reason}")

    @property
    def clean(self) -> bool:
        """True when every row ended sent or already invited."""
        return not (self.rejected or self.failed or self.pending)

    def as_dict(self) -> dict[str, int]:
        """Counts for `--json` output."""
        return {"sent": self.sent, "duplicates": self.duplicates, "skipped": self.skipped,
                "rejected": self.rejected, "failed": self.failed, "pending": self.pending}


def add_local_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register send, stats and render."""
    send = commands.add_parser(
        "send", help="invite every attendee of a CSV to an event",
        description="Invite every attendee of ATTENDEES.csv (columns: email, optional name, "
        "origin and role) to the event in EVENT.json. Running it again sends nothing new; "
        "rows added since are invited. State is a SQLite file; mail goes to an outbox folder "
        "of .eml files, or to an SMTP server with --smtp.",
    )
    send.add_argument("event", type=Path, metavar="EVENT.json")
    send.add_argument("attendees", type=Path, metavar="ATTENDEES.csv")
    add_state(send)
    add_mail_target(send)
    add_identity(send)
    send.add_argument("--json", action="store_true", help="print the summary as JSON")
    send.set_defaults(run=run_send)

    stats = commands.add_parser("stats", help="show an event's statistics",
                                description="Show the statistics of one event.")
    stats.add_argument("event_uid", metavar="EVENT_UID")
    add_state(stats)
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.add_argument("--recount", action="store_true",
                       help="rebuild the statistics from the attendee records first")
    stats.set_defaults(run=run_stats)

    rsvp = commands.add_parser(
        "rsvp", help="apply one RSVP reply email to the attendee's status",
        description="Read a reply (an .eml a calendar client sent to the RSVP address) and "
        "apply it: Accept, Decline or Maybe change the attendee's status; anything else is "
        "recorded, rejected or ignored with the reason.",
    )
    rsvp.add_argument("mail", type=Path, metavar="FILE.eml")
    add_state(rsvp)
    rsvp.add_argument("--json", action="store_true", help="print the outcome as JSON")
    rsvp.set_defaults(run=run_rsvp)

    render = commands.add_parser("render", help="print the invitation email for one attendee",
                                 description="Print the invitation one attendee would receive.")
    render.add_argument("event", type=Path, metavar="EVENT.json")
    render.add_argument("--to", required=True, metavar="ADDRESS", help="the attendee's address")
    render.add_argument("--name", help="the attendee's display name")
    add_identity(render)
    render.set_defaults(run=run_render)


def run_send(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Invite the CSV's attendees; exit 1 when any row was rejected, failed or left pending."""
    event = read_event(args.event, err=err)
    rows = read_attendees(args.attendees, event.uid)
    settings = local_settings(args, err)
    summary = SendSummary()
    progress = Progress(err, label="cis send")
    with local_runtime(settings) as runtime:
        check_version(runtime.repository.get_event(event.uid), event, args.event)
        try:
            for chunk in _chunks(rows, CHUNK):
                _send_chunk(runtime.service, event, chunk, summary)
                progress.advance(len(chunk))
                if summary.stopped:
                    break
        finally:
            progress.finish()
    _report(summary, event, args, out)
    return 0 if summary.clean else 1


def _send_chunk(service: InviteService, event: Event, chunk: list[AttendeeRow],
                summary: SendSummary) -> None:
    waiting: list[tuple[int, Invitee]] = []
    for row in chunk:
        if row.invitee is None:
            summary.rejected += 1
            summary.note(row.line, "rejected", row.problem)
        else:
            waiting.append((row.line, row.invitee))
    for delay in (*RETRY_DELAYS, None):
        report = service.send_invites(InviteRequest(event, inv) for _, inv in waiting)
        retry = []
        for (line, invitee), result in zip(waiting, report.results, strict=True):
            if result.outcome is Outcome.RETRY:
                retry.append((line, invitee))
            else:
                _tally(summary, line, result)
        waiting = retry
        if report.halted:
            summary.stopped = report.halted
            break
        if not retry:
            return
        if delay is not None:
            time.sleep(delay)
    for line, _ in waiting:
        summary.pending += 1
        summary.note(line, "not sent yet, run again",
                     "the mailer refuses every send" if summary.stopped
                     else "a passing failure persisted")


def _tally(summary: SendSummary, line: int, result: RecordResult) -> None:
    if result.outcome is Outcome.SENT:
        summary.sent += 1
    elif result.outcome is Outcome.DUPLICATE:
        summary.duplicates += 1
    elif result.outcome in (Outcome.STALE, Outcome.SKIPPED):
        summary.skipped += 1
        summary.note(line, "nothing sent", result.reason)
    elif result.outcome is Outcome.FAILED:
        summary.failed += 1
        summary.note(line, "failed", result.reason)
    else:
        summary.rejected += 1
        summary.note(line, "rejected", result.reason)


def _report(summary: SendSummary, event: Event, args: argparse.Namespace, out: TextIO) -> None:
    if args.json:
        out.write(json.dumps({"event_uid": event.uid, **summary.as_dict(),
                              "stopped": summary.stopped}) + "\n")
        return
    where = where_mail_goes(args)
    if summary.sent == 0 and summary.duplicates and not (summary.failed or summary.pending):
        out.write(f"Nothing new to send: every valid row names an attendee of {event.uid} "
                  "who was already invited.\n")
    else:
        out.write(f"Sent {summary.sent} invitation(s) for {event.uid} to {where}\n")
    skipped = f"nothing to send: {summary.skipped}, " if summary.skipped else ""
    out.write(f"  sent: {summary.sent}, already invited: {summary.duplicates}, {skipped}"
              f"rejected: {summary.rejected}, failed: {summary.failed}, "
              f"pending: {summary.pending}\n")
    for problem in summary.problems:
        out.write(problem + "\n")
    hidden = (summary.skipped + summary.rejected + summary.failed + summary.pending
              - len(summary.problems))
    if hidden > 0:
        out.write(f"  ... and {hidden} more\n")
    if summary.stopped:
        out.write(f"Stopped before the end of the list: {summary.stopped}\n"
                  "  Run the same command again once the mail account sends again; "
                  "nobody is invited twice.\n")


def run_stats(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the event's statistics (after a recount with --recount) and its current version."""
    require_state(args.state, "run `cis send` first")
    with SqliteInviteRepository(path=args.state) as repository:
        stats = (repository.recount(args.event_uid) if args.recount
                 else repository.get_statistics(args.event_uid))
        stored = repository.get_event(args.event_uid)
    data = stats.as_dict()
    version = None if stored is None else {"sequence": stored.sequence,
                                           "status": str(stored.event.status),
                                           "summary": stored.event.summary}
    if args.json:
        out.write(json.dumps({**data, "event": version}) + "\n")
        return 0
    out.write(f"Event {stats.event_uid}\n")
    if version is not None:
        out.write(f"  version {version['sequence']}, {version['status']}: "
                  f"{version['summary']}\n")
    for name in COUNTERS_SHOWN:
        if name in _ALWAYS_SHOWN or data[name]:
            out.write(f"  {name.replace('_', ' '):<20} {data[name]}\n")
    for title, bucket in (("RSVP", stats.rsvp), ("by origin", stats.by_origin),
                          ("by role", stats.by_role)):
        if bucket:
            out.write(f"  {title}:\n")
            for key, amount in sorted(bucket.items()):
                out.write(f"    {key:<18} {amount}\n")
    return 0


COUNTERS_SHOWN = (
    "invites_sent", "updates_sent", "cancellations_sent", "attendees_removed", "resends_sent",
    "invites_failed", "requests_rejected", "duplicates_skipped", "stale_requests",
    "nothing_to_send", "texts_shortened",
)
"""The counters `cis stats` prints; those of an invitation's later life only once non-zero."""
_ALWAYS_SHOWN = frozenset(
    {"invites_sent", "invites_failed", "requests_rejected", "duplicates_skipped"})


def run_rsvp(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Apply one reply; exit 1 when it was rejected or must be tried again."""
    try:
        raw = args.mail.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{args.mail}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{args.mail}: cannot read: {exc}") from None
    if not args.state.exists():
        raise UsageError(f"{args.state}: no state file here; replies apply to invitations "
                         "sent with `cis send`")
    with local_rsvp_runtime(LocalSettings(state=args.state)) as runtime:
        result = runtime.service.apply_mail(raw, message_id=str(args.mail))
    if args.json:
        out.write(json.dumps({"outcome": result.outcome.value, "reason": result.reason,
                              "event_uid": result.event_uid, "attendee": result.address}) + "\n")
    else:
        who = f" from {result.address} for {result.event_uid}" if result.address else ""
        out.write(f"Reply {result.outcome.value}{who}: {result.reason}\n")
    return 1 if result.outcome in (ReplyOutcome.REJECTED, ReplyOutcome.RETRY) else 0


def run_render(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the invitation bytes exactly as they would be sent."""
    event = read_event(args.event, err=err)
    identity = resolve_identity(args.sender, args.rsvp_email, os.environ, err)
    row = attendee_row(1, {"email": args.to, "name": args.name}, event.uid)
    if row.invitee is None:
        raise UsageError(f"--to: {row.problem}")
    invitation = compose_invitation(
        event, row.invitee, sender=identity.sender, rsvp_email=identity.rsvp_email,
        now=utc_now(), email_id=random_id(),
    )
    out.flush()
    buffer = getattr(out, "buffer", None)
    if buffer is not None:
        buffer.write(invitation.data)
        buffer.flush()
    else:
        out.write(invitation.data.decode("utf-8", "replace"))
    return 0


def _chunks(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk

