"""An immutable search index over a library, built off the event loop and swapped atomically.

What is searchable is a *target*: a policy or a Q&A pair. Each target gets one lexical document
(title and aliases weighted double, then topics, issuer, summary, interpretation titles; for a
Q&A its question and similar phrasings, which is what people ask, not the answer), indexed three
ways (words, characters, pinyin). Long policy bodies are split into passages with their own
index. Short texts (titles, aliases, questions) are also kept for fuzzy comparison and, when an
embedder is available, as sentence vectors.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from scipy import sparse

from policy_index.bm25 import BM25
from policy_index.embedding import Embedder, EmbeddingCache, Vectors
from policy_index.lexicon import COLLOQUIAL
from policy_index.model import Library, Policy, QAPair
from policy_index.normalise import normalise
from policy_index.places import Gazetteer, Place, gazetteer
from policy_index.schemes import subject
from policy_index.tokenise import STOP_CHARS, Tokeniser, domain_terms, syllables

PASSAGE_CHARS = 220
PASSAGE_STRIDE = 160
INLINE_BODY_CHARS = 400  # shorter bodies simply join the target's document
SUMMARY_UNIT_CHARS = 80  # the summary's opening sentence(s) embedded as a unit
EMBED_SUMMARIES_UP_TO = 5_000  # larger libraries embed titles, aliases and questions only
DOCUMENT_CHARS = 400  # a document vector reads the title and about this much of what follows
INTERPRETATION_DOCUMENTS = 2  # interpretation summaries embedded per policy

_SENTENCE_END = re.compile(r"(?<=[。；！？!?;])")
_YEAR_SPAN = re.compile(r"((?:19|20)\d\d)(?:\s*[-—–~至到]\s*((?:19|20)\d\d))?")
_NON_WORD = re.compile(r"\s+")

TargetKind = Literal["policy", "qa"]
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class Target:
    kind: TargetKind
    id: str
    group: str  # the policy a Q&A belongs to (its own id if none): one "thing" for the user


@dataclass(frozen=True, slots=True)
class Unit:
    """A short text standing for a target (title, alias, question, …)."""

    target: int
    text: str  # normalised
    field: str  # title | alias | question | similar | summary | interpretation


@dataclass(frozen=True)
class PolicyIndex:
    library: Library
    targets: tuple[Target, ...]
    tokeniser: Tokeniser
    words: BM25
    chars: BM25
    pinyin: BM25
    passages: BM25 | None
    passage_owner: npt.NDArray[np.int32]
    units: tuple[Unit, ...]
    short: tuple[tuple[str, ...], ...]  # per target: title/aliases or question/similar
    # The same short texts as IDF-weighted words (rows; a policy title by its subject, see
    # ``title_subject``), target t owning rows short_rows[t]:short_rows[t + 1]
    short_words: sparse.csr_matrix
    short_rows: npt.NDArray[np.int64]
    unit_owner: npt.NDArray[np.int32]
    unit_vectors: Vectors | None
    embedder: Embedder | None
    aliases: tuple[tuple[str, str], ...]  # (normalised alias, normalised canonical), longest first
    # pinyin of an alias → the aliases that sound so, by number of syllables
    alias_sounds: dict[int, dict[tuple[str, ...], tuple[str, ...]]]
    term_sounds: dict[tuple[str, ...], str]  # pinyin of a library term (3+ characters) → term
    doc_numbers: dict[str, int]  # compact normalised 文号 → target
    numbers: dict[int, str]  # target → its compact normalised 文号
    positions: dict[tuple[str, str], int]  # (kind, id) → target
    # What each policy says (title with summary, guide, interpretations), as passage vectors;
    # document_owner[k] is the target of row k
    document_vectors: Vectors | None = None
    document_owner: npt.NDArray[np.int32] = field(
        default_factory=lambda: np.zeros(0, dtype=np.int32)
    )
    # Where each target belongs (a Q&A pair: its policy's place; None when nothing says), the
    # gazetteer that read it (with the home region), and the home region's place
    places: tuple[Place | None, ...] = ()
    gazetteer: Gazetteer | None = None
    home: Place | None = None
    years: tuple[frozenset[int], ...] = ()  # the years each target's title names
    # what each target's policy is about, for telling versions of one scheme (see schemes.py)
    schemes: tuple[str, ...] = ()
    revision: int = -1  # the library revision it was built from (-1: none yet)
    built_in_s: float = 0.0
    today: date = field(default_factory=lambda: local_today())

    def target_of(self, kind: TargetKind, target_id: str) -> int | None:
        return self.positions.get((kind, target_id))

    def policy(self, target: int) -> Policy | None:
        t = self.targets[target]
        return self.library.policy(t.id) if t.kind == "policy" else None

    def qa(self, target: int) -> QAPair | None:
        t = self.targets[target]
        return self.library.qa(t.id) if t.kind == "qa" else None

    def __len__(self) -> int:
        return len(self.targets)


def local_today() -> date:
    """Today in the county's time zone (validity changes at local midnight)."""
    return datetime.now(LOCAL_TZ).date()


