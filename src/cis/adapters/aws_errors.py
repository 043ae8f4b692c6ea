"""Reading botocore errors, for every AWS adapter: the service's code, its words, the status."""

from __future__ import annotations

from collections.abc import Collection

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

__all__ = ["UNREACHABLE", "error_code", "error_message", "http_status", "is_transient"]

UNREACHABLE = (ConnectionError, HTTPClientError)
"""botocore's errors for a request that got no answer: refused, timed out, cut off."""


def error_code(exc: ClientError) -> str:
    """The service's error code (`ThrottlingException`); empty when the answer had none."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_message(exc: ClientError) -> str:
    """The service's own words about the error; empty when the answer had none."""
    return str(exc.response.get("Error", {}).get("Message", ""))


def http_status(exc: ClientError) -> int:
    """The HTTP status of the answer; 0 when botocore recorded none."""
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def is_transient(exc: ClientError, codes: Collection[str]) -> bool:
    """True when the error's code is one of `codes` or the service answered with a 5xx.

    A 5xx is the service's own failure, so the same request may succeed later whatever its
    code; `codes` names the rest that a later call may not meet (throttling, a busy service).
    """
    return error_code(exc) in codes or http_status(exc) >= 500
