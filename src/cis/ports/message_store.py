"""The message store port: fetch a received email that the mail system stored (S3)."""

from __future__ import annotations

from typing import Protocol


class MessageStore(Protocol):
    """Where SES's receipt rule put incoming mail."""

    def fetch(self, bucket: str, key: str) -> bytes:
        """The raw message bytes.

        Raises:
            cis.errors.MessageStoreError: transient for throttling and outages, permanent
                when the object is gone or too large to be a reply.

        """
        ...
