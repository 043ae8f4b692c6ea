"""Settings from the environment, read once on the first invocation, never at import."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlparse

from cis.domain.claims import DEFAULT_LEASE
from cis.errors import ConfigurationError
from cis.messages.invite_rules import address_problem

REGION = "REGION"
DYNAMODB_TABLE = "DYNAMODB_TABLE"
SENDER = "SENDER"
RSVP_EMAIL = "RSVP_EMAIL"
SQS_URL = "SQS_URL"
BATCH_FAILURE_MODE = "BATCH_FAILURE_MODE"
CLAIM_LEASE_SECONDS = "CLAIM_LEASE_SECONDS"
SES_CONFIGURATION_SET = "SES_CONFIGURATION_SET"
AWS_ENDPOINT_URL = "AWS_ENDPOINT_URL"
LOG_LEVEL = "LOG_LEVEL"
LAMBDA_LOG_LEVEL = "AWS_LAMBDA_LOG_LEVEL"
"""Set by Lambda from the function's ApplicationLogLevel (JSON log format); wins over LOG_LEVEL."""
MAX_SEND_RATE = "MAX_SEND_RATE"
MAX_CONCURRENCY = "MAX_CONCURRENCY"
FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"
"""Set by the Lambda runtime: the function whose event source a halt pauses."""

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_LOG_LEVEL = "INFO"
_LAMBDA_LEVEL_NAMES = {"TRACE": "DEBUG", "WARN": "WARNING", "FATAL": "CRITICAL"}
"""Lambda's names of the application log levels, as Python's logging names them."""
_LEVEL_WORDS = "TRACE, DEBUG, INFO, WARN, WARNING, ERROR, FATAL, CRITICAL"

REQUIRED = (REGION, DYNAMODB_TABLE, SENDER, RSVP_EMAIL, SQS_URL)
_REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_TABLE_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")


