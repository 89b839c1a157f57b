"""What a question is about, as the library sees it: its subject words, and whether a policy
covers them.

Pure functions over the current ``PolicyIndex`` (nothing here changes the matcher). They let the
handlers hold back a guess the matcher made on too little:

* a **subject word** is a content word of the question (not a question word such as 怎么 / 什么,
  nor a facet word such as 材料 / 电话) of two or more characters;
* a word is **generic** when the library uses it in the titles, aliases or stored questions of
  several unrelated policies without it ever naming one on its own (登记 in 不动产登记,
  市场主体登记 and 户口迁移登记; 补贴 in thirty titles), while 低保, an alias of one policy,
  is not. It is counted from the library, so it holds for any library;
* a candidate **covers** a word when its own texts (title, aliases, summary, body, guide, its
  Q&A pairs) hold it; a word of the question that it does not hold is *foreign* to it.

A guess is **weak** when some subject word is foreign to it and the words it does share with
the question are all generic, or there are none while the library knows some of the words:
"结婚登记需要带什么" shares only 登记 with 不动产登记. A weak guess is never an answer, an option
or a related topic; a single guess must cover every subject word before the bot asks which part
of it the resident wants.
"""

from __future__ import annotations

import functools
import math
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from policy_index.index import PolicyIndex, title_subject
from policy_index.matching import Candidate
from policy_index.model import Library
from policy_index.normalise import normalise

COVERED_SHARE = 0.5  # of its subject words a single guess must hold to be asked about
GENERIC_SENSES = 3  # unrelated groups of policies using a word that names none of them alone
UNCOMMON_SHARE = 0.05  # a word in at most this share of documents links two titles
_SCAN_LIMIT = 400  # documents of a word looked at (enough to count its senses)
GENERIC_CACHE = 20_000  # words remembered
_SENSE_GROUPS = 40  # policies whose titles are compared to count a word's senses
_ASKING = ("怎么", "什么", "多少", "哪里", "哪些", "如何", "怎样", "多久", "哪儿", "啥")

# Words that only make a text a question, or ask for a part of a guide: never its subject.
_QUESTION_WORDS = (
    "那么 那 这个 那个 这 请问 问一下 一下 我们 我 您 你们 想 要 需要 得 还 再 呢 吗 "
    "啊 呀 吧 的 了 是 有 多少 什么 怎么 怎样 怎么样 如何 哪些 哪个 哪里 哪儿 里 能 可以 可 会 "
    "去 打 申请 办理 办 领 领取 交 提交 准备 带 具体 大概 一般 都 和 及 到 给 个 些 "
    "么 啥 咋 就 哦 嗯 好 一共 大约 钱 款 咨询 联系 问问 告诉 知道 能否 能不能 是否 "
    "有没有 没有 现在 目前 政策 规定 相关 关于 问题 事情 情况 这种 那种 我家 家里 "
    "了解 看看 查 查询 想问 事 的事 多久 多长时间 时间 几天 时候 什么时候 "
    "电话 号码 热线 材料 资料 证件 手续 流程 步骤 程序 条件 资格 要求 标准 金额 额度 "
    "地点 地址 窗口 哪里办 找谁 谁 人 下来 有什么 哪些人 可不可以 行不行 怎么弄 怎么办 "
    "该 应该 必须 一定 还有 "
    # time, place and people words of colloquial questions: who asks, not what about
    "每个 每个月 每月 一个月 每年 今年 去年 明年 以前 以后 后面 之前 现在 最近 前两天 "
    "区里 村里 镇里 县里 市里 这边 那边 本地 当地 你好 喂 的话 我妈 我爸 家人 "
    "老人家 一下子 是不是 有钱 给钱 拿钱 领钱"
)
QUESTION_WORDS = frozenset(_QUESTION_WORDS.split())
_QUESTION_RUN = re.compile("(?:" + "|".join(sorted(QUESTION_WORDS, key=len, reverse=True)) + ")+")
_CONTENT = re.compile(r"[\u3400-\u9fffA-Za-z0-9]")
_HAN = re.compile(r"[\u3400-\u9fff]")
_LATIN_OR_DIGITS = re.compile(r"[a-z]+|[0-9]+")


