"""Grouping unanswered questions that ask the same thing, so staff answer each once.

Pure functions of the questions' normalised text (``question_log.normalised``, the matcher's
normal form). Two questions are compared on their *content*: the normalised text without
spaces and without the words that only make it a question (怎么, 如何, 吗, 请问 …), so that
"怎么考驾照" and "驾照怎么考？" both become 考驾照 / 驾照考. Their similarity is the mean of the
Dice coefficients of their character sets and of their character-bigram sets (0–1): characters
forgive word order, bigrams keep "考驾照" apart from "办护照".

``THRESHOLD`` (0.6, setting ``GONGKAI_STAFF__SIMILARITY``) was chosen on hand-made pairs of
residents' phrasings: every pair of different questions sharing topic words (驾照 / 护照 办证,
公积金 贷款 / 提取, 新能源车 补贴 / 充电桩) stays below it (the highest was 0.58), as do about
a third of the rephrasings of one question (老人坐公交免费吗 / 老年人乘公交车免费吗: 0.52). A
wrong merge would send one group's answer to people who asked something else, a missed one
only costs staff a second answer, so the threshold errs on the side of keeping apart.

Clustering is by leaders: each question joins the group whose leader it is most similar to, if
similar enough, else leads a new group. Unlike single linkage this never chains A~B~C into a
group where A and C differ. Questions are taken most frequent content first, then shortest (the
plainest wording, 考驾照, leads better than one with extras, 考驾照条件), then oldest, so the
result does not depend on anything but the questions. A text's similarities to all leaders are
computed at once from posting lists of the leaders' characters and bigrams (exact Dice from
counts, in numpy): 4,000 questions group in about a tenth of a second.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

THRESHOLD = 0.6

# Words that make a text a question without saying what about (longest first).
_QUESTION_WORDS = re.compile(
    "请问|请教|怎么样|怎么|怎样|如何|什么|哪些|哪里|哪儿|是否|能不能|可不可以|可以|需要|"
    "有没有|吗|呢|吧|啊|呀|么|咋|啥|的|了|\\s+"
)

T = TypeVar("T", bound=Hashable)


def content(normalised: str) -> str:
    """What a question is about: its normalised text without question words and spaces."""
    stripped = _QUESTION_WORDS.sub("", normalised)
    return stripped or normalised.replace(" ", "")


def _bigrams(text: str) -> frozenset[str]:
    return frozenset(text[i : i + 2] for i in range(len(text) - 1))


def _dice(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return 2 * len(a & b) / (len(a) + len(b))


def similarity(a: str, b: str) -> float:
    """How alike two content strings are (0–1): mean Dice of characters and of bigrams."""
    if a == b:
        return 1.0
    chars = _dice(frozenset(a), frozenset(b))
    pairs = _dice(_bigrams(a), _bigrams(b)) if len(a) > 1 and len(b) > 1 else 0.0
    return (chars + pairs) / 2


@dataclass(frozen=True, slots=True)
class Cluster(Generic[T]):
    """One group: its leading content string and its members, in input order."""

    leader: str
    members: tuple[T, ...]


class _Leaders:
    """The groups' leaders with posting lists of their characters and bigrams, so that a new
    text's Dice coefficients against every leader come from counts, in numpy."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self._chars: dict[str, array[int]] = {}
        self._pairs: dict[str, array[int]] = {}
        self._n_chars = array("i")
        self._n_pairs = array("i")

    def add(self, text: str) -> None:
        index = len(self.texts)
        self.texts.append(text)
        chars, pairs = frozenset(text), _bigrams(text) if len(text) > 1 else frozenset()
        for c in chars:
            self._chars.setdefault(c, array("i")).append(index)
        for g in pairs:
            self._pairs.setdefault(g, array("i")).append(index)
        self._n_chars.append(len(chars))
        self._n_pairs.append(len(pairs))

    def _shared(
        self, postings: dict[str, array[int]], features: frozenset[str]
    ) -> npt.NDArray[np.float64]:
        hits = [np.frombuffer(postings[f], dtype=np.intc) for f in features if f in postings]
        if not hits:
            return np.zeros(len(self.texts))
        counts = np.bincount(np.concatenate(hits), minlength=len(self.texts))
        return counts.astype(np.float64)

    def best(self, text: str, threshold: float) -> int | None:
        """The most similar leader at or above ``threshold`` (the earliest among equals)."""
        if not self.texts:
            return None
        chars, pairs = frozenset(text), _bigrams(text) if len(text) > 1 else frozenset()
        n_chars = np.frombuffer(self._n_chars, dtype=np.intc)
        n_pairs = np.frombuffer(self._n_pairs, dtype=np.intc)
        d1 = 2 * self._shared(self._chars, chars) / (len(chars) + n_chars)
        d2 = np.zeros(len(self.texts))
        if pairs:
            d2 = 2 * self._shared(self._pairs, pairs) / (len(pairs) + n_pairs)
        scores = (d1 + d2) / 2
        best = int(np.argmax(scores))
        return best if scores[best] >= threshold - 1e-9 else None


def cluster(
    items: Sequence[T], key: Callable[[T], str], threshold: float = THRESHOLD
) -> list[Cluster[T]]:
    """Group ``items`` by the similarity of ``content(key(item))``; largest groups first.

    Items with the same content always share a group. Ties in size keep the order in which the
    groups' first members appear in ``items``.
    """
    by_content: dict[str, list[T]] = defaultdict(list)
    for item in items:
        by_content[content(key(item))].append(item)
    first_seen = {text: n for n, text in enumerate(by_content)}
    frequency = Counter({text: len(members) for text, members in by_content.items()})
    leaders = _Leaders()
    groups: list[list[str]] = []
    for text in sorted(by_content, key=lambda t: (-frequency[t], len(t), first_seen[t])):
        best = leaders.best(text, threshold)
        if best is None:
            leaders.add(text)
            groups.append([text])
        else:
            groups[best].append(text)
    order = {item: n for n, item in enumerate(items)}
    result = [
        Cluster(
            leaders.texts[i],
            tuple(sorted((m for t in texts for m in by_content[t]), key=order.__getitem__)),
        )
        for i, texts in enumerate(groups)
    ]
    result.sort(key=lambda c: (-len(c.members), order[c.members[0]]))
    return result
