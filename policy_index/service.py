"""The live index inside the service: built off the event loop, swapped atomically.

At start a lexical index is built at once (about a second for a county library) so the bot can
answer immediately; if sentence vectors are enabled, a full index follows in the background and
replaces it. A watcher compares the library's revision in the database every few seconds, so an
import in any process reaches every process; the old index keeps answering until the new one is
ready. Computed vectors are kept in a cache file so restarts do not embed everything again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from policy_index.calibration import default_calibration
from policy_index.embedding import Embedder, EmbeddingCache, RecentQuestions, load_embedder
from policy_index.index import PolicyIndex, build_index, local_today
from policy_index.matching import MatchResult, match
from policy_index.model import Library
from policy_index.repository import LibraryRepository

logger = logging.getLogger(__name__)
T = TypeVar("T")


class PolicyService:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        embeddings: bool = True,
        cache_file: Path | None = None,
        refresh_s: float = 10.0,
        bands: dict[str, float] | None = None,
        shed_at: int = 0,
        vector_budget_s: float = 0.0,
        embedder: Callable[[], Embedder | None] = load_embedder,
        home_region: str | None = None,
    ) -> None:
        self._repo = LibraryRepository(engine)
        self._home_region = home_region  # the deployment's place, e.g. 江屿省云州市青禾区
        self._want_vectors = embeddings
        self._load_embedder = embedder
        self._cache_file = cache_file
        self._refresh_s = refresh_s
        self._bands = bands or {}
        self._shed_at = shed_at
        self._vector_budget_s = vector_budget_s
        self._busy = 0  # questions being matched now
        self._lexical: tuple[PolicyIndex, PolicyIndex] | None = None  # (index, its lexical view)
        self.shed = 0  # questions matched lexically because too many were in hand
        self._index = build_index(Library())
        self._embedder: Embedder | None = None
        self._cache = EmbeddingCache()
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()

    @property
    def index(self) -> PolicyIndex:
        return self._index

    async def start(self) -> None:
        """Build the lexical index now; vectors and the revision watcher run in the background.

        If the database cannot be read the service starts empty and the watcher keeps trying.
        """
        self._spawn(self._watch())
        try:
            revision = await self._repo.revision()
            library = await self._repo.load()
        except Exception:
            logger.exception("policy library unavailable", extra={"action": "index_failed"})
            return
        self._index = await in_background(
            functools.partial(
                build_index, library, revision=revision, home_region=self._home_region
            )
        )
        logger.info(
            "policy index ready: %d entries, revision %d, %.1f s",
            len(self._index),
            revision,
            self._index.built_in_s,
            extra={"action": "index_built"},
        )
        if self._want_vectors:
            self._spawn(self._add_vectors(library, revision))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def match(self, query: str, *, top: int = 5) -> MatchResult:
        """Match in a worker thread. A question waits at most ``vector_budget_s`` for its
        sentence vector, and under a burst (``shed_at`` questions or more already in hand) new
        questions are matched lexically at once: a nearly as good answer now is worth more
        than a better one later."""
        budget = self._vector_budget_s
        deadline = time.monotonic() + budget if budget > 0 else None
        index = self._index  # one consistent index for the whole question
        today = local_today()
        if index.today != today:  # validity changes at local midnight, not only on imports
            index = self._index = dataclasses.replace(index, today=today)
        if index.embedder is not None and 0 < self._shed_at <= self._busy:
            index = self._lexical_view(index)
            self.shed += 1
        calibration = default_calibration(index.embedder is not None, **self._bands)
        self._busy += 1
        try:
            return await asyncio.to_thread(
                match, index, query, top=top, calibration=calibration, deadline=deadline
            )
        finally:
            self._busy -= 1

    def _lexical_view(self, index: PolicyIndex) -> PolicyIndex:
        if self._lexical is None or self._lexical[0] is not index:
            self._lexical = (index, dataclasses.replace(index, embedder=None, unit_vectors=None))
        return self._lexical[1]

    async def refresh(self) -> bool:
        """Rebuild if the library changed since the current index; True if it was swapped."""
        async with self._lock:
            revision = await self._repo.revision()
            if revision == self._index.revision:
                return False
            library = await self._repo.load()
            index = await in_background(functools.partial(self._build, library, revision))
            self._index = index
            logger.info(
                "policy index swapped to revision %d (%d entries, %.1f s)",
                revision,
                len(index),
                index.built_in_s,
                extra={"action": "index_swapped"},
            )
            return True

    def _build(self, library: Library, revision: int) -> PolicyIndex:
        index = build_index(
            library,
            embedder=self._embedder,
            cache=self._cache,
            revision=revision,
            home_region=self._home_region,
        )
        if self._embedder is not None and self._cache_file is not None:
            with contextlib.suppress(OSError):
                self._cache.save(self._cache_file)
        return index

    async def _add_vectors(self, library: Library, revision: int) -> None:
        embedder = await in_background(self._load_embedder)
        if embedder is None:
            return
        if self._cache_file is not None:
            self._cache = await in_background(
                functools.partial(EmbeddingCache.load, self._cache_file)
            )
        async with self._lock:
            self._embedder = RecentQuestions(embedder)
            if self._index.revision != revision:
                return  # the watcher already built a newer index (with vectors)
            index = await in_background(functools.partial(self._build, library, revision))
            self._index = index
        logger.info(
            "policy index now uses sentence vectors (%.1f s)",
            index.built_in_s,
            extra={"action": "index_vectors"},
        )

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self.refresh()
            except Exception:
                logger.exception("policy index refresh failed", extra={"action": "index_failed"})

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def in_background(work: Callable[[], T]) -> T:
    """Run CPU-heavy work (an index build) in a daemon thread and await its result.

    Unlike the default executor, a daemon thread never holds up the process's exit: stopping
    the service (or quitting ``gongkai chat``) mid-build simply abandons the build.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return  # the waiter was cancelled
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result = work()
        except BaseException as exc:  # handed to the awaiting coroutine
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
                loop.call_soon_threadsafe(settle, None, exc)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=run, name="policy-index-build", daemon=True).start()
    return await future