def compact(text: str) -> str:
    """Normalised text without spaces (for 文号 and title containment)."""
    return _NON_WORD.sub("", normalise(text))


def _passages(text: str) -> list[str]:
    text = normalise(text)
    if len(text) <= PASSAGE_CHARS:
        return [text]
    out, start = [], 0
    while True:
        out.append(text[start : start + PASSAGE_CHARS])
        if start + PASSAGE_CHARS >= len(text):
            return out
        start += PASSAGE_STRIDE


def years_named(text: str) -> frozenset[int]:
    """The years a text names (2023, 2023—2025 as every year between)."""
    out: set[int] = set()
    for first, last in _YEAR_SPAN.findall(text):
        start, end = int(first), int(last or first)
        out.update(range(start, end + 1) if 0 <= end - start <= 10 else (start, end))
    return frozenset(out)


def _places(
    library: Library, targets: Sequence[Target], home: str | None
) -> tuple[tuple[Place | None, ...], Gazetteer, Place | None]:
    g, home_place = gazetteer(), None
    if home:
        g, home_place = g.with_home(normalise(home).replace(" ", ""))
    by_policy = {
        p.id: g.place_of([p.region, normalise(p.issuer or ""), normalise(p.title)])
        for p in library.policies
    }
    return tuple(by_policy.get(t.group) for t in targets), g, home_place


def title_subject(title: str) -> str:
    """What an official title is about: the words after its issuers and "关于" (发文机关 + 关于 +
    事由 + 文种), or the whole title when it has no "关于"."""
    at = title.find("关于")
    return title[at + 2 :] if at >= 0 and len(title) - at > 4 else title


def _short_words(
    tokeniser: Tokeniser, words: BM25, c: _Collected
) -> tuple[sparse.csr_matrix, npt.NDArray[np.int64]]:
    rows: list[int] = []
    cols: list[int] = []
    starts = [0]
    n = 0
    for target, short in zip(c.targets, c.short, strict=True):
        for k, text in enumerate(short):
            if k == 0 and target.kind == "policy":
                text = title_subject(text)
            found = (words.vocabulary.get(w) for w in tokeniser.words(text) if w not in STOP_CHARS)
            ids = {i for i in found if i is not None}
            rows.extend([n] * len(ids))
            cols.extend(ids)
            n += 1
        starts.append(n)
    col = np.asarray(cols, dtype=np.int32)
    matrix = sparse.csr_matrix(
        (words.idf[col], (np.asarray(rows, dtype=np.int32), col)),
        shape=(n, len(words.vocabulary)),
        dtype=np.float32,
    )
    return matrix, np.asarray(starts, dtype=np.int64)


def _opening(summary: str) -> str:
    text = ""
    for sentence in _SENTENCE_END.split(summary):
        if text and len(text) + len(sentence) > SUMMARY_UNIT_CHARS:
            break
        text += sentence
    return text[: SUMMARY_UNIT_CHARS * 2]


