"""The S3 message store: fetch the raw mail SES's receipt rule stored in a bucket."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from cis.adapters.aws_errors import error_code
from cis.domain.rsvp import MAX_REPLY_BYTES
from cis.errors import MessageStoreError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_GONE = frozenset({"NoSuchKey", "NoSuchBucket", "404", "AccessDenied", "403"})


class S3MessageStore:
    """Reads stored messages; refuses objects too large to be a calendar reply unread."""

    def __init__(
        self,
        *,
        client: S3Client | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        max_bytes: int = MAX_REPLY_BYTES,
    ) -> None:
        self.client: S3Client = client or boto3.client(
            "s3", region_name=region, endpoint_url=endpoint_url
        )
        self.max_bytes = max_bytes

    def fetch(self, bucket: str, key: str) -> bytes:
        """Get the object; a missing object or a forbidden one will never succeed later."""
        try:
            response = self.client.get_object(Bucket=bucket, Key=key)
            if response.get("ContentLength", 0) > self.max_bytes:
                response["Body"].close()
                raise MessageStoreError(
                    f"s3://{bucket}/{key} is larger than {self.max_bytes} bytes", transient=False
                )
            return response["Body"].read(self.max_bytes + 1)[: self.max_bytes + 1]
        except ClientError as exc:
            code = error_code(exc)
            raise MessageStoreError(f"s3://{bucket}/{key}: {code or exc}",
                                    transient=code not in _GONE) from exc
        except BotoCoreError as exc:
            raise MessageStoreError(f"s3://{bucket}/{key}: {exc}", transient=True) from exc
