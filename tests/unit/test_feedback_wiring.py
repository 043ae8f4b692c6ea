"""The feedback entry points: the Lambda handler, the composition root, the local store."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cis.lambda_handler
from cis.adapters.dynamodb import DynamoDBInviteRepository
from cis.adapters.memory import InMemoryInviteRepository
from cis.adapters.sqlite import SqliteInviteRepository
from cis.bootstrap import (
    FeedbackRuntime,
    aws_feedback_runtime,
    build_feedback_service,
    local_suppression_list,
)
from cis.config import LocalSettings
from cis.errors import ConfigurationError
from cis.lambda_handler import make_feedback_handler
from cis.services.feedback import FeedbackService
from tests.feedback import fixture_text, in_sns


@pytest.fixture
def cis_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("cis")
    level = logger.level
    yield logger
    logger.setLevel(level)


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {"Records": [{"messageId": f"m{n}", "receiptHandle": f"r{n}", "body": body,
                         "eventSource": "aws:sqs"} for n, body in enumerate(bodies, 1)]}


def test_the_library_door_defaults_to_the_in_memory_store() -> None:
    service = build_feedback_service()
    assert isinstance(service, FeedbackService)
    assert isinstance(service.store, InMemoryInviteRepository)


def test_the_feedback_function_is_wired_to_the_table_from_the_environment(
    cis_logger: logging.Logger,
) -> None:
    cis_logger.setLevel(logging.WARNING)
    runtime = aws_feedback_runtime({"REGION": "eu-west-1", "DYNAMODB_TABLE": "cis-invites",
                                    "LOG_LEVEL": "INFO"})
    store = runtime.service.store
    assert isinstance(store, DynamoDBInviteRepository)
    assert store.table_name == "cis-invites"
    assert store.client.meta.region_name == "eu-west-1"
    assert cis_logger.level == logging.INFO


def test_the_feedback_function_names_every_missing_setting_at_once() -> None:
    with pytest.raises(ConfigurationError) as caught:
        aws_feedback_runtime({})
    assert caught.value.problems == ["REGION is not set", "DYNAMODB_TABLE is not set"]


def test_the_handler_answers_with_a_partial_batch_response_and_builds_its_runtime_once() -> None:
    store = InMemoryInviteRepository()
    built: list[FeedbackRuntime] = []

    def factory() -> FeedbackRuntime:
        built.append(FeedbackRuntime(build_feedback_service(store=store)))
        return built[-1]

    handler = make_feedback_handler(factory)
    bounce = in_sns(fixture_text("notification-bounce-with-dsn"))

    assert handler(sqs_event(bounce, "{broken"), None) == {"batchItemFailures": []}
    assert handler({"Records": []}, None) == {"batchItemFailures": []}
    assert len(built) == 1
    assert store.get_suppression("jane@example.com") is not None


def test_the_deployed_handler_is_at_its_documented_path() -> None:
    assert callable(cis.lambda_handler.feedback_handler)
    assert "feedback_handler" in cis.lambda_handler.__all__


def test_the_local_suppression_list_is_the_state_file_or_the_table(tmp_path: Path) -> None:
    with local_suppression_list(LocalSettings(state=tmp_path / "cis.db")) as local:
        assert isinstance(local.suppressions, SqliteInviteRepository)
        assert local.suppressions.suppressions() == []
    aws = LocalSettings(dynamodb_table="cis-invites", region="eu-west-1")
    with local_suppression_list(aws) as remote:
        assert isinstance(remote.suppressions, DynamoDBInviteRepository)
