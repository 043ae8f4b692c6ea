"""`cis attendee` and `cis redrive` in process: what they refuse, show and stop on."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from cis import cli
from cis.adapters.sqlite import SqliteInviteRepository
from cis.adapters.sqs_redrive import Moved
from cis.cli import operator_commands
from cis.cli.attendee_view import SHOWN_HISTORY, attendee_lines
from cis.domain import statistics
from cis.domain.delivery import DeliveryEvent, DeliveryStatus
from cis.domain.model import (
    AttendeeKey,
    AttendeeRecord,
    HistoryEntry,
    InviteState,
    MarkFailed,
    MarkSent,
    PartStat,
)
from cis.errors import QueueError
from tests.support import FROZEN_NOW, make_claim

UID = "launch-2026"
DLQ = "https://sqs.eu-west-1.amazonaws.com/123456789012/invites-dlq"
SOURCE = "https://sqs.eu-west-1.amazonaws.com/123456789012/invites"


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    status = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> str:
    """Run a command argparse must refuse (exit 2); return what it said."""
    with pytest.raises(SystemExit) as raised:
        cli.main([str(arg) for arg in argv])
    assert raised.value.code == 2
    return capsys.readouterr().err


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A state file where ann was sent an invitation and bob's failed for good."""
    path = tmp_path / "cis.db"
    with SqliteInviteRepository(path=path) as repository:
        for email, token in (("Ann@Example.org", "t-ann"), ("bob@example.org", "t-bob")):
            assert repository.claim(make_claim(email, token, FROZEN_NOW, name="Ann \x1b[2J",
                                               origin="web")).granted
        repository.settle([
            MarkSent(AttendeeKey.of(UID, "ann@example.org"), "t-ann", delivery_id="ses-1",
                     at=FROZEN_NOW, history=HistoryEntry(
                         status=PartStat.NEEDS_ACTION, at=FROZEN_NOW, source="cis:invite"),
                     counters=statistics.on_sent(PartStat.NEEDS_ACTION, "web")),
            MarkFailed(AttendeeKey.of(UID, "bob@example.org"), "t-bob",
                       reason="550 mailbox unavailable\r\nInjected: yes", at=FROZEN_NOW,
                       counters=statistics.on_failed()),
        ])
    return path


# --- cis attendee ----------------------------------------------------------------------------


def test_attendee_shows_the_record_with_its_history(
    capsys: pytest.CaptureFixture[str], state: Path,
) -> None:
    status, out, err = run(capsys, "attendee", UID, "ANN@example.org", "--state", state)

    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "Ann@Example.org (Ann \\x1b[2J), attendee of launch-2026",
        "  state        sent",
        "  version      sent version 0, invited (REQUEST)",
        "  RSVP         NEEDS-ACTION",
        "  origin       web",
        "  sent at      2026-11-28T09:30:00+00:00",
        "  delivery id  ses-1",
        "  role         REQ-PARTICIPANT",
        "  history (1):",
        "    2026-11-28T09:30:00+00:00  NEEDS-ACTION  cis:invite",
    ]


def test_attendee_says_what_the_mail_system_reported_last_about_the_last_message() -> None:
    record = AttendeeRecord(
        key=AttendeeKey.of(UID, "ann@example.org"), email="ann@example.org", name=None,
        partstat=PartStat.NEEDS_ACTION, origin=None, state=InviteState.SENT,
        delivery_id="ses-2", replies_dropped=0, deliveries=(
            DeliveryEvent(DeliveryStatus.DELIVERED, FROZEN_NOW, "ses-1", "d1"),
            DeliveryEvent(DeliveryStatus.BOUNCED, FROZEN_NOW + dt.timedelta(minutes=2),
                          "ses-2", "b2", detail="Permanent/General"),
            DeliveryEvent(DeliveryStatus.DELAYED, FROZEN_NOW + dt.timedelta(minutes=1),
                          "ses-2", "y2")))

    lines = attendee_lines(record, None)

    assert "  delivery     bounced (3 reports from the mail system; --json lists them)" in lines
    assert not any(line.startswith("  replies dropped") for line in lines)


def test_attendee_escapes_what_could_drive_the_terminal(
    capsys: pytest.CaptureFixture[str], state: Path,
) -> None:
    status, out, _ = run(capsys, "attendee", UID, "bob@example.org", "--state", state)

    assert status == 0
    assert "\x1b" not in out and "\r" not in out
    assert "  failure      550 mailbox unavailable\\r\\nInjected: yes" in out.splitlines()
    assert "  state        failed: the mail system refused it for good" in out.splitlines()


