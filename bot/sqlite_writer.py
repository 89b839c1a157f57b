"""The callback ledger's writer on SQLite: batches on the event loop, waits in a thread.

A ledger batch is a few hundred microseconds of SQLite work, less than handing it to a thread
costs (the hop, and the GIL passed back and forth around every statement, took more CPU than the
statements and let batches queue behind a busy event loop). So ``run`` does the batch right on
the loop, on a connection that never waits for the write lock (busy timeout 0). When another
connection holds the lock (another server process, or this process's other writers), SQLite
says so at once; the batch is rolled back and run again in the writer's thread, on a second
connection that waits up to the usual busy timeout. Batches never overlap: the ledger's writer
task awaits each.

Neither connection lets SQLite checkpoint the write-ahead log inside a commit, as it otherwise
does every 1000 pages (a batch writes ~20: that stalled the event loop for 2-14 ms several times
a second). Instead, every ``CHECKPOINT_EVERY`` batches the thread runs a passive checkpoint,
which copies the log into the database while batches carry on. A log is only started afresh
when a writer finds it wholly copied, which passive checkpoints racing the writes never leave
it; so once it holds ``RESTART_AFTER_PAGES`` pages, the ledger calls ``between_batches`` and
waits for a restart checkpoint that copies the little left (claims queue meanwhile; the event
loop carries on), and the next batch starts the log afresh.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.pool import PoolProxiedConnection

from bot.receipt_sql import LedgerStatements, SqliteStatements

logger = logging.getLogger(__name__)

T = TypeVar("T")
CHECKPOINT_EVERY = 100  # batches between passive checkpoints
RESTART_AFTER_PAGES = 8000  # log pages (4 KiB each) before the log is restarted
CHECKPOINT_WAIT_MS = 100  # how long a restart waits for other processes' transactions


class LockBusyError(Exception):
    """Another connection holds the SQLite write lock (the batch was rolled back)."""


class SqliteWriter:
    """Two connections to the ledger's SQLite file and a thread: see the module docstring."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._pooled: list[PoolProxiedConnection] = []
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        self._batches = 0  # run on the loop since the last passive checkpoint began
        self._copying: Future[tuple[int, int, int]] | None = None  # that checkpoint

    def close(self) -> None:
        """Let a running checkpoint finish, then close the connections."""
        self._thread.shutdown(wait=True)
        for pooled in self._pooled:
            pooled.close()
        self._pooled.clear()

    def _connect(self) -> tuple[sqlite3.Connection, sqlite3.Connection]:
        """The loop's and the thread's connections, opened on first use (and after a failure)."""
        if not self._pooled:
            pooled = [self._engine.raw_connection() for _ in range(2)]
            try:
                loop_conn, thread_conn = (_autocommit(p.driver_connection) for p in pooled)
                self._busy_timeout_ms = int(
                    thread_conn.execute("PRAGMA busy_timeout").fetchone()[0]
                )
                for conn in (loop_conn, thread_conn):
                    conn.execute("PRAGMA wal_autocheckpoint = 0")
                loop_conn.execute("PRAGMA busy_timeout = 0")
            except BaseException:
                for p in pooled:
                    p.close()
                raise
            self._pooled = pooled
            self._loop_conn, self._thread_conn = loop_conn, thread_conn
        return self._loop_conn, self._thread_conn

    async def run(self, batch: Callable[[LedgerStatements], T]) -> T:
        """Run ``batch`` in one write transaction: here if the lock is free, else in the thread."""
        loop = asyncio.get_running_loop()
        try:
            result = self.run_now(batch)
        except LockBusyError:
            return await loop.run_in_executor(
                self._thread, _in_transaction, self._connect()[1], batch
            )
        self._batches += 1
        if self._batches >= CHECKPOINT_EVERY and self._copying is None:
            self._batches = 0
            self._copying = self._thread.submit(self._checkpoint, "PASSIVE")
        return result

    def run_now(self, batch: Callable[[LedgerStatements], T]) -> T:
        """Run ``batch`` on the calling thread without waiting for the write lock."""
        try:
            return _in_transaction(self._connect()[0], batch)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
            raise LockBusyError from exc

    async def between_batches(self) -> None:
        """Restart the log once a passive checkpoint found it long; the ledger calls this
        while no batch runs."""
        copying = self._copying
        if copying is None or not copying.done():
            return
        self._copying = None
        try:
            _busy, pages, _copied = copying.result()
            if pages >= RESTART_AFTER_PAGES:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self._thread, self._checkpoint, "RESTART")
        except Exception as exc:  # upkeep: the next checkpoint tries again
            logger.warning(
                "checkpoint of the SQLite log failed: %s", exc, extra={"action": "checkpoint"}
            )

    def _checkpoint(self, mode: str) -> tuple[int, int, int]:
        """(busy, pages in the log, pages copied) as SQLite reports them; in the thread."""
        conn = self._connect()[1]
        conn.execute(f"PRAGMA busy_timeout = {CHECKPOINT_WAIT_MS}")
        try:
            busy, log, copied = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        finally:
            conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        return int(busy), int(log), int(copied)


def _autocommit(conn: Any) -> sqlite3.Connection:
    if not isinstance(conn, sqlite3.Connection):
        raise TypeError(f"expected a sqlite3 connection, got {type(conn).__name__}")
    conn.isolation_level = None  # transactions are begun and ended explicitly
    return conn


def _in_transaction(conn: sqlite3.Connection, batch: Callable[[LedgerStatements], T]) -> T:
    # IMMEDIATE: take the write lock up front, so the transaction never upgrades a read lock.
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = batch(SqliteStatements(conn))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result
