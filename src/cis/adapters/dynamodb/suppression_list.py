"""The DynamoDB repository's delivery feedback and suppression list, a mixin of the adapter.

Kept apart from `repository.py` so the claim and settlement writes read on their own: these
methods (the `SuppressionList` port of `cis.ports.feedback`, and `apply_feedback`) record
delivery reports on attendees and keep the suppression items that every claim's transaction
checks (`expressions.suppression_check`).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cis.adapters import keys
from cis.adapters.aws_errors import error_code
from cis.adapters.dynamodb.counter_expressions import statistics_update
from cis.adapters.dynamodb.errors import (
    CONDITION_FAILED,
    cancellation_error,
    first_condition_failed,
    translated_errors,
)
from cis.adapters.dynamodb.expressions import feedback_update, lift_update, suppression_put
from cis.adapters.dynamodb.items import key_attributes, string, suppression_of, timestamp
from cis.domain.delivery import Suppression
from cis.domain.feedback import FeedbackChange
from cis.domain.model import normalise_address

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

    from cis.adapters.dynamodb.items import Item

__all__ = ["DynamoDBSuppressionList"]


class DynamoDBSuppressionList:
    """Delivery reports and suppressions, on the table and client the adapter sets up."""

    table_name: str
    client: DynamoDBClient

    def apply_feedback(self, change: FeedbackChange) -> bool:
        """Append the report in one call: a transaction, or one UpdateItem when alone.

        The attendee update is conditional on the reports as read; the statistics `ADD` and
        the suppression put ride in the same transaction, so all land or none does.
        """
        attendee = feedback_update(self.table_name, change)
        counters = statistics_update(self.table_name, change.key.event_uid, change.counters,
                                     shard=keys.statistics_shard(change.key.address))
        actions: list[TransactWriteItemTypeDef] = [{"Update": attendee}]
        if counters is not None:
            actions.append({"Update": counters})
        if change.suppression is not None:
            actions.append({"Put": suppression_put(self.table_name, change.suppression,
                                                   unless_same_report=False)})
        try:
            with translated_errors("apply_feedback"):
                if len(actions) == 1:
                    self.client.update_item(**attendee)
                else:
                    self.client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if error_code(exc) == CONDITION_FAILED or first_condition_failed(exc):
                return False
            raise cancellation_error(exc, "apply_feedback") from exc
        return True

    def suppress(self, suppression: Suppression) -> bool:
        """One conditional PutItem: not over the same report's suppression."""
        try:
            with translated_errors("suppress"):
                self.client.put_item(**suppression_put(self.table_name, suppression,
                                                       unless_same_report=True))
        except ClientError as exc:
            if error_code(exc) == CONDITION_FAILED:
                return False
            raise  # pragma: no cover - translated_errors lets only condition failures out
        return True

    def get_suppression(self, address: str) -> Suppression | None:
        """The address's suppression item, read consistently."""
        key = keys.suppression_item_key(normalise_address(address))
        with translated_errors("get_suppression"):
            response = self.client.get_item(TableName=self.table_name,
                                            Key=key_attributes(key), ConsistentRead=True)
        item = response.get("Item")
        return suppression_of(item) if item else None

    def suppressions(
        self, *, after: str | None = None, limit: int = 100, include_lifted: bool = False,
    ) -> list[Suppression]:
        """Up to `limit` by address: a Query of each suppression partition, merged."""
        found: list[Suppression] = []
        for partition in keys.suppression_partitions():
            found.extend(self._suppression_partition(partition, after, limit, include_lifted))
        return sorted(found, key=lambda suppression: suppression.address)[:limit]

    def lift_suppression(self, address: str, *, at: dt.datetime) -> Suppression | None:
        """One conditional UpdateItem that returns the lifted suppression."""
        update = lift_update(self.table_name, normalise_address(address), timestamp(at))
        try:
            with translated_errors("lift_suppression"):
                response = self.client.update_item(**update, ReturnValues="ALL_NEW")
        except ClientError as exc:
            if error_code(exc) == CONDITION_FAILED:
                return None
            raise  # pragma: no cover - translated_errors lets only condition failures out
        return suppression_of(response["Attributes"])

    def _suppression_partition(
        self, partition: str, after: str | None, limit: int, include_lifted: bool,
    ) -> list[Suppression]:
        """Up to `limit` suppressions of one partition after `after`, consistently read."""
        found: list[Suppression] = []
        start: Item | None = (None if after is None
                              else {"pk": string(partition), "sk": string(after)})
        arguments: dict[str, Any] = {}
        if not include_lifted:
            arguments["FilterExpression"] = "attribute_not_exists(#lifted_at)"
            arguments["ExpressionAttributeNames"] = {"#pk": "pk", "#lifted_at": "lifted_at"}
        else:
            arguments["ExpressionAttributeNames"] = {"#pk": "pk"}
        while len(found) < limit:
            if start:
                arguments["ExclusiveStartKey"] = start
            with translated_errors("suppressions"):
                page = self.client.query(
                    TableName=self.table_name, ConsistentRead=True,
                    KeyConditionExpression="#pk = :pk",
                    ExpressionAttributeValues={":pk": string(partition)},
                    Limit=limit, **arguments)
            found.extend(suppression_of(item) for item in page["Items"])
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        return found[:limit]
