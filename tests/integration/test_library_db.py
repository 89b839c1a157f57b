"""The policy library in a real database (SQLite, and PostgreSQL in CI)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from policy_index.embedding import Vectors
from policy_index.errors import LibraryFormatError
from policy_index.export import dump_library
from policy_index.interchange import read_library
from policy_index.library import SAMPLE_LIBRARY
from policy_index.repository import LibraryRepository
from policy_index.service import PolicyService
from policy_index.tables import PolicyRow, QAPairRow


async def count(engine: AsyncEngine, table: type[PolicyRow] | type[QAPairRow]) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar() or 0)


class SlowEmbedder:
    """Deterministic vectors, ``delay`` seconds a question (e5 on a busy machine); counts the
    questions it embeds and gives up on ones it cannot do within their timeout."""

    name = "slow"
    dim = 8

    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay
        self.questions: list[str] = []

    def _vectors(self, texts: Sequence[str]) -> Vectors:
        digests = [hashlib.sha256(t.encode()).digest() for t in texts]
        rows = [[d[k] + 1.0 for k in range(self.dim)] for d in digests]
        v = np.asarray(rows, dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def queries(self, texts: Sequence[str], timeout: float | None = None) -> Vectors:
        if timeout is not None and timeout < self.delay:
            time.sleep(max(timeout, 0))
            raise TimeoutError
        time.sleep(self.delay)
        self.questions.extend(texts)
        return self._vectors(texts)

    def passages(self, texts: Sequence[str]) -> Vectors:
        return self._vectors(texts)

    def documents(self, texts: Sequence[str]) -> Vectors:
        return self._vectors(texts)


async def test_import_export_round_trip_and_idempotent_reimport(engine: AsyncEngine) -> None:
    repo = LibraryRepository(engine)
    first = await repo.import_files([SAMPLE_LIBRARY])
    again = await repo.import_files([SAMPLE_LIBRARY])
    assert (first.policies, first.qa_pairs) == (again.policies, again.qa_pairs)
    assert again.revision == first.revision + 1
    assert await count(engine, PolicyRow) == first.policies
    assert await count(engine, QAPairRow) == first.qa_pairs
    loaded = await repo.load()
    original = read_library([SAMPLE_LIBRARY])
    assert sorted(loaded.policies, key=lambda p: p.id) == sorted(
        original.policies, key=lambda p: p.id
    )
    assert list(dump_library(loaded)) == list(dump_library(original))


async def test_a_bad_file_writes_nothing(engine: AsyncEngine, tmp_path: Path) -> None:
    repo = LibraryRepository(engine)
    await repo.import_files([SAMPLE_LIBRARY])
    before = list(dump_library(await repo.load()))
    good = {"id": "qh-a-001", "title": "改过的标题"}
    bad = {"id": "new-1", "title": "新政策", "date": "2024-02-30"}
    path = tmp_path / "update.jsonl"
    path.write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in (good, bad)), encoding="utf-8"
    )
    with pytest.raises(LibraryFormatError) as info:
        await repo.import_files([path])
    assert [(e.line, e.field) for e in info.value.errors] == [(2, "date")]
    assert list(dump_library(await repo.load())) == before


async def test_update_replaces_a_policy_and_its_interpretations(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    repo = LibraryRepository(engine)
    await repo.import_files([SAMPLE_LIBRARY])
    path = tmp_path / "update.jsonl"
    path.write_text(
        json.dumps(
            {"id": "qh-a-001", "title": "新标题", "interpretations": [{"title": "唯一解读"}]},
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    await repo.import_files([path])
    policy = (await repo.load()).policy("qh-a-001")
    assert policy is not None
    assert policy.title == "新标题"
    assert [i.title for i in policy.interpretations] == ["唯一解读"]
    assert policy.doc_number is None  # an import replaces the whole record


async def test_references_may_point_into_the_database(engine: AsyncEngine, tmp_path: Path) -> None:
    repo = LibraryRepository(engine)
    await repo.import_files([SAMPLE_LIBRARY])
    path = tmp_path / "qa.jsonl"
    record = {
        "kind": "qa",
        "id": "extra-1",
        "question": "问",
        "answer": "答",
        "policy_id": "qh-a-001",
    }
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    await repo.import_files([path])
    assert (await repo.load()).qa("extra-1") is not None


async def test_service_swaps_to_a_new_index_after_an_import(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    service = PolicyService(engine, embeddings=False, refresh_s=0.05)
    await service.start()
    try:
        assert len(service.index) == 0
        empty = service.index
        await LibraryRepository(engine).import_files([SAMPLE_LIBRARY])
        for _ in range(600):  # a loaded machine may take seconds to rebuild
            if service.index is not empty:
                break
            await asyncio.sleep(0.05)
        assert len(service.index) > 100
        result = await service.match("低保怎么申请")
        assert result.best is not None
        assert result.best.group == "qh-b-001"
    finally:
        await service.stop()


async def test_a_burst_of_questions_is_matched_lexically_beyond_the_shed_band(
    engine: AsyncEngine,
) -> None:
    embedder = SlowEmbedder()
    await LibraryRepository(engine).import_files([SAMPLE_LIBRARY])
    service = PolicyService(engine, refresh_s=60, shed_at=2, embedder=lambda: embedder)
    await service.start()
    try:
        for _ in range(200):
            if service.index.embedder is not None:
                break
            await asyncio.sleep(0.05)
        assert service.index.embedder is not None
        embedder.questions.clear()
        questions = ["有啥补贴", "老人补助", "孩子补贴", "企业补贴", "看病报销", "房子补贴"]
        results = await asyncio.gather(*(service.match(q) for q in questions))
        assert all(r.candidates for r in results)  # every question still matched
        assert service.shed == len(questions) - 2
        assert len(embedder.questions) == 2  # only the two within the band were embedded
        embedder.questions.clear()
        await service.match("补贴有哪些")  # the burst is over: vectors again
        assert embedder.questions == ["补贴有哪些"]
    finally:
        await service.stop()


async def test_a_question_waits_for_its_vector_no_longer_than_the_budget(
    engine: AsyncEngine,
) -> None:
    embedder = SlowEmbedder(delay=3.0)
    await LibraryRepository(engine).import_files([SAMPLE_LIBRARY])
    service = PolicyService(engine, refresh_s=60, vector_budget_s=0.05, embedder=lambda: embedder)
    await service.start()
    try:
        for _ in range(200):
            if service.index.embedder is not None:
                break
            await asyncio.sleep(0.05)
        assert service.index.embedder is not None
        embedder.questions.clear()
        started = time.monotonic()
        result = await service.match("有啥补贴")
        assert time.monotonic() - started < 1.5  # did not wait the 3 s
        assert result.candidates  # answered lexically
        assert embedder.questions == []
    finally:
        await service.stop()


async def test_a_policy_expiring_tonight_stops_being_the_answer_tomorrow(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validity follows the calendar, not only imports: after local midnight an index built
    yesterday treats a policy that expired yesterday as expired."""
    import datetime as dt

    import policy_index.service as service_module

    today = dt.date(2026, 3, 1)
    library = tmp_path / "lib.jsonl"
    library.write_text(
        '{"id": "old", "title": "青禾区老年人助餐补贴实施办法", "summary": "老年人助餐补贴",'
        ' "expiry_date": "2026-03-01"}\n',
        encoding="utf-8",
    )
    await LibraryRepository(engine).import_files([library])
    monkeypatch.setattr(service_module, "local_today", lambda: today)
    service = PolicyService(engine, embeddings=False, refresh_s=60)
    await service.start()
    try:
        before = await service.match("老年人助餐补贴")
        assert before.best is not None
        assert before.best.id == "old"
        monkeypatch.setattr(service_module, "local_today", lambda: today + dt.timedelta(days=1))
        after = await service.match("老年人助餐补贴")
        assert all(c.id != "old" for c in after.candidates)  # lapsed, and nothing replaces it
    finally:
        await service.stop()


async def test_background_work_runs_in_a_daemon_thread_and_reports_errors() -> None:
    import threading

    from policy_index.service import in_background

    assert await in_background(lambda: threading.current_thread().daemon) is True

    def broken() -> None:
        raise ValueError("bad library")

    with pytest.raises(ValueError, match="bad library"):
        await in_background(broken)


async def test_partial_dates_keep_their_precision_in_the_database(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    path = tmp_path / "catalogue.jsonl"
    records = [
        {"id": "y", "title": "某县养老服务补贴办法", "date": "2022", "expiry_date": "2025"},
        {
            "id": "m",
            "title": "某县低保标准调整通知",
            "date": "2023-02",
            "effective_date": "2023-03",
        },
        {"id": "d", "title": "某县临时救助办法", "date": "2023-02-15", "expiry_date": "2024-02"},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), "utf-8")
    repo = LibraryRepository(engine)
    await repo.import_files([path])
    loaded = await repo.load()
    written = {r["id"]: r for r in map(json.loads, dump_library(loaded))}
    for record in records:
        assert {k: v for k, v in written[record["id"]].items() if "date" in k} == {
            k: v for k, v in record.items() if "date" in k
        }
