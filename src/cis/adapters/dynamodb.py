"""DynamoDB adapter of the invite repository: one table, conditional writes, flat counters."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from cis.adapters import keys
from cis.domain import statistics
from cis.domain.model import (
    AttendeeKey,
    AttendeeRecord,
    Claim,
    ClaimOutcome,
    Counters,
    HistoryEntry,
    InviteState,
    MarkFailed,
    MarkSent,
    PartStat,
    ReplyChange,
    Settlement,
    history_status,
)
from cis.domain.statistics import EventStatistics
from cis.errors import RepositoryError
from cis.ports.repository import MARKER_RETENTION_DAYS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        TransactWriteItemTypeDef,
        UpdateTypeDef,
    )

    Item = Mapping[str, AttributeValueTypeDef]

__all__ = ["DynamoDBInviteRepository"]

#: DynamoDB refuses a transaction with more actions than this.
MAX_TRANSACTION_ACTIONS = 100

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
_CONDITION_FAILED = "ConditionalCheckFailedException"
_CANCELLED = "TransactionCanceledException"
_CONDITION_FAILED_REASON = "ConditionalCheckFailed"

# Every attribute of the attendee item, reachable in expressions as `#<attribute>`: several
# (`name`, `status`, `state`) are DynamoDB reserved words, so none is ever written bare.
_ATTRIBUTES = (
    "pk",
    "email",
    "name",
    "status",
    "origin",
    "state",
    "claim_token",
    "lease_expires_at",
    "lease_expires_epoch",
    "sent_at",
    "message_id",
    "failure_reason",
    "history",
    "last_reply_at",
)
_PLACEHOLDERS = {f"#{attribute}": attribute for attribute in _ATTRIBUTES}

# A claim is granted on a new attendee, a released claim, or a claim whose lease has run out:
# the same rule as `cis.domain.claims.decide`, checked by DynamoDB inside the write itself.
# The lease is compared as `lease_expires_epoch`, seconds since 1970 as an exact decimal with
# microseconds: Numbers compare by value, whereas ISO strings only compare correctly while
# every writer formats them identically. A claim without a lease never expires, as in `decide`.
_CLAIMABLE = (
    "attribute_not_exists(#pk) OR #state = :released"
    " OR (#state = :claimed AND #lease_expires_epoch <= :now)"
)
_OWNED = "#state = :claimed AND #claim_token = :token"
# A reply applies only to the state it was decided on (`cis.domain.claims.reply_applies`).
# Every applied reply appends to the history, so its length serves as the item's version.
_REPLYABLE = "#state = :sent AND #status = :expected AND size(#history) = :length"

_UNIX_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

MARKER_EXPIRY_ATTRIBUTE = "expires_at"
"""The table's TTL attribute (template.yaml): only counting markers carry it."""


