"""The intake port: where invite requests come in from, and how to stop taking them for now."""

from __future__ import annotations

from typing import Protocol


class Intake(Protocol):
    """The feed of queue messages to a consumer (an SQS event source, a polling worker)."""

    def pause(self, reason: str) -> None:
        """Stop delivering messages until someone resumes the feed; say why in the logs.

        Used when every send would be refused (sending paused, the day's quota spent):
        messages left on the queue wait there instead of using up their receives.

        Raises:
            cis.errors.QueueError: the feed could not be paused.

        """
        ...
