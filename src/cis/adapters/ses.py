"""Amazon SES as the mailer, through the v2 API, with SES errors mapped to `MailerError`.

Why v2: it is the current SES API, one client covers sending and the account calls (quota,
suppression, identities), and v1's SendRawEmail is the legacy path. A v2 raw send takes our
bytes as they are, so the CRLF line endings and header folding that keep a DKIM signature
valid reach SES unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)

from cis.adapters.aws_errors import UNREACHABLE, error_code, error_message, is_transient
from cis.errors import MailerError
from cis.messages.feedback_tags import event_tags
from cis.ports.mailer import RawEmail

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sesv2.type_defs import SendEmailRequestTypeDef

__all__ = ["SesMailer"]

_THROTTLING_CODES = frozenset({
    "TooManyRequestsException",
    "ThrottlingException",
    "Throttling",
    # The sending quota (per second or per day): it refills, so a later try can succeed.
    "LimitExceededException",
})
"""Codes for sending faster than the account allows, or more than its day's quota."""

_DAILY_QUOTA_WORDS = "daily message quota exceeded"
"""SES's words when the 24-hour quota is spent ("Maximum sending rate exceeded" is the other
reason it gives): every send fails until the window moves on."""

_TRANSIENT_CODES = _THROTTLING_CODES | frozenset({
    "InternalFailure",
    "InternalServiceError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
})
"""Codes for which the same message may be accepted later."""

_ACCOUNT_CODES = frozenset({
    "MailFromDomainNotVerifiedException",
    "AccountSuspendedException",
    "SendingPausedException",
    # Raised for a missing sending identity or configuration set: a deployment problem.
    "NotFoundException",
    # The function's role may not send: every invite fails until IAM is fixed.
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredTokenException",
})
"""Codes that every send hits until someone fixes the account, the identity or the role."""

_ACCOUNT_MESSAGES = (
    # SES, for an unverified sender (and, in the sandbox, an unverified recipient, which is
    # still fixed on the account: verify it or leave the sandbox).
    "email address is not verified",
)
"""SES's words in a MessageRejected/BadRequestException that make it an account problem."""


class SesMailer:
    """Sends each finished message as one raw SES v2 email to its one recipient."""

    def __init__(
        self,
        *,
        client: SESV2Client | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        configuration_set: str | None = None,
    ) -> None:
        self.client: SESV2Client = client or boto3.client(
            "sesv2", region_name=region, endpoint_url=endpoint_url
        )
        self.configuration_set = configuration_set

    def send(self, email: RawEmail) -> str:
        """Hand the message to SES and return the SES message id.

        The message is tagged with its event's uid (`cis.messages.feedback_tags`): SES
        publishes the tags with every report about the message, so a bounce or a delivery
        names its attendee without a lookup. Tags cost no call and change no byte sent.

        Raises:
            MailerError: transient for throttling, quota, 5xx and network failures; permanent
                when SES rejects this message; transient and `account_level` when SES would
                refuse every message (sender not verified, sending paused, account suspended).

        """
        request: SendEmailRequestTypeDef = {
            "FromEmailAddress": email.sender,
            "Destination": {"ToAddresses": [email.recipient]},
            "Content": {"Raw": {"Data": email.data}},
        }
        tags = event_tags(email.event_uid) if email.event_uid else []
        if tags:
            request["EmailTags"] = [{"Name": name, "Value": value} for name, value in tags]
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        try:
            response = self.client.send_email(**request)
        except ClientError as exc:
            raise _mailer_error(exc) from exc
        except UNREACHABLE as exc:
            raise MailerError(f"SES unreachable: {exc}", transient=True) from exc
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise MailerError(f"no AWS credentials: {exc}", transient=True,
                              account_level=True) from exc
        except ParamValidationError as exc:
            raise MailerError(f"invalid SES request: {exc}", transient=False) from exc
        except BotoCoreError as exc:
            raise MailerError(f"SES call failed: {exc}", transient=True) from exc
        return response["MessageId"]


def _mailer_error(exc: ClientError) -> MailerError:
    """Translate one SES error response into ours, deciding whether retrying can help.

    An error nobody listed is treated as transient: a wrongly retried message costs a
    redelivery and ends in the dead-letter queue, while a wrongly failed one means an
    attendee who is never invited.
    """
    code = error_code(exc)
    text = error_message(exc) or str(exc)
    message = f"SES {code or 'error'}: {text}"

    if code in _ACCOUNT_CODES or any(words in text.lower() for words in _ACCOUNT_MESSAGES):
        return MailerError(message, transient=True, account_level=True)
    if code in _THROTTLING_CODES:
        if _DAILY_QUOTA_WORDS in text.lower():
            return MailerError(message, transient=True, account_level=True)
        return MailerError(message, transient=True, throttled=True)
    if is_transient(exc, _TRANSIENT_CODES):
        return MailerError(message, transient=True)
    if code in ("MessageRejected", "BadRequestException", "InvalidParameterValue"):
        return MailerError(message, transient=False)
    return MailerError(message, transient=True)
