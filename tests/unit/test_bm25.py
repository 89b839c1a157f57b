"""BM25 over sparse columns: scores and the IDF-mass coverage the rerank reads."""

from __future__ import annotations

import math
import random

import pytest

from policy_index.bm25 import BM25

DOCS = [
    ["灵活", "就业", "社保", "补贴"],
    ["就业", "见习", "补贴", "补贴"],
    ["最低", "生活", "保障"],
    ["高龄", "津贴", "老人"],
    ["社保", "缴费", "基数"],
]


def direct_coverage(bm25: BM25, query: list[str], doc: list[str]) -> float:
    """The definition, term by term: IDF mass of the query's terms the doc contains."""
    rare = math.log1p((bm25.n_docs + 0.5) / 0.5)
    total = found = 0.0
    for term in query:
        weight = float(bm25.idf[bm25.vocabulary[term]]) if term in bm25.vocabulary else rare
        total += weight
        found += weight if term in doc else 0.0
    return found / total


def test_coverage_is_the_share_of_the_questions_idf_mass_each_document_holds() -> None:
    bm25 = BM25.build(DOCS)
    query = ["灵活", "就业", "补贴", "补贴", "结婚"]  # a repeated term, an unknown one
    docs = [4, 0, 1, 3]
    got = bm25.coverage(query, docs)
    assert got.tolist() == pytest.approx([direct_coverage(bm25, query, DOCS[d]) for d in docs])
    assert got[1] > got[2] > got[0] == 0  # doc 0 holds the most, doc 4 nothing


def test_coverage_agrees_with_the_definition_on_a_larger_random_library() -> None:
    rng = random.Random(5)
    words = [f"w{i}" for i in range(60)]
    docs = [rng.sample(words, rng.randint(1, 12)) for _ in range(400)]
    bm25 = BM25.build(docs)
    for _ in range(20):
        query = [*rng.sample(words, 4), "unseen"]
        pool = rng.sample(range(len(docs)), 30)
        expected = [direct_coverage(bm25, query, docs[d]) for d in pool]
        assert bm25.coverage(query, pool).tolist() == pytest.approx(expected, rel=1e-5)


def test_a_question_of_unknown_words_covers_nothing() -> None:
    bm25 = BM25.build(DOCS)
    assert bm25.coverage(["结婚", "护照"], [0, 1]).tolist() == [0.0, 0.0]
    assert bm25.coverage([], [0]).tolist() == [0.0]
