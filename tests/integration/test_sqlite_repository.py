"""The SQLite repository on a real file: WAL mode, durability, migration, races, locks.

The behaviour every repository shares is in `tests/contract`; these tests pin what is specific
to SQLite: the journal mode, reopening the file, upgrading a file made by an older version,
atomic claims across processes, and how a held write lock becomes a transient
`RepositoryError`.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cis.adapters.sqlite import SqliteInviteRepository
from cis.domain import statistics
from cis.domain.model import (
    AttendeeKey,
    ClaimOutcome,
    HistoryEntry,
    InviteState,
    MarkSent,
    PartStat,
    ReplyChange,
    Role,
    Standing,
)
from cis.errors import RepositoryError
from tests.support import FROZEN_NOW, make_claim

UID = "launch-2026"
T0 = FROZEN_NOW
ROUNDS = 20

# The attendees table as the first release created it, before `last_reply_at`: copied, not
# derived from the adapter, so the test keeps describing files that already exist on disk.
_OLD_ATTENDEES_TABLE = """
    CREATE TABLE IF NOT EXISTS attendees (
        pk TEXT NOT NULL,
        sk TEXT NOT NULL,
        event_uid TEXT NOT NULL,
        address TEXT NOT NULL,
        email TEXT NOT NULL,
        name TEXT,
        partstat TEXT NOT NULL,
        origin TEXT,
        state TEXT NOT NULL,
        claim_token TEXT,
        lease_expires_at TEXT,
        sent_at TEXT,
        message_id TEXT,
        failure_reason TEXT,
        history TEXT NOT NULL,
        PRIMARY KEY (pk, sk)
    )
