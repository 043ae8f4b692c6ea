"""The Lambda function's SQS event source as the intake: pausing it disables the mapping."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from cis.adapters.aws_errors import error_code
from cis.errors import QueueError

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

__all__ = ["LambdaEventSourceIntake"]

_log = logging.getLogger(__name__)


class LambdaEventSourceIntake:
    """Pauses a function's event source mappings, so Lambda stops polling its queue.

    A disabled mapping leaves every message on the queue, visible, with its receive count as
    it was: nothing moves towards the dead-letter queue while the account cannot send. An
    operator (or a schedule) enables the mapping again; see docs/deploy.md.
    """

    def __init__(self, *, function_name: str, client: LambdaClient) -> None:
        self.function_name = function_name
        self.client = client

    def pause(self, reason: str) -> None:
        """Disable every enabled event source mapping of the function.

        Raises:
            QueueError: Lambda refused to list or update the mappings.

        """
        try:
            paginator = self.client.get_paginator("list_event_source_mappings")
            uuids = [
                mapping["UUID"]
                for page in paginator.paginate(FunctionName=self.function_name)
                for mapping in page.get("EventSourceMappings", [])
                if mapping.get("State") not in ("Disabled", "Disabling")
            ]
            for uuid in uuids:
                self.client.update_event_source_mapping(UUID=uuid, Enabled=False)
        except ClientError as exc:
            raise QueueError(f"could not pause the event source of {self.function_name}: "
                             f"{error_code(exc) or exc}", transient=True) from exc
        except BotoCoreError as exc:
            raise QueueError(f"could not pause the event source of {self.function_name}: {exc}",
                             transient=True) from exc
        _log.error("paused %d event source mapping(s) of %s: %s", len(uuids),
                   self.function_name, reason)
