"""The library as the rest of the service sees it: import, export, the bundled sample."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bot.db import create_engine
from policy_index.export import dump_library
from policy_index.repository import ImportResult, LibraryRepository

SAMPLE_LIBRARY = Path(__file__).with_name("sample") / "library.jsonl"


async def import_files(database_url: str, files: Sequence[Path]) -> ImportResult:
    engine = create_engine(database_url)
    try:
        return await LibraryRepository(engine).import_files(files)
    finally:
        await engine.dispose()


async def export_lines(database_url: str) -> list[str]:
    engine = create_engine(database_url)
    try:
        library = await LibraryRepository(engine).load()
    finally:
        await engine.dispose()
    return list(dump_library(library))


async def ensure_sample(database_url: str) -> ImportResult | None:
    """Load the sample library into an empty database (local mode's first start)."""
    engine = create_engine(database_url)
    try:
        repo = LibraryRepository(engine)
        if await repo.policy_ids():
            return None
        return await repo.import_files([SAMPLE_LIBRARY])
    finally:
        await engine.dispose()
