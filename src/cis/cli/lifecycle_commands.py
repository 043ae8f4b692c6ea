"""`cis update`, `cis cancel`, `cis remove` and `cis resend`: an invitation's later life.

Each runs what a queue's consumer runs for the same message, on this machine: an update or a
cancellation is a fan-out (every attendee already sent something gets the new version, a page
at a time), a removal one attendee's CANCEL, a resend the stored version again. Running one a
second time sends nothing new, except a resend, which asks for exactly that.

SIGINT or SIGTERM finishes the message in hand, records it, prints what was done and exits
130 or 143; a fan-out goes on from where it stopped when it is run again.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import TextIO

from cis.cli import exit_status
from cis.cli.inputs import UsageError, read_event
from cis.cli.interruption import Interruption
from cis.cli.options import (
    add_identity,
    add_mail_target,
    add_state,
    local_settings,
    require_state,
    where_mail_goes,
)
from cis.cli.sending_runtime import sending_runtime
from cis.cli.versions import check_removal, check_version, recorded_version
from cis.domain.model import (
    Event,
    EventStatus,
    InviteAction,
    Invitee,
    InviteRequest,
    Resend,
    normalise_address,
)
from cis.messages.invite_rules import address_problem
from cis.services.reports import BatchReport, Outcome

__all__ = ["add_lifecycle_commands"]

_DONE = frozenset({Outcome.SENT, Outcome.DUPLICATE, Outcome.EXPANDED, Outcome.STALE,
                   Outcome.SKIPPED, Outcome.SUPPRESSED})
"""Outcomes after which nothing is left to do; anything else exits 1."""


def add_lifecycle_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Register update, cancel, remove and resend."""
    update = commands.add_parser(
        "update", help="send a new version of an event to everyone invited",
        description="Send the event in EVENT.json, whose sequence is above the one recorded, "
        "to every attendee already sent something (those removed excepted). A new time asks "
        "for their answer again. Running it again sends nothing.")
    update.add_argument("event", type=Path, metavar="EVENT.json")
    _sending_options(update)
    update.set_defaults(run=run_update)

    cancel = commands.add_parser(
        "cancel", help="cancel an event for everyone sent something",
        description="Send METHOD:CANCEL for the event in EVENT.json (a sequence above the one "
        "recorded; a missing status is taken as CANCELLED) to every attendee who was sent "
        "something. Running it again sends nothing.")
    cancel.add_argument("event", type=Path, metavar="EVENT.json")
    _sending_options(cancel)
    cancel.set_defaults(run=run_cancel)

    remove = commands.add_parser(
        "remove", help="take one attendee off an event that goes on",
        description="Send EMAIL alone a CANCEL for the event in EVENT.json (a sequence above "
        "the one they were sent); everyone else keeps the event.")
    remove.add_argument("event", type=Path, metavar="EVENT.json")
    remove.add_argument("email", metavar="EMAIL")
    _sending_options(remove)
    remove.set_defaults(run=run_remove)

    resend = commands.add_parser(
        "resend", help="send one attendee the event's current version again",
        description="Send EMAIL the version of EVENT_UID recorded last, again (after a bounce "
        "was fixed, or a lost email). Each run sends it once more.")
    resend.add_argument("event_uid", metavar="EVENT_UID")
    resend.add_argument("email", metavar="EMAIL")
    _sending_options(resend)
    resend.set_defaults(run=run_resend)


def _sending_options(parser: argparse.ArgumentParser) -> None:
    parser.epilog = exit_status.EPILOG
    add_state(parser)
    add_mail_target(parser)
    add_identity(parser)
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")


