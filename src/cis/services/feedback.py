"""The delivery feedback flow: read each SES report, write it once on its attendee, suppress.

Each queue message is handled on its own. What can never be read is refused once and
acknowledged; a report cis does not act on is acknowledged and counted in the batch's log
line; a passing store failure hands the message back to the queue, whose redelivery finds the
reports already written and changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from cis.domain.feedback import Feedback, FeedbackOutcome, decide_feedback
from cis.errors import InvalidFeedbackError, RepositoryError
from cis.messages.delivery_feedback import FeedbackNotice, read_feedback
from cis.ports.feedback import DeliveryFeedbackStore
from cis.ports.queue import QueueRecord
from cis.services.outcome_log import LOGGER_NAME, log_outcome

__all__ = ["APPLY_ATTEMPTS", "FeedbackReport", "FeedbackResult", "FeedbackService"]

APPLY_ATTEMPTS = 5
"""Reads and decides again when another report for the same attendee landed in between."""


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    """What became of one recipient's report (or of a queue message that had none)."""

    message_id: str
    outcome: FeedbackOutcome
    reason: str
    kind: str | None = None
    event_uid: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class FeedbackReport:
    """The results of one batch, one or more per queue message, in the order they came."""

    results: tuple[FeedbackResult, ...]

    @property
    def retry_message_ids(self) -> list[str]:
        """The queue messages to deliver again, each once."""
        return list(dict.fromkeys(result.message_id for result in self.results
                                  if result.outcome is FeedbackOutcome.RETRY))

    def count(self, outcome: FeedbackOutcome) -> int:
        """How many results ended with `outcome`."""
        return sum(1 for result in self.results if result.outcome is outcome)

    def batch_item_failures(self) -> dict[str, list[dict[str, str]]]:
        """The SQS partial batch response: only what failed for a passing reason."""
        return {"batchItemFailures": [{"itemIdentifier": message_id}
                                      for message_id in self.retry_message_ids]}


class FeedbackService:
    """Writes SES delivery reports on attendees, keeps their counts and the suppression list."""

    def __init__(self, *, store: DeliveryFeedbackStore,
                 logger: logging.Logger | None = None) -> None:
        """Build it through `cis.bootstrap`, which chooses the store for each entry point."""
        self.store = store
        self._log = logger or logging.getLogger(LOGGER_NAME)

    def process_batch(self, records: Sequence[QueueRecord]) -> FeedbackReport:
        """Handle each queue message independently; the report says which to deliver again."""
        results: list[FeedbackResult] = []
        for record in records:
            try:
                handled = self.process_body(record.body, message_id=record.message_id)
            except Exception as exc:
                self._log.exception("unexpected error on feedback message %s",
                                    record.message_id)
                handled = [FeedbackResult(record.message_id, FeedbackOutcome.RETRY,
                                          f"unexpected error: {exc!r}")]
            results.extend(handled)
        report = FeedbackReport(tuple(results))
        for result in report.results:
            self._log_result(result)
        self._log_batch(report)
        return report

    def process_body(self, body: str | bytes, *, message_id: str = "feedback") -> list[
            FeedbackResult]:
        """Read one queue body and apply each recipient's report in it."""
        try:
            notice = read_feedback(body)
        except InvalidFeedbackError as exc:
            return [FeedbackResult(message_id, FeedbackOutcome.REJECTED, exc.reason)]
        if notice.ignored is not None:
            return [FeedbackResult(message_id, FeedbackOutcome.IGNORED, notice.ignored,
                                   kind=notice.kind)]
        return [self.apply(feedback, message_id=message_id, notice=notice)
                for feedback in notice.feedback]

    def apply(self, feedback: Feedback, *, message_id: str = "feedback",
              notice: FeedbackNotice | None = None) -> FeedbackResult:
        """Apply one recipient's report: on its attendee, counted, and suppressing if it says so.

        Decided on the attendee as read and written on condition that it is still so; a
        report that lands in between makes it read and decide again.
        """
        kind = notice.kind if notice is not None else feedback.event.status.value

        def result(outcome: FeedbackOutcome, reason: str) -> FeedbackResult:
            return FeedbackResult(message_id, outcome, reason, kind, feedback.event_uid,
                                  feedback.recipient)

        try:
            for _ in range(APPLY_ATTEMPTS):
                record = (None if feedback.event_uid is None else
                          self.store.get_attendee(feedback.event_uid, feedback.recipient))
                decision = decide_feedback(record, feedback)
                if decision.change is not None:
                    if self.store.apply_feedback(decision.change):
                        return result(decision.outcome, decision.reason)
                    continue
                if decision.suppression is not None and not self.store.suppress(
                        decision.suppression):
                    return result(FeedbackOutcome.DUPLICATE,
                                  "report already on the suppression list")
                return result(decision.outcome, decision.reason)
        except RepositoryError as exc:
            return result(FeedbackOutcome.RETRY, f"store: {exc}")
        return result(FeedbackOutcome.RETRY, "the attendee kept changing under concurrent "
                                             "reports")

    def _log_result(self, result: FeedbackResult) -> None:
        level = logging.WARNING if result.outcome in (
            FeedbackOutcome.REJECTED, FeedbackOutcome.RETRY) else logging.INFO
        reason = f"{result.kind}: {result.reason}" if result.kind else result.reason
        log_outcome(self._log, outcome=result.outcome.value, flow="feedback",
                    message_id=result.message_id, event_uid=result.event_uid,
                    address=result.address, reason=reason, level=level)

    def _log_batch(self, report: FeedbackReport) -> None:
        """One line per batch with its counts, ignored report types by name among them."""
        if not report.results:
            return
        outcomes = Counter(result.outcome.value for result in report.results)
        ignored = Counter(result.kind or "unknown" for result in report.results
                          if result.outcome is FeedbackOutcome.IGNORED)
        fields = {**outcomes, "ignored_types": dict(sorted(ignored.items()))}
        self._log.info("feedback batch: %s", json.dumps(fields, sort_keys=True),
                       extra={"feedback_batch": fields})
