"""`cis send`, `cis stats` and `cis render`: the whole job on one machine, no AWS needed."""

from __future__ import annotations

import argparse
import json
import os
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from cis.bootstrap import local_rsvp_runtime
from cis.cli import exit_status
from cis.cli.identity import resolve_identity
from cis.cli.inputs import (
    MAX_ROW_CHARACTERS,
    MAX_ROWS,
    AttendeeList,
    AttendeeRow,
    CsvChanged,
    UsageError,
    attendee_row,
    read_attendees,
    read_event,
)
from cis.cli.interruption import Interruption
from cis.cli.options import (
    add_identity,
    add_mail_target,
    add_state,
    local_settings,
    where_mail_goes,
)
from cis.cli.progress import Progress
from cis.cli.sending_runtime import sending_runtime
from cis.cli.stores import add_store, event_uid, open_store
from cis.cli.versions import check_version
from cis.config import LocalSettings
from cis.domain.model import Event, Invitee, InviteRequest
from cis.domain.rendering.imip import compose_invitation
from cis.domain.rsvp import MAX_REPLY_BYTES, ReplyOutcome
from cis.messages.invite_rules import MAX_BODY_BYTES
from cis.services.invites import InviteService, Outcome, RecordResult, random_id, utc_now

CHUNK = 100
"""Rows per service batch: large enough to amortise settle calls, small enough to stream."""
RETRY_DELAYS = (0.5, 2.0)
"""In-run retries of passing failures before they are reported as pending."""
SHOWN_PROBLEMS = 20

@dataclass
class SendSummary:
    """What one `cis send` did; problem lists are capped so huge lists stay in bounded memory."""

    #: Attendee rows the list held when it was checked.
    rows: int = 0
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
    #: The list no longer read as it did when checked: the run stopped there (exit 2).
    bad_input: str | None = None

    def note(self, line: int, kind: str, reason: str | None) -> None:
        """Keep the first problems, by CSV line, for the report."""
        if len(self.problems) < SHOWN_PROBLEMS:
            self.problems.append(f"  line {line}: {kind}: {reason}")

    @property
    def handled(self) -> int:
        """Rows that came to an outcome in this run."""
        return (self.sent + self.duplicates + self.skipped + self.rejected + self.failed
                + self.pending)

    @property
    def not_started(self) -> int:
        """Rows the run never took up, because it stopped (or was stopped) before them."""
        return max(0, self.rows - self.handled)

    @property
    def clean(self) -> bool:
        """True when every row ended sent or already invited."""
        return not (self.rejected or self.failed or self.pending or self.not_started)

    def as_dict(self) -> dict[str, int]:
        """Counts for `--json` output."""
        return {"sent": self.sent, "duplicates": self.duplicates, "skipped": self.skipped,
                "rejected": self.rejected, "failed": self.failed, "pending": self.pending,
                "not_started": self.not_started}


_SEND_DESCRIPTION = (
    "Invite every attendee of ATTENDEES.csv to the event in EVENT.json. Running it again "
    "sends nothing new; rows added since are invited. State is a SQLite file; mail goes to an "
    "outbox folder of .eml files, or to an SMTP server with --smtp.",
    f"EVENT.json is the `event` object of message format v1, at most {MAX_BODY_BYTES:,} "
    "bytes. ATTENDEES.csv is UTF-8 (a byte order mark is allowed), comma-separated, with a "
    "first line naming the columns: email, and optionally name, origin and role, in any order and "
    "letter case, each at most once. A field holding a comma, a quote or a line break is "
    'quoted with ", and a " inside it is written twice ("").',
    "The whole list is checked before anything is sent: a byte that is not UTF-8, a quote "
    "left open, text after a closing quote, a row longer than "
    f"{MAX_ROW_CHARACTERS:,} characters or more than {MAX_ROWS:,} rows stops the run there, "
    "naming the line, with nothing sent. An invalid row (a bad address) is reported by line "
    "and the other rows are sent. Line numbers are those an editor shows (lines end with LF, "
    "CRLF or CR; a row spanning lines is numbered by its first). The list must be a regular "
    "file: it is read twice.",
    "Ctrl-C (SIGINT) or SIGTERM finishes the invitation in hand, records everything sent, "
    "prints the summary and exits 130 or 143; a second one abandons a send that hangs (its "
    "claim is released; the next run sends it). Run the same command again to go on.",
)


