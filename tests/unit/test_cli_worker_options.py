"""`cis worker` options: the claim lease a worker holds attendees for."""

from __future__ import annotations

import datetime as dt

import pytest

from cis.cli import build_parser
from cis.cli.inputs import UsageError
from cis.cli.queue_commands import _claim_lease

QUEUE = ["worker", "--queue-url", "https://sqs.eu-west-1.amazonaws.com/1/invites"]


def test_the_claim_lease_comes_from_the_option_then_the_environment_then_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parser = build_parser()
    monkeypatch.delenv("CLAIM_LEASE_SECONDS", raising=False)
    assert _claim_lease(parser.parse_args(QUEUE)) == dt.timedelta(minutes=15)
    monkeypatch.setenv("CLAIM_LEASE_SECONDS", "300")
    assert _claim_lease(parser.parse_args(QUEUE)) == dt.timedelta(seconds=300)
    args = parser.parse_args([*QUEUE, "--claim-lease-seconds", "60"])
    assert _claim_lease(args) == dt.timedelta(seconds=60)


@pytest.mark.parametrize("value", ["0", "-5", "soon", "1.5"])
def test_a_lease_that_is_not_a_positive_number_of_seconds_is_refused(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*QUEUE, "--claim-lease-seconds", value])
    assert exited.value.code == 2
    assert "not a positive number of seconds" in capsys.readouterr().err
    monkeypatch.setenv("CLAIM_LEASE_SECONDS", value)
    with pytest.raises(UsageError, match="CLAIM_LEASE_SECONDS"):
        _claim_lease(build_parser().parse_args(QUEUE))
