"""SQLite invite repository: one durable file, safe across threads and processes on one host."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cis.adapters.closing import ClosedOnExit
from cis.adapters.keys import STATISTICS_SORT_KEY, attendee_sk, event_pk
from cis.adapters.record_versions import stored_version
from cis.adapters.transactional_repository import TransactionalInviteRepository
from cis.domain.delivery import DeliveryEvent, DeliveryStatus, Suppression, SuppressionReason
from cis.domain.events import EventRecord
from cis.domain.model import (
    AttendeeKey,
    AttendeeRecord,
    Counters,
    HistoryEntry,
    InviteState,
    PartStat,
    Role,
    history_status,
)
from cis.errors import RepositoryError
from cis.messages.event_json import event_from_text, event_text
from cis.ports.repository import MARKER_RETENTION_DAYS

__all__ = ["SqliteInviteRepository"]

_SCHEMA = (
    """
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
        last_reply_at TEXT,
        sequence INTEGER,
        standing TEXT,
        claim_sequence INTEGER,
        answer_sequence INTEGER NOT NULL DEFAULT 0,
        replies_dropped INTEGER NOT NULL DEFAULT 0,
        deliveries TEXT,
        role TEXT,
        PRIMARY KEY (pk, sk)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS statistics (
        pk TEXT NOT NULL,
        sk TEXT NOT NULL,
        name TEXT NOT NULL,
        amount INTEGER NOT NULL,
        PRIMARY KEY (pk, name)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS counted_markers (
        marker TEXT PRIMARY KEY,
        counted_at TEXT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS counted_markers_by_age ON counted_markers (counted_at)",
    """
    CREATE TABLE IF NOT EXISTS events (
        pk TEXT PRIMARY KEY,
        sequence INTEGER NOT NULL,
        times_changed_at INTEGER NOT NULL,
        event TEXT NOT NULL,
        fanned_out_to TEXT,
        fan_out_done INTEGER NOT NULL DEFAULT 0
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS suppressions (
        address TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        since TEXT NOT NULL,
        feedback_id TEXT NOT NULL,
        detail TEXT,
        event_uid TEXT,
        delivery_id TEXT,
        lifted_at TEXT
    )
    """,
)

# Columns added after the first release, with their types: a file made by an older version
# lacks them and gains them when opened (existing rows read NULL, which means "none").
_ADDED_ATTENDEE_COLUMNS = (
    ("last_reply_at", "TEXT"),
    ("sequence", "INTEGER"),
    ("standing", "TEXT"),
    ("claim_sequence", "INTEGER"),
    ("answer_sequence", "INTEGER NOT NULL DEFAULT 0"),
    ("replies_dropped", "INTEGER NOT NULL DEFAULT 0"),
    ("deliveries", "TEXT"),
    ("role", "TEXT"),
)

_ATTENDEE_COLUMNS = (
    "event_uid, address, email, name, partstat, origin, state, claim_token, "
    "lease_expires_at, sent_at, message_id, failure_reason, history, last_reply_at, "
    "sequence, standing, claim_sequence, answer_sequence, replies_dropped, deliveries, role"
)

_UPSERT_ATTENDEE = (
    f"INSERT OR REPLACE INTO attendees (pk, sk, {_ATTENDEE_COLUMNS}) "  # noqa: S608 - constant
    f"VALUES ({', '.join(['?'] * 23)})"
)

_SELECT_ATTENDEE = f"SELECT {_ATTENDEE_COLUMNS} FROM attendees"  # noqa: S608 - constant

_ADD_COUNTER = (
    "INSERT INTO statistics (pk, sk, name, amount) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (pk, name) DO UPDATE SET amount = amount + excluded.amount"
)

_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


class SqliteInviteRepository(
    TransactionalInviteRepository[sqlite3.Connection], ClosedOnExit
):
    """Attendees and statistics in one SQLite file, for a single host or local development.

    Every mutation runs in `BEGIN IMMEDIATE`, which takes the file's write lock before
    reading, so the read-decide-write of a claim is atomic between threads and between
    processes sharing the file. WAL mode lets readers carry on while one writer holds the lock.
    """

    def __init__(self, *, path: str | os.PathLike[str], busy_timeout: float = 30.0) -> None:
        """Open (and if needed create, or bring up to the current schema) the database at `path`.

        Args:
            path: The database file; its directory must exist.
            busy_timeout: Seconds to wait for another writer's lock before the operation
                fails with a transient `RepositoryError`.

        """
        self._path = os.fspath(path)
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._closed = False
        with self._transaction() as connection:
            for statement in _SCHEMA:
                connection.execute(statement)
            _add_missing_columns(connection)

    def check_writable(self) -> None:
        """Fail now when the file refuses writes, before a run claims anyone.

        A read-only file, folder or file system lets the database open and be read; its
        first claim would fail, and each one after it, record by record. One write that
        changes nothing finds it out at once.

        Raises:
            RepositoryError: not transient when the file cannot be written; transient when
                another writer held the lock past the busy timeout.

        """
        with self._transaction() as connection:
            connection.execute("DELETE FROM counted_markers WHERE 0")

    def close(self) -> None:
        """Close the calling thread's connection and refuse further use.

        Connections opened by other threads can only be closed by those threads (sqlite3's
        same-thread check); they are closed when their thread ends or they are collected.
        """
        self._closed = True
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None:
            self._local.connection = None
            connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the write lock from the first read to the commit; roll back on any error."""
        with _errors_mapped():
            connection = self._connection()
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """Read without the write lock: in WAL mode a reader sees the last commit."""
        with _errors_mapped():
            yield self._connection()

    def _connection(self) -> sqlite3.Connection:
        """Give each thread its own connection, since sqlite3 connections must not be shared."""
        if self._closed:
            raise RepositoryError("the SQLite repository is closed", transient=False)
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self._path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=True,
            )
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
            except BaseException:
                connection.close()
                raise
            self._local.connection = connection
        return connection

    def _read_attendee(
        self, connection: sqlite3.Connection, key: AttendeeKey
    ) -> AttendeeRecord | None:
        row = connection.execute(
            f"{_SELECT_ATTENDEE} WHERE pk = ? AND sk = ?",
            (event_pk(key.event_uid), attendee_sk(key)),
        ).fetchone()
        return None if row is None else _record_from_row(row)

    def _write_attendee(self, connection: sqlite3.Connection, record: AttendeeRecord) -> None:
        history = [
            {"status": entry.status, "at": _to_text(entry.at), "source": entry.source}
            for entry in record.history
        ]
        connection.execute(
            _UPSERT_ATTENDEE,
            (
                event_pk(record.key.event_uid),
                attendee_sk(record.key),
                record.key.event_uid,
                record.key.address,
                record.email,
                record.name,
                str(record.partstat),
                record.origin,
                str(record.state),
                record.claim_token,
                _to_optional_text(record.lease_expires_at),
                _to_optional_text(record.sent_at),
                record.delivery_id,
                record.failure_reason,
                json.dumps(history),
                _to_optional_text(record.last_reply_at),
                record.sequence,
                None if record.standing is None else str(record.standing),
                record.claim_sequence,
                record.answer_sequence,
                record.replies_dropped,
                _deliveries_text(record.deliveries),
                str(record.role),
            ),
        )

    def _event_attendees(
        self, connection: sqlite3.Connection, event_uid: str
    ) -> list[AttendeeRecord]:
        rows = connection.execute(
            f"{_SELECT_ATTENDEE} WHERE pk = ?", (event_pk(event_uid),)
        ).fetchall()
        return [_record_from_row(row) for row in rows]

    def _read_event(self, connection: sqlite3.Connection, event_uid: str) -> EventRecord | None:
        row = connection.execute(
            "SELECT event, times_changed_at, fanned_out_to, fan_out_done FROM events"
            " WHERE pk = ?", (event_pk(event_uid),)).fetchone()
        if row is None:
            return None
        text, times_changed_at, fanned_out_to, done = row
        return EventRecord(event_from_text(text), times_changed_at=times_changed_at,
                           fanned_out_to=fanned_out_to, fan_out_done=bool(done))

    def _write_event(self, connection: sqlite3.Connection, record: EventRecord) -> None:
        connection.execute(
            "INSERT OR REPLACE INTO events (pk, sequence, times_changed_at, event,"
            " fanned_out_to, fan_out_done) VALUES (?, ?, ?, ?, ?, ?)",
            (event_pk(record.event.uid), record.sequence, record.times_changed_at,
             event_text(record.event), record.fanned_out_to, int(record.fan_out_done)),
        )

    def _attendee_page(
        self, connection: sqlite3.Connection, event_uid: str, after: str | None, limit: int
    ) -> list[AttendeeRecord]:
        rows = connection.execute(
            f"{_SELECT_ATTENDEE} WHERE pk = ? AND address > ? ORDER BY address LIMIT ?",
            (event_pk(event_uid), after or "", limit),
        ).fetchall()
        return [_record_from_row(row) for row in rows]

    def _read_counters(self, connection: sqlite3.Connection, event_uid: str) -> dict[str, int]:
        rows = connection.execute(
            "SELECT name, amount FROM statistics WHERE pk = ?", (event_pk(event_uid),)
        ).fetchall()
        return {name: amount for name, amount in rows if amount}

    def _add_counters(
        self, connection: sqlite3.Connection, event_uid: str, counters: Counters
    ) -> None:
        connection.executemany(
            _ADD_COUNTER,
            [
                (event_pk(event_uid), STATISTICS_SORT_KEY, name, amount)
                for name, amount in counters.items()
                if amount
            ],
        )

    def _replace_counters(
        self, connection: sqlite3.Connection, event_uid: str, counters: Counters
    ) -> None:
        connection.execute("DELETE FROM statistics WHERE pk = ?", (event_pk(event_uid),))
        self._add_counters(connection, event_uid, counters)

    def _add_marker(self, connection: sqlite3.Connection, marker: str) -> bool:
        """Record a new marker and drop those older than `MARKER_RETENTION_DAYS`."""
        added = connection.execute(
            "INSERT OR IGNORE INTO counted_markers (marker, counted_at) "
            "VALUES (?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            (marker,),
        ).rowcount == 1
        if added:
            connection.execute(
                "DELETE FROM counted_markers WHERE counted_at < "
                "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)",
                (f"-{MARKER_RETENTION_DAYS} days",),
            )
        return added


    def _read_suppression(
        self, connection: sqlite3.Connection, address: str
    ) -> Suppression | None:
        row = connection.execute(f"{_SELECT_SUPPRESSION} WHERE address = ?",
                                 (address,)).fetchone()
        return None if row is None else _suppression_from_row(row)

    def _write_suppression(
        self, connection: sqlite3.Connection, suppression: Suppression
    ) -> None:
        connection.execute(
            f"INSERT OR REPLACE INTO suppressions ({_SUPPRESSION_COLUMNS}) "  # noqa: S608
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (suppression.address, suppression.reason.value, _to_text(suppression.since),
             suppression.feedback_id, suppression.detail, suppression.event_uid,
             suppression.delivery_id, _to_optional_text(suppression.lifted_at)))

    def _suppression_page(
        self, connection: sqlite3.Connection, after: str | None, limit: int,
        include_lifted: bool,
    ) -> list[Suppression]:
        active = "" if include_lifted else " AND lifted_at IS NULL"
        rows = connection.execute(
            f"{_SELECT_SUPPRESSION} WHERE address > ?{active} ORDER BY address LIMIT ?",
            (after or "", limit)).fetchall()
        return [_suppression_from_row(row) for row in rows]


_SUPPRESSION_COLUMNS = (
    "address, reason, since, feedback_id, detail, event_uid, delivery_id, lifted_at")
_SELECT_SUPPRESSION = f"SELECT {_SUPPRESSION_COLUMNS} FROM suppressions"  # noqa: S608 - constant


def _suppression_from_row(row: tuple[Any, ...]) -> Suppression:
    address, reason, since, feedback_id, detail, event_uid, delivery_id, lifted_at = row
    return Suppression(address=address, reason=SuppressionReason(reason),
                       since=_from_text(since), feedback_id=feedback_id, detail=detail,
                       event_uid=event_uid, delivery_id=delivery_id,
                       lifted_at=_from_optional_text(lifted_at))


def _deliveries_text(deliveries: tuple[DeliveryEvent, ...]) -> str | None:
    if not deliveries:
        return None
    return json.dumps([
        {"status": event.status.value, "at": _to_text(event.at),
         "delivery_id": event.delivery_id, "feedback_id": event.feedback_id,
         "detail": event.detail, "diagnostic": event.diagnostic}
        for event in deliveries])


def _deliveries_from_text(text: str | None) -> tuple[DeliveryEvent, ...]:
    if not text:
        return ()
    return tuple(
        DeliveryEvent(status=DeliveryStatus(entry["status"]), at=_from_text(entry["at"]),
                      delivery_id=entry["delivery_id"], feedback_id=entry["feedback_id"],
                      detail=entry.get("detail"), diagnostic=entry.get("diagnostic"))
        for entry in json.loads(text))


@contextmanager
def _errors_mapped() -> Iterator[None]:
    """Translate sqlite3 errors into `RepositoryError`: lock waits are worth retrying."""
    try:
        yield
    except sqlite3.Error as exc:
        raise RepositoryError(f"SQLite: {exc}", transient=_is_busy(exc)) from exc


def _is_busy(exc: sqlite3.Error) -> bool:
    """True when another connection held the lock for longer than the busy timeout."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in _BUSY_CODES:
        return True
    message = str(exc).lower()
    return "database is locked" in message or "busy" in message


def _add_missing_columns(connection: sqlite3.Connection) -> None:
    """Migrate a file made by an older version; the caller holds the write lock."""
    present = {row[1] for row in connection.execute("PRAGMA table_info(attendees)")}
    for column, column_type in _ADDED_ATTENDEE_COLUMNS:
        if column not in present:
            connection.execute(f"ALTER TABLE attendees ADD COLUMN {column} {column_type}")


def _record_from_row(row: tuple[Any, ...]) -> AttendeeRecord:
    (event_uid, address, email, name, partstat, origin, state, claim_token,
     lease_expires_at, sent_at, message_id, failure_reason, history, last_reply_at,
     sequence, standing, claim_sequence, answer_sequence, replies_dropped, deliveries,
     role) = row
    sent_sequence, sent_standing = stored_version(InviteState(state), sequence, standing)
    return AttendeeRecord(
        key=AttendeeKey(event_uid, address),
        email=email,
        name=name,
        partstat=PartStat(partstat),
        origin=origin,
        state=InviteState(state),
        claim_token=claim_token,
        lease_expires_at=_from_optional_text(lease_expires_at),
        sent_at=_from_optional_text(sent_at),
        delivery_id=message_id,
        failure_reason=failure_reason,
        history=tuple(
            HistoryEntry(status=history_status(entry["status"]), at=_from_text(entry["at"]),
                         source=entry["source"])
            for entry in json.loads(history)
        ),
        last_reply_at=_from_optional_text(last_reply_at),
        sequence=sent_sequence,
        standing=sent_standing,
        claim_sequence=claim_sequence,
        answer_sequence=answer_sequence or 0,
        replies_dropped=replies_dropped or 0,
        deliveries=_deliveries_from_text(deliveries),
        # A row written before roles were stored was invited as REQ-PARTICIPANT.
        role=Role(role) if role else Role.REQ_PARTICIPANT,
    )


def _to_text(value: dt.datetime) -> str:
    """ISO 8601 in UTC, so text order is time order and every reader sees one zone."""
    if value.tzinfo is None:
        raise RepositoryError(f"refusing to store a naive datetime: {value!r}", transient=False)
    return value.astimezone(dt.UTC).isoformat()


def _to_optional_text(value: dt.datetime | None) -> str | None:
    return None if value is None else _to_text(value)


def _from_text(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def _from_optional_text(text: str | None) -> dt.datetime | None:
    return None if text is None else _from_text(text)
