"""SQLite storage layout: the schema, its migration, and rows read back into records.

Kept apart from `sqlite.py` so the adapter reads as its transactions and queries, while
what a row holds, and how an older file gains today's columns, is stated in one place.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from typing import Any

from cis.adapters.record_versions import stored_version
from cis.domain.delivery import DeliveryEvent, DeliveryStatus, Suppression, SuppressionReason
from cis.domain.model import (
    AttendeeKey,
    AttendeeRecord,
    HistoryEntry,
    InviteState,
    PartStat,
    Role,
    history_status,
)
from cis.errors import RepositoryError

__all__ = [
    "ADDED_ATTENDEE_COLUMNS",
    "ADD_COUNTER",
    "ATTENDEE_COLUMNS",
    "SCHEMA",
    "SELECT_ATTENDEE",
    "SELECT_SUPPRESSION",
    "SUPPRESSION_COLUMNS",
    "UPSERT_ATTENDEE",
    "add_missing_columns",
    "deliveries_from_text",
    "deliveries_text",
    "from_optional_text",
    "from_text",
    "record_from_row",
    "suppression_from_row",
    "to_optional_text",
    "to_text",
]

SCHEMA = (
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
ADDED_ATTENDEE_COLUMNS = (
    ("last_reply_at", "TEXT"),
    ("sequence", "INTEGER"),
    ("standing", "TEXT"),
    ("claim_sequence", "INTEGER"),
    ("answer_sequence", "INTEGER NOT NULL DEFAULT 0"),
    ("replies_dropped", "INTEGER NOT NULL DEFAULT 0"),
    ("deliveries", "TEXT"),
    ("role", "TEXT"),
)

ATTENDEE_COLUMNS = (
    "event_uid, address, email, name, partstat, origin, state, claim_token, "
    "lease_expires_at, sent_at, message_id, failure_reason, history, last_reply_at, "
    "sequence, standing, claim_sequence, answer_sequence, replies_dropped, deliveries, role"
)

UPSERT_ATTENDEE = (
    f"INSERT OR REPLACE INTO attendees (pk, sk, {ATTENDEE_COLUMNS}) "  # noqa: S608 - constant
    f"VALUES ({', '.join(['?'] * 23)})"
)

SELECT_ATTENDEE = f"SELECT {ATTENDEE_COLUMNS} FROM attendees"  # noqa: S608 - constant

ADD_COUNTER = (
    "INSERT INTO statistics (pk, sk, name, amount) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (pk, name) DO UPDATE SET amount = amount + excluded.amount"
)

SUPPRESSION_COLUMNS = (
    "address, reason, since, feedback_id, detail, event_uid, delivery_id, lifted_at")
SELECT_SUPPRESSION = f"SELECT {SUPPRESSION_COLUMNS} FROM suppressions"  # noqa: S608 - constant


def suppression_from_row(row: tuple[Any, ...]) -> Suppression:
    """A `suppressions` row, in `SUPPRESSION_COLUMNS` order, as the domain's value."""
    address, reason, since, feedback_id, detail, event_uid, delivery_id, lifted_at = row
    return Suppression(address=address, reason=SuppressionReason(reason),
                       since=from_text(since), feedback_id=feedback_id, detail=detail,
                       event_uid=event_uid, delivery_id=delivery_id,
                       lifted_at=from_optional_text(lifted_at))


def deliveries_text(deliveries: tuple[DeliveryEvent, ...]) -> str | None:
    """The delivery reports as one JSON column; NULL when there are none, as in older rows."""
    if not deliveries:
        return None
    return json.dumps([
        {"status": event.status.value, "at": to_text(event.at),
         "delivery_id": event.delivery_id, "feedback_id": event.feedback_id,
         "detail": event.detail, "diagnostic": event.diagnostic}
        for event in deliveries])


def deliveries_from_text(text: str | None) -> tuple[DeliveryEvent, ...]:
    """The delivery reports back from their column; NULL (a row without any) reads as none."""
    if not text:
        return ()
    return tuple(
        DeliveryEvent(status=DeliveryStatus(entry["status"]), at=from_text(entry["at"]),
                      delivery_id=entry["delivery_id"], feedback_id=entry["feedback_id"],
                      detail=entry.get("detail"), diagnostic=entry.get("diagnostic"))
        for entry in json.loads(text))


def add_missing_columns(connection: sqlite3.Connection) -> None:
    """Migrate a file made by an older version; the caller holds the write lock."""
    present = {row[1] for row in connection.execute("PRAGMA table_info(attendees)")}
    for column, column_type in ADDED_ATTENDEE_COLUMNS:
        if column not in present:
            connection.execute(f"ALTER TABLE attendees ADD COLUMN {column} {column_type}")


def record_from_row(row: tuple[Any, ...]) -> AttendeeRecord:
    """An `attendees` row, in `ATTENDEE_COLUMNS` order, as a record; NULLs read as defaults."""
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
        lease_expires_at=from_optional_text(lease_expires_at),
        sent_at=from_optional_text(sent_at),
        delivery_id=message_id,
        failure_reason=failure_reason,
        history=tuple(
            HistoryEntry(status=history_status(entry["status"]), at=from_text(entry["at"]),
                         source=entry["source"])
            for entry in json.loads(history)
        ),
        last_reply_at=from_optional_text(last_reply_at),
        sequence=sent_sequence,
        standing=sent_standing,
        claim_sequence=claim_sequence,
        answer_sequence=answer_sequence or 0,
        replies_dropped=replies_dropped or 0,
        deliveries=deliveries_from_text(deliveries),
        # A row written before roles were stored was invited as REQ-PARTICIPANT.
        role=Role(role) if role else Role.REQ_PARTICIPANT,
    )


def to_text(value: dt.datetime) -> str:
    """ISO 8601 in UTC, so text order is time order and every reader sees one zone."""
    if value.tzinfo is None:
        raise RepositoryError(f"refusing to store a naive datetime: {value!r}", transient=False)
    return value.astimezone(dt.UTC).isoformat()


def to_optional_text(value: dt.datetime | None) -> str | None:
    """`to_text` for a column that may hold NULL."""
    return None if value is None else to_text(value)


def from_text(text: str) -> dt.datetime:
    """A stored timestamp back in UTC, whatever offset its text carries."""
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def from_optional_text(text: str | None) -> dt.datetime | None:
    """`from_text` for a column that may hold NULL."""
    return None if text is None else from_text(text)