@dataclass(frozen=True, slots=True)
class Fit:
    """How a candidate fits the question's subject words."""

    shared: tuple[str, ...]  # subject words the candidate's texts hold
    foreign: tuple[str, ...]  # subject words they do not
    weak: bool  # something foreign, and only generic words shared

    @property
    def covered(self) -> float:
        """The share of the question's subject words the candidate holds."""
        own = len(self.foreign) + sum(1 for w in self.shared if w not in self.expansion)
        return 1.0 - len(self.foreign) / own if own else 1.0

    expansion: tuple[str, ...] = ()  # shared words that came from alias expansion only


def subject_words(index: PolicyIndex, text: str) -> tuple[str, ...]:
    """The question's subject words, in order, without repeats."""
    words = index.tokeniser.words(normalise(text))
    out = [
        w
        for w in words
        if len(w) >= 2
        and w not in QUESTION_WORDS
        and not w.isdigit()
        and not any(a in w for a in _ASKING)
    ]
    # A word made of question words only ("要多久") is no subject either.
    return tuple(w for w in dict.fromkeys(out) if not _only_question_words(w))


def _only_question_words(word: str) -> bool:
    return _QUESTION_RUN.fullmatch(word) is not None


def known(index: PolicyIndex, word: str) -> bool:
    """Whether the library uses the word at all."""
    return word in index.words.vocabulary


def is_generic(index: PolicyIndex, word: str) -> bool:
    """Whether the library uses ``word`` in unrelated senses and never alone (remembered for
    the index: counting cuts the titles that hold the word, too slow for every question)."""
    return _generic(_Index(index), word)


class _Index:
    """An index as a cache key: by identity and revision, held weakly (a rebuilt index is a new
    key; an old one is not kept alive by the cache)."""

    __slots__ = ("_ref", "key")

    def __init__(self, index: PolicyIndex) -> None:
        self._ref = weakref.ref(index)
        self.key = (id(index), index.revision, index.built_in_s)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Index) and other.key == self.key

    def get(self) -> PolicyIndex | None:
        return self._ref()


# A pure function of an immutable index and a word: remembered like any pure function (per
# process, bounded); the composition root owns no state for it.
@functools.lru_cache(maxsize=GENERIC_CACHE)
def _generic(index: _Index, word: str) -> bool:
    live = index.get()
    return live is not None and _count_generic(live, word)


def _count_generic(index: PolicyIndex, word: str) -> bool:
    """Whether the library uses ``word`` in unrelated senses and never alone.

    Counted over the policies' short texts (titles by their subject, aliases) that hold the
    word: two policies are related when those texts share another uncommon word, one that is
    no part of the word itself (户口迁移登记 and 不动产登记 share none; the two 加装电梯 policies
    share 既有住宅). A word is generic when it falls into ``GENERIC_SENSES`` or more unrelated
    groups and no short text is the word alone (低保, an alias, names its policy by itself)."""
    col = index.words.vocabulary.get(word)
    if col is None:
        return False
    weights, rows = index.words.weights, index.short_words
    holding: dict[str, list[str]] = {}  # group → its short texts that hold the word
    for doc in weights.indices[weights.indptr[col] : weights.indptr[col + 1]][:_SCAN_LIMIT]:
        target = int(doc)
        if index.targets[target].kind != "policy" or target + 1 >= len(index.short_rows):
            continue
        first = int(index.short_rows[target])
        for row in range(first, int(index.short_rows[target + 1])):
            cols = rows.indices[rows.indptr[row] : rows.indptr[row + 1]]
            if col not in cols:
                continue
            if len(cols) == 1:  # this short text is the word alone: it names the policy
                return False
            text = index.short[target][row - first]
            text = title_subject(text) if row == first else text
            holding.setdefault(index.targets[target].group, []).append(text)
        if len(holding) >= _SENSE_GROUPS:  # enough to tell whether it has several senses
            break
    if len(holding) < GENERIC_SENSES:
        return False
    uncommon, vocabulary, idf = _uncommon_idf(index), index.words.vocabulary, index.words.idf
    companions = {
        group: {
            w
            for text in texts
            for w in index.tokeniser.words(text)
            if not set(w) & set(word) and w in vocabulary and idf[vocabulary[w]] >= uncommon
        }
        for group, texts in holding.items()
    }
    return _senses(companions) >= GENERIC_SENSES