class DynamoDBInviteRepository:
    """Attendees and statistics in one DynamoDB table, keyed `pk`/`sk` (see `cis.adapters.keys`).

    Every mutation is a single conditional write or a single transaction, so concurrent
    consumers never need a read before they write.
    """

    def __init__(
        self,
        *,
        table_name: str,
        client: DynamoDBClient | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.table_name = table_name
        # Built here rather than at import, and only when the caller did not inject one.
        if client is None:
            client = boto3.client("dynamodb", region_name=region, endpoint_url=endpoint_url)
        self.client: DynamoDBClient = client

    def claim(self, claim: Claim) -> ClaimOutcome:
        """Claim with one conditional UpdateItem; on refusal, the returned old item says why.

        UpdateItem rather than PutItem so that `history` from earlier attempts survives a
        take-over without reading it first.
        """
        try:
            with _translated_errors("claim"):
                response = self.client.update_item(**self._claim_update(claim),
                                                   ReturnValues="ALL_OLD")
        except ClientError as exc:
            if _error_code(exc) != _CONDITION_FAILED:
                raise  # pragma: no cover - _translated_errors lets only condition failures out
            return _refusal(exc.response.get("Item"), exc)  # type: ignore[arg-type]
        old = response.get("Attributes")
        if not old or _state(old) is InviteState.RELEASED:
            return ClaimOutcome.CLAIMED
        return ClaimOutcome.TAKEN_OVER

    def settle_then_claim(
        self, settlements: Sequence[Settlement], claim: Claim
    ) -> tuple[list[bool], ClaimOutcome]:
        """One transaction with the settlements, their counters and the claim.

        A lost claim or a refused claim cancels the whole transaction; the cancellation says
        which, with the refused claim's item, so the rest is sent again without them. Each
        retry drops at least one action. Settlements too many for one transaction, or one of
        the attendee being claimed, are settled first in calls of their own.
        """
        chunks = _chunks(settlements)
        if not settlements:
            return [], self.claim(claim)
        if len(chunks) > 1 or claim.key in {settlement.key for settlement in settlements}:
            return self.settle(settlements), self.claim(claim)
        applied = [False] * len(settlements)
        pending = chunks[0]
        outcome: ClaimOutcome | None = None
        while pending:
            actions: list[TransactWriteItemTypeDef] = [
                {"Update": self._settlement_update(settlements[i])} for i in pending
            ]
            claim_position = len(actions) if outcome is None else None
            if claim_position is not None:
                actions.append({"Update": self._claim_update(claim)})
            actions.extend(self._counter_updates(settlements, pending))
            try:
                with _translated_errors("settle and claim"):
                    self.client.transact_write_items(TransactItems=actions)
            except ClientError as exc:
                conditional = len(pending) + (claim_position is not None)
                lost = _lost_claims(exc, conditional)
                pending = [index for position, index in enumerate(pending) if position not in lost]
                if claim_position is not None and claim_position in lost:
                    outcome = _refusal(_cancellation_item(exc, claim_position), exc)
                continue
            for index in pending:
                applied[index] = True
            if outcome is None:
                outcome = ClaimOutcome.CLAIMED
            return applied, outcome
        return applied, outcome if outcome is not None else self.claim(claim)

    def settle(self, settlements: Sequence[Settlement]) -> list[bool]:
        """Settle in one transaction per chunk of up to 100 actions, counters included.

        Each chunk carries its attendee updates and one `ADD` per event of the chunk, so a
        record change and its counters commit together. Settlements whose claim was lost
        cancel the whole transaction; they are marked not applied and the rest is retried.
        """
        applied = [False] * len(settlements)
        for chunk in _chunks(settlements):
            self._settle_chunk(settlements, chunk, applied)
        return applied

    def apply_reply(self, change: ReplyChange) -> bool:
        """Apply the reply in one call: a transaction with its counters, else one UpdateItem.

        The attendee update is conditional on the state the reply was decided on, and the
        statistics `ADD` rides in the same transaction, so both land or neither does. A
        failed condition means someone changed the attendee first: nothing is written.
        """
        attendee = self._reply_update(change)
        counters = self._statistics_update(change.key.event_uid, change.counters)
        try:
            with _translated_errors("apply_reply"):
                if counters is None:
                    self.client.update_item(**attendee)
                else:
                    self.client.transact_write_items(
                        TransactItems=[{"Update": attendee}, {"Update": counters}]
                    )
        except ClientError as exc:
            if _error_code(exc) == _CONDITION_FAILED:
                return False
            if _cancellation_codes(exc)[:1] == [_CONDITION_FAILED_REASON]:
                return False
            raise _cancellation_error(exc, "apply_reply") from exc
        return True

    def apply_statistics(self, event_uid: str, counters: Counters) -> None:
        """Add the counters with one UpdateItem `ADD`, which creates missing counters at zero."""
        update = self._statistics_update(event_uid, counters)
        if update is None:
            return
        with _translated_errors("apply_statistics"):
            self.client.update_item(**update)

    def apply_statistics_once(self, marker: str, event_uid: str, counters: Counters) -> bool:
        """Put the marker item, if absent, and `ADD` the counters in one transaction.

        The marker item carries `expires_at` (seconds since 1970), the attribute the table's
        TTL deletes it by, `MARKER_RETENTION_DAYS` from now.
        """
        update = self._statistics_update(event_uid, counters)
        expires = int(time.time()) + MARKER_RETENTION_DAYS * 86_400
        put: TransactWriteItemTypeDef = {"Put": {
            "TableName": self.table_name,
            "Item": {
                **_key(keys.marker_item_key(marker)),
                "counted_under": _string(event_uid),
                MARKER_EXPIRY_ATTRIBUTE: _number(str(expires)),
            },
            "ConditionExpression": "attribute_not_exists(pk)",
        }}
        actions = [put]
        if update is not None:
            actions.append({"Update": update})
        try:
            with _translated_errors("apply_statistics_once"):
                self.client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if _cancellation_codes(exc)[:1] == [_CONDITION_FAILED_REASON]:
                return False
            raise _cancellation_error(exc, "apply_statistics_once") from exc
        return True

    def get_attendee(self, event_uid: str, email: str) -> AttendeeRecord | None:
        """Read one attendee with a consistent read, so a claim just made is visible."""
        key = AttendeeKey.of(event_uid, email)
        with _translated_errors("get_attendee"):
            response = self.client.get_item(
                TableName=self.table_name,
                Key=_key(keys.attendee_item_key(key)),
                ConsistentRead=True,
            )
        item = response.get("Item")
        return _record(event_uid, item) if item else None

    def get_statistics(self, event_uid: str) -> EventStatistics:
        """Read the statistics item with a consistent read; a missing item reads as zeros."""
        with _translated_errors("get_statistics"):
            response = self.client.get_item(
                TableName=self.table_name,
                Key=_key(keys.statistics_item_key(event_uid)),
                ConsistentRead=True,
            )
        return EventStatistics.from_counters(event_uid, _counters(response.get("Item", {})))

    def recount(self, event_uid: str) -> EventStatistics:
        """Query the event's partition once (attendees and statistics), rebuild, replace.

        Not atomic: an `ADD` landing between the query and the put is overwritten. A recount
        repairs drift while the event is quiet; it is not meant to run beside live sending.
        """
        records: list[AttendeeRecord] = []
        stored: dict[str, int] = {}
        for item in self._partition(event_uid):
            sort_key = item["sk"].get("S", "")
            if sort_key == keys.STATISTICS_SORT_KEY:
                stored = _counters(item)
            elif sort_key.startswith(keys.ATTENDEE_PREFIX):
                records.append(_record(event_uid, item))
        rebuilt = statistics.recount(records, stored)
        new_item: dict[str, AttributeValueTypeDef] = {
            **_key(keys.statistics_item_key(event_uid)),
            **{name: _number(str(amount)) for name, amount in rebuilt.items()},
        }
        with _translated_errors("recount"):
            self.client.put_item(TableName=self.table_name, Item=new_item)
        return EventStatistics.from_counters(event_uid, rebuilt)

    def _partition(self, event_uid: str) -> Iterator[Item]:
        start: Item | None = None
        while True:
            arguments: dict[str, Any] = {}
            if start:
                arguments["ExclusiveStartKey"] = start
            with _translated_errors("recount"):
                page = self.client.query(
                    TableName=self.table_name,
                    KeyConditionExpression="#pk = :pk",
                    ExpressionAttributeNames={"#pk": "pk"},
                    ExpressionAttributeValues={":pk": _string(keys.event_pk(event_uid))},
                    ConsistentRead=True,
                    **arguments,
                )
            yield from page["Items"]
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def _settle_chunk(
        self, settlements: Sequence[Settlement], chunk: list[int], applied: list[bool]
    ) -> None:
        pending = list(chunk)
        # Each retry drops at least one settlement, so this makes at most len(chunk) calls.
        while pending:
            actions: list[TransactWriteItemTypeDef] = [
                {"Update": self._settlement_update(settlements[index])} for index in pending
            ]
            actions.extend(self._counter_updates(settlements, pending))
            try:
                with _translated_errors("settle"):
                    self.client.transact_write_items(TransactItems=actions)
            except ClientError as exc:
                lost = _lost_claims(exc, len(pending))
                pending = [index for position, index in enumerate(pending) if position not in lost]
                continue
            for index in pending:
                applied[index] = True
            return

    def _claim_update(self, claim: Claim) -> UpdateTypeDef:
        expression = _Expression()
        invitee = claim.invitee
        expression.set("email", _string(invitee.email))
        expression.set("status", _string(invitee.partstat.value))
        expression.set("state", _string(InviteState.CLAIMED.value), placeholder=":claimed")
        expression.set("claim_token", _string(claim.token))
        expression.set("lease_expires_at", _string(_timestamp(claim.lease_expires_at)))
        expression.set("lease_expires_epoch", _number(_epoch(claim.lease_expires_at)))
        expression.set_expression("#history = if_not_exists(#history, :empty)")
        expression.values[":empty"] = {"L": []}
        expression.set_or_remove("name", invitee.name)
        expression.set_or_remove("origin", invitee.origin)
        expression.remove("sent_at", "message_id", "failure_reason", "last_reply_at")
        expression.values[":released"] = _string(InviteState.RELEASED.value)
        expression.values[":now"] = _number(_epoch(claim.now))
        return {
            "TableName": self.table_name,
            "Key": _key(keys.attendee_item_key(claim.key)),
            "UpdateExpression": expression.update_expression(),
            "ConditionExpression": _CLAIMABLE,
            "ExpressionAttributeNames": expression.names(_CLAIMABLE),
            "ExpressionAttributeValues": expression.values,
            # A refusal returns the item as it was, so the caller can tell why (`_refusal`).
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _counter_updates(
        self, settlements: Sequence[Settlement], positions: Sequence[int]
    ) -> list[TransactWriteItemTypeDef]:
        """One statistics `ADD` per event, for the settlements at `positions`."""
        by_event: dict[str, list[Counters]] = {}
        for index in positions:
            settlement = settlements[index]
            by_event.setdefault(settlement.key.event_uid, []).append(settlement.counters)
        updates: list[TransactWriteItemTypeDef] = []
        for event_uid, parts in by_event.items():
            update = self._statistics_update(event_uid, statistics.merge(*parts))
            if update is not None:
                updates.append({"Update": update})
        return updates

    def _settlement_update(self, settlement: Settlement) -> UpdateTypeDef:
        expression = _Expression()
        if isinstance(settlement, MarkSent):
            expression.set("state", _string(InviteState.SENT.value), placeholder=":sent")
            expression.set("sent_at", _string(_timestamp(settlement.at)))
            expression.set("message_id", _string(settlement.delivery_id))
            expression.set_expression(
                "#history = list_append(if_not_exists(#history, :empty), :entry)"
            )
            expression.values[":empty"] = {"L": []}
            expression.values[":entry"] = {"L": [_history_entry(settlement.history)]}
        elif isinstance(settlement, MarkFailed):
            expression.set("state", _string(InviteState.FAILED.value), placeholder=":failed")
            expression.set("failure_reason", _string(settlement.reason))
        else:
            expression.set("state", _string(InviteState.RELEASED.value), placeholder=":released")
        expression.remove("claim_token", "lease_expires_at", "lease_expires_epoch")
        expression.values[":claimed"] = _string(InviteState.CLAIMED.value)
        expression.values[":token"] = _string(settlement.token)
        return {
            "TableName": self.table_name,
            "Key": _key(keys.attendee_item_key(settlement.key)),
            "UpdateExpression": expression.update_expression(),
            "ConditionExpression": _OWNED,
            "ExpressionAttributeNames": expression.names(_OWNED),
            "ExpressionAttributeValues": expression.values,
        }

    def _reply_update(self, change: ReplyChange) -> UpdateTypeDef:
        expression = _Expression()
        expression.set("status", _string(change.partstat.value))
        last_reply_at = change.last_reply_at
        expression.set_or_remove(
            "last_reply_at", None if last_reply_at is None else _timestamp(last_reply_at)
        )
        expression.set_expression("#history = list_append(#history, :entry)")
        expression.values[":entry"] = {"L": [_history_entry(change.entry)]}
        expression.values[":sent"] = _string(InviteState.SENT.value)
        expression.values[":expected"] = _string(change.expected_partstat.value)
        expression.values[":length"] = _number(str(change.expected_history_length))
        return {
            "TableName": self.table_name,
            "Key": _key(keys.attendee_item_key(change.key)),
            "UpdateExpression": expression.update_expression(),
            "ConditionExpression": _REPLYABLE,
            "ExpressionAttributeNames": expression.names(_REPLYABLE),
            "ExpressionAttributeValues": expression.values,
        }

    def _statistics_update(self, event_uid: str, counters: Counters) -> UpdateTypeDef | None:
        # Counter names contain `:` and come from callers, so each gets a numbered placeholder.
        counters = {name: amount for name, amount in counters.items() if amount}
        if not counters:
            return None
        names: dict[str, str] = {}
        values: dict[str, AttributeValueTypeDef] = {}
        clauses = []
        for position, (name, amount) in enumerate(sorted(counters.items())):
            names[f"#c{position}"] = name
            values[f":c{position}"] = _number(str(amount))
            clauses.append(f"#c{position} :c{position}")
        return {
            "TableName": self.table_name,
            "Key": _key(keys.statistics_item_key(event_uid)),
            "UpdateExpression": "ADD " + ", ".join(clauses),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }


@dataclass
class _Expression:
    """Builds one UpdateExpression whose attribute names are all `#<attribute>` placeholders."""

    values: dict[str, AttributeValueTypeDef] = field(default_factory=dict)
    _set: list[str] = field(default_factory=list)
    _remove: list[str] = field(default_factory=list)

    def set(
        self, attribute: str, value: AttributeValueTypeDef, *, placeholder: str | None = None
    ) -> None:
        placeholder = placeholder or f":{attribute}"
        self._set.append(f"#{attribute} = {placeholder}")
        self.values[placeholder] = value

    def set_expression(self, clause: str) -> None:
        self._set.append(clause)

    def set_or_remove(self, attribute: str, value: str | None) -> None:
        if value is None:
            self.remove(attribute)
        else:
            self.set(attribute, _string(value))

    def remove(self, *attributes: str) -> None:
        self._remove.extend(f"#{attribute}" for attribute in attributes)

    def update_expression(self) -> str:
        clauses = []
        if self._set:
            clauses.append("SET " + ", ".join(self._set))
        if self._remove:
            clauses.append("REMOVE " + ", ".join(self._remove))
        return " ".join(clauses)

    def names(self, condition: str) -> dict[str, str]:
        """The placeholders this update and `condition` use: DynamoDB rejects unused ones."""
        text = f"{self.update_expression()} {condition}"
        used = set(re.findall(r"#\w+", text))
        return {placeholder: _PLACEHOLDERS[placeholder] for placeholder in sorted(used)}


@contextmanager
def _translated_errors(operation: str) -> Iterator[None]:
    """Turn vendor errors into `RepositoryError`; lost races pass through as `ClientError`."""
    try:
        yield
    except ClientError as exc:
        code = _error_code(exc)
        if code in (_CONDITION_FAILED, _CANCELLED):
            raise
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        transient = code in _TRANSIENT_CODES or status >= 500
        raise RepositoryError(f"DynamoDB {operation} failed: {code}", transient=transient) from exc
    except _NETWORK_ERRORS as exc:
        raise RepositoryError(f"DynamoDB {operation} unreachable: {exc}", transient=True) from exc
    except BotoCoreError as exc:
        raise RepositoryError(f"DynamoDB {operation} failed: {exc}", transient=False) from exc


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _refusal(old: Item | None, exc: ClientError) -> ClaimOutcome:
    """Classify a refused claim from the item DynamoDB returned with the condition failure.

    The condition only fails when an item exists, and DynamoDB (and moto) return it because
    the call asks for `ReturnValuesOnConditionCheckFailure=ALL_OLD`.
    """
    if not old:
        raise RepositoryError(
            "DynamoDB refused the claim without returning the item", transient=False
        ) from exc
    state = _state(old)
    if state is InviteState.SENT:
        return ClaimOutcome.ALREADY_SENT
    if state is InviteState.FAILED:
        return ClaimOutcome.ALREADY_FAILED
    return ClaimOutcome.IN_PROGRESS


def _lost_claims(exc: ClientError, conditional_count: int) -> set[int]:
    """The positions whose condition failed, from a transaction cancelled only by those.

    Any other cause (a conflict, throttling, a bad request) is raised as `RepositoryError`.
    """
    lost = {
        position
        for position, code in enumerate(_cancellation_codes(exc)[:conditional_count])
        if code == _CONDITION_FAILED_REASON
    }
    if lost:
        return lost
    raise _cancellation_error(exc, "settle") from exc


def _cancellation_item(exc: ClientError, position: int) -> Item | None:
    """The old item a cancelled transaction returned for the action at `position`."""
    reasons: list[Mapping[str, Any]] = exc.response.get("CancellationReasons", [])  # type: ignore[assignment]
    if position >= len(reasons):
        return None
    item: Item | None = reasons[position].get("Item")
    return item


def _cancellation_codes(exc: ClientError) -> list[str]:
    """One code per action of a cancelled transaction (`"None"` for actions that were fine)."""
    reasons: list[Mapping[str, Any]] = exc.response.get("CancellationReasons", [])  # type: ignore[assignment]
    return [str(reason.get("Code", "None")) for reason in reasons]


def _cancellation_error(exc: ClientError, operation: str) -> RepositoryError:
    """The error for a transaction cancelled by something other than a lost race.

    Transient when any action met a conflict or throttling; the caller raises it `from exc`.
    """
    codes = _cancellation_codes(exc)
    causes = sorted({code for code in codes if code not in ("None", "")}) or ["unknown"]
    transient = any(code in _TRANSIENT_CANCELLATION_CODES for code in causes)
    return RepositoryError(
        f"DynamoDB {operation} transaction cancelled: " + ", ".join(causes), transient=transient
    )


def _chunks(settlements: Sequence[Settlement]) -> list[list[int]]:
    """Group settlement positions into transactions within DynamoDB's limits.

    A transaction holds at most 100 actions, one statistics update per event counted in, and
    may touch an item only once: a second settlement of the same attendee starts a new chunk,
    so it is decided after the first, as the in-memory repository does.
    """
    chunks: list[list[int]] = []
    current: list[int] = []
    attendees: set[AttendeeKey] = set()
    events: set[str] = set()
    for index, settlement in enumerate(settlements):
        more_events = events | ({settlement.key.event_uid} if settlement.counters else set())
        if current and (
            settlement.key in attendees
            or len(current) + 1 + len(more_events) > MAX_TRANSACTION_ACTIONS
        ):
            chunks.append(current)
            current, attendees = [], set()
            more_events = {settlement.key.event_uid} if settlement.counters else set()
        current.append(index)
        attendees.add(settlement.key)
        events = more_events
    if current:
        chunks.append(current)
    return chunks


def _key(key: Mapping[str, str]) -> dict[str, AttributeValueTypeDef]:
    return {name: _string(value) for name, value in key.items()}


def _string(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _number(value: str) -> AttributeValueTypeDef:
    return {"N": value}


def _timestamp(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with a `+00:00` offset; naive datetimes are refused, not guessed."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: cis stores only timezone-aware times")
    return moment.astimezone(dt.UTC).isoformat()


def _epoch(moment: dt.datetime) -> str:
    """Seconds since 1970 as an exact decimal (microseconds kept) for numeric comparison."""
    _timestamp(moment)  # refuses naive datetimes
    microseconds = (moment - _UNIX_EPOCH) // dt.timedelta(microseconds=1)
    # normalize() drops trailing zeros, so the string is the one DynamoDB itself would return.
    return format(Decimal(microseconds).scaleb(-6).normalize(), "f")


def _history_entry(entry: HistoryEntry) -> AttributeValueTypeDef:
    return {
        "M": {
            "status": _string(entry.status),
            "at": _string(_timestamp(entry.at)),
            "source": _string(entry.source),
        }
    }


def _text(item: Item, attribute: str) -> str | None:
    value = item.get(attribute)
    return value.get("S") if value else None


def _required_text(item: Item, attribute: str) -> str:
    text = _text(item, attribute)
    if text is None:
        raise RepositoryError(f"attendee item lacks {attribute!r}", transient=False)
    return text


def _moment(item: Item, attribute: str) -> dt.datetime | None:
    text = _text(item, attribute)
    return dt.datetime.fromisoformat(text) if text else None


def _state(item: Item) -> InviteState:
    return InviteState(_required_text(item, "state"))


def _record(event_uid: str, item: Item) -> AttendeeRecord:
    """Read an attendee item back into the domain record."""
    email = _required_text(item, "email")
    history = tuple(
        HistoryEntry(
            status=history_status(entry["M"]["status"]["S"]),
            at=dt.datetime.fromisoformat(entry["M"]["at"]["S"]),
            source=entry["M"]["source"]["S"],
        )
        for entry in item.get("history", {}).get("L", [])
    )
    return AttendeeRecord(
        key=AttendeeKey.of(event_uid, email),
        email=email,
        name=_text(item, "name"),
        partstat=PartStat(_required_text(item, "status")),
        origin=_text(item, "origin"),
        state=_state(item),
        claim_token=_text(item, "claim_token"),
        lease_expires_at=_moment(item, "lease_expires_at"),
        sent_at=_moment(item, "sent_at"),
        delivery_id=_text(item, "message_id"),
        failure_reason=_text(item, "failure_reason"),
        history=history,
        last_reply_at=_moment(item, "last_reply_at"),
    )


def _counters(item: Item) -> dict[str, int]:
    """Every Number attribute of a statistics item is a counter; the keys are strings."""
    return {name: int(value["N"]) for name, value in item.items() if "N" in value}
