"""The callback ledger's statements: one batch transaction of nonces, receipts and counts.

The ledger (``bot.receipts``) decides what a batch means; this module only says it to the
database, in two ways with the same behaviour. ``CoreStatements`` runs SQLAlchemy Core
statements built once at import, on any backend (PostgreSQL in production).
``SqliteStatements`` runs the same statements as plain SQL on the ledger's own ``sqlite3``
connection, in the ledger's thread: on the callback path SQLAlchemy's per-statement work cost
several times what SQLite itself does, and it held the GIL the event loop needs. Datetimes are
stored as SQLAlchemy stores them on SQLite (naive UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``), so both
ways read each other's rows; a test holds them to it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from bot.models import CallbackNonce, CallbackReceipt

RECEIPTS: Table = CallbackReceipt.__table__  # type: ignore[assignment]
NONCES: Table = CallbackNonce.__table__  # type: ignore[assignment]
PROCESSING = "processing"  # the status of a claimed receipt (``ReceiptStatus.PROCESSING``)


class StoredNonce(NamedTuple):
    body_digest: str
    seen_at: float


class StoredReceipt(NamedTuple):
    status: str
    reply_xml: str | None


class LedgerStatements(Protocol):
    """What one ledger batch says to the database, inside one transaction."""

    def set_outcomes(self, rows: Sequence[tuple[str, str, str | None]], now: datetime) -> None:
        """(key, status, reply XML) per receipt; a None reply keeps the stored one."""

    def insert_nonces(self, rows: Sequence[tuple[str, str, float]]) -> set[str]:
        """Insert (nonce, body digest, seen at) unless present; the nonces inserted."""

    def stored_nonces(self, nonces: Collection[str]) -> dict[str, StoredNonce]: ...

    def reset_nonce(self, nonce: str, body_digest: str, seen_at: float) -> None: ...

    def insert_receipts(self, rows: Sequence[tuple[str, str | None]], now: datetime) -> set[str]:
        """Claim (key, sender) receipts unless present; the keys claimed."""

    def stored_receipts(self, keys: Collection[str]) -> dict[str, StoredReceipt]: ...

    def sent_since(self, senders: Collection[str], since: datetime) -> dict[str, int]:
        """Receipts per sender created after ``since``."""


# --------------------------------------------------------------------------- SQLAlchemy Core

_SET_OUTCOME = (
    update(RECEIPTS)
    .where(RECEIPTS.c.dedupe_key == bindparam("b_key"))
    .values(
        status=bindparam("b_status"),
        reply_xml=func.coalesce(
            bindparam("b_xml", type_=RECEIPTS.c.reply_xml.type), RECEIPTS.c.reply_xml
        ),
        updated_at=bindparam("b_now"),
    )
)
_RESET_NONCE = (
    update(NONCES)
    .where(NONCES.c.nonce == bindparam("b_nonce"))
    .values(body_digest=bindparam("b_digest"), seen_at=bindparam("b_seen"))
)
_STORED_NONCES = select(NONCES.c.nonce, NONCES.c.body_digest, NONCES.c.seen_at).where(
    NONCES.c.nonce.in_(bindparam("keys", expanding=True))
)
_STORED_RECEIPTS = select(RECEIPTS.c.dedupe_key, RECEIPTS.c.status, RECEIPTS.c.reply_xml).where(
    RECEIPTS.c.dedupe_key.in_(bindparam("keys", expanding=True))
)
_SENT_SINCE = (
    select(RECEIPTS.c.sender, func.count())
    .where(
        RECEIPTS.c.sender.in_(bindparam("senders", expanding=True)),
        RECEIPTS.c.created_at > bindparam("since"),
    )
    .group_by(RECEIPTS.c.sender)
)
# INSERT … ON CONFLICT DO NOTHING RETURNING, per dialect; run as executemany, which SQLAlchemy
# sends as multi-row VALUES ("insertmanyvalues").
_INSERT_IGNORE = {
    name: {
        table.name: dialect.insert(table)
        .on_conflict_do_nothing()
        .returning(table.primary_key.columns.values()[0])
        for table in (NONCES, RECEIPTS)
    }
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


class CoreStatements:
    """The statements through SQLAlchemy Core on a connection in a transaction."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._insert = _INSERT_IGNORE[
            "postgresql" if conn.dialect.name == "postgresql" else "sqlite"
        ]

    def set_outcomes(self, rows: Sequence[tuple[str, str, str | None]], now: datetime) -> None:
        if rows:
            params = [{"b_key": k, "b_status": s, "b_xml": x, "b_now": now} for k, s, x in rows]
            self._conn.execute(_SET_OUTCOME, params)

    def insert_nonces(self, rows: Sequence[tuple[str, str, float]]) -> set[str]:
        params = [{"nonce": n, "body_digest": d, "seen_at": s} for n, d, s in rows]
        return set(self._conn.execute(self._insert[NONCES.name], params).scalars())

    def stored_nonces(self, nonces: Collection[str]) -> dict[str, StoredNonce]:
        result = self._conn.execute(_STORED_NONCES, {"keys": list(nonces)})
        return {row.nonce: StoredNonce(row.body_digest, row.seen_at) for row in result}

    def reset_nonce(self, nonce: str, body_digest: str, seen_at: float) -> None:
        self._conn.execute(
            _RESET_NONCE, {"b_nonce": nonce, "b_digest": body_digest, "b_seen": seen_at}
        )

    def insert_receipts(self, rows: Sequence[tuple[str, str | None]], now: datetime) -> set[str]:
        params = [
            {
                "dedupe_key": k,
                "sender": s,
                "status": PROCESSING,
                "created_at": now,
                "updated_at": now,
            }
            for k, s in rows
        ]
        return set(self._conn.execute(self._insert[RECEIPTS.name], params).scalars())

    def stored_receipts(self, keys: Collection[str]) -> dict[str, StoredReceipt]:
        result = self._conn.execute(_STORED_RECEIPTS, {"keys": list(keys)})
        return {row.dedupe_key: StoredReceipt(row.status, row.reply_xml) for row in result}

    def sent_since(self, senders: Collection[str], since: datetime) -> dict[str, int]:
        result = self._conn.execute(_SENT_SINCE, {"senders": list(senders), "since": since})
        return {row[0]: int(row[1]) for row in result}


