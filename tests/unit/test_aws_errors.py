"""The botocore error readers every AWS adapter shares."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from cis.adapters.aws_errors import (
    UNREACHABLE,
    error_code,
    error_message,
    http_status,
    is_transient,
)


def client_error(code: str | None, message: str | None = None, status: int | None = None,
                 ) -> ClientError:
    response: dict[str, Any] = {}
    if code is not None or message is not None:
        response["Error"] = {
            name: value for name, value in (("Code", code), ("Message", message)) if value
        }
    if status is not None:
        response["ResponseMetadata"] = {"HTTPStatusCode": status}
    return ClientError(response, "AnyOperation")  # type: ignore[arg-type]


def test_code_message_and_status_are_read_from_the_answer() -> None:
    exc = client_error("ThrottlingException", "Rate exceeded", 400)
    assert (error_code(exc), error_message(exc), http_status(exc)) == (
        "ThrottlingException", "Rate exceeded", 400
    )


def test_an_answer_without_error_or_metadata_reads_empty_and_zero() -> None:
    exc = client_error(None)
    assert (error_code(exc), error_message(exc), http_status(exc)) == ("", "", 0)


@pytest.mark.parametrize(
    ("code", "status", "transient"),
    [
        pytest.param("Busy", 400, True, id="a listed code is transient"),
        pytest.param("Surprise", 503, True, id="any 5xx is transient"),
        pytest.param("Surprise", 400, False, id="an unlisted 4xx is not"),
        pytest.param("", 0, False, id="an answer without code or status is not"),
    ],
)
def test_transient_means_a_listed_code_or_a_server_error(
    code: str, status: int, transient: bool
) -> None:
    assert is_transient(client_error(code, status=status), {"Busy"}) is transient


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="https://example.invalid"),
        ConnectTimeoutError(endpoint_url="https://example.invalid"),
        ReadTimeoutError(endpoint_url="https://example.invalid"),
    ],
)
def test_network_failures_are_unreachable(error: Exception) -> None:
    assert isinstance(error, UNREACHABLE)


def test_missing_credentials_are_not_a_network_failure() -> None:
    assert not isinstance(NoCredentialsError(), UNREACHABLE)
