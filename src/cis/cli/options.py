"""The options the commands that send share: where state is kept, where mail goes, who sends."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from cis.cli.identity import resolve_identity
from cis.cli.inputs import UsageError
from cis.config import LocalSettings

__all__ = [
    "add_identity", "add_mail_target", "add_state", "local_settings", "require_state",
    "where_mail_goes",
]


def add_state(parser: argparse.ArgumentParser) -> None:
    """--state: the SQLite file that holds who was sent what."""
    parser.add_argument("--state", type=Path, default=Path("cis.db"),
                        help="SQLite state file (default: cis.db)")


def add_mail_target(parser: argparse.ArgumentParser) -> None:
    """--outbox or --smtp: where the messages go."""
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--outbox", type=Path, default=Path("outbox"),
                        help="folder for .eml files (default: outbox/)")
    target.add_argument("--smtp", metavar="URL",
                        help="smtp://host:25, smtp+starttls://user:pass@host:587 or "
                        "smtps://user:pass@host:465")


def add_identity(parser: argparse.ArgumentParser) -> None:
    """--sender and --rsvp-email, with the environment as their defaults."""
    parser.add_argument("--sender", help="From address; a {} in its name becomes the "
                        "organiser's (default: SENDER, else invites@localhost)")
    parser.add_argument("--rsvp-email", help="where Accept/Decline replies go "
                        "(default: RSVP_EMAIL, else rsvp@localhost)")


def local_settings(args: argparse.Namespace, err: TextIO) -> LocalSettings:
    """The settings of a run that sends from this machine, from its options."""
    identity = resolve_identity(args.sender, args.rsvp_email, os.environ, err)
    return LocalSettings(sender=identity.sender, rsvp_email=identity.rsvp_email,
                         state=args.state, outbox=args.outbox, smtp_url=args.smtp)


def require_state(state: Path, what: str) -> None:
    """Refuse to run on a state file that is not there (it would start empty)."""
    if not state.exists():
        raise UsageError(f"{state}: no state file here; {what}, or point --state at one")


def where_mail_goes(args: argparse.Namespace) -> str:
    """The outbox folder, or the SMTP server's host and port (never its credentials)."""
    if args.smtp:
        parsed = urlsplit(args.smtp)
        host = f"{parsed.hostname}:{parsed.port}" if parsed.port else str(parsed.hostname)
        return f"SMTP server {host}"
    return f"{args.outbox}/"