# --------------------------------------------------------------------------- plain SQLite


def sqlite_datetime(value: datetime) -> str:
    """A timezone-aware datetime as ``UTCDateTime`` stores it on SQLite."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _rows(count: int, width: int) -> str:
    """``(?,?),(?,?)``: placeholders for ``count`` rows of ``width`` values."""
    row = "(" + ",".join("?" * width) + ")"
    return ",".join([row] * count)


def _flat(rows: Iterable[Sequence[Any]]) -> list[Any]:
    return [value for row in rows for value in row]


# Only placeholders are ever formatted into these ({rows}, {marks}); values are always bound.
_SQLITE_SET_OUTCOME = (
    "UPDATE callback_receipt SET status = ?, reply_xml = coalesce(?, reply_xml), updated_at = ? "
    "WHERE dedupe_key = ?"
)
_SQLITE_INSERT_NONCES = (
    "INSERT INTO callback_nonce (nonce, body_digest, seen_at) VALUES {rows} "
    "ON CONFLICT DO NOTHING RETURNING nonce"
)
_SQLITE_STORED_NONCES = (
    "SELECT nonce, body_digest, seen_at FROM callback_nonce WHERE nonce IN ({marks})"
)
_SQLITE_RESET_NONCE = "UPDATE callback_nonce SET body_digest = ?, seen_at = ? WHERE nonce = ?"
_SQLITE_INSERT_RECEIPTS = (
    "INSERT INTO callback_receipt (dedupe_key, sender, status, created_at, updated_at) "
    "VALUES {rows} ON CONFLICT DO NOTHING RETURNING dedupe_key"
)
_SQLITE_STORED_RECEIPTS = (
    "SELECT dedupe_key, status, reply_xml FROM callback_receipt WHERE dedupe_key IN ({marks})"
)
_SQLITE_SENT_SINCE = (
    "SELECT sender, count(*) FROM callback_receipt "
    "WHERE sender IN ({marks}) AND created_at > ? GROUP BY sender"
)


class SqliteStatements:
    """The statements as plain SQL on a ``sqlite3`` connection in a transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def set_outcomes(self, rows: Sequence[tuple[str, str, str | None]], now: datetime) -> None:
        if rows:
            at = sqlite_datetime(now)
            self._conn.executemany(_SQLITE_SET_OUTCOME, [(s, x, at, k) for k, s, x in rows])

    def insert_nonces(self, rows: Sequence[tuple[str, str, float]]) -> set[str]:
        sql = _SQLITE_INSERT_NONCES.format(rows=_rows(len(rows), 3))
        return {row[0] for row in self._conn.execute(sql, _flat(rows))}

    def stored_nonces(self, nonces: Collection[str]) -> dict[str, StoredNonce]:
        sql = _SQLITE_STORED_NONCES.format(marks=",".join("?" * len(nonces)))
        return {n: StoredNonce(d, s) for n, d, s in self._conn.execute(sql, list(nonces))}

    def reset_nonce(self, nonce: str, body_digest: str, seen_at: float) -> None:
        self._conn.execute(_SQLITE_RESET_NONCE, (body_digest, seen_at, nonce))

    def insert_receipts(self, rows: Sequence[tuple[str, str | None]], now: datetime) -> set[str]:
        at = sqlite_datetime(now)
        sql = _SQLITE_INSERT_RECEIPTS.format(rows=_rows(len(rows), 5))
        params = _flat((k, s, PROCESSING, at, at) for k, s in rows)
        return {row[0] for row in self._conn.execute(sql, params)}

    def stored_receipts(self, keys: Collection[str]) -> dict[str, StoredReceipt]:
        sql = _SQLITE_STORED_RECEIPTS.format(marks=",".join("?" * len(keys)))
        return {k: StoredReceipt(s, x) for k, s, x in self._conn.execute(sql, list(keys))}

    def sent_since(self, senders: Collection[str], since: datetime) -> dict[str, int]:
        sql = _SQLITE_SENT_SINCE.format(marks=",".join("?" * len(senders)))
        params = [*senders, sqlite_datetime(since)]
        return {s: int(n) for s, n in self._conn.execute(sql, params)}
