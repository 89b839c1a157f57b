"""The callback ledger's statements and its SQLite writer: plain SQL that agrees with
SQLAlchemy's, batches that wait in a thread when another connection holds the write lock, and
a write-ahead log that is checkpointed off the event loop and restarted before it grows."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import sqlite_writer
from bot.db import UTCDateTime, sync_sqlite_engine
from bot.receipt_sql import (
    NONCES,
    RECEIPTS,
    CoreStatements,
    LedgerStatements,
    SqliteStatements,
    sqlite_datetime,
)
from bot.receipts import CallbackLedger, Claim, ReceiptStatus

NOW = datetime(2026, 3, 1, 8, 30, 0, 120000, tzinfo=UTC)


@pytest.fixture
def sqlite_engine(engine: AsyncEngine) -> AsyncEngine:
    if engine.dialect.name != "sqlite":
        pytest.skip("the SQLite writer")
    return engine


@pytest.fixture
async def ledger(sqlite_engine: AsyncEngine) -> AsyncIterator[CallbackLedger]:
    ledger = CallbackLedger(sqlite_engine, 300, now=lambda: NOW)
    ledger.start()
    yield ledger
    await ledger.stop()


def database_file(engine: AsyncEngine) -> Path:
    assert engine.url.database
    return Path(engine.url.database)


async def admit(ledger: CallbackLedger, key: str, sender: str | None = "o1") -> Claim:
    return await ledger.admit(
        key, nonce=secrets.token_hex(8), digest="d", now=NOW.timestamp(), sender=sender
    )


def test_datetimes_are_stored_as_sqlalchemy_stores_them() -> None:
    bind = UTCDateTime().dialect_impl(sqlite.dialect()).bind_processor(sqlite.dialect())
    assert bind is not None
    for value in (NOW, NOW.replace(microsecond=0), NOW.astimezone(timezone(timedelta(hours=8)))):
        assert sqlite_datetime(value) == bind(value)


def test_plain_sql_and_sqlalchemy_read_each_others_rows(sqlite_engine: AsyncEngine) -> None:
    """The same statements, as plain SQL and through SQLAlchemy Core, on one database."""
    sync = sync_sqlite_engine(sqlite_engine)
    try:
        with sync.begin() as conn:
            raw = conn.connection.driver_connection
            assert isinstance(raw, sqlite3.Connection)
            plain, core = SqliteStatements(raw), CoreStatements(conn)
            check_statements(plain, core, "a")
            check_statements(core, plain, "b")
        with sync.connect() as conn:  # committed: SQLAlchemy reads the rows as its own
            rows = conn.execute(select(RECEIPTS).order_by(RECEIPTS.c.dedupe_key)).all()
            assert {(r.created_at, r.updated_at) for r in rows} == {(NOW, NOW)}
            assert len(rows) == 6
            assert set(conn.execute(select(NONCES.c.nonce)).scalars()) == {"a1", "b1"}
    finally:
        sync.dispose()


async def test_the_statements_through_sqlalchemy_on_any_backend(engine: AsyncEngine) -> None:
    """What PostgreSQL runs (and SQLite, when the ledger goes through the async driver)."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: check_statements(CoreStatements(c), CoreStatements(c), "c"))


def check_statements(write: LedgerStatements, read: LedgerStatements, tag: str) -> None:
    nonce, k1, k2, k3, sender = f"{tag}1", f"{tag}:k1", f"{tag}:k2", f"{tag}:k3", f"o{tag}"
    assert write.insert_nonces([(nonce, "d1", 1.0)]) == {nonce}
    assert read.insert_nonces([(nonce, "d2", 2.0)]) == set()
    assert read.stored_nonces({nonce, "none"}) == {nonce: ("d1", 1.0)}
    write.reset_nonce(nonce, "d3", 3.0)
    assert read.stored_nonces([nonce]) == {nonce: ("d3", 3.0)}
    assert write.insert_receipts([(k1, sender), (k2, None)], NOW) == {k1, k2}
    assert read.insert_receipts([(k1, sender), (k3, sender)], NOW) == {k3}
    write.set_outcomes([(k1, "replied", "<xml>1</xml>"), (k3, "late", "success")], NOW)
    read.set_outcomes([(k3, "sent_late", None)], NOW)  # None keeps the stored reply
    expected = {
        k1: ("replied", "<xml>1</xml>"),
        k2: ("processing", None),
        k3: ("sent_late", "success"),
    }
    for statements in (write, read):
        assert statements.stored_receipts({k1, k2, k3, "none"}) == expected
        assert statements.sent_since({sender, "nobody"}, NOW - timedelta(seconds=1)) == {sender: 2}
        assert statements.sent_since({sender}, NOW) == {}


