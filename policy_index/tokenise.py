"""Three ways to cut normalised text into terms, behind one small class.

* words: jieba (search mode) with a dictionary derived from the library itself, so that
  domain terms (免申即享, 就业见习, 专精特新) stay whole while their parts still match;
* chars: CJK characters and character bigrams (robust to unseen words and short queries);
* pinyin: toneless syllable bigrams (homophone typos: 免审即享, 公基金, 稳刚返还).

Each ``Tokeniser`` owns its own jieba instance: no global state is touched.
"""

from __future__ import annotations

import itertools
import logging
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

import jieba
from pypinyin import Style, lazy_pinyin

logger = logging.getLogger(__name__)

_CJK = re.compile(r"[\u3400-\u9fff]+|[a-z0-9]+(?:\.[0-9]+)?")
_HAN = re.compile(r"[\u3400-\u9fff]")
# Characters and words that carry no topic: left out of word and character terms.


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOP_WORDS = _word_set(
    "的 了 和 与 及 或 是 在 对 为 有 我 你 他 她 我们 你们 这 那 个 吗 呢 吧 啊 呀 都 也 就 "
    "还 被 把 给 让 从 向 于 以 之 其 该 等 上 下 中 要 会 能 可 可以 能否 能不能 需要 想 请 "
    "怎么 怎样 怎么样 如何 什么 哪些 哪里 哪个 多少 几 啥 咋 么 没有 有没有 是否 一下 "
    "关于 通知 印发 的通知"
)
STOP_CHARS = frozenset(
    "的了和与及或是在对为有我你他她这那个吗呢吧啊呀都也就还被把给让从向于以之其该等么啥咋"
)
# Phrases mined from the library must not start or end with these.
EDGE_CHARS = frozenset("的了和与及或是在对为有等于以之其该关做好印发通知办法意见若干进一步")

MINED_MIN_LEN, MINED_MAX_LEN = 3, 8
DOMAIN_FREQ = 2_000_000  # high enough for jieba to prefer the whole term


@lru_cache(maxsize=4096)
def _syllables(run: str) -> tuple[str, ...]:
    return tuple(lazy_pinyin(run, style=Style.NORMAL, errors="ignore"))