"""


def sent(email: str, token: str, *, at: dt.datetime = T0) -> MarkSent:
    return MarkSent(
        AttendeeKey.of(UID, email), token, delivery_id="ses-1", at=at,
        history=HistoryEntry(status="NEEDS-ACTION", at=at, source="cis:invite"),
        counters=statistics.on_sent(PartStat.NEEDS_ACTION, "web"),
    )


def accepted(email: str, *, at: dt.datetime, length: int = 1) -> ReplyChange:
    return ReplyChange(
        key=AttendeeKey.of(UID, email), expected_partstat=PartStat.NEEDS_ACTION,
        expected_history_length=length, partstat=PartStat.ACCEPTED, last_reply_at=at,
        entry=HistoryEntry(status="ACCEPTED", at=at, source="imip"),
        counters=statistics.on_rsvp_change(PartStat.NEEDS_ACTION, PartStat.ACCEPTED),
    )


def attendee_columns(path: Path) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        return [row[1] for row in connection.execute("PRAGMA table_info(attendees)")]
    finally:
        connection.close()


def _claim_every_round(path: str, token: str, barrier: Any, results: Any) -> None:
    """Child process: claim one attendee per round, starting each round with the other racer."""
    outcomes = []
    with SqliteInviteRepository(path=path) as repository:
        for number in range(ROUNDS):
            barrier.wait(timeout=60)
            outcome = repository.claim(make_claim(f"round{number}@example.org", token, T0))
            outcomes.append((number, str(outcome)))
    results.put((token, outcomes))


def test_database_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "cis.db"
    SqliteInviteRepository(path=path).close()
    connection = sqlite3.connect(path)
    try:
        (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
    finally:
        connection.close()
    assert mode == "wal"


def test_data_survives_closing_and_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cis.db"
    with SqliteInviteRepository(path=path) as repository:
        repository.claim(make_claim("ann@example.org", "t1", T0, origin="web"))
        assert repository.settle([sent("ann@example.org", "t1")]) == [True]
        repository.apply_statistics(UID, statistics.on_duplicate())

    with SqliteInviteRepository(path=path) as reopened:
        record = reopened.get_attendee(UID, "ANN@example.org")
        stats = reopened.get_statistics(UID)
    assert record is not None
    assert record.state is InviteState.SENT
    assert record.sent_at == T0
    assert record.history == (HistoryEntry(status="NEEDS-ACTION", at=T0, source="cis:invite"),)
    assert (stats.invites_sent, stats.duplicates_skipped) == (1, 1)
    assert stats.by_origin == {"web": 1}


def test_file_made_before_last_reply_at_and_versions_gains_the_columns_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cis.db"
    old = sqlite3.connect(path, isolation_level=None)
    try:
        old.execute(_OLD_ATTENDEES_TABLE)
        old.execute(
            "INSERT INTO attendees VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                "event#launch-2026", "attendee#ann@example.org", UID, "ann@example.org",
                "Ann@Example.org", None, "NEEDS-ACTION", "web", "sent", None, None,
                "2026-11-28T09:30:00+00:00", "ses-1", None,
                '[{"status": "NEEDS-ACTION", "at": "2026-11-28T09:30:00+00:00",'
                ' "source": "cis:invite"}]',
            ),
        )
    finally:
        old.close()
    assert "last_reply_at" not in attendee_columns(path)

    at = T0 + dt.timedelta(hours=1)
    with SqliteInviteRepository(path=path) as repository:
        before = repository.get_attendee(UID, "ann@example.org")
        applied = repository.apply_reply(accepted("ann@example.org", at=at))

    assert attendee_columns(path)[-8:] == [
        "last_reply_at", "sequence", "standing", "claim_sequence", "answer_sequence",
        "replies_dropped", "deliveries", "role"]
    assert before is not None
    assert (before.state, before.delivery_id, before.last_reply_at) == (
        InviteState.SENT, "ses-1", None
    )
    # Sent before versions were stored: its one message was the first invitation.
    assert (before.sequence, before.standing, before.answer_sequence) == (
        0, Standing.INVITED, 0)
    assert before.deliveries == ()
    # Invited before roles were stored: its invitation said REQ-PARTICIPANT.
    assert before.role is Role.REQ_PARTICIPANT
    with SqliteInviteRepository(path=path) as counting:
        assert counting.recount(UID).by_role == {"REQ-PARTICIPANT": 1}
    assert applied is True
    with SqliteInviteRepository(path=path) as reopened:  # the second open migrates nothing
        record = reopened.get_attendee(UID, "ann@example.org")
    assert record is not None
    assert (record.partstat, record.last_reply_at, len(record.history)) == (
        PartStat.ACCEPTED, at, 2
    )
    assert attendee_columns(path).count("last_reply_at") == 1
    assert attendee_columns(path).count("sequence") == 1


def test_reply_stores_last_reply_at_as_utc_text_and_moves_the_counts_in_one_commit(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cis.db"
    berlin = (T0 + dt.timedelta(hours=1)).astimezone(ZoneInfo("Europe/Berlin"))
    with SqliteInviteRepository(path=path) as repository:
        repository.claim(make_claim("ann@example.org", "t1", T0))
        repository.settle([sent("ann@example.org", "t1")])
        assert repository.apply_reply(accepted("ann@example.org", at=berlin)) is True

    connection = sqlite3.connect(path)
    try:
        (stored,) = connection.execute("SELECT last_reply_at FROM attendees").fetchone()
        counters = dict(connection.execute("SELECT name, amount FROM statistics").fetchall())
    finally:
        connection.close()
    assert stored == "2026-11-28T10:30:00+00:00"
    assert counters["rsvp:ACCEPTED"] == 1
    assert counters["rsvp:NEEDS-ACTION"] == 0


def test_reply_under_a_held_write_lock_is_transient_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "cis.db"
    with SqliteInviteRepository(path=path) as repository:
        repository.claim(make_claim("ann@example.org", "t1", T0))
        repository.settle([sent("ann@example.org", "t1")])
    repository = SqliteInviteRepository(path=path, busy_timeout=0.05)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(RepositoryError) as caught:
            repository.apply_reply(accepted("ann@example.org", at=T0))
        assert caught.value.transient is True
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        repository.close()
    with SqliteInviteRepository(path=path) as reopened:
        record = reopened.get_attendee(UID, "ann@example.org")
        assert reopened.get_statistics(UID).rsvp == {"NEEDS-ACTION": 1}
    assert record is not None
    assert (record.partstat, record.last_reply_at) == (PartStat.NEEDS_ACTION, None)


def test_settle_then_claim_that_fails_on_the_claim_leaves_the_settlement_undone(
    tmp_path: Path,
) -> None:
    with SqliteInviteRepository(path=tmp_path / "cis.db") as repository:
        repository.claim(make_claim("ann@example.org", "t1", T0))
        naive = make_claim("bob@example.org", "t2", T0.replace(tzinfo=None))

        with pytest.raises(RepositoryError):
            repository.settle_then_claim([sent("ann@example.org", "t1")], naive)

        record = repository.get_attendee(UID, "ann@example.org")
        assert repository.get_attendee(UID, "bob@example.org") is None
        assert repository.get_statistics(UID).invites_sent == 0
    assert record is not None
    assert (record.state, record.claim_token) == (InviteState.CLAIMED, "t1")


def test_datetimes_in_other_zones_read_back_equal_and_in_utc(tmp_path: Path) -> None:
    berlin = T0.astimezone(ZoneInfo("Europe/Berlin"))
    with SqliteInviteRepository(path=tmp_path / "cis.db") as repository:
        repository.claim(make_claim("ann@example.org", "t1", T0))
        repository.settle([sent("ann@example.org", "t1", at=berlin)])
        record = repository.get_attendee(UID, "ann@example.org")
    assert record is not None
    assert record.sent_at == berlin
    assert record.sent_at is not None and record.sent_at.utcoffset() == dt.timedelta(0)
    assert record.history[0].at.tzinfo is dt.UTC


def test_two_processes_racing_for_each_attendee_get_exactly_one_grant(tmp_path: Path) -> None:
    path = tmp_path / "cis.db"
    SqliteInviteRepository(path=path).close()
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    racers = [
        context.Process(target=_claim_every_round, args=(str(path), token, barrier, results))
        for token in ("left", "right")
    ]
    for racer in racers:
        racer.start()
    collected = dict(results.get(timeout=120) for _ in racers)
    for racer in racers:
        racer.join(timeout=30)
        assert racer.exitcode == 0

    claimed = str(ClaimOutcome.CLAIMED)
    with SqliteInviteRepository(path=path) as repository:
        for number in range(ROUNDS):
            outcomes = {token: dict(collected[token])[number] for token in ("left", "right")}
            assert sorted(outcomes.values()) == sorted([claimed, str(ClaimOutcome.IN_PROGRESS)])
            (winner,) = [token for token, outcome in outcomes.items() if outcome == claimed]
            record = repository.get_attendee(UID, f"round{number}@example.org")
            assert record is not None
            assert record.claim_token == winner


def test_held_write_lock_becomes_a_transient_repository_error(tmp_path: Path) -> None:
    path = tmp_path / "cis.db"
    repository = SqliteInviteRepository(path=path, busy_timeout=0.05)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(RepositoryError) as caught:
            repository.claim(make_claim("ann@example.org", "t1", T0))
        assert caught.value.transient is True
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        repository.close()
    with SqliteInviteRepository(path=path) as reopened:
        assert reopened.get_attendee(UID, "ann@example.org") is None


def test_closed_repository_refuses_work_with_a_permanent_error(tmp_path: Path) -> None:
    repository = SqliteInviteRepository(path=tmp_path / "cis.db")
    repository.close()
    with pytest.raises(RepositoryError) as caught:
        repository.get_statistics(UID)
    assert caught.value.transient is False
