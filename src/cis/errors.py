"""Every error cis raises, under one base class, each marked transient or permanent."""

from __future__ import annotations


class CisError(Exception):
    """Raised for any failure cis itself reports; catch this to catch them all."""

    #: A transient error may succeed if the same work is tried again later.
    transient: bool = False


class ConfigurationError(CisError):
    """Raised when the environment is missing or has malformed settings; lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration: " + "; ".join(self.problems))


class InvalidRequestError(CisError):
    """Raised when a queue message can never become a valid invite request."""

    def __init__(self, reason: str, *, field: str | None = None, event_uid: str | None = None):
        self.reason = reason
        self.field = field
        self.event_uid = event_uid
        super().__init__(f"{field}: {reason}" if field else reason)


class InvalidEventError(CisError):
    """Raised when a Lambda function is invoked with an event that is not its source's shape."""


class UnknownVersionError(CisError):
    """Raised when a queue message is in a message format version newer than this code reads.

    It is no rejection: a producer upgraded before its consumer (or a consumer rolled back)
    sends what a later consumer reads, so the message is handed back to the queue, never
    deleted; after the queue's maxReceiveCount the dead-letter queue keeps it.
    """

    transient = True

    def __init__(self, version: object, *, event_uid: str | None = None) -> None:
        self.version = version
        self.event_uid = event_uid
        super().__init__(f"message format version {version!r} is newer than this consumer "
                         "reads (1): handed back for a consumer that reads it")


class InvalidReplyError(CisError):
    """Raised when mail to the RSVP address is a reply that cannot be trusted or applied."""

    def __init__(self, reason: str, *, event_uid: str | None = None) -> None:
        self.reason = reason
        self.event_uid = event_uid
        super().__init__(reason)


class NotAReplyError(CisError):
    """Raised when mail to the RSVP address is not a calendar reply at all (ignored)."""


class InvalidFeedbackError(CisError):
    """Raised when a delivery feedback message can never be read as an SES report."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class MailerError(CisError):
    """Raised when the mailer could not hand an invitation over for delivery."""

    def __init__(
        self, message: str, *, transient: bool, account_level: bool = False,
        throttled: bool = False,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        #: True when every invite would hit the same error (sender unverified, sending paused,
        #: the day's quota spent) until someone or the clock changes the account.
        self.account_level = account_level
        #: True when the mail system refused for sending too fast: every send that follows at
        #: once would be refused too, while a slower one later goes through.
        self.throttled = throttled


class RepositoryError(CisError):
    """Raised when the invite store failed for a reason other than a lost race."""

    def __init__(self, message: str, *, transient: bool, conflict: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        #: True when the write lost to a concurrent one on the same item (a DynamoDB
        #: transaction conflict): the same write is likely to pass a moment later.
        self.conflict = conflict


class MessageStoreError(CisError):
    """Raised when a stored message (an SES receipt in S3) could not be fetched."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class QueueError(CisError):
    """Raised when the queue refused to take or forget messages."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class BatchIncompleteError(CisError):
    """Raised in `raise` batch-failure mode so that only the failed messages return to the queue."""

    transient = True

    def __init__(self, failed_message_ids: list[str]) -> None:
        self.failed_message_ids = list(failed_message_ids)
        super().__init__(
            f"{len(self.failed_message_ids)} message(s) failed and will be retried: "
            + ", ".join(self.failed_message_ids)
        )
