"""Remembered question vectors: the same question is embedded once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from policy_index.embedding import RecentQuestions, Vectors


class CountingEmbedder:
    name = "counting"
    dim = 4

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def queries(self, texts: Sequence[str], timeout: float | None = None) -> Vectors:
        self.embedded.extend(texts)
        return np.asarray([[len(t), 1.0, 0.0, 0.0] for t in texts], dtype=np.float32)

    def passages(self, texts: Sequence[str]) -> Vectors:
        return self.queries(texts)

    def documents(self, texts: Sequence[str]) -> Vectors:
        return self.queries(texts)


def test_a_repeated_question_is_embedded_once_and_old_ones_are_forgotten() -> None:
    inner = CountingEmbedder()
    recent = RecentQuestions(inner, size=2)
    first = recent.queries(["低保怎么申请"])
    again = recent.queries(["低保怎么申请"])
    assert inner.embedded == ["低保怎么申请"]
    assert np.array_equal(first, again)
    recent.queries(["公积金"])
    recent.queries(["见习补贴"])  # pushes the oldest out
    recent.queries(["低保怎么申请"])
    assert inner.embedded == ["低保怎么申请", "公积金", "见习补贴", "低保怎么申请"]


def test_batches_are_passed_through_unremembered() -> None:
    inner = CountingEmbedder()
    recent = RecentQuestions(inner)
    recent.queries(["甲", "乙"])
    recent.queries(["甲", "乙"])
    assert inner.embedded == ["甲", "乙", "甲", "乙"]
