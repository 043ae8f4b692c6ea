"""The `cis` command: invite from a CSV on this machine, or feed and drain an SQS queue."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import FrameType

from cis.cli import exit_status
from cis.cli.inputs import UsageError
from cis.cli.lifecycle_commands import add_lifecycle_commands
from cis.cli.local_commands import add_local_commands
from cis.cli.operator_commands import add_operator_commands
from cis.cli.queue_commands import add_queue_commands
from cis.cli.sending_runtime import PermanentFailure
from cis.cli.suppression_commands import add_suppression_commands
from cis.config import LOG_LEVEL, log_level_named
from cis.errors import CisError, ConfigurationError

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE = exit_status.DONE, exit_status.INCOMPLETE, exit_status.USAGE
EXIT_PERMANENT = exit_status.PERMANENT

_PERMANENT_ADVICE = "  This does not pass by itself: fix it, then run the same command again."


class Terminated(BaseException):
    """Raised on SIGTERM outside a command's sending, so it ends as Ctrl-C would there."""


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, every subcommand with its own --help."""
    parser = argparse.ArgumentParser(
        prog="cis",
        description="Calendar Invite Server: send each attendee one calendar invitation, "
        "and keep score of who was invited and who answered.",
        epilog=exit_status.EPILOG,
    )
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log one line per invite outcome on stderr (as LOG_LEVEL=INFO "
                        "does; LOG_LEVEL=DEBUG says more)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_local_commands(commands)
    add_lifecycle_commands(commands)
    add_queue_commands(commands)
    add_suppression_commands(commands)
    add_operator_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    where = f"cis {args.command}"
    try:
        level = log_level(verbose=args.verbose, environ=os.environ)
    except ConfigurationError as exc:
        sys.stderr.write(f"{where}: {exc}\n")
        return EXIT_USAGE
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    try:
        with _sigterm_raises():
            status: int = args.run(args, sys.stdout, sys.stderr)
    except (UsageError, ConfigurationError) as exc:
        sys.stderr.write(f"{where}: {exc}\n")
        return EXIT_USAGE
    except PermanentFailure as exc:
        sys.stderr.write(f"{where}: {exc}; nothing was sent\n{_PERMANENT_ADVICE}\n")
        return EXIT_PERMANENT
    except CisError as exc:
        sys.stderr.write(f"{where}: {exc}\n")
        if exc.transient:
            return EXIT_INCOMPLETE
        sys.stderr.write(f"{_PERMANENT_ADVICE}\n")
        return EXIT_PERMANENT
    except KeyboardInterrupt:
        sys.stderr.write(f"{where}: interrupted by SIGINT\n")
        return exit_status.interrupted(signal.SIGINT)
    except Terminated:
        sys.stderr.write(f"{where}: interrupted by SIGTERM\n")
        return exit_status.interrupted(signal.SIGTERM)
    return status


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Let SIGTERM end the command as Ctrl-C does; a command that sends catches both itself."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def log_level(*, verbose: bool, environ: Mapping[str, str]) -> int:
    """The level the command logs at: the more detailed of `--verbose` (INFO) and LOG_LEVEL.

    Without either, only errors are logged: the command's own report says what happened.

    Raises:
        ConfigurationError: LOG_LEVEL names no level.

    """
    named = log_level_named(environ.get(LOG_LEVEL, ""))
    if named is None:
        raise ConfigurationError([f"{LOG_LEVEL}={environ[LOG_LEVEL].strip().upper()!r} is not "
                                  "a log level (DEBUG, INFO, WARNING, ERROR, CRITICAL)"])
    chosen = logging.getLevelNamesMapping()[named] if named else logging.ERROR
    return min(chosen, logging.INFO) if verbose else chosen