@dataclass
class _Collected:
    targets: list[Target] = field(default_factory=list)
    docs: list[list[str]] = field(default_factory=list)  # normalised field texts per target
    short: list[list[str]] = field(default_factory=list)  # short texts (pinyin, fuzzy)
    units: list[Unit] = field(default_factory=list)
    passages: list[str] = field(default_factory=list)
    passage_owner: list[int] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)
    document_owner: list[int] = field(default_factory=list)

    def document(self, target: int, title: str, text: str | None) -> None:
        if text and text.strip():
            self.documents.append(f"{title}。{text.strip()[:DOCUMENT_CHARS]}")
            self.document_owner.append(target)

    def add(self, target: Target, docs: list[str], short: list[str]) -> int:
        self.targets.append(target)
        self.docs.append([d for d in docs if d])
        self.short.append([s for s in short if s])
        return len(self.targets) - 1


def _documents(c: _Collected, target: int, p: Policy) -> None:
    """What a policy says, as texts for passage vectors: its title with its summary (or the
    opening of its body), with its guide, with each of its first interpretation summaries."""
    c.document(target, p.title, p.summary or p.body)
    if p.guide:
        c.document(target, p.title, "；".join(text for _, text in p.guide.items()))
    for i in p.interpretations[:INTERPRETATION_DOCUMENTS]:
        c.document(target, p.title, i.summary)


def _collect(library: Library, embed_summaries: bool) -> _Collected:
    c = _Collected()
    for p in library.policies:
        title, aliases = normalise(p.title), [normalise(a) for a in p.aliases]
        docs = [title, title, *aliases, *aliases, *(normalise(t) for t in p.topics)]
        docs += [normalise(p.issuer or ""), normalise(p.summary or "")]
        docs += [normalise(i.title) for i in p.interpretations]
        if p.guide:
            docs += [normalise(p.guide.target or ""), normalise(p.guide.conditions or "")]
        body = p.body or ""
        if body:  # the whole text counts for the document; long ones also by passage
            docs.append(normalise(body))
        i = c.add(Target("policy", p.id, p.id), docs, [title, *aliases])
        c.units.append(Unit(i, title, "title"))
        c.units.extend(Unit(i, a, "alias") for a in aliases if len(a) >= 2)
        if embed_summaries:
            _documents(c, i, p)
        if len(body) > INLINE_BODY_CHARS:
            for passage in _passages(body):
                c.passages.append(passage)
                c.passage_owner.append(i)
    for q in library.qa_pairs:
        group = q.policy_id if q.policy_id and library.policy(q.policy_id) else q.id
        question, similar = normalise(q.question), [normalise(s) for s in q.similar]
        parent = library.policy(q.policy_id) if q.policy_id else None
        docs = [question, question, *similar, *similar]
        if parent is not None:
            docs.append(normalise(parent.title))
        i = c.add(Target("qa", q.id, group), docs, [question, *similar])
        c.units.append(Unit(i, question, "question"))
        c.units.extend(Unit(i, s, "similar") for s in similar)
    return c