def _paragraphs(*paragraphs: str) -> str:
    """Text for a RawDescriptionHelpFormatter: each paragraph filled, blank lines between."""
    return "\n\n".join(textwrap.fill(paragraph, width=88) for paragraph in paragraphs)


def add_local_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register send, stats and render."""
    send = commands.add_parser(
        "send", help="invite every attendee of a CSV to an event",
        description=_paragraphs(*_SEND_DESCRIPTION), epilog=_paragraphs(exit_status.EPILOG),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    send.add_argument("event", type=Path, metavar="EVENT.json")
    send.add_argument("attendees", type=Path, metavar="ATTENDEES.csv")
    add_state(send)
    add_mail_target(send)
    add_identity(send)
    send.add_argument("--json", action="store_true", help="print the summary as JSON")
    send.set_defaults(run=run_send)

    stats = commands.add_parser("stats", help="show an event's statistics",
                                description="Show the statistics of one event, from the "
                                "state file or the deployed DynamoDB table.")
    stats.add_argument("event_uid", metavar="EVENT_UID", type=event_uid)
    add_store(stats)
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
    """Invite the CSV's attendees; the exit status says what is left (see `exit_status`)."""
    event = read_event(args.event, err=err)
    try:
        attendees = read_attendees(args.attendees, event.uid)
    except UsageError as exc:
        raise UsageError(f"{exc}; nothing was sent") from None
    settings = local_settings(args, err)
    summary = SendSummary(rows=attendees.count)
    interruption = Interruption(err, command="cis send")
    with sending_runtime(settings, interruption) as runtime:
        check_version(runtime.repository.get_event(event.uid), event, args.event)
        with interruption:
            _send_all(runtime.service, event, attendees, summary, interruption, err)
            _report(summary, event, args, out, interruption)
    if summary.bad_input:
        raise UsageError(summary.bad_input)
    if interruption.exit_status is not None:
        return interruption.exit_status
    return exit_status.DONE if summary.clean else exit_status.INCOMPLETE


def _send_all(service: InviteService, event: Event, attendees: AttendeeList,
              summary: SendSummary, interruption: Interruption, err: TextIO) -> None:
    """Send chunk after chunk until the list ends, the mailer halts or a signal stops it."""
    progress = Progress(err, label="cis send")
    try:
        for chunk in _chunks_of_good_input(attendees, summary):
            if interruption.signum is not None:
                break
            _send_chunk(service, event, chunk, summary, interruption)
            progress.advance(len(chunk))
            if summary.stopped or interruption.signum is not None:
                break
    finally:
        progress.finish()


def _chunks_of_good_input(rows: Iterable[AttendeeRow],
                          summary: SendSummary) -> Iterator[list[AttendeeRow]]:
    """The rows in chunks of `CHUNK`, up to where the list stops reading as it did.

    The rows read before that point are handed out too, so they are sent like any other;
    why the list stopped is noted in `summary.bad_input`.
    """
    chunk: list[AttendeeRow] = []
    try:
        for row in rows:
            chunk.append(row)
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
    except CsvChanged as exc:
        summary.bad_input = str(exc)
    if chunk:
        yield chunk


def _send_chunk(service: InviteService, event: Event, chunk: list[AttendeeRow],
                summary: SendSummary, interruption: Interruption) -> None:
    """Send one chunk, retrying passing failures a little; what is left is pending.

    Records the service handed back untouched because of a signal are left uncounted: the
    summary reports them as not started.
    """
    waiting: list[tuple[int, Invitee]] = []
    for row in chunk:
        if row.invitee is None:
            summary.rejected += 1
            summary.note(row.line, "rejected", row.problem)
        else:
            waiting.append((row.line, row.invitee))
    reasons: list[str | None] = []
    for delay in (*RETRY_DELAYS, None):
        report = service.send_invites(InviteRequest(event, inv) for _, inv in waiting)
        retry, reasons = [], []
        for (line, invitee), result in zip(waiting, report.results, strict=True):
            if result.outcome is not Outcome.RETRY:
                _tally(summary, line, result)
            elif interruption.signum is None or result.reason != interruption.reason():
                retry.append((line, invitee))
                reasons.append(result.reason)
        waiting = retry
        if report.halted:
            summary.stopped = report.halted
            break
        if not retry or interruption.signum is not None:
            break
        if delay is not None:
            interruption.stopping.wait(delay)
    for (line, _), reason in zip(waiting, reasons, strict=True):
        summary.pending += 1
        summary.note(line, "not sent yet, run again",
                     "the mailer refuses every send" if summary.stopped else reason)


