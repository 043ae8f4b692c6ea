"""`cis suppressions list` and `cis suppressions lift ADDRESS`: the addresses no invite reaches.

A permanent bounce or a complaint puts an address on the list (see docs/feedback.md); every
later invitation, update or cancellation to it is then not sent. These commands show the
list and take an address off it, on the SQLite state file or the deployed DynamoDB table.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TextIO

from cis.bootstrap import local_suppression_list
from cis.cli.inputs import UsageError
from cis.cli.options import require_state
from cis.config import LocalSettings
from cis.domain.delivery import Suppression
from cis.domain.model import normalise_address
from cis.messages.invite_rules import address_problem
from cis.services.invites import utc_now

__all__ = ["add_suppression_commands"]

PAGE = 100
"""Suppressions read per call while the list is printed."""


def add_suppression_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Register `suppressions` with its `list` and `lift` actions."""
    suppressions = commands.add_parser(
        "suppressions", help="list or lift the addresses invitations are not sent to",
        description="An address that bounced permanently or complained is on the "
        "suppression list: no invitation, update or cancellation is sent to it, for any "
        "event. List the addresses, or lift one so that mail to it goes out again.")
    actions = suppressions.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="print the suppressed addresses, by address",
                                 description="Print each suppressed address, why and since "
                                 "when.")
    listing.add_argument("--all", action="store_true",
                         help="include lifted suppressions, with when they were lifted")
    listing.add_argument("--json", action="store_true",
                         help="print one JSON object per line")
    _store_options(listing)
    listing.set_defaults(run=run_list)

    lift = actions.add_parser("lift", help="send to an address again",
                              description="Take ADDRESS off the suppression list: the next "
                              "invitation to it is sent. Resend what it missed with `cis "
                              "resend`.")
    lift.add_argument("address", metavar="ADDRESS")
    _store_options(lift)
    lift.set_defaults(run=run_lift)


def _store_options(parser: argparse.ArgumentParser) -> None:
    store = parser.add_mutually_exclusive_group()
    store.add_argument("--state", type=Path, default=Path("cis.db"),
                       help="SQLite state file (default: cis.db)")
    store.add_argument("--dynamodb-table", metavar="NAME",
                       help="the deployed DynamoDB table instead")
    parser.add_argument("--region", help="AWS region of the table (default: REGION, "
                        "AWS_REGION or AWS_DEFAULT_REGION)")
    parser.add_argument("--endpoint-url", metavar="URL",
                        help="a local stand-in for AWS, e.g. http://127.0.0.1:5000")


def _settings(args: argparse.Namespace) -> LocalSettings:
    if not args.dynamodb_table:
        require_state(args.state, "send invitations with `cis send` first")
        return LocalSettings(state=args.state)
    region = next((candidate for candidate in (
        args.region, os.environ.get("REGION"), os.environ.get("AWS_REGION"),
        os.environ.get("AWS_DEFAULT_REGION")) if candidate), None)
    if region is None:
        raise UsageError("--region: no AWS region given and none in the environment")
    return LocalSettings(dynamodb_table=args.dynamodb_table, region=region,
                         endpoint_url=args.endpoint_url)


def run_list(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the list a page at a time, so a long one is never held whole."""
    shown = 0
    with local_suppression_list(_settings(args)) as store:
        after: str | None = None
        while True:
            page = store.suppressions.suppressions(after=after, limit=PAGE,
                                                   include_lifted=args.all)
            for suppression in page:
                out.write((json.dumps(_as_dict(suppression)) if args.json
                           else _line(suppression)) + "\n")
            shown += len(page)
            if len(page) < PAGE:
                break
            after = page[-1].address
    if not args.json:
        out.write(f"{shown} address(es) suppressed\n" if not args.all
                  else f"{shown} suppression(s), lifted ones included\n")
    return 0


def run_lift(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Lift one suppression; exit 1 when the address was not suppressed."""
    problem = address_problem(args.address.strip())
    if problem:
        raise UsageError(f"ADDRESS: {problem}")
    address = normalise_address(args.address)
    with local_suppression_list(_settings(args)) as store:
        lifted = store.suppressions.lift_suppression(address, at=utc_now())
    if lifted is None:
        out.write(f"{address} is not on the suppression list\n")
        return 1
    out.write(f"Lifted {address} (suppressed for a {lifted.describe()}); the next "
              "invitation to it is sent\n")
    return 0


def _line(suppression: Suppression) -> str:
    lifted = (f", lifted {suppression.lifted_at.isoformat()}" if suppression.lifted_at
              else "")
    event = f", event {suppression.event_uid}" if suppression.event_uid else ""
    return f"{suppression.address}  {suppression.describe()}{event}{lifted}"


def _as_dict(suppression: Suppression) -> dict[str, object]:
    return {
        "address": suppression.address,
        "reason": suppression.reason.value,
        "detail": suppression.detail,
        "since": suppression.since.isoformat(),
        "event_uid": suppression.event_uid,
        "delivery_id": suppression.delivery_id,
        "feedback_id": suppression.feedback_id,
        "lifted_at": None if suppression.lifted_at is None else suppression.lifted_at.isoformat(),
    }
