"""SQLite invite repository: one durable file, safe across threads and processes on one host."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from cis.adapters.closing import ClosedOnExit
from cis.adapters.keys import STATISTICS_SORT_KEY, attendee_sk, event_pk
from cis.adapters.sqlite_rows import (
    ADD_COUNTER,
    SCHEMA,
    SELECT_ATTENDEE,
    SELECT_SUPPRESSION,
    SUPPRESSION_COLUMNS,
    UPSERT_ATTENDEE,
    add_missing_columns,
    deliveries_text,
    record_from_row,
    suppression_from_row,
    to_optional_text,
    to_text,
)
from cis.adapters.transactional_repository import TransactionalInviteRepository
from cis.domain.delivery import Suppression
from cis.domain.events import EventRecord
from cis.domain.model import AttendeeKey, AttendeeRecord, Counters
from cis.errors import RepositoryError
from cis.messages.event_json import event_from_text, event_text
from cis.ports.repository import MARKER_RETENTION_DAYS

__all__ = ["SqliteInviteRepository"]

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
            for statement in SCHEMA:
                connection.execute(statement)
            add_missing_columns(connection)

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
            f"{SELECT_ATTENDEE} WHERE pk = ? AND sk = ?",
            (event_pk(key.event_uid), attendee_sk(key)),
        ).fetchone()
        return None if row is None else record_from_row(row)

    def _write_attendee(self, connection: sqlite3.Connection, record: AttendeeRecord) -> None:
        history = [
            {"status": entry.status, "at": to_text(entry.at), "source": entry.source}
            for entry in record.history
        ]
        connection.execute(
            UPSERT_ATTENDEE,
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
                to_optional_text(record.lease_expires_at),
                to_optional_text(record.sent_at),
                record.delivery_id,
                record.failure_reason,
                json.dumps(history),
                to_optional_text(record.last_reply_at),
                record.sequence,
                None if record.standing is None else str(record.standing),
                record.claim_sequence,
                record.answer_sequence,
                record.replies_dropped,
                deliveries_text(record.deliveries),
                str(record.role),
            ),
        )

    def _event_attendees(
        self, connection: sqlite3.Connection, event_uid: str
    ) -> list[AttendeeRecord]:
        rows = connection.execute(
            f"{SELECT_ATTENDEE} WHERE pk = ?", (event_pk(event_uid),)
        ).fetchall()
        return [record_from_row(row) for row in rows]

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
            f"{SELECT_ATTENDEE} WHERE pk = ? AND address > ? ORDER BY address LIMIT ?",
            (event_pk(event_uid), after or "", limit),
        ).fetchall()
        return [record_from_row(row) for row in rows]

    def _read_counters(self, connection: sqlite3.Connection, event_uid: str) -> dict[str, int]:
        rows = connection.execute(
            "SELECT name, amount FROM statistics WHERE pk = ?", (event_pk(event_uid),)
        ).fetchall()
        return {name: amount for name, amount in rows if amount}

    def _add_counters(
        self, connection: sqlite3.Connection, event_uid: str, counters: Counters
    ) -> None:
        connection.executemany(
            ADD_COUNTER,
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
        row = connection.execute(f"{SELECT_SUPPRESSION} WHERE address = ?",
                                 (address,)).fetchone()
        return None if row is None else suppression_from_row(row)

    def _write_suppression(
        self, connection: sqlite3.Connection, suppression: Suppression
    ) -> None:
        connection.execute(
            f"INSERT OR REPLACE INTO suppressions ({SUPPRESSION_COLUMNS}) "  # noqa: S608
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (suppression.address, suppression.reason.value, to_text(suppression.since),
             suppression.feedback_id, suppression.detail, suppression.event_uid,
             suppression.delivery_id, to_optional_text(suppression.lifted_at)))

    def _suppression_page(
        self, connection: sqlite3.Connection, after: str | None, limit: int,
        include_lifted: bool,
    ) -> list[Suppression]:
        active = "" if include_lifted else " AND lifted_at IS NULL"
        rows = connection.execute(
            f"{SELECT_SUPPRESSION} WHERE address > ?{active} ORDER BY address LIMIT ?",
            (after or "", limit)).fetchall()
        return [suppression_from_row(row) for row in rows]


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
