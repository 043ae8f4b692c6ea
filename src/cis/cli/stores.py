"""Where the operator commands read: the SQLite state file, or the deployed DynamoDB table."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from cis.bootstrap import local_store
from cis.cli.inputs import UsageError
from cis.config import LocalSettings
from cis.messages.invite_rules import UID_PATTERN, UID_WORDS
from cis.ports.repository import InviteRepository

__all__ = [
    "add_aws_location", "add_store", "aws_region", "endpoint_url", "event_uid", "open_store",
    "queue_url", "region", "table_name",
]

_UID = re.compile(UID_PATTERN)
_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
"""DynamoDB's rule for a table name."""
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_AWS_URL_REGION = re.compile(r"^https://(?:sqs|dynamodb)[.-]([a-z0-9-]+)\.amazonaws\.com")
MAX_URL_LENGTH = 2048
"""Longer than any SQS queue URL (an 80-character name in a long region) or endpoint."""


def add_store(parser: argparse.ArgumentParser) -> None:
    """--state FILE or --dynamodb-table NAME (with --region and --endpoint-url)."""
    store = parser.add_mutually_exclusive_group()
    store.add_argument("--state", type=Path, default=Path("cis.db"),
                       help="SQLite state file (default: cis.db)")
    store.add_argument("--dynamodb-table", metavar="NAME", type=table_name,
                       help="read the deployed DynamoDB table instead")
    add_aws_location(parser)


def add_aws_location(parser: argparse.ArgumentParser) -> None:
    """--region and --endpoint-url: which AWS, or which local stand-in such as moto."""
    parser.add_argument("--region", type=region, help="AWS region (default: REGION, "
                        "AWS_REGION or AWS_DEFAULT_REGION)")
    parser.add_argument("--endpoint-url", metavar="URL", type=endpoint_url,
                        help="a local stand-in for AWS, e.g. http://127.0.0.1:5000")


@contextmanager
def open_store(args: argparse.Namespace, missing_state: str) -> Iterator[InviteRepository]:
    """The repository the options name, closed on exit.

    A state file that is not there is refused rather than created empty (`missing_state`
    says what makes one); AWS options without a table are refused rather than ignored.

    Raises:
        UsageError: as above, or no region for the table.

    """
    if args.dynamodb_table:
        settings = LocalSettings(dynamodb_table=args.dynamodb_table,
                                 region=aws_region(args.region), endpoint_url=args.endpoint_url)
    else:
        if args.region or args.endpoint_url:
            raise UsageError("--region and --endpoint-url name where the DynamoDB table is; "
                             "give --dynamodb-table, or leave them out for --state")
        state: Path = args.state
        if not state.exists():
            raise UsageError(f"{state}: no state file here; {missing_state}, or point --state "
                             "at one, or read the deployed table with --dynamodb-table")
        settings = LocalSettings(state=state)
    with local_store(settings) as store:
        yield store.repository


def aws_region(explicit: str | None, url: str | None = None) -> str:
    """The option, else the region in an AWS URL, else REGION, AWS_REGION, AWS_DEFAULT_REGION.

    Raises:
        UsageError: none of them names a region.

    """
    found = _AWS_URL_REGION.match(url or "")
    for candidate in (explicit, found.group(1) if found else None, os.environ.get("REGION"),
                      os.environ.get("AWS_REGION"), os.environ.get("AWS_DEFAULT_REGION")):
        if candidate:
            return candidate
    raise UsageError("--region: no AWS region given, and none in the URL or the environment")


def event_uid(text: str) -> str:
    """An EVENT_UID argument: what a message's `uid` may be, since nothing else is stored."""
    if not _UID.fullmatch(text):
        raise argparse.ArgumentTypeError(f"an event uid is {UID_WORDS}")
    return text


def table_name(text: str) -> str:
    """A --dynamodb-table argument, as DynamoDB names tables."""
    if not _TABLE.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text[:100]!r} is not a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)")
    return text


def region(text: str) -> str:
    """A --region argument, shaped as AWS names regions (eu-west-1)."""
    if not _REGION.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text[:100]!r} is not an AWS region (eu-west-1)")
    return text


def queue_url(text: str) -> str:
    """A queue URL argument: an http(s) URL with a host and a path."""
    parsed = urlsplit(text)
    if (len(text) > MAX_URL_LENGTH or parsed.scheme not in ("http", "https")
            or not parsed.hostname or parsed.path in ("", "/")):
        raise argparse.ArgumentTypeError(f"{text[:100]!r} is not a queue URL "
                                         "(https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)")
    return text


def endpoint_url(text: str) -> str:
    """An --endpoint-url argument: an http(s) URL with a host."""
    parsed = urlsplit(text)
    if (len(text) > MAX_URL_LENGTH or parsed.scheme not in ("http", "https")
            or not parsed.hostname):
        raise argparse.ArgumentTypeError(f"{text[:100]!r} is not an http(s) URL")
    return text
