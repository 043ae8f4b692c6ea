"""DynamoDB errors become `RepositoryError`s; lost races are read from condition failures."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from cis.adapters.aws_errors import error_code, is_transient
from cis.adapters.dynamodb.items import attendee_record
from cis.domain.claims import decide
from cis.domain.model import Claim, ClaimOutcome
from cis.errors import RepositoryError

if TYPE_CHECKING:
    from cis.adapters.dynamodb.items import Item

__all__ = [
    "CONDITION_FAILED",
    "CONDITION_FAILED_REASON",
    "cancellation_codes",
    "cancellation_error",
    "cancellation_item",
    "first_condition_failed",
    "lost_positions",
    "refusal",
    "translated_errors",
]

CONDITION_FAILED = "ConditionalCheckFailedException"
"""The error code of a single conditional write whose condition did not hold."""

# Error codes worth retrying later: the request was fine, the service was busy or racing.
_TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)
# The same, as they appear in a cancelled transaction's CancellationReasons.
_TRANSIENT_CANCELLATION_CODES = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
_NETWORK_ERRORS = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
)
_CANCELLED = "TransactionCanceledException"
_CONFLICT = "TransactionConflictException"
_CONFLICT_REASON = "TransactionConflict"
CONDITION_FAILED_REASON = "ConditionalCheckFailed"


@contextmanager
def translated_errors(operation: str) -> Iterator[None]:
    """Turn vendor errors into `RepositoryError`; lost races pass through as `ClientError`."""
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        if code in (CONDITION_FAILED, _CANCELLED):
            raise
        raise RepositoryError(
            f"DynamoDB {operation} failed: {code}", transient=is_transient(exc, _TRANSIENT_CODES),
            conflict=code == _CONFLICT,
        ) from exc
    except _NETWORK_ERRORS as exc:
        raise RepositoryError(f"DynamoDB {operation} unreachable: {exc}", transient=True) from exc
    except BotoCoreError as exc:
        raise RepositoryError(f"DynamoDB {operation} failed: {exc}", transient=False) from exc


def refusal(claim: Claim, old: Item | None, exc: ClientError) -> ClaimOutcome:
    """Classify a refused claim from the item DynamoDB returned with the condition failure.

    The condition only fails when an item exists, and DynamoDB (and moto) return it because
    the call asks for `ReturnValuesOnConditionCheckFailure=ALL_OLD`. The item is decided on
    as the other stores decide (`cis.domain.claims.decide`); an attendee that changed since
    a versioned claim read it, in a way that would still grant it, is CHANGED.
    """
    if not old:
        raise RepositoryError(
            "DynamoDB refused the claim without returning the item", transient=False
        ) from exc
    outcome = decide(attendee_record(claim.key.event_uid, old), claim)
    return ClaimOutcome.CHANGED if outcome.granted else outcome


def first_condition_failed(exc: ClientError) -> bool:
    """True when a transaction was cancelled because its first action's condition failed."""
    return cancellation_codes(exc)[:1] == [CONDITION_FAILED_REASON]


def lost_positions(exc: ClientError, conditional_count: int) -> set[int]:
    """The positions whose condition failed, from a transaction cancelled only by those.

    Any other cause (a conflict, throttling, a bad request) is raised as `RepositoryError`.
    """
    lost = {
        position
        for position, code in enumerate(cancellation_codes(exc)[:conditional_count])
        if code == CONDITION_FAILED_REASON
    }
    if lost:
        return lost
    raise cancellation_error(exc, "settle") from exc


def cancellation_item(exc: ClientError, position: int) -> Item | None:
    """The old item a cancelled transaction returned for the action at `position`."""
    reasons: list[Mapping[str, Any]] = exc.response.get("CancellationReasons", [])  # type: ignore[assignment]
    if position >= len(reasons):
        return None
    item: Item | None = reasons[position].get("Item")
    return item


def cancellation_error(exc: ClientError, operation: str) -> RepositoryError:
    """The error for a transaction cancelled by something other than a lost race.

    Transient when any action met a conflict or throttling, and a `conflict` when one met
    another transaction; the caller raises it `from exc`.
    """
    codes = cancellation_codes(exc)
    causes = sorted({code for code in codes if code not in ("None", "")}) or ["unknown"]
    transient = any(code in _TRANSIENT_CANCELLATION_CODES for code in causes)
    return RepositoryError(
        f"DynamoDB {operation} transaction cancelled: " + ", ".join(causes), transient=transient,
        conflict=_CONFLICT_REASON in causes,
    )


def cancellation_codes(exc: ClientError) -> list[str]:
    """One code per action of a cancelled transaction (`"None"` for actions that were fine)."""
    reasons: list[Mapping[str, Any]] = exc.response.get("CancellationReasons", [])  # type: ignore[assignment]
    return [str(reason.get("Code", "None")) for reason in reasons]
