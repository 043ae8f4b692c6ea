"""A body of a later message format is handed back, never deleted; v1's own spellings stay."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from cis.adapters.memory import InMemoryInviteRepository
from cis.errors import InvalidRequestError, UnknownVersionError
from cis.messages.invite_format import (
    parse_body,
    parse_body_with_models,
    parse_message,
    parse_message_with_models,
)
from cis.services.invites import Outcome
from tests.support import body, event_json, sns_wrapped
from tests.unit.test_invite_service import make_service, records

UID = "launch-2026"
ATTENDEE = json.loads(body("ann@example.org"))
FAN_OUT = {"event": event_json(UID, sequence=2)}
RESEND = {"request": {"uid": UID, "email": "ann@example.org", "action": "resend"}}
PARSERS: list[Callable[[str], Any]] = [
    parse_message, parse_message_with_models, parse_body, parse_body_with_models]


def with_version(data: dict[str, Any], version: Any) -> dict[str, Any]:
    return {**data, "version": version}


@pytest.mark.parametrize("parse", PARSERS)
@pytest.mark.parametrize("version", [2, 2.0, 3, 1.5, 10**30, 1e308])
@pytest.mark.parametrize("wrap", [lambda text: text, sns_wrapped])
def test_a_later_version_is_not_read_but_named(
    parse: Callable[[str], Any], version: Any, wrap: Callable[[str], str],
) -> None:
    with pytest.raises(UnknownVersionError) as caught:
        parse(wrap(json.dumps(with_version(ATTENDEE, version))))
    assert caught.value.version == version
    assert caught.value.event_uid == UID
    assert caught.value.transient is True
    assert f"version {version!r} is newer than this consumer reads" in str(caught.value)


@pytest.mark.parametrize("data", [FAN_OUT, RESEND])
def test_every_kind_of_body_of_a_later_version_is_handed_back(data: dict[str, Any]) -> None:
    for parse in (parse_message, parse_message_with_models):
        with pytest.raises(UnknownVersionError):
            parse(json.dumps(with_version(data, 2)))


def test_a_later_version_is_handed_back_whatever_else_v1_would_refuse_in_it() -> None:
    # A v2 body may hold fields v1 does not know, or spell v1's fields otherwise.
    later = {"version": 2, "request": {"uid": UID, "email": "ann@example.org", "locale": "de"},
             "event": {"uid": UID, "title": "Launch"}, "priority": "high"}
    for parse in PARSERS:
        with pytest.raises(UnknownVersionError) as caught:
            parse(json.dumps(later))
        assert caught.value.event_uid == UID


@pytest.mark.parametrize("version", [None, 1, 1.0, True])
def test_version_one_is_read_as_it_always_was(version: Any) -> None:
    data = ATTENDEE if version is None else with_version(ATTENDEE, version)
    assert parse_message(json.dumps(data)) == parse_message(json.dumps(ATTENDEE))


@pytest.mark.parametrize("version", [0, -1, 0.5, "2", "1", None, False, [], {}, float("nan")])
def test_a_version_no_format_can_have_is_rejected(version: Any) -> None:
    for parse in PARSERS:
        with pytest.raises(InvalidRequestError) as caught:
            parse(json.dumps(with_version(ATTENDEE, version)))
        assert caught.value.field == "version"
        if parse in (parse_message, parse_body):  # the models word it in pydantic's words
            assert caught.value.reason == "must be 1"


# --- the library's batch ------------------------------------------------------------------------


def test_a_batch_hands_a_later_version_back_and_logs_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="cis")
    repository = InMemoryInviteRepository()
    service = make_service(repository)
    later = json.dumps(with_version(json.loads(body("bob@example.org")), 2))

    report = service.process_batch(records(body("ann@example.org"), later))

    assert [r.outcome for r in report.results] == [Outcome.SENT, Outcome.RETRY]
    assert report.retry_message_ids == ["m2"]
    assert report.acknowledged_receipts == ["r1"]
    assert report.batch_item_failures() == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert report.unknown_versions == 1
    assert "version 2 is newer than this consumer reads" in (report.results[1].reason or "")
    # Nothing is counted against the event, nothing recorded for the attendee.
    assert repository.get_statistics(UID).requests_rejected == 0
    assert repository.get_attendee(UID, "bob@example.org") is None
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert getattr(warning, "message_id", None) == "m2"
    assert getattr(warning, "format_version", None) == "2"
    assert "handed back, not deleted" in warning.getMessage()


def test_a_redelivered_later_version_is_handed_back_each_time() -> None:
    service = make_service()
    later = records(json.dumps(with_version(ATTENDEE, 2)))
    for _ in range(3):
        assert service.process_batch(later).retry_message_ids == ["m1"]