def _uncommon_idf(index: PolicyIndex) -> float:
    """The IDF of a word in ``UNCOMMON_SHARE`` of the library's documents: words rarer than that
    tie two titles together, commoner ones (办法, 实施, 管理) do not."""
    n = max(index.words.n_docs, 1)
    df = max(UNCOMMON_SHARE * n, 2.0)
    return float(math.log1p((n - df + 0.5) / (df + 0.5)))


def _senses(companions: dict[str, set[str]]) -> int:
    """The number of groups of policies linked, directly or not, by a shared companion word."""
    parent = {g: g for g in companions}

    def root(g: str) -> str:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    owner: dict[str, str] = {}
    for group, words in companions.items():
        for word in words:
            if word in owner:
                parent[root(group)] = root(owner[word])
            else:
                owner[word] = group
    return len({root(g) for g in companions})


def group_text(library: Library, group: str) -> str:
    """What the library says about one policy (or a Q&A pair without one): title, aliases,
    topics, summary, body, interpretations, guide and Q&A pairs."""
    parts: list[str] = []
    policy = library.policy(group)
    if policy is not None:
        parts += [policy.title, *policy.aliases, *policy.topics, policy.summary or ""]
        parts += [policy.body or "", *(i.title for i in policy.interpretations)]
        if policy.guide:
            parts += [value for _field, value in policy.guide.items()]
        for qa in library.qa_for(policy.id):
            parts += [qa.question, *qa.similar, qa.answer]
    elif (alone := library.qa(group)) is not None:
        parts += [alone.question, *alone.similar, alone.answer]
    return _folded(parts)


def _folded(parts: list[str]) -> str:
    """Library text as questions are compared with it: the library is written in simplified
    characters already, so only case is folded (a body is long: nothing costlier)."""
    return "".join(parts).casefold()


def _subject_text(library: Library, policy_id: str) -> str:
    """What a policy is about: its title, aliases, topics, summary and stored questions (not
    the long texts, which mention other schemes in passing: 医疗救助 in a 低保 answer)."""
    policy = library.policy(policy_id)
    if policy is None:
        return group_text(library, policy_id)
    parts = [policy.title, *policy.aliases, *policy.topics, policy.summary or ""]
    for qa in library.qa_for(policy.id):
        parts += [qa.question, *qa.similar]
    return _folded(parts)


def fit(
    index: PolicyIndex,
    words: tuple[str, ...],
    group: str,
    expansion: tuple[str, ...] = (),
    *,
    generic: Callable[[str], bool] | None = None,
) -> Fit:
    """How the policy (or Q&A pair) ``group`` fits the subject words of a question.

    ``expansion`` holds the subject words the question's aliases add (低保 → 最低生活保障,
    ``expansion_words``): one the candidate holds counts as shared. ``generic`` answers
    ``is_generic`` (remembered across the candidates of one question)."""
    text = group_text(index.library, group)
    shared = tuple(w for w in words if w in text)
    foreign = tuple(w for w in words if w not in text and not _covered_by_part(w, shared))
    extra: tuple[str, ...] = ()
    if foreign and expansion:
        extra = tuple(w for w in expansion if w in text)
        shared += extra
    linked = bool(shared) or not any(known(index, w) for w in words)
    is_common = generic or (lambda w: is_generic(index, w))
    weak = bool(foreign) and all(is_common(w) for w in shared)
    # Sharing nothing is weak too, unless the library knows none of the words (then only the
    # matcher's sense of meaning links them, and it is left to judge).
    return Fit(shared, foreign, weak and (bool(shared) or not linked), extra)


