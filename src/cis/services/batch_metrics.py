"""One CloudWatch embedded metric format (EMF) document per batch: counts, no API call.

CloudWatch Logs reads the metrics out of the log line itself, so a batch costs no PutMetricData
and no latency. Every metric of a batch is in the one document, always, zero or not: an alarm on
a metric that stops appearing would go silent instead of seeing 0. The only dimension is the
function's name: one series per function, never one per event or attendee.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cis.domain.rsvp import ReplyOutcome
from cis.services.reports import BatchReport, Outcome, SentAs

__all__ = [
    "COUNT", "DIMENSION", "MILLISECONDS", "NAMESPACE", "Metric", "emf_document",
    "invite_metrics", "level_kept_by", "reply_metrics",
]

NAMESPACE = "cis"
DIMENSION = "FunctionName"
COUNT = "Count"
MILLISECONDS = "Milliseconds"

_OUTCOME_NAMES = {"retry": "Retried"}
"""Metric names that are not the outcome's own word, capitalised (`sent` gives `Sent`)."""
_SENT_AS_NAMES = {
    SentAs.INVITATION: "Invited", SentAs.UPDATE: "Updated", SentAs.CANCELLATION: "Cancelled",
    SentAs.REMOVAL: "Removed", SentAs.RESEND: "Resent",
}
_ALWAYS = ("Suppressed",)
"""Counts published even before any outcome of that name exists, so alarms can be set now."""
_QUIET_LEVELS = {"WARN": "WARN", "WARNING": "WARN", "ERROR": "ERROR", "FATAL": "FATAL",
                 "CRITICAL": "FATAL"}
"""Lambda's application log levels above INFO, in Lambda's own words."""


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric of a batch: its name, value and CloudWatch unit."""

    name: str
    value: float
    unit: str = COUNT


def invite_metrics(report: BatchReport, *, duration_ms: float, refused: int = 0) -> list[Metric]:
    """The invite function's metrics of one batch.

    `refused` records of the SQS event never reached the service (no body to read): they are
    received and rejected all the same.

    `Records`; one count per outcome, by its name (`Sent`, `Duplicate`, `Stale`, `Skipped`,
    `Expanded`, `Rejected`, `Failed`, `Retried`, and `Suppressed`); what the sent messages were
    (`Invited`, `Updated`, `Cancelled`, `Removed`, `Resent`, which add up to `Sent`); what
    pushed back (`Throttled`, `Conflicted`, `UnknownVersion`); `MailerHalted`, 1 when the mail
    system refused every send (the batch was halted); and `BatchDuration` in milliseconds.
    """
    outcomes = Counter(result.outcome for result in report.results)
    outcomes[Outcome.REJECTED] += refused
    sent_as = Counter(result.sent_as for result in report.results if result.sent_as)
    metrics = [Metric("Records", len(report.results) + refused)]
    metrics += _by_name({_OUTCOME_NAMES.get(o.value, o.value.capitalize()): outcomes[o]
                         for o in Outcome})
    metrics += [Metric(_SENT_AS_NAMES.get(kind, kind.value.capitalize()), sent_as[kind])
                for kind in SentAs]
    metrics += [
        Metric("Throttled", report.throttled),
        Metric("Conflicted", report.conflicts),
        Metric("UnknownVersion", report.unknown_versions),
        Metric("MailerHalted", 1 if report.halted else 0),
        Metric("BatchDuration", round(duration_ms, 3), MILLISECONDS),
    ]
    return metrics


def reply_metrics(outcomes: Iterable[ReplyOutcome], *, duration_ms: float,
                  refused: int = 0) -> list[Metric]:
    """The reply function's metrics of one batch: `Replies`, one count per outcome.

    `RepliesApplied`, `RepliesRecorded`, `RepliesDuplicate`, `RepliesRejected`,
    `RepliesIgnored`, `RepliesRetried`, and `ReplyBatchDuration` in milliseconds. `refused`
    records of the SQS event had no body to read, and count as rejected.
    """
    counted = Counter(outcomes)
    counted[ReplyOutcome.REJECTED] += refused
    metrics = [Metric("Replies", sum(counted.values()))]
    metrics += [Metric("Replies" + _OUTCOME_NAMES.get(o.value, o.value.capitalize()), counted[o])
                for o in ReplyOutcome]
    metrics.append(Metric("ReplyBatchDuration", round(duration_ms, 3), MILLISECONDS))
    return metrics


def emf_document(
    metrics: Iterable[Metric], *, function_name: str, timestamp_ms: int,
    level: str | None = None,
) -> dict[str, Any]:
    """The EMF document of `metrics` for one function, to be written as one line on stdout.

    `level`, when given, is set as the line's `level`: Lambda's JSON log format treats a
    stdout line without one as INFO and drops it under a higher application log level.
    """
    listed = list(metrics)
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[DIMENSION]],
                "Metrics": [{"Name": m.name, "Unit": m.unit} for m in listed],
            }],
        },
        DIMENSION: function_name,
    }
    if level:
        document["level"] = level
    document.update((m.name, m.value) for m in listed)
    return document


def level_kept_by(application_level: str) -> str | None:
    """The `level` a metric line needs for Lambda to keep it under `application_level`.

    None at INFO or below (or none set): the line passes as INFO. Above it, the line carries
    the application level itself, so raising the level to quieten logs never silences the
    metrics and the alarms on them.
    """
    return _QUIET_LEVELS.get(application_level.strip().upper())


def _by_name(counts: Mapping[str, int]) -> list[Metric]:
    named = dict(counts)
    for name in _ALWAYS:
        named.setdefault(name, 0)
    return [Metric(name, value) for name, value in named.items()]
