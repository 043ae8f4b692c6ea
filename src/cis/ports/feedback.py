"""The suppression list, and what the delivery feedback flow needs of the store."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from cis.domain.delivery import Suppression
from cis.domain.feedback import FeedbackChange
from cis.domain.model import AttendeeRecord

__all__ = ["DeliveryFeedbackStore", "SuppressionList"]


class SuppressionList(Protocol):
    """Addresses no invitation is sent to; the invite repository's claims check it.

    Addresses are given in any case and stored normalised. Errors are raised as
    `cis.errors.RepositoryError`, marked transient or permanent.
    """

    def get_suppression(self, address: str) -> Suppression | None:
        """The address's suppression, lifted or not; None if it was never suppressed."""
        ...

    def suppressions(
        self, *, after: str | None = None, limit: int = 100, include_lifted: bool = False,
    ) -> list[Suppression]:
        """Up to `limit` suppressions by address, those after `after` only.

        Active ones only, unless `include_lifted`. Page through the whole list by passing
        the last address of a page as the next `after`.
        """
        ...

    def suppress(self, suppression: Suppression) -> bool:
        """Put the address on the list, in one atomic step.

        Returns False, changing nothing, when the list already holds this report
        (`feedback_id`) for the address, lifted or not: a redelivered report never puts
        back an address an operator lifted.
        """
        ...

    def lift_suppression(self, address: str, *, at: dt.datetime) -> Suppression | None:
        """Let invitations to the address go out again; None when it was not suppressed."""
        ...


class DeliveryFeedbackStore(SuppressionList, Protocol):
    """What the feedback flow reads and writes: attendees, their reports, the list."""

    def get_attendee(self, event_uid: str, email: str) -> AttendeeRecord | None:
        """Read one attendee; `email` may be written in any case."""
        ...

    def apply_feedback(self, change: FeedbackChange) -> bool:
        """Append the report, add its counters and write its suppression, in one atomic step.

        Applies only while the attendee's reports are as they were read
        (`cis.domain.feedback.feedback_applies`); returns False, changing nothing, otherwise.
        """
        ...