def run_update(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Fan the new version out; exit 1 when a message failed or is left to send."""
    return _fan_out(args, out, err, read_event(args.event, err=err), "update")


def run_cancel(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Fan the cancellation out; exit 1 when a message failed or is left to send."""
    event = read_event(args.event, default_status=EventStatus.CANCELLED, err=err)
    if event.status is not EventStatus.CANCELLED:
        raise UsageError(f"{args.event}: status is {event.status}; a cancellation is "
                         "CANCELLED (or leave status out)")
    return _fan_out(args, out, err, event, "cancellation")


def _fan_out(args: argparse.Namespace, out: TextIO, err: TextIO, event: Event,
             kind: str) -> int:
    require_state(args.state, "send the invitations with `cis send` first")
    interruption = Interruption(err, command=f"cis {args.command}")
    with sending_runtime(local_settings(args, err), interruption) as runtime:
        stored = recorded_version(runtime.repository.get_event(event.uid), event.uid,
                                  args.state)
        check_version(stored, event, args.event)
        with interruption:
            report = runtime.service.fan_out(event)
            return _report(args, out, report, f"{kind} of {event.uid} (version "
                                              f"{event.sequence})", interruption, fan_out=True)


def run_remove(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Send the attendee alone a CANCEL; exit 1 unless it was sent or had been."""
    event = read_event(args.event, err=err)
    email = _address(args.email)
    require_state(args.state, "send the invitations with `cis send` first")
    interruption = Interruption(err, command="cis remove")
    with sending_runtime(local_settings(args, err), interruption) as runtime:
        stored = recorded_version(runtime.repository.get_event(event.uid), event.uid,
                                  args.state)
        check_version(stored, event, args.event)
        check_removal(runtime.repository.get_attendee(event.uid, email), event, args.event)
        with interruption:
            report = runtime.service.send_invites(
                [InviteRequest(event, Invitee(email), InviteAction.REMOVE)])
            return _report(args, out, report, f"removal of {email} from {event.uid} "
                                              f"(version {event.sequence})", interruption,
                           done=frozenset({Outcome.SENT, Outcome.DUPLICATE}))


def run_resend(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Send the stored version again; exit 1 unless it was sent."""
    email = _address(args.email)
    require_state(args.state, "send the invitations with `cis send` first")
    interruption = Interruption(err, command="cis resend")
    with sending_runtime(local_settings(args, err), interruption) as runtime, interruption:
        report = runtime.service.process_messages([Resend(args.event_uid, email)])
        return _report(args, out, report, f"resend of {args.event_uid} to {email}",
                       interruption, done=frozenset({Outcome.SENT}))


def _address(text: str) -> str:
    problem = address_problem(text.strip())
    if problem:
        raise UsageError(f"EMAIL: {problem}")
    return normalise_address(text)


def _report(args: argparse.Namespace, out: TextIO, report: BatchReport, what: str,
            interruption: Interruption, *, done: frozenset[Outcome] = _DONE,
            fan_out: bool = False) -> int:
    """Print what became of each message; return the exit status.

    1 when a message is left undone; 130 or 143 when a signal stopped the run (what it had
    in hand was finished and recorded). A fan-out's report ends with the fan-out's own
    result, after one per attendee message.
    """
    counts = Counter(result.outcome for result in report.results)
    messages = list(report.results[:-1] if fan_out else report.results)
    stop = interruption.reason()
    not_started = sum(1 for result in report.results if stop and result.reason == stop)
    problems = [result for result in report.results
                if result.outcome not in (Outcome.SENT, Outcome.DUPLICATE, Outcome.EXPANDED)
                and not (stop and result.reason == stop)]
    status = 0 if all(result.outcome in done for result in report.results) else 1
    if interruption.exit_status is not None:
        status = interruption.exit_status
    if args.json:
        out.write(json.dumps({
            "what": what, "to": where_mail_goes(args),
            **{outcome.value: counts[outcome] for outcome in Outcome},
            "results": [{"outcome": r.outcome.value, "address": r.address, "reason": r.reason}
                        for r in problems],
            "stopped": report.halted, "interrupted": interruption.name,
            "not_started": not_started,
        }) + "\n")
        out.flush()
        return status
    sent = counts[Outcome.SENT]
    if not messages and counts[Outcome.DUPLICATE]:
        out.write(f"{what}: nothing new to send, it was sent to everyone before\n")
        out.flush()
        return status
    out.write(f"{what}: sent {sent} message(s) to {where_mail_goes(args)}\n")
    if len(messages) != sent:
        shown = ", ".join(f"{outcome.value} {counts[outcome]}" for outcome in Outcome
                          if counts[outcome] and outcome is not Outcome.EXPANDED)
        out.write(f"  {shown}\n")
    for result in problems:
        who = f"{result.address}: " if result.address else ""
        out.write(f"  {who}{result.outcome.value}: {result.reason}\n")
    if interruption.name:
        in_hand = "abandoned, its claim released" if interruption.abandoned else "finished"
        left = f"; {not_started} not started" if not_started else ""
        out.write(f"Interrupted by {interruption.name}: the message in hand was {in_hand}, "
                  f"and everything sent is recorded{left}.\n  Run the same command again to "
                  "go on; nobody gets a message twice.\n")
    elif report.halted:
        out.write(f"Stopped: {report.halted}\n  Run the same command again once the mail "
                  "account sends again; nobody gets a message twice.\n")
    out.flush()
    return status