class BatchFailureMode(StrEnum):
    """How the Lambda tells SQS which records to redeliver."""

    #: Return `batchItemFailures` (needs ReportBatchItemFailures on the event source).
    REPORT = "report"
    #: Delete the handled messages through the queue port, then raise.
    RAISE = "raise"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the Lambda entrypoint needs, validated as a whole."""

    region: str
    dynamodb_table: str
    sender: str
    rsvp_email: str
    sqs_url: str
    batch_failure_mode: BatchFailureMode = BatchFailureMode.REPORT
    claim_lease: dt.timedelta = DEFAULT_LEASE
    ses_configuration_set: str | None = None
    endpoint_url: str | None = None
    log_level: str = DEFAULT_LOG_LEVEL
    max_send_rate: float | None = None
    max_concurrency: int = 1
    function_name: str | None = None

    @property
    def send_rate(self) -> float | None:
        """One invocation's share of MAX_SEND_RATE: the concurrent ones together stay under it."""
        return None if self.max_send_rate is None else self.max_send_rate / self.max_concurrency

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read and check every variable, reporting all problems in one error.

        Raises:
            ConfigurationError: listing each missing or malformed variable.

        """
        problems: list[str] = []
        values = _read_required(environ, REQUIRED, problems)

        mode_text = environ.get(BATCH_FAILURE_MODE, "").strip().lower() or BatchFailureMode.REPORT
        mode = BatchFailureMode.REPORT
        try:
            mode = BatchFailureMode(mode_text)
        except ValueError:
            problems.append(f"{BATCH_FAILURE_MODE}={mode_text!r} is not 'report' or 'raise'")

        lease = DEFAULT_LEASE
        lease_text = environ.get(CLAIM_LEASE_SECONDS, "").strip()
        if lease_text:
            if lease_text.isdigit() and int(lease_text) > 0:
                lease = dt.timedelta(seconds=int(lease_text))
            else:
                problems.append(f"{CLAIM_LEASE_SECONDS}={lease_text!r} is not a positive integer")

        endpoint = _read_endpoint(environ, problems)
        log_level = _read_log_level(environ, problems)
        rate, concurrency = _read_pacing(environ, problems)
        if problems:
            raise ConfigurationError(problems)
        return cls(
            region=values[REGION],
            dynamodb_table=values[DYNAMODB_TABLE],
            sender=values[SENDER],
            rsvp_email=values[RSVP_EMAIL],
            sqs_url=values[SQS_URL],
            batch_failure_mode=mode,
            claim_lease=lease,
            ses_configuration_set=environ.get(SES_CONFIGURATION_SET, "").strip() or None,
            endpoint_url=endpoint,
            log_level=log_level,
            max_send_rate=rate,
            max_concurrency=concurrency,
            function_name=environ.get(FUNCTION_NAME, "").strip() or None,
        )


@dataclass(frozen=True, slots=True)
class RsvpSettings:
    """What the RSVP entrypoint needs: it reads replies and the table, and sends nothing."""

    region: str
    dynamodb_table: str
    endpoint_url: str | None = None
    log_level: str = DEFAULT_LOG_LEVEL

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RsvpSettings:
        """Read REGION and DYNAMODB_TABLE (and AWS_ENDPOINT_URL, LOG_LEVEL), reporting all."""
        problems: list[str] = []
        values = _read_required(environ, (REGION, DYNAMODB_TABLE), problems)
        endpoint = _read_endpoint(environ, problems)
        log_level = _read_log_level(environ, problems)
        if problems:
            raise ConfigurationError(problems)
        return cls(region=values[REGION], dynamodb_table=values[DYNAMODB_TABLE],
                   endpoint_url=endpoint, log_level=log_level)


@dataclass(frozen=True, slots=True)
class LocalSettings:
    """What a run of the `cis` command on one machine uses, as its options chose it.

    State is a SQLite file unless `dynamodb_table` names a table; mail goes to the outbox
    folder unless `smtp_url` or `ses` says otherwise; `queue_url` is the SQS queue a worker
    drains or `cis enqueue` feeds. AWS clients use `region` and `endpoint_url`.
    """

    sender: str = ""
    rsvp_email: str = ""
    state: Path = Path("cis.db")
    dynamodb_table: str | None = None
    outbox: Path = Path("outbox")
    smtp_url: str | None = None
    ses: bool = False
    claim_lease: dt.timedelta = DEFAULT_LEASE
    queue_url: str | None = None
    region: str | None = None
    endpoint_url: str | None = None


def _read_required(
    environ: Mapping[str, str], names: tuple[str, ...], problems: list[str]
) -> dict[str, str]:
    """Read each variable, appending a problem for each missing or malformed one."""
    values = {name: environ.get(name, "").strip() for name in names}
    for name in names:
        value = values[name]
        if not value:
            problems.append(f"{name} is not set")
            continue
        problem = _VALUE_CHECKS[name](value)
        if problem:
            problems.append(f"{name}={value!r} is not {problem}")
    return values


def _read_endpoint(environ: Mapping[str, str], problems: list[str]) -> str | None:
    endpoint = environ.get(AWS_ENDPOINT_URL, "").strip() or None
    if endpoint and not _is_url(endpoint):
        problems.append(f"{AWS_ENDPOINT_URL}={endpoint!r} is not an http(s) URL")
    return endpoint


def _read_pacing(environ: Mapping[str, str], problems: list[str]) -> tuple[float | None, int]:
    """MAX_SEND_RATE and MAX_CONCURRENCY, the second required with the first.

    MAX_SEND_RATE is sends per second for the whole deployment (unset or 0: no pacing);
    MAX_CONCURRENCY is how many invocations share it.
    """
    rate_text = environ.get(MAX_SEND_RATE, "").strip()
    concurrency_text = environ.get(MAX_CONCURRENCY, "").strip()
    rate: float | None = None
    if rate_text:
        try:
            rate = float(rate_text)
        except ValueError:
            rate = -1.0
        if not (rate >= 0 and rate < float("inf")):
            problems.append(f"{MAX_SEND_RATE}={rate_text!r} is not a number of sends per "
                            "second (0 for no pacing)")
            rate = None
        elif rate == 0:
            rate = None
    concurrency = 1
    if concurrency_text:
        if concurrency_text.isdigit() and int(concurrency_text) > 0:
            concurrency = int(concurrency_text)
        else:
            problems.append(f"{MAX_CONCURRENCY}={concurrency_text!r} is not a positive integer")
    elif rate is not None:
        problems.append(f"{MAX_CONCURRENCY} is not set; {MAX_SEND_RATE} is shared by that many "
                        "concurrent invocations")
    return rate, concurrency


def _read_log_level(environ: Mapping[str, str], problems: list[str]) -> str:
    """The level of cis's own log records: AWS_LAMBDA_LOG_LEVEL, else LOG_LEVEL, else INFO.

    With the JSON log format Lambda drops every record below its application log level, so
    a lower level of cis's own would only make records nobody sees, and a higher one would
    hide what the operator asked Lambda to keep: its level wins. LOG_LEVEL serves every other
    host (and Lambda's text format, which sets no level). Both are checked.
    """
    chosen = None
    for name in (LAMBDA_LOG_LEVEL, LOG_LEVEL):
        level = log_level_named(environ.get(name, ""))
        if level is None:
            problems.append(f"{name}={environ[name].strip().upper()!r} is not one of "
                            f"{_LEVEL_WORDS}")
        elif level and chosen is None:
            chosen = level
    return chosen or DEFAULT_LOG_LEVEL


def log_level_named(text: str) -> str | None:
    """The logging level `text` names, in Python's or Lambda's words and any case.

    Returns "" for empty text (no level chosen) and None for text that names no level.
    """
    name = text.strip().upper()
    if not name:
        return ""
    name = _LAMBDA_LEVEL_NAMES.get(name, name)
    return name if name in LOG_LEVELS else None


def _expect(ok: bool, expected: str) -> str | None:
    return None if ok else expected


def _expect_sender(problem: str | None) -> str | None:
    return f"a From address ({problem})" if problem else None


def _expect_address(problem: str | None) -> str | None:
    return f"an email address ({problem})" if problem else None


_VALUE_CHECKS: dict[str, Callable[[str], str | None]] = {
    REGION: lambda v: _expect(bool(_REGION_PATTERN.match(v)), "an AWS region like eu-west-1"),
    DYNAMODB_TABLE: lambda v: _expect(bool(_TABLE_PATTERN.match(v)),
                                      "a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)"),
    SENDER: lambda v: _expect_sender(sender_problem(v)),
    RSVP_EMAIL: lambda v: _expect_address(address_problem(v)),
    SQS_URL: lambda v: _expect(_is_url(v), "an http(s) queue URL"),
}


def sender_problem(sender: str) -> str | None:
    """Why `sender` cannot be a From template, or None when it can.

    A sender is `address`, `Name <address>`, or `{} via Name <address>` where `{}` is filled
    with the organiser's display name.
    """
    _, address = parseaddr(sender)
    if not address:
        return "no address found"
    if "{" in address or "}" in address:
        return "the {} placeholder belongs in the display name, not the address"
    problem = address_problem(address)
    if problem:
        return f"{address!r} is not a valid address: {problem}"
    return None


def _is_url(value: str) -> bool:
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)
