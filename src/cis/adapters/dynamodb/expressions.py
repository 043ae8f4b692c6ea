"""DynamoDB write requests: the claim, settlement, reply and statistics updates, and conditions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cis.adapters import keys
from cis.adapters.dynamodb.items import (
    ATTENDEE_ATTRIBUTES,
    MARKER_EXPIRY_ATTRIBUTE,
    epoch,
    history_entry,
    key_attributes,
    number,
    string,
    timestamp,
)
from cis.domain import statistics
from cis.domain.model import (
    AttendeeKey,
    Claim,
    Counters,
    InviteState,
    MarkFailed,
    MarkSent,
    ReplyChange,
    Settlement,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        TransactWriteItemTypeDef,
        UpdateTypeDef,
    )

__all__ = [
    "CLAIMABLE",
    "OWNED",
    "REPLYABLE",
    "claim_update",
    "counter_updates",
    "marker_put",
    "reply_update",
    "settlement_update",
    "statistics_update",
]

# Every attribute of the attendee item is reachable in expressions as `#<attribute>`: several
# (`name`, `status`, `state`) are DynamoDB reserved words, so none is ever written bare.
_PLACEHOLDERS = {f"#{attribute}": attribute for attribute in ATTENDEE_ATTRIBUTES}

# A claim is granted on a new attendee, a released claim, a claim whose lease has run out, or
# the claimant's own claim (a write retried after a lost answer): the same rule as
# `cis.domain.claims.decide`, checked by DynamoDB inside the write itself.
# The lease is compared as `lease_expires_epoch`, seconds since 1970 as an exact decimal with
# microseconds: Numbers compare by value, whereas ISO strings only compare correctly while
# every writer formats them identically. A claim without a lease never expires, as in `decide`.
CLAIMABLE = (
    "attribute_not_exists(#pk) OR #state = :released"
    " OR (#state = :claimed AND #lease_expires_epoch <= :now)"
    " OR (#state = :claimed AND #claim_token = :claim_token)"
)
OWNED = "#state = :claimed AND #claim_token = :token"
# A reply applies only to the state it was decided on (`cis.domain.claims.reply_applies`).
# Every applied reply appends to the history, so its length serves as the item's version.
REPLYABLE = "#state = :sent AND #status = :expected AND size(#history) = :length"


def claim_update(table_name: str, claim: Claim) -> UpdateTypeDef:
    """The conditional update that claims an attendee, keeping history from earlier attempts."""
    expression = _Expression()
    invitee = claim.invitee
    expression.set("email", string(invitee.email))
    expression.set("status", string(invitee.partstat.value))
    expression.set("state", string(InviteState.CLAIMED.value), placeholder=":claimed")
    expression.set("claim_token", string(claim.token))
    expression.set("lease_expires_at", string(timestamp(claim.lease_expires_at)))
    expression.set("lease_expires_epoch", number(epoch(claim.lease_expires_at)))
    expression.set_expression("#history = if_not_exists(#history, :empty)")
    expression.values[":empty"] = {"L": []}
    expression.set_or_remove("name", invitee.name)
    expression.set_or_remove("origin", invitee.origin)
    expression.remove("sent_at", "message_id", "failure_reason", "last_reply_at")
    expression.values[":released"] = string(InviteState.RELEASED.value)
    expression.values[":now"] = number(epoch(claim.now))
    update = expression.conditional_update(table_name, claim.key, CLAIMABLE)
    # A refusal returns the item as it was, so the caller can tell why (`refusal`).
    update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return update


def settlement_update(table_name: str, settlement: Settlement) -> UpdateTypeDef:
    """The update that settles a claim, conditional on its token still owning it."""
    expression = _Expression()
    if isinstance(settlement, MarkSent):
        expression.set("state", string(InviteState.SENT.value), placeholder=":sent")
        expression.set("sent_at", string(timestamp(settlement.at)))
        expression.set("message_id", string(settlement.delivery_id))
        expression.set_expression(
            "#history = list_append(if_not_exists(#history, :empty), :entry)"
        )
        expression.values[":empty"] = {"L": []}
        expression.values[":entry"] = {"L": [history_entry(settlement.history)]}
    elif isinstance(settlement, MarkFailed):
        expression.set("state", string(InviteState.FAILED.value), placeholder=":failed")
        expression.set("failure_reason", string(settlement.reason))
    else:
        expression.set("state", string(InviteState.RELEASED.value), placeholder=":released")
    expression.remove("claim_token", "lease_expires_at", "lease_expires_epoch")
    expression.values[":claimed"] = string(InviteState.CLAIMED.value)
    expression.values[":token"] = string(settlement.token)
    return expression.conditional_update(table_name, settlement.key, OWNED)


def reply_update(table_name: str, change: ReplyChange) -> UpdateTypeDef:
    """The update that records a reply, conditional on the state it was decided on."""
    expression = _Expression()
    expression.set("status", string(change.partstat.value))
    last_reply_at = change.last_reply_at
    expression.set_or_remove(
        "last_reply_at", None if last_reply_at is None else timestamp(last_reply_at)
    )
    expression.set_expression("#history = list_append(#history, :entry)")
    expression.values[":entry"] = {"L": [history_entry(change.entry)]}
    expression.values[":sent"] = string(InviteState.SENT.value)
    expression.values[":expected"] = string(change.expected_partstat.value)
    expression.values[":length"] = number(str(change.expected_history_length))
    return expression.conditional_update(table_name, change.key, REPLYABLE)


def statistics_update(
    table_name: str, event_uid: str, counters: Counters, *, shard: int
) -> UpdateTypeDef | None:
    """One `ADD` of every non-zero counter to one statistics shard of the event; None if none is."""
    # Counter names contain `:` and come from callers, so each gets a numbered placeholder.
    counters = {name: amount for name, amount in counters.items() if amount}
    if not counters:
        return None
    names: dict[str, str] = {}
    values: dict[str, AttributeValueTypeDef] = {}
    clauses = []
    for position, (name, amount) in enumerate(sorted(counters.items())):
        names[f"#c{position}"] = name
        values[f":c{position}"] = number(str(amount))
        clauses.append(f"#c{position} :c{position}")
    return {
        "TableName": table_name,
        "Key": key_attributes(keys.statistics_item_key(event_uid, shard)),
        "UpdateExpression": "ADD " + ", ".join(clauses),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def counter_updates(
    table_name: str, settlements: Sequence[Settlement], positions: Sequence[int]
) -> list[TransactWriteItemTypeDef]:
    """One statistics `ADD` per event, for the settlements at `positions`.

    An event's `ADD` goes to the shard of its first attendee here: one item per event keeps
    the transaction small, and which shard holds a count does not change the sum.
    """
    by_event: dict[str, tuple[AttendeeKey, list[Counters]]] = {}
    for index in positions:
        settlement = settlements[index]
        first, parts = by_event.setdefault(settlement.key.event_uid, (settlement.key, []))
        parts.append(settlement.counters)
    updates: list[TransactWriteItemTypeDef] = []
    for event_uid, (first, parts) in by_event.items():
        update = statistics_update(table_name, event_uid, statistics.merge(*parts),
                                   shard=keys.statistics_shard(first.address))
        if update is not None:
            updates.append({"Update": update})
    return updates


def marker_put(
    table_name: str, marker: str, event_uid: str, expires: int
) -> TransactWriteItemTypeDef:
    """Put a counting marker unless it exists; the table's TTL deletes it at `expires`."""
    return {"Put": {
        "TableName": table_name,
        "Item": {
            **key_attributes(keys.marker_item_key(marker)),
            "counted_under": string(event_uid),
            MARKER_EXPIRY_ATTRIBUTE: number(str(expires)),
        },
        "ConditionExpression": "attribute_not_exists(pk)",
    }}


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
            self.set(attribute, string(value))

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

    def conditional_update(
        self, table_name: str, attendee: AttendeeKey, condition: str
    ) -> UpdateTypeDef:
        """The request that applies this update to the attendee's item where `condition` holds."""
        return {
            "TableName": table_name,
            "Key": key_attributes(keys.attendee_item_key(attendee)),
            "UpdateExpression": self.update_expression(),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": self.names(condition),
            "ExpressionAttributeValues": self.values,
        }
