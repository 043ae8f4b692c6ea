"""DynamoDB adapter of the invite repository: one table, conditional writes, flat counters.

`repository` holds the class; `items` maps attribute values and items to records,
`expressions` builds the conditional writes, `errors` translates botocore errors and reads
cancelled transactions, and `transactions` fits settlements into transactions and resends
them without the actions that lost their race.
"""

from __future__ import annotations

# The attendee item's attributes, under the name tests/integration/test_template.py reads to
# check that the table's TTL attribute is none of them.
from cis.adapters.dynamodb.items import ATTENDEE_ATTRIBUTES as _ATTRIBUTES  # noqa: F401
from cis.adapters.dynamodb.items import MARKER_EXPIRY_ATTRIBUTE
from cis.adapters.dynamodb.repository import DynamoDBInviteRepository
from cis.adapters.dynamodb.transactions import MAX_TRANSACTION_ACTIONS

__all__ = ["MARKER_EXPIRY_ATTRIBUTE", "MAX_TRANSACTION_ACTIONS", "DynamoDBInviteRepository"]
