"""``gongkai match``: run the bot's matcher over a file of questions, without a database.

The same code path the bot uses (build_index + match); one JSON object per question, in order.
Sentence vectors computed for a library are kept in a cache file so a second run is fast.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from policy_index.calibration import default_calibration
from policy_index.embedding import EmbeddingCache, load_embedder
from policy_index.errors import PolicyIndexError
from policy_index.index import PolicyIndex, build_index
from policy_index.interchange import read_library
from policy_index.matching import MatchResult, match


def read_queries(path: Path) -> Iterator[str]:
    """The ``query`` of each JSON line (a bare JSON string or a plain text line also works)."""
    with path.open(encoding="utf-8-sig") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                yield line
                continue
            if isinstance(value, dict):
                if not isinstance(value.get("query"), str):
                    raise PolicyIndexError(f"{path}:{lineno}: query: a text field is required")
                yield value["query"]
            elif isinstance(value, str):
                yield value
            else:
                raise PolicyIndexError(f"{path}:{lineno}: expected an object with a query field")


def load_index(
    library: Path, *, embeddings: bool, cache_file: Path | None, home_region: str | None = None
) -> PolicyIndex:
    embedder = load_embedder() if embeddings else None
    cache = EmbeddingCache.load(cache_file) if cache_file and embedder else EmbeddingCache()
    index = build_index(
        read_library([library]), embedder=embedder, cache=cache, home_region=home_region
    )
    if cache_file and embedder:
        with contextlib.suppress(OSError):  # a read-only folder only costs speed next time
            cache.save(cache_file)
    return index


def as_json(result: MatchResult) -> dict[str, object]:
    return {
        "query": result.query,
        "decision": result.decision.value,
        "results": [{"id": c.id, "score": round(c.score, 4)} for c in result.candidates],
    }


def as_text(result: MatchResult, index: PolicyIndex) -> str:
    lines = [f"{result.query}  →  {result.decision.value}"]
    for n, c in enumerate(result.candidates, 1):
        if c.kind == "qa" and (qa := index.library.qa(c.id)) is not None:
            label = f"问答 {qa.question}"
        elif (policy := index.library.policy(c.id)) is not None:
            label = policy.title
        else:
            label = c.id
        lines.append(f"  {n}. [{c.score:.2f}] {c.id}  {label}")
    return "\n".join(lines)


def run(
    library: Path,
    queries: Path,
    *,
    top: int,
    as_json_lines: bool,
    embeddings: bool = True,
    cache_file: Path | None = None,
    bands: dict[str, float] | None = None,
    out: TextIO = sys.stdout,
    home_region: str | None = None,
) -> int:
    index = load_index(
        library, embeddings=embeddings, cache_file=cache_file, home_region=home_region
    )
    calibration = default_calibration(index.embedder is not None, **(bands or {}))
    for query in read_queries(queries):
        result = match(index, query, top=top, calibration=calibration)
        if as_json_lines:
            out.write(json.dumps(as_json(result), ensure_ascii=False) + "\n")
        else:
            out.write(as_text(result, index) + "\n")
    out.flush()
    return 0
