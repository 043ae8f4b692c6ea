"""What pushed back on a service while it worked: the mail system, the store, the producers."""

from __future__ import annotations

from dataclasses import dataclass, replace

from cis.services.reports import BatchReport

__all__ = ["Pushback"]


@dataclass(slots=True)
class Pushback:
    """Running counts a service keeps; a batch reports what they grew by while it ran.

    They are counted where each happens (the send, the store's retry loop, the parse), which
    the batch's ledger does not see; a batch run inside another (a fan-out sending its pages)
    is counted in both reports.
    """

    #: Sends the mail system refused as too fast.
    throttled: int = 0
    #: Store writes that lost to a concurrent transaction (each tried again).
    conflicts: int = 0
    #: Bodies in a message format version newer than this code reads (handed back).
    unknown_versions: int = 0

    def copy(self) -> Pushback:
        """The counts as they are now, to measure a batch against."""
        return replace(self)

    def on(self, report: BatchReport, *, since: Pushback) -> BatchReport:
        """`report` with what pushed back since `since` was copied."""
        return replace(report, throttled=self.throttled - since.throttled,
                       conflicts=self.conflicts - since.conflicts,
                       unknown_versions=self.unknown_versions - since.unknown_versions)