def test_attendee_json_holds_every_field_of_the_record(
    capsys: pytest.CaptureFixture[str], state: Path,
) -> None:
    status, out, _ = run(capsys, "attendee", UID, "ann@example.org", "--state", state, "--json")

    assert status == 0
    shown = json.loads(out)
    fields = {field.name for field in dataclasses.fields(AttendeeRecord)} - {"key"}
    assert set(shown) == fields | {"event_uid", "address", "method", "event"}
    assert shown["name"] == "Ann \x1b[2J"  # JSON escapes it itself
    assert "\x1b" not in out
    assert shown["history"] == [{"status": "NEEDS-ACTION", "at": "2026-11-28T09:30:00+00:00",
                                 "source": "cis:invite"}]


def test_an_unknown_attendee_exits_1_saying_so(
    capsys: pytest.CaptureFixture[str], state: Path,
) -> None:
    status, out, err = run(capsys, "attendee", UID, "cy@example.org", "--state", state)

    assert (status, out) == (1, "")
    assert err == "cis attendee: no attendee cy@example.org on event launch-2026\n"


@pytest.mark.parametrize(("argv", "reason"), [
    (["attendee", UID, "not-an-address"], "EMAIL: An email address must have an @-sign."),
    (["attendee", UID, "ann@example.org", "--endpoint-url", "http://127.0.0.1:5000"],
     "--region and --endpoint-url name where the DynamoDB table is"),
    (["attendee", UID, "ann@example.org", "--state", "missing.db"],
     "missing.db: no state file here"),
])
def test_attendee_refuses_what_cannot_name_a_record(
    capsys: pytest.CaptureFixture[str], state: Path, argv: list[str], reason: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(state.parent)
    status, out, err = run(capsys, *argv)

    assert (status, out) == (2, "")
    assert reason in err


@pytest.mark.parametrize(("argv", "reason"), [
    (["attendee", "bad uid", "ann@example.org"], "argument EVENT_UID: an event uid is 1-255"),
    (["attendee", "x" * 256, "ann@example.org"], "argument EVENT_UID: an event uid is 1-255"),
    (["stats", "bad/uid"], "argument EVENT_UID"),
    (["attendee", UID, "ann@example.org", "--dynamodb-table", "a b"],
     "is not a DynamoDB table name"),
    (["attendee", UID, "ann@example.org", "--state", "x.db", "--dynamodb-table", "table"],
     "not allowed with argument --state"),
    (["stats", UID, "--dynamodb-table", "table", "--region", "mars"], "is not an AWS region"),
    (["stats", UID, "--dynamodb-table", "table", "--endpoint-url", "ftp://x"],
     "is not an http(s) URL"),
])
def test_arguments_that_can_never_name_a_record_are_refused_by_the_parser(
    capsys: pytest.CaptureFixture[str], argv: list[str], reason: str,
) -> None:
    assert reason in usage_error(capsys, *argv)


def test_stats_on_a_table_without_a_region_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("REGION", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)

    status, _, err = run(capsys, "stats", UID, "--dynamodb-table", "cis-table")

    assert status == 2
    assert "--region: no AWS region given" in err


def test_stats_reads_the_state_file_as_before(
    capsys: pytest.CaptureFixture[str], state: Path,
) -> None:
    status, out, _ = run(capsys, "stats", UID, "--state", state, "--recount", "--json")

    assert status == 0
    shown = json.loads(out)
    assert (shown["invites_sent"], shown["invites_failed"], shown["by_origin"]) == (
        1, 1, {"web": 1})


def test_a_recount_that_gave_up_exits_1_with_the_reason(
    capsys: pytest.CaptureFixture[str], state: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cis.errors import RepositoryError

    def moving(self: SqliteInviteRepository, event_uid: str) -> None:
        raise RepositoryError("DynamoDB recount of event 'launch-2026': the counters kept "
                              "moving under concurrent writers in 5 attempts; nothing was "
                              "written, run it again when the event is quieter", transient=True)

    monkeypatch.setattr(SqliteInviteRepository, "recount", moving)

    status, out, err = run(capsys, "stats", UID, "--state", state, "--recount")

    assert (status, out) == (1, "")
    assert err.startswith("cis stats: DynamoDB recount of event 'launch-2026': the counters "
                          "kept moving")


def test_the_text_shows_the_latest_history_entries_and_says_how_many_more(
) -> None:
    entries = tuple(HistoryEntry(status=PartStat.ACCEPTED,
                                 at=FROZEN_NOW + dt.timedelta(minutes=n), source=f"imip#{n}")
                    for n in range(SHOWN_HISTORY + 7))
    record = AttendeeRecord(key=AttendeeKey.of(UID, "ann@example.org"), email="ann@example.org",
                            name=None, partstat=PartStat.ACCEPTED, origin=None,
                            state=InviteState.SENT, history=entries)

    lines = attendee_lines(record, None)

    start = lines.index(f"  history ({SHOWN_HISTORY + 7}):")
    assert lines[start + 1] == "    ... 7 earlier entries (--json shows all)"
    assert lines[start + 2].endswith("imip#7")
    assert lines[-1].endswith(f"imip#{SHOWN_HISTORY + 6}")
    assert len(lines) - start - 2 == SHOWN_HISTORY


# --- cis redrive -----------------------------------------------------------------------------


@dataclasses.dataclass
class FakeDeadLetters:
    """A dead-letter queue holding `waiting` messages, that records each move asked of it."""

    waiting: int
    sources: list[str] = dataclasses.field(default_factory=lambda: [SOURCE])
    target: str | None = "arn:aws:sqs:eu-west-1:123456789012:invites-dlq"
    problem_after: int | None = None
    #: Every message moved comes straight back (the consumer fails it again at once).
    comes_back: bool = False
    receive_error: QueueError | None = None
    asked: list[int] = dataclasses.field(default_factory=list)
    queue_url: str = DLQ

    def arn(self) -> str:
        return "arn:aws:sqs:eu-west-1:123456789012:invites-dlq"

    def source_queues(self) -> list[str]:
        return self.sources

    def dead_letter_target(self, source_url: str) -> str | None:
        return self.target

    def approximate_depth(self) -> tuple[int, int]:
        return self.waiting, 0

    def move(self, to: str, *, max_messages: int, visibility_timeout: int,
             wait_seconds: int) -> Moved:
        assert to == SOURCE
        assert max_messages <= 10
        assert len(self.asked) < 100, "the same messages moved round and round"
        self.asked.append(max_messages)
        if self.receive_error is not None and len(self.asked) > 1:
            raise self.receive_error
        taken = min(max_messages, self.waiting)
        if not self.comes_back:
            self.waiting -= taken
        moved = Moved(received=taken, moved=taken)
        if self.problem_after is not None and len(self.asked) > self.problem_after:
            moved.moved -= 1
            moved.problems.append("message m9 not sent: InvalidParameterValue")
        return moved


class FakePacer:
    waits = 0

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def wait(self) -> None:
        FakePacer.waits += 1


@pytest.fixture
def dead_letters(monkeypatch: pytest.MonkeyPatch) -> list[FakeDeadLetters]:
    made: list[FakeDeadLetters] = []
    monkeypatch.setattr(operator_commands, "local_dead_letter_queue", lambda _: made[0])
    FakePacer.waits = 0
    monkeypatch.setattr(operator_commands, "SendPacer", FakePacer)
    return made


def test_redrive_moves_batches_sized_by_the_rate_until_the_queue_is_empty(
    capsys: pytest.CaptureFixture[str], dead_letters: list[FakeDeadLetters],
) -> None:
    dead_letters.append(FakeDeadLetters(waiting=7))

    status, out, _ = run(capsys, "redrive", "--queue-url", DLQ, "--rate", "2.5")

    assert status == 0
    assert dead_letters[0].asked == [2, 2, 2, 2, 2]  # the last finds it empty
    assert FakePacer.waits == 10  # one paced slot per message asked for
    assert out.splitlines() == [
        f"Moved 7 message(s) from {DLQ} to {SOURCE} (at most 2.5/s)",
        "  left in the dead-letter queue: about 0 waiting, 0 in flight",
    ]


@pytest.mark.parametrize(("rate", "batch"), [("0.2", 1), ("10", 10), ("500", 10)])
def test_redrive_asks_for_at_most_a_second_of_messages_and_never_more_than_ten(
    capsys: pytest.CaptureFixture[str], dead_letters: list[FakeDeadLetters], rate: str,
    batch: int,
) -> None:
    dead_letters.append(FakeDeadLetters(waiting=25))

    status, _, _ = run(capsys, "redrive", "--queue-url", DLQ, "--rate", rate, "--max", "12")

    assert status == 0
    assert sum(dead_letters[0].asked) == 12
    assert max(dead_letters[0].asked) == batch
    assert dead_letters[0].waiting == 13


@pytest.mark.parametrize(("waiting", "moved"), [(4, 10), (25, 25)])
def test_redrive_moves_no_more_than_the_queue_held_at_the_start(
    capsys: pytest.CaptureFixture[str], dead_letters: list[FakeDeadLetters], waiting: int,
    moved: int,
) -> None:
    dead_letters.append(FakeDeadLetters(waiting=waiting, comes_back=True))

    status, out, _ = run(capsys, "redrive", "--queue-url", DLQ, "--rate", "500", "--json")

    assert status == 0
    assert json.loads(out)["moved"] == moved  # at least one batch, then no second round


def test_redrive_stops_at_the_first_message_it_could_not_move_and_exits_1(
    capsys: pytest.CaptureFixture[str], dead_letters: list[FakeDeadLetters],
) -> None:
    dead_letters.append(FakeDeadLetters(waiting=30, problem_after=1))

    status, out, _ = run(capsys, "redrive", "--queue-url", DLQ, "--json")

    assert status == 1
    assert dead_letters[0].asked == [10, 10]
    summary = json.loads(out)
    assert (summary["moved"], summary["problems"]) == (
        19, ["message m9 not sent: InvalidParameterValue"])


def test_redrive_reports_what_it_moved_before_the_queue_could_not_be_read(
    capsys: pytest.CaptureFixture[str], dead_letters: list[FakeDeadLetters],
) -> None:
    dead_letters.append(FakeDeadLetters(waiting=30, receive_error=QueueError(
        "SQS refused to receive from the queue: AccessDenied", transient=False)))

    status, out, _ = run(capsys, "redrive", "--queue-url", DLQ)

    assert status == 1
    assert out.splitlines()[:2] == [
        f"Moved 10 message(s) from {DLQ} to {SOURCE} (at most 10/s)",
        "  SQS refused to receive from the queue: AccessDenied",
    ]


def test_redrive_refuses_to_guess_between_several_sources(
    capsys: pytest.CaptureFixture[str], dead_letters: list[FakeDeadLetters],
) -> None:
    other = SOURCE + "-2"
    dead_letters.append(FakeDeadLetters(waiting=3, sources=[SOURCE, other]))

    status, _, err = run(capsys, "redrive", "--queue-url", DLQ)

    assert status == 2
    assert f"--to: 2 queues name {DLQ} as their dead-letter queue, say which: " \
           f"{SOURCE}, {other}" in err
    assert dead_letters[0].asked == []


def test_redrive_refuses_a_target_whose_policy_names_another_dead_letter_queue(
    capsys: pytest.CaptureFixture[str], dead_letters: list[FakeDeadLetters],
) -> None:
    dead_letters.append(FakeDeadLetters(waiting=3, target="arn:aws:sqs:eu-west-1:1:elsewhere"))

    status, _, err = run(capsys, "redrive", "--queue-url", DLQ, "--to", SOURCE)

    assert status == 2
    assert (f"--to: {SOURCE} names arn:aws:sqs:eu-west-1:1:elsewhere, not "
            "arn:aws:sqs:eu-west-1:123456789012:invites-dlq") in err
    assert dead_letters[0].asked == []


@pytest.mark.parametrize(("argv", "reason"), [
    (["--rate", "0"], "is not a rate above 0 and at most 500 per second"),
    (["--rate", "501"], "is not a rate above 0 and at most 500 per second"),
    (["--rate", "nan"], "is not a rate above 0"),
    (["--rate", "inf"], "is not a rate above 0"),
    (["--max", "0"], "is not a positive whole number"),
    (["--max", "-3"], "is not a positive whole number"),
    (["--max", "\u00b2"], "is not a positive whole number"),
    (["--to", "invites"], "is not a queue URL"),
])
def test_redrive_refuses_options_that_can_never_work(
    capsys: pytest.CaptureFixture[str], argv: list[str], reason: str,
) -> None:
    assert reason in usage_error(capsys, "redrive", "--queue-url", DLQ, *argv)


@pytest.mark.parametrize("url", ["not a url", "ftp://sqs.example/1/q", "https://sqs.example",
                                 "https://sqs.example/" + "q" * 2100])
def test_redrive_refuses_a_dead_letter_queue_that_is_no_url(
    capsys: pytest.CaptureFixture[str], url: str,
) -> None:
    assert "is not a queue URL" in usage_error(capsys, "redrive", "--queue-url", url)


def test_redrive_takes_its_region_from_the_queue_url(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[Any] = []
    for name in ("REGION", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)

    def capture(settings: Any) -> FakeDeadLetters:
        seen.append(settings)
        return FakeDeadLetters(waiting=0)

    monkeypatch.setattr(operator_commands, "local_dead_letter_queue", capture)

    status, _, _ = run(capsys, "redrive", "--queue-url", DLQ)

    assert status == 0
    assert seen[0].region == "eu-west-1"