def mine_phrases(
    texts: Sequence[str], *, min_docs: int = 2, max_share: float = 0.3, max_texts: int = 20_000
) -> set[str]:
    """Maximal CJK phrases (3–8 characters) that recur across library entries.

    A phrase counts once per text; it must appear in at least ``min_docs`` texts, in at most
    ``max_share`` of them (boilerplate such as 关于印发 is left out), not start or end with a
    function character, and not be only a part of a longer phrase found in as many texts. Very
    large libraries are mined on an even sample of ``max_texts`` texts.
    """
    docs = [t for t in texts if t]
    if len(docs) > max_texts:
        docs = docs[:: len(docs) // max_texts + 1]
    df: Counter[str] = Counter()
    for text in docs:
        seen: set[str] = set()
        for run in _CJK.findall(text):
            if not _HAN.match(run):
                continue
            for n in range(MINED_MIN_LEN, min(MINED_MAX_LEN + 1, len(run)) + 1):
                seen.update(run[i : i + n] for i in range(len(run) - n + 1))
        df.update(seen)
    ceiling = max(min_docs, int(len(docs) * max_share))
    frequent = {p: c for p, c in df.items() if min_docs <= c <= ceiling}
    # A phrase inside a one-character-longer phrase with the same count never occurs alone.
    covered = {
        sub
        for phrase, count in frequent.items()
        if len(phrase) > MINED_MIN_LEN
        for sub in (phrase[1:], phrase[:-1])
        if frequent.get(sub) == count
    }
    return {
        p
        for p in frequent
        if p not in covered
        and len(p) <= MINED_MAX_LEN
        and p[0] not in EDGE_CHARS
        and p[-1] not in EDGE_CHARS
    }


@lru_cache(maxsize=1)
def _base_dictionary() -> tuple[dict[str, int], int]:
    """jieba's default dictionary, loaded once per process (read-only; every Tokeniser copies)."""
    jieba.setLogLevel(logging.WARNING)
    loader = jieba.Tokenizer()
    loader.tmp_dir = tempfile.gettempdir()
    loader.initialize()
    return dict(loader.FREQ), int(loader.total)


class Tokeniser:
    """Words, characters and pinyin of normalised text, with the library's own dictionary."""

    def __init__(self, domain_terms: Iterable[str] = ()) -> None:
        freq, total = _base_dictionary()
        self._jieba = jieba.Tokenizer()
        self._jieba.FREQ, self._jieba.total = dict(freq), total
        self._jieba.initialized = True
        self.domain_terms = sorted({t for t in domain_terms if len(t) >= 2})
        for term in self.domain_terms:
            self._jieba.add_word(term, freq=DOMAIN_FREQ)

    def is_word(self, text: str) -> bool:
        """Whether ``text`` is a word of the dictionary (jieba's or the library's)."""
        return int(self._jieba.FREQ.get(text, 0)) > 0

    def inside_words(self, text: str) -> tuple[bool, ...]:
        """Aligned with ``syllables_and_characters(text)``: for each position, whether the
        boundary just before it falls inside a dictionary word the text holds (九|几年: a
        homophone read across it would break a word the user typed)."""
        inside: list[bool] = []
        for run in _CJK.findall(text):
            if not _HAN.match(run):
                continue
            flags = [False] * (len(_syllables(run)) + 1)
            if len(flags) == len(run) + 1:
                start = 0
                for word in self._jieba.lcut(run, HMM=False):
                    end = start + len(word)
                    if len(word) >= 2 and self.is_word(word):
                        for k in range(start + 1, end):
                            flags[k] = True
                    start = end
            inside.extend(flags)
        return tuple(inside)

    def words(self, text: str) -> list[str]:
        out: list[str] = []
        for run in _CJK.findall(text):
            if _HAN.match(run):
                out.extend(w for w in self._jieba.lcut_for_search(run) if w not in STOP_WORDS)
            else:
                out.append(run)
        return out

    @staticmethod
    def chars(text: str) -> list[str]:
        out: list[str] = []
        for run in _CJK.findall(text):
            if not _HAN.match(run):
                out.append(run)
                continue
            out.extend(c for c in run if c not in STOP_CHARS)
            out.extend(run[i : i + 2] for i in range(len(run) - 1))
        return out

    @staticmethod
    def pinyin(text: str) -> list[str]:
        out: list[str] = []
        for run in _CJK.findall(text):
            if not _HAN.match(run):
                out.append(run)
                continue
            syllables = _syllables(run)
            out.extend(f"{a}_{b}" for a, b in itertools.pairwise(syllables))
        return out


def syllables(text: str) -> tuple[str, ...]:
    """Toneless pinyin of the CJK runs, runs separated by "|" (so matches never span them)."""
    return syllables_and_characters(text)[0]


def syllables_and_characters(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``syllables(text)`` and, aligned with it, the character each syllable was read from
    ("" where a run's reading does not align character by character)."""
    sounds: list[str] = []
    chars: list[str] = []
    for run in _CJK.findall(text):
        if _HAN.match(run):
            read = _syllables(run)
            sounds.extend((*read, "|"))
            chars.extend((*(run if len(read) == len(run) else [""] * len(read)), "|"))
    return tuple(sounds), tuple(chars)


def domain_terms(phrases: Sequence[str], aliases: Iterable[str], topics: Iterable[str]) -> set[str]:
    """The dictionary a library brings: mined phrases, aliases and their canonical terms, topics."""
    terms = mine_phrases(phrases)
    terms.update(t for t in aliases if _HAN.search(t))
    terms.update(t for t in topics if _HAN.search(t))
    return terms
