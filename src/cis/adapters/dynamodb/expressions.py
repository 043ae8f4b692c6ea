"""DynamoDB write requests: the claim, settlement, reply and suppression updates, and conditions.

The statistics, fence and marker writes are in `counter_expressions`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cis.adapters import keys
from cis.adapters.dynamodb.items import (
    ATTENDEE_ATTRIBUTES,
    delivery_entry,
    epoch,
    history_entry,
    key_attributes,
    number,
    role_attribute,
    string,
    suppression_item,
    timestamp,
)
from cis.domain.claims import claimed_record
from cis.domain.delivery import Suppression
from cis.domain.feedback import FeedbackChange
from cis.domain.model import (
    AttendeeKey,
    Claim,
    ClaimBasis,
    InviteState,
    MarkFailed,
    MarkSent,
    PartStat,
    ReplyChange,
    Role,
    Settlement,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        PutTypeDef,
        TransactWriteItemTypeDef,
        UpdateTypeDef,
    )

__all__ = [
    "CLAIMABLE",
    "OWNED",
    "REPLYABLE",
    "claim_update",
    "feedback_update",
    "lift_update",
    "reply_update",
    "settlement_update",
    "suppression_check",
    "suppression_put",
    "unchanged_check",
]

# Every attribute of the attendee item is reachable in expressions as `#<attribute>`: several
# (`name`, `status`, `state`) are DynamoDB reserved words, so none is ever written bare.
_PLACEHOLDERS = {f"#{attribute}": attribute for attribute in ATTENDEE_ATTRIBUTES}

# A first invitation (SEQUENCE 0, claimed without a read) is granted on a new attendee, on an
# attendee never sent anything whose claim was released or whose claimant's lease ran out, or
# on the claimant's own claim (a write retried after a lost answer): what
# `cis.domain.claims.decide` grants a first invitation, checked by DynamoDB inside the write.
# The lease is compared as `lease_expires_epoch`, seconds since 1970 as an exact decimal with
# microseconds: Numbers compare by value, whereas ISO strings only compare correctly while
# every writer formats them identically. A claim without a lease never expires, as in `decide`.
CLAIMABLE = (
    "attribute_not_exists(#pk)"
    " OR ((#state = :released OR (#state = :claimed AND #lease_expires_epoch <= :now))"
    " AND attribute_not_exists(#sequence))"
    " OR (#state = :claimed AND #claim_token = :claim_token)"
)
# A versioned claim was decided on the attendee as read (`cis.domain.model.ClaimBasis`): it
# is written only while the attendee still is so.
UNCHANGED = (
    "#state = :seen_state AND #status = :seen_status AND size(#history) = :seen_length"
    " AND {owner}"
)
OWNED = "#state = :claimed AND #claim_token = :token"
# A reply applies only to the state it was decided on (`cis.domain.claims.reply_applies`).
# Every applied reply appends to the history, and once it is full drops an older reply, so
# its length and the count of dropped replies (absent until the first drop) serve as the
# item's version.
REPLYABLE = (
    "(attribute_exists(#sequence) OR #state = :sent)"
    " AND #status = :expected AND size(#history) = :length AND {dropped}"
)
_NONE_DROPPED = "(attribute_not_exists(#replies_dropped) OR #replies_dropped = :dropped)"
_SOME_DROPPED = "#replies_dropped = :dropped"


def claim_update(table_name: str, claim: Claim) -> UpdateTypeDef:
    """The conditional update that claims an attendee.

    A first invitation (no `basis`) keeps any history from earlier attempts; a versioned
    claim writes the record `claimed_record` makes of the attendee as read, on condition
    that the attendee is still so.
    """
    if claim.basis is not None:
        return _versioned_claim_update(table_name, claim, claim.basis)
    expression = _Expression()
    invitee = claim.invitee
    _set_claimed(expression, claim, email=invitee.email, partstat=invitee.partstat,
                 name=invitee.name, origin=invitee.origin, role=invitee.role)
    expression.remove("sent_at", "message_id", "failure_reason", "last_reply_at")
    expression.values[":released"] = string(InviteState.RELEASED.value)
    expression.values[":now"] = number(epoch(claim.now))
    update = expression.conditional_update(table_name, claim.key, CLAIMABLE)
    # A refusal returns the item as it was, so the caller can tell why (`refusal`).
    update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return update


def _set_claimed(
    expression: _Expression, claim: Claim, *, email: str, partstat: PartStat,
    name: str | None, origin: str | None, role: Role,
) -> None:
    """What every claim writes: the attendee as the claim names them, held by its token.

    A history from earlier attempts is kept (set only where there is none).
    """
    expression.set("email", string(email))
    expression.set("status", string(partstat.value))
    expression.set("state", string(InviteState.CLAIMED.value), placeholder=":claimed")
    expression.set("claim_token", string(claim.token))
    expression.set("lease_expires_at", string(timestamp(claim.lease_expires_at)))
    expression.set("lease_expires_epoch", number(epoch(claim.lease_expires_at)))
    expression.set("claim_sequence", number(str(claim.sequence)))
    expression.set_expression("#history = if_not_exists(#history, :empty)")
    expression.values[":empty"] = {"L": []}
    expression.set_or_remove("name", name)
    expression.set_or_remove("origin", origin)
    expression.set_or_remove("role", role_attribute(role))


def _versioned_claim_update(table_name: str, claim: Claim, basis: ClaimBasis) -> UpdateTypeDef:
    """Write the claimed record over the attendee as read, while it still is so."""
    seen = basis.record
    record = claimed_record(seen, claim)
    expression = _Expression()
    _set_claimed(expression, claim, email=record.email, partstat=record.partstat,
                 name=record.name, origin=record.origin, role=record.role)
    expression.set("answer_sequence", number(str(record.answer_sequence)))
    expression.remove("failure_reason")
    condition = _as_seen(expression, basis)
    update = expression.conditional_update(table_name, claim.key, condition)
    update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return update


def unchanged_check(table_name: str, claim: Claim, basis: ClaimBasis) -> TransactWriteItemTypeDef:
    """A transaction action that holds only while the attendee is as the claim read it."""
    expression = _Expression()
    condition = _as_seen(expression, basis)
    return {"ConditionCheck": {
        "TableName": table_name,
        "Key": key_attributes(keys.attendee_item_key(claim.key)),
        "ConditionExpression": condition,
        "ExpressionAttributeNames": expression.names(condition),
        "ExpressionAttributeValues": expression.values,
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }}


def _as_seen(expression: _Expression, basis: ClaimBasis) -> str:
    """The condition that the attendee is still as `basis` read it; its values go in."""
    seen = basis.record
    if seen is None:
        return "attribute_not_exists(#pk)"
    expression.values[":seen_state"] = string(seen.state.value)
    expression.values[":seen_status"] = string(seen.partstat.value)
    expression.values[":seen_length"] = number(str(len(seen.history)))
    if seen.claim_token is None:
        return UNCHANGED.format(owner="attribute_not_exists(#claim_token)")
    expression.values[":seen_token"] = string(seen.claim_token)
    return UNCHANGED.format(owner="#claim_token = :seen_token")


def settlement_update(table_name: str, settlement: Settlement) -> UpdateTypeDef:
    """The update that settles a claim, conditional on its token still owning it."""
    expression = _Expression()
    if isinstance(settlement, MarkSent):
        expression.set("state", string(InviteState.SENT.value), placeholder=":sent")
        expression.set("sent_at", string(timestamp(settlement.at)))
        expression.set("message_id", string(settlement.delivery_id))
        expression.set("sequence", number(str(settlement.sequence)))
        expression.set("standing", string(settlement.standing.value))
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
    if change.history is None:
        expression.set_expression("#history = list_append(#history, :entry)")
        expression.values[":entry"] = {"L": [history_entry(change.entry)]}
    else:
        # Older replies make way: the whole kept history is written, on the same condition.
        expression.set("history", {"L": [history_entry(entry) for entry in change.history]})
        dropped = change.expected_history_length + 1 - len(change.history)
        expression.set("replies_dropped",
                       number(str(change.expected_replies_dropped + dropped)),
                       placeholder=":now_dropped")
    expression.values[":sent"] = string(InviteState.SENT.value)
    expression.values[":expected"] = string(change.expected_partstat.value)
    expression.values[":length"] = number(str(change.expected_history_length))
    expression.values[":dropped"] = number(str(change.expected_replies_dropped))
    condition = REPLYABLE.format(
        dropped=_SOME_DROPPED if change.expected_replies_dropped else _NONE_DROPPED)
    return expression.conditional_update(table_name, change.key, condition)


def feedback_update(table_name: str, change: FeedbackChange) -> UpdateTypeDef:
    """Append a delivery report to the attendee, while its reports are as they were read.

    The report list only grows, so its length is its version; an item written before
    reports existed has none, which is length 0.
    """
    expression = _Expression()
    expression.set_expression(
        "#deliveries = list_append(if_not_exists(#deliveries, :empty), :report)")
    expression.values[":empty"] = {"L": []}
    expression.values[":report"] = {"L": [delivery_entry(change.event)]}
    if change.expected_deliveries == 0:
        condition = "attribute_exists(#pk) AND attribute_not_exists(#deliveries)"
    else:
        condition = "attribute_exists(#pk) AND size(#deliveries) = :reports"
        expression.values[":reports"] = number(str(change.expected_deliveries))
    return expression.conditional_update(table_name, change.key, condition)


_NOT_SUPPRESSED = "attribute_not_exists(#sk) OR attribute_exists(#lifted_at)"
"""The address has no suppression item, or its suppression was lifted."""


def suppression_check(table_name: str, address: str) -> TransactWriteItemTypeDef:
    """A transaction action that holds only while `address` is not suppressed.

    It rides in every claim's transaction, so a suppressed address is never claimed, at no
    extra call; a failure returns the suppression item.
    """
    return {"ConditionCheck": {
        "TableName": table_name,
        "Key": key_attributes(keys.suppression_item_key(address)),
        "ConditionExpression": _NOT_SUPPRESSED,
        "ExpressionAttributeNames": {"#sk": "sk", "#lifted_at": "lifted_at"},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }}


def suppression_put(
    table_name: str, suppression: Suppression, *, unless_same_report: bool
) -> PutTypeDef:
    """Write the suppression whole; with `unless_same_report`, not over the same report's.

    The condition keeps a redelivered report from putting back an address an operator
    lifted since (`cis.domain.feedback.suppression_applies`).
    """
    put: PutTypeDef = {
        "TableName": table_name,
        "Item": {**key_attributes(keys.suppression_item_key(suppression.address)),
                 **suppression_item(suppression)},
    }
    if unless_same_report:
        put["ConditionExpression"] = "attribute_not_exists(#sk) OR #feedback_id <> :feedback_id"
        put["ExpressionAttributeNames"] = {"#sk": "sk", "#feedback_id": "feedback_id"}
        put["ExpressionAttributeValues"] = {":feedback_id": string(suppression.feedback_id)}
    return put


def lift_update(table_name: str, address: str, lifted_at: str) -> UpdateTypeDef:
    """Mark an active suppression lifted; it fails on an address not (or no longer) suppressed."""
    return {
        "TableName": table_name,
        "Key": key_attributes(keys.suppression_item_key(address)),
        "UpdateExpression": "SET #lifted_at = :lifted_at",
        "ConditionExpression": "attribute_exists(#sk) AND attribute_not_exists(#lifted_at)",
        "ExpressionAttributeNames": {"#sk": "sk", "#lifted_at": "lifted_at"},
        "ExpressionAttributeValues": {":lifted_at": string(lifted_at)},
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