def _tally(summary: SendSummary, line: int, result: RecordResult) -> None:
    if result.outcome is Outcome.SENT:
        summary.sent += 1
    elif result.outcome is Outcome.DUPLICATE:
        summary.duplicates += 1
    elif result.outcome in (Outcome.STALE, Outcome.SKIPPED, Outcome.SUPPRESSED):
        summary.skipped += 1
        summary.note(line, "nothing sent", result.reason)
    elif result.outcome is Outcome.FAILED:
        summary.failed += 1
        summary.note(line, "failed", result.reason)
    else:
        summary.rejected += 1
        summary.note(line, "rejected", result.reason)


def _report(summary: SendSummary, event: Event, args: argparse.Namespace, out: TextIO,
            interruption: Interruption) -> None:
    if args.json:
        out.write(json.dumps({"event_uid": event.uid, **summary.as_dict(),
                              "stopped": summary.stopped, "interrupted": interruption.name,
                              "bad_input": summary.bad_input}) + "\n")
        out.flush()
        return
    where = where_mail_goes(args)
    if (summary.sent == 0 and summary.duplicates
            and not (summary.failed or summary.pending or summary.not_started)):
        out.write(f"Nothing new to send: every valid row names an attendee of {event.uid} "
                  "who was already invited.\n")
    else:
        out.write(f"Sent {summary.sent} invitation(s) for {event.uid} to {where}\n")
    skipped = f"nothing to send: {summary.skipped}, " if summary.skipped else ""
    not_started = f", not started: {summary.not_started}" if summary.not_started else ""
    out.write(f"  sent: {summary.sent}, already invited: {summary.duplicates}, {skipped}"
              f"rejected: {summary.rejected}, failed: {summary.failed}, "
              f"pending: {summary.pending}{not_started}\n")
    for problem in summary.problems:
        out.write(problem + "\n")
    hidden = (summary.skipped + summary.rejected + summary.failed + summary.pending
              - len(summary.problems))
    if hidden > 0:
        out.write(f"  ... and {hidden} more\n")
    if summary.bad_input:
        out.write("Stopped before the end of the list: it no longer reads as it did when it "
                  "was checked (see the error below). Everything sent is recorded.\n"
                  "  Fix the list and run the same command again; nobody is invited twice.\n")
    elif interruption.name:
        in_hand = ("abandoned, its claim released" if interruption.abandoned
                   else "finished")
        out.write(f"Interrupted by {interruption.name}: the invitation in hand was {in_hand}, "
                  "and everything sent is recorded.\n"
                  "  Run the same command again to go on; nobody is invited twice.\n")
    elif summary.stopped:
        out.write(f"Stopped before the end of the list: {summary.stopped}\n"
                  "  Run the same command again once the mail account sends again; "
                  "nobody is invited twice.\n")
    out.flush()


def run_stats(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the event's statistics (after a recount with --recount) and its current version."""
    with open_store(args, "run `cis send` first") as repository:
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
    "nothing_to_send", "delivered", "bounced", "complained", "suppressed", "texts_shortened",
)
"""The counters `cis stats` prints; those of an invitation's later life only once non-zero."""
_ALWAYS_SHOWN = frozenset(
    {"invites_sent", "invites_failed", "requests_rejected", "duplicates_skipped"})


def run_rsvp(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Apply one reply; exit 1 when it was rejected or must be tried again.

    No more of the file is read than tells it is larger than a reply may be, so a huge file
    (or a device) is refused at the cost of a megabyte.
    """
    try:
        with args.mail.open("rb") as mail:
            raw = mail.read(MAX_REPLY_BYTES + 1)
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