def expansion_words(index: PolicyIndex, expanded: str, words: tuple[str, ...]) -> tuple[str, ...]:
    """The subject words of the question with its aliases' canonical terms (``expanded``)
    that the question itself does not have."""
    return tuple(w for w in subject_words(index, expanded) if w not in words) if expanded else ()


def _covered_by_part(word: str, shared: tuple[str, ...]) -> bool:
    """A compound whose parts are shared ("小微企业" when 小微 and 企业 are): the tokeniser cuts
    for search, so a compound and its parts arrive together."""
    return any(len(s) >= 2 and s in word for s in shared) and all(
        any(c in s for s in shared) for c in word
    )


def weak_candidates(
    index: PolicyIndex, text: str, candidates: tuple[Candidate, ...], expanded: str = ""
) -> set[str]:
    """The groups among ``candidates`` that are weak guesses for the question."""
    words = subject_words(index, text)
    if not words:
        return set()
    expansion = expansion_words(index, expanded, words)
    seen: dict[str, bool] = {}

    def generic(word: str) -> bool:
        if word not in seen:
            seen[word] = is_generic(index, word)
        return seen[word]

    groups = dict.fromkeys(c.group for c in candidates if not c.named)  # named: always meant
    return {g for g in groups if fit(index, words, g, expansion, generic=generic).weak}


def foreign_to_library(index: PolicyIndex, text: str) -> tuple[str, ...]:
    """Subject words the library never uses (结婚 in a library without marriage)."""
    return tuple(w for w in subject_words(index, text) if not known(index, w))


def names_subject(index: PolicyIndex, word: str) -> bool:
    """Whether ``word`` is part of some policy's title or alias: a subject of its own, so a
    question holding it ("公租房要什么材料") is about that, not the policy last shown."""
    col = index.words.vocabulary.get(word)
    if col is None:
        return False
    weights, rows = index.words.weights, index.short_words
    for doc in weights.indices[weights.indptr[col] : weights.indptr[col + 1]][:_SCAN_LIMIT]:
        target = int(doc)
        if index.targets[target].kind != "policy" or target + 1 >= len(index.short_rows):
            continue
        for row in range(int(index.short_rows[target]), int(index.short_rows[target + 1])):
            if col in rows.indices[rows.indptr[row] : rows.indptr[row + 1]]:
                return True
    return False


def other_subject(index: PolicyIndex, text: str, policy_id: str, *, refers_back: bool) -> bool:
    """Whether a short question names a subject other than the policy last shown: a word of
    another policy's title or alias ("残疾人补贴多少钱" after 低保; when the question points back,
    "那补贴多少", a generic word is not enough), or — unless it points back — a word the
    library does not know at all ("公租房" in a library that only says 公共租赁住房)."""
    own = _subject_text(index.library, policy_id)
    return any(
        w not in own
        and (
            (names_subject(index, w) and not (refers_back and is_generic(index, w)))
            or (not refers_back and not known(index, w))
        )
        for w in subject_words(index, text)
    )


def not_a_question(index: PolicyIndex, text: str) -> bool:
    """Punctuation, an emoji code such as "/::)", keyboard noise ("asdfgh 123") or a bare
    number: no Chinese, and no letters the library uses (its ETC or PM2.5 would be)."""
    if _CONTENT.search(text) is None:
        return True
    plain = normalise(text)
    if _HAN.search(plain):
        return False
    tokens = _LATIN_OR_DIGITS.findall(plain)
    return not any(t in index.words.vocabulary and not t.isdigit() for t in tokens)