async def test_a_batch_waits_for_another_writer_in_the_thread(
    ledger: CallbackLedger, sqlite_engine: AsyncEngine
) -> None:
    """Another process holds the write lock: the claim waits, off the event loop, and goes
    through as soon as the lock is free; the loop keeps running meanwhile."""
    other = sqlite3.connect(database_file(sqlite_engine), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        claim = asyncio.create_task(admit(ledger, "m:1"))
        ticks = 0
        while ticks < 10:  # the event loop is not blocked by the waiting batch
            await asyncio.sleep(0.01)
            ticks += 1
        assert not claim.done()
        other.execute("COMMIT")
        assert (await asyncio.wait_for(claim, 5)).first
    finally:
        other.close()
    assert not (await admit(ledger, "m:1")).first  # the claim was written once
    ledger.finish("m:1", ReceiptStatus.REPLIED, "<xml/>")
    await ledger.flush()
    assert (await ledger.get("m:1")) == Claim(False, ReceiptStatus.REPLIED, "<xml/>")


@pytest.fixture
def checkpoints(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[int, int, int]]]:
    """Small thresholds, and a record of every checkpoint the writer runs."""
    monkeypatch.setattr(sqlite_writer, "CHECKPOINT_EVERY", 3)
    monkeypatch.setattr(sqlite_writer, "RESTART_AFTER_PAGES", 50)
    done: list[tuple[str, tuple[int, int, int]]] = []
    checkpoint = sqlite_writer.SqliteWriter._checkpoint

    def record(self: sqlite_writer.SqliteWriter, mode: str) -> tuple[int, int, int]:
        result = checkpoint(self, mode)
        done.append((mode, result))
        return result

    monkeypatch.setattr(sqlite_writer.SqliteWriter, "_checkpoint", record)
    return done


def log_pages(engine: AsyncEngine) -> int:
    """Pages in the write-ahead log now, as a passive checkpoint from elsewhere finds them."""
    with sqlite3.connect(database_file(engine)) as conn:
        return int(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


async def test_the_log_is_restarted_once_long(
    sqlite_engine: AsyncEngine, checkpoints: list[tuple[str, tuple[int, int, int]]]
) -> None:
    sync = sync_sqlite_engine(sqlite_engine)
    writer = sqlite_writer.SqliteWriter(sync)

    def batch(n: int) -> Callable[[LedgerStatements], None]:
        def write(sql: LedgerStatements) -> None:
            sql.insert_receipts([(f"m:{n}", "o1")], NOW)
            sql.set_outcomes([(f"m:{n}", "replied", "<xml>" + "x" * 2000 + "</xml>")], NOW)

        return write

    try:
        n = 0
        while not any(mode == "RESTART" for mode, _ in checkpoints):
            n += 1
            assert n < 2000, "no restart"
            await writer.run(batch(n))
            await writer.between_batches()  # as the ledger does after each batch
            await asyncio.sleep(0.001)  # time for the passive checkpoint in the thread
        passive, restart = checkpoints[-2:]
        assert passive[0] == "PASSIVE"
        assert passive[1][1] >= 50  # it found the log long
        assert restart == ("RESTART", (0, restart[1][1], restart[1][1]))  # all copied
        writer.run_now(batch(n + 1))
        assert 0 < log_pages(sqlite_engine) < 50  # the next batch started the log afresh
    finally:
        writer.close()
        sync.dispose()


async def test_the_ledger_checkpoints_between_batches(
    ledger: CallbackLedger, checkpoints: list[tuple[str, tuple[int, int, int]]]
) -> None:
    for n in range(2000):
        if any(mode == "RESTART" for mode, _ in checkpoints):
            break
        await admit(ledger, f"m:{n}", f"o{n}")
        ledger.finish(f"m:{n}", ReceiptStatus.REPLIED, "<xml>" + "x" * 2000 + "</xml>")
        await asyncio.sleep(0.001)
    modes = ",".join(mode for mode, _ in checkpoints)
    assert "PASSIVE,RESTART" in modes


async def test_an_unopenable_database_fails_the_claim_not_the_ledger(tmp_path: Path) -> None:
    from bot.db import create_engine

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'x.db'}")
    ledger = CallbackLedger(engine, 300)
    ledger.start()
    try:
        for _ in range(2):  # and again: the writer is still there
            with pytest.raises(sqlite3.OperationalError):
                await asyncio.wait_for(admit(ledger, f"m:{time.monotonic()}"), 5)
    finally:
        await ledger.stop()
        await engine.dispose()