def build_index(
    library: Library,
    *,
    embedder: Embedder | None = None,
    cache: EmbeddingCache | None = None,
    revision: int = -1,
    today: date | None = None,
    home_region: str | None = None,
) -> PolicyIndex:
    """Build every structure from scratch (CPU-heavy: run it in a worker thread).

    ``home_region`` names the deployment's own place in full (江屿省云州市青禾区): its own and
    its parents' policies come first among equal fits."""
    started = time.perf_counter()
    c = _collect(library, embed_summaries=len(library.policies) <= EMBED_SUMMARIES_UP_TO)
    own = {normalise(a.alias): normalise(a.canonical) for a in library.aliases}
    builtin = {normalise(a): normalise(c) for a, c in COLLOQUIAL if normalise(a) not in own}
    alias_pairs = sorted({**builtin, **own}.items(), key=lambda pair: -len(pair[0]))
    phrases = [d for short in c.short for d in dict.fromkeys(short)]
    tokeniser = Tokeniser(
        domain_terms(
            phrases,
            [t for pair in alias_pairs for t in pair]
            + [a for p in library.policies for a in p.aliases],
            [t for p in library.policies for t in p.topics],
        )
    )
    term_sounds = {
        sound[:-1]: term
        for term in tokeniser.domain_terms
        if 3 <= len(term) <= 8 and len(sound := syllables(term)) == len(term) + 1
    }
    joined = [" ".join(docs) for docs in c.docs]
    words = BM25.build([tokeniser.words(d) for d in joined])
    short_words, short_rows = _short_words(tokeniser, words, c)
    vectors = documents = None
    if embedder is not None and c.units:
        store = cache if cache is not None else EmbeddingCache()
        vectors = store.embed(embedder, [u.text for u in c.units])
        if c.documents:
            documents = store.embed(embedder, c.documents, documents=True)
    doc_numbers = {
        compact(p.doc_number): i
        for i, t in enumerate(c.targets)
        if t.kind == "policy" and (p := library.policy(t.id)) is not None and p.doc_number
    }
    places, places_read, home = _places(library, c.targets, home_region)
    titles = {p.id: years_named(p.title) for p in library.policies}
    about = {p.id: subject(normalise(p.title), places_read) for p in library.policies}
    return PolicyIndex(
        library=library,
        targets=tuple(c.targets),
        tokeniser=tokeniser,
        words=words,
        chars=BM25.build([tokeniser.chars(d) for d in joined]),
        pinyin=BM25.build([[s for t in short for s in tokeniser.pinyin(t)] for short in c.short]),
        passages=(
            BM25.build([tokeniser.words(p) + tokeniser.chars(p) for p in c.passages])
            if c.passages
            else None
        ),
        passage_owner=np.asarray(c.passage_owner, dtype=np.int32),
        units=tuple(c.units),
        short=tuple(tuple(s.replace(" ", "") for s in short) for short in c.short),
        short_words=short_words,
        short_rows=short_rows,
        unit_owner=np.asarray([u.target for u in c.units], dtype=np.int32),
        unit_vectors=vectors,
        embedder=embedder if vectors is not None else None,
        document_vectors=documents,
        document_owner=np.asarray(c.document_owner, dtype=np.int32),
        aliases=tuple(alias_pairs),
        term_sounds=term_sounds,
        alias_sounds=_by_sound(
            (sound[:-1], alias)
            for alias, _ in alias_pairs
            if len(alias) >= 2 and len(sound := syllables(alias)) == len(alias) + 1
        ),
        doc_numbers={k: v for k, v in doc_numbers.items() if k},
        numbers={v: k for k, v in doc_numbers.items() if k},
        positions={(t.kind, t.id): i for i, t in enumerate(c.targets)},
        places=places,
        gazetteer=places_read,
        home=home,
        years=tuple(titles.get(t.id, frozenset()) for t in c.targets),
        schemes=tuple(about.get(t.group, "") for t in c.targets),
        revision=revision,
        built_in_s=time.perf_counter() - started,
        today=today or local_today(),
    )


def _by_sound(
    pairs: Iterable[tuple[tuple[str, ...], str]],
) -> dict[int, dict[tuple[str, ...], tuple[str, ...]]]:
    out: dict[int, dict[tuple[str, ...], tuple[str, ...]]] = {}
    for sound, alias in pairs:
        same = out.setdefault(len(sound), {})
        same[sound] = (*same.get(sound, ()), alias)
    return out


def max_by_owner(
    scores: npt.NDArray[np.float32], owner: Sequence[int] | npt.NDArray[np.int32], n: int
) -> npt.NDArray[np.float32]:
    """For each target, the best score among its units (−inf where it has none)."""
    owner = np.asarray(owner, dtype=np.int64)
    out = np.full(n, -np.inf, dtype=np.float32)
    if not len(owner):
        return out
    if np.all(owner[1:] >= owner[:-1]):  # units are built target by target: one pass
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        out[owner[starts]] = np.maximum.reduceat(scores, starts)
        return out
    np.maximum.at(out, owner, scores)
    return out
