"""The `cis` command: invite from a CSV on this machine, or feed and drain an SQS queue."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from cis.cli.inputs import UsageError
from cis.cli.lifecycle_commands import add_lifecycle_commands
from cis.cli.local_commands import add_local_commands
from cis.cli.operator_commands import add_operator_commands
from cis.cli.queue_commands import add_queue_commands
from cis.errors import CisError, ConfigurationError

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, every subcommand with its own --help."""
    parser = argparse.ArgumentParser(
        prog="cis",
        description="Calendar Invite Server: send each attendee one calendar invitation, "
        "and keep score of who was invited and who answered.",
        epilog="Exit status: 0 all done, 1 some invites rejected, failed or pending, "
        "2 bad usage or input.",
    )
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log one line per invite outcome on stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_local_commands(commands)
    add_lifecycle_commands(commands)
    add_queue_commands(commands)
    add_operator_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                        format="%(message)s", stream=sys.stderr)
    try:
        status: int = args.run(args, sys.stdout, sys.stderr)
    except (UsageError, ConfigurationError) as exc:
        sys.stderr.write(f"cis {args.command}: {exc}\n")
        return EXIT_USAGE
    except CisError as exc:
        sys.stderr.write(f"cis {args.command}: {exc}\n")
        return EXIT_INCOMPLETE
    except KeyboardInterrupt:
        sys.stderr.write(f"cis {args.command}: interrupted\n")
        return 130
    return status
