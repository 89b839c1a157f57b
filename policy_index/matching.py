"""From a question to a decision: answer, clarify (numbered choice) or none (route to people).

Pipeline: normalise → alias expansion → named-document shortcut (文号 or full title) → four
candidate generators (BM25 over words, characters and pinyin; sentence vectors when available;
long bodies by passage) → reciprocal-rank fusion → a transparent linear rerank of the pool →
validity (repealed or lapsed policies give way to their replacement unless the user named
them) → a calibrated confidence per candidate → a question-level model (with sentence vectors;
the answer band and the margin to the best *other* scheme without) decides whether the best is
answered directly; a question whose every word is in the titles of several policies is broad,
and offered as a choice.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz

from policy_index.calibration import LEXICAL, Calibration, default_calibration, logit
from policy_index.index import PolicyIndex, compact, max_by_owner, years_named
from policy_index.normalise import normalise
from policy_index.places import Place, Tier
from policy_index.schemes import alike
from policy_index.tokenise import syllables_and_characters

POOL_PER_SIGNAL = 30
RRF_K = 60
# multilingual-e5 was trained with an InfoNCE temperature of 0.01 (its model card, on why its
# cosines lie between 0.7 and 1): a constant of the model, not fitted here
E5_TEMPERATURE = 0.01
_DOC_NUMBER = re.compile(r"([\u4e00-\u9fff]+)\s*(\d{4})\s*(\d{1,4})\s*号")
_HAS_CONTENT = re.compile(r"[\u3400-\u9fffa-z0-9]")


class Decision(StrEnum):
    ANSWER = "answer"
    CLARIFY = "clarify"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Candidate:
    target: int
    kind: str  # policy | qa
    id: str
    group: str
    score: float  # calibrated probability that this is what the user wants
    named: bool = False  # the user named this policy (文号 or title)
    replaced: str | None = None  # an old policy this one replaces, if it took its place
    covers: bool = False  # one of its short texts holds every word of the question
    elsewhere: bool = False  # it belongs to another place than the one the question names


@dataclass(frozen=True)
class MatchResult:
    query: str
    normalised: str
    decision: Decision
    candidates: tuple[Candidate, ...]
    margin: float = 0.0
    features: dict[str, list[float]] = field(default_factory=dict, repr=False)

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


def expand_aliases(index: PolicyIndex, text: str) -> str:
    """Append the canonical term of every alias the text contains, also when it is typed with
    a homophone (低宝 → 低保 → 最低生活保障); longest aliases first.

    Characters that are a word of their own are taken as meant, never as a homophone of an
    alias or a library term: 救济 is not a mistyped 救急; nor is a homophone read across a
    word the user typed: 九几年 holds no 救急."""
    sound, chars = syllables_and_characters(text)
    typed = _Typed(index, text, chars)
    heard = {
        alias
        for n, sounds in index.alias_sounds.items()
        for i in range(len(sound) - n + 1)
        for alias in sounds.get(sound[i : i + n], ())
        if not typed.meant(i, n)
    }
    added = [t for t in _heard_terms(index, sound, typed) if t not in text]
    for alias, canonical in index.aliases:
        if alias in text or alias in heard:
            for term in (alias, canonical):
                if term not in text and term not in added:
                    added.append(term)
    return text if not added else text + " " + " ".join(added)


def _heard_terms(index: PolicyIndex, sound: tuple[str, ...], typed: _Typed) -> list[str]:
    """Library terms the question says with other characters of the same sound (免审即享)."""
    found: list[str] = []
    for n in range(3, 9):
        for i in range(len(sound) - n + 1):
            term = index.term_sounds.get(sound[i : i + n])
            if term is not None and term not in found and not typed.meant(i, n):
                found.append(term)
    return found


@dataclass
class _Typed:
    """The characters of a question, aligned with its syllables, and where its words are."""

    index: PolicyIndex
    text: str
    chars: tuple[str, ...]
    _inside: tuple[bool, ...] | None = None  # Tokeniser.inside_words, cut when first needed

    def meant(self, i: int, n: int) -> bool:
        """Whether the ``n`` characters typed from ``i`` are not a homophone of something
        else: they are a word of their own, or the span cuts through a word."""
        if self.index.tokeniser.is_word("".join(self.chars[i : i + n])):
            return True
        if self._inside is None:
            self._inside = self.index.tokeniser.inside_words(self.text)
        return self._inside[i] or (i + n < len(self._inside) and self._inside[i + n])


def named_by_number(index: PolicyIndex, text: str) -> list[int]:
    found = []
    for prefix, year, number in _DOC_NUMBER.findall(text):
        for start in range(len(prefix)):
            target = index.doc_numbers.get(f"{prefix[start:]}{year}{number}号")
            if target is not None:
                found.append(target)
                break
    return found


def _top(scores: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.intp]:
    positive = np.flatnonzero(scores > 0)
    if len(positive) <= k:
        return positive
    part = np.argpartition(-scores[positive], k)[:k]
    return positive[part]


def _ranks(values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """1 for the best value, …; equal values share the better rank (two versions of one
    scheme that a question cannot tell apart stay equal fits)."""
    descending = np.sort(-values)
    ranks = (np.searchsorted(descending, -values, side="left") + 1).astype(np.float32)
    ranks[values <= 0] = np.inf
    return ranks


@dataclass(frozen=True, slots=True)
class Terms:
    """The expanded question cut three ways, once per question."""

    words: list[str]
    chars: list[str]
    pinyin: list[str]

    @classmethod
    def of(cls, index: PolicyIndex, text: str) -> Terms:
        tok = index.tokeniser
        return cls(tok.words(text), tok.chars(text), tok.pinyin(text))


def _lexical_signals(index: PolicyIndex, terms: Terms) -> dict[str, npt.NDArray[np.float32]]:
    out = {
        "words": index.words.scores(terms.words),
        "chars": index.chars.scores(terms.chars),
        "pinyin": index.pinyin.scores(terms.pinyin),
    }
    if index.passages is not None:
        passage = index.passages.scores(terms.words + terms.chars)
        out["passages"] = np.maximum(max_by_owner(passage, index.passage_owner, len(index)), 0)
    return out


def _vector_signal(
    index: PolicyIndex, plain: str, deadline: float | None = None
) -> dict[str, npt.NDArray[np.float32]]:
    if index.embedder is None or index.unit_vectors is None:
        return {}
    timeout = None if deadline is None else deadline - time.monotonic()
    if timeout is not None and timeout <= 0:
        raise TimeoutError("no time left for the question vector")
    query = index.embedder.queries([plain], timeout)[0]
    cosine = index.unit_vectors @ query
    out = {"vector": np.maximum(max_by_owner(cosine, index.unit_owner, len(index)), 0)}
    if index.document_vectors is not None:
        said = index.document_vectors @ query
        out["documents"] = np.maximum(max_by_owner(said, index.document_owner, len(index)), 0)
    return out


# Features that depend on the question and the target alone, not on the rest of the pool: each
# is computed once per question and target, so the second (vector) pass of ``match`` only pays
# for the targets the vector signal adds.
_OWN = (
    "word_cover",
    "char_cover",
    "pinyin_cover",
    "fuzzy",
    "qa",
    "title_cover",
    "elsewhere",
    "not_national",
    "own_level",
    "year_fit",
)


def _own_features(
    index: PolicyIndex, q: _Question, pool: npt.NDArray[np.intp]
) -> dict[str, npt.NDArray[np.float32]]:
    new = [t for t in pool.tolist() if t not in q.own]
    if new:
        plain = q.text.replace(" ", "")
        columns = (
            index.words.coverage(q.terms.words, new),
            index.chars.coverage(q.terms.chars, new),
            index.pinyin.coverage(q.terms.pinyin, new),
            [max((fuzz.ratio(plain, s) for s in index.short[t]), default=0) / 100.0 for t in new],
            [float(index.targets[t].kind == "qa") for t in new],
            title_cover(index, q.terms.words, new),
            [float(_elsewhere(index, q.place, t)) for t in new],
            [float(_not_national(index, q.place, t)) for t in new],
            [float(_own_level(index, q.place, t)) for t in new],
            [_year_fit(index, q.years, t) for t in new],
        )
        for t, row in zip(new, zip(*columns, strict=True), strict=True):
            q.own[t] = tuple(float(v) for v in row)
    rows = np.asarray([q.own[t] for t in pool.tolist()], dtype=np.float32).reshape(-1, len(_OWN))
    return {name: rows[:, i].copy() for i, name in enumerate(_OWN)}


def _elsewhere(index: PolicyIndex, asked: Place | None, t: int) -> bool:
    """The target belongs to another place than the (non-national) one the question names."""
    if asked is None or index.gazetteer is None or asked.tier is Tier.NATION:
        return False
    return index.gazetteer.elsewhere(asked, index.places[t] if index.places else None)


def _not_national(index: PolicyIndex, asked: Place | None, t: int) -> bool:
    """The question asks what the state grants (国家有补助吗) and the target is a local policy
    of another place than home: a hint, not a rule (a county's policy often carries out the
    national scheme)."""
    if asked is None or asked.tier is not Tier.NATION or index.gazetteer is None:
        return False
    place = index.places[t] if index.places else None
    return index.gazetteer.elsewhere(asked, place) and not index.gazetteer.at_home(
        index.home, place
    )


def _own_level(index: PolicyIndex, asked: Place | None, t: int) -> bool:
    """The question names no place and the target is a national policy or the home region's
    (or one of its parents'): such a policy answers whoever asks, where another place's own
    policy answers only its residents (the labelling rules: a question with no place counts
    for national policies that answer it, and for local ones only where they settle it for
    their own area)."""
    if asked is not None or index.gazetteer is None or not index.places:
        return False
    place = index.places[t]
    if place is None:
        return False
    return place.tier is Tier.NATION or index.gazetteer.at_home(index.home, place)


def _local(index: PolicyIndex, t: int) -> bool:
    """The target is another place's own policy: it has a place, neither the nation nor the
    home region or one of its parents."""
    return bool(index.places) and index.places[t] is not None and not _own_level(index, None, t)


def _year_fit(index: PolicyIndex, years: frozenset[int], t: int) -> float:
    """1 when the question names a year its title names too, −1 when the title names only
    other years, 0 when either names none."""
    named = index.years[t] if index.years else frozenset()
    if not years or not named:
        return 0.0
    return 1.0 if years & named else -1.0


def title_cover(index: PolicyIndex, words: list[str], targets: list[int]) -> list[float]:
    """For each target, the largest share of one of its short texts (a policy title's subject,
    an alias, a Q&A question) that the question's words cover, IDF-weighted. Low when the
    candidate is about something the question never mentions: 不动产登记 for a question
    about 结婚登记."""
    rows = index.short_rows
    at = np.asarray(targets, dtype=np.int64)
    starts, ends = rows[at], rows[at + 1]
    lengths = ends - starts
    if not len(at) or not lengths.sum():
        return [0.0] * len(targets)
    # every row of every target, in target order
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    picked = index.short_words[offsets + np.arange(int(lengths.sum()))]
    total = np.asarray(picked.sum(axis=1)).ravel()
    asked = sorted({i for w in words if (i := index.words.vocabulary.get(w)) is not None})
    found = np.asarray(picked[:, asked].sum(axis=1)).ravel() if asked else np.zeros(len(total))
    share = np.divide(found, total, out=np.zeros(len(total)), where=total > 0)
    out = np.zeros(len(at))
    has = lengths > 0
    out[has] = np.maximum.reduceat(share, (np.cumsum(lengths) - lengths)[has])
    return out.tolist()


def _features(
    index: PolicyIndex, q: _Question, pool: npt.NDArray[np.intp]
) -> dict[str, npt.NDArray[np.float32]]:
    signals = q.signals
    rrf = np.zeros(len(pool), dtype=np.float32)
    for values in signals.values():
        rrf += 1.0 / (RRF_K + _ranks(values[pool]))
    vector = signals["vector"][pool] if "vector" in signals else np.zeros(len(pool), np.float32)
    said = signals["documents"][pool] if "documents" in signals else None
    doc = vector if said is None else np.where(said > 0, said, vector)
    return {
        "rrf": (rrf * RRF_K / max(len(signals), 1)).astype(np.float32),
        **_own_features(index, q, pool),
        "vector": vector,
        # a target without a document vector (a Q&A pair) counts by its best short text
        "doc_vector": doc,
        # the same as a gap to the best in the pool (≤ 0): cosines run higher in some
        # libraries than in others, their order within a question does not
        "vector_gap": _gap(vector),
        "doc_gap": _gap(doc),
        # and by their rank in the pool (1, 1/2, 1/3, …): e5's cosines are close together
        # (0.88–0.92 on a real catalogue), the best of them is worth more than its lead says
        "vector_rr": _reciprocal_rank(vector),
        "doc_rr": _reciprocal_rank(doc),
        # and as e5 itself would weigh them: a softmax over the pool at the temperature it was
        # trained with, so a lead of 0.01 counts as much in any library
        "vector_soft": cosine_shares(vector),
        "doc_soft": cosine_shares(doc),
        "words_rel": _relative(signals["words"][pool]),
        "chars_rel": _relative(signals["chars"][pool]),
        "passages_rel": _relative(signals["passages"][pool])
        if "passages" in signals
        else np.zeros(len(pool), np.float32),
    }


def _reciprocal_rank(values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """1 for the best value in the pool, 1/2 for the next, …; 0 where there is none."""
    return (1.0 / _ranks(values)).astype(np.float32)


def cosine_shares(values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Cosines as shares of the pool at e5's training temperature (0 everywhere without)."""
    top = float(values.max()) if len(values) else 0.0
    if top <= 0:
        return np.zeros(len(values), np.float32)
    e: npt.NDArray[np.float64] = np.exp((values.astype(np.float64) - top) / E5_TEMPERATURE)
    return (e / float(e.sum())).astype(np.float32)


def _gap(values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Each value less the best in the pool (0 for the best, 0 everywhere without values)."""
    top = float(values.max()) if len(values) else 0.0
    return (values - top).astype(np.float32) if top > 0 else np.zeros(len(values), np.float32)


def _relative(values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Scores as a share of the best in the pool (0–1): comparable across questions."""
    top = float(values.max()) if len(values) else 0.0
    return (values / top).astype(np.float32) if top > 0 else np.zeros(len(values), np.float32)


@dataclass(frozen=True)
class Pool:
    """The candidates worth scoring for one question, with their rerank features."""

    plain: str  # the normalised question
    targets: npt.NDArray[np.intp]
    features: dict[str, npt.NDArray[np.float32]]
    named: frozenset[int]
    unknown: float = 0.0  # share of the question's words the library never uses
    asked: tuple[str, ...] = ()  # the question's own words (no aliases), see ``covering``
    place: Place | None = None  # the place the question names


@dataclass
class _Question:
    """One question's lexical work, kept so that adding the vector signal repeats none of it."""

    plain: str
    text: str  # with aliases expanded
    terms: Terms
    signals: dict[str, npt.NDArray[np.float32]]
    named: set[int]
    asked: tuple[str, ...]  # the user's own words, before alias expansion
    place: Place | None = None  # the place it names (the nation for 国家), if any
    years: frozenset[int] = frozenset()  # the years it names
    own: dict[int, tuple[float, ...]] = field(default_factory=dict)  # see _own_features
    titled: dict[int, bool] = field(default_factory=dict)  # see _named_in_pool


def _question(index: PolicyIndex, query: str) -> _Question | None:
    plain = normalise(query)
    if not _HAS_CONTENT.search(plain) or len(index) == 0:
        return None
    text = expand_aliases(index, plain)
    terms = Terms.of(index, text)
    named = set(named_by_number(index, compact(query)))
    asked = tuple(dict.fromkeys(index.tokeniser.words(plain)))
    flat = plain.replace(" ", "")
    place = index.gazetteer.asked(flat) if index.gazetteer is not None else None
    signals = _lexical_signals(index, terms)
    return _Question(plain, text, terms, signals, named, asked, place, years_named(flat))


def _pool(index: PolicyIndex, q: _Question) -> Pool | None:
    tops = [_top(v, POOL_PER_SIGNAL) for v in q.signals.values()]
    pool = np.unique(np.concatenate([*tops, np.fromiter(q.named, np.intp)])).astype(np.intp)
    if not len(pool):
        return None
    named = q.named | _named_in_pool(index, q, pool)
    features = _features(index, q, pool)
    unknown = unknown_share(index, q.terms)
    return Pool(q.plain, pool, features, frozenset(named), unknown, q.asked, q.place)


def candidate_pool(index: PolicyIndex, query: str, *, vectors: bool = True) -> Pool | None:
    """The scored candidates for ``query`` (with the vector signal when the index has one
    and ``vectors`` is true)."""
    q = _question(index, query)
    if q is None:
        return None
    if vectors:
        q.signals.update(_vector_signal(index, q.plain))
    return _pool(index, q)


def match(
    index: PolicyIndex,
    query: str,
    *,
    top: int = 5,
    calibration: Calibration | None = None,
    deadline: float | None = None,
) -> MatchResult:
    """Match one question against the index (pure CPU work, a few milliseconds).

    With sentence vectors the question is first matched lexically (a quarter of the cost):
    when that pass is already sure of its answer — the calibrated ``calibration.first`` bands
    with a confidence of at least ``calibration.sure`` — it stands, and the query embedding is
    skipped; otherwise the vector signal joins the same candidate generators. If the question
    vector is not ready by ``deadline`` (``time.monotonic()``), the lexical result stands.
    """
    calibration = calibration or default_calibration(index.embedder is not None)
    q = _question(index, query)
    if q is None:
        return MatchResult(query, normalise(query), Decision.NONE, ())
    if index.embedder is None or index.unit_vectors is None:
        return _scored(index, query, q, calibration, top)
    lexical = None
    if calibration.first is not None:
        lexical = _scored(index, query, q, calibration.first, top)
        best = lexical.best
        if (
            best is not None
            and lexical.decision is Decision.ANSWER
            and (best.named or best.score >= calibration.sure)
        ):
            return lexical
    try:
        q.signals.update(_vector_signal(index, q.plain, deadline))
    except TimeoutError:
        return lexical or _scored(index, query, q, LEXICAL, top)
    return _scored(index, query, q, calibration, top)


def _scored(
    index: PolicyIndex, query: str, q: _Question, calibration: Calibration, top: int
) -> MatchResult:
    pool = _pool(index, q)
    if pool is None:
        return MatchResult(query, q.plain, Decision.NONE, ())
    probability = calibration.probability(pool.features)
    ranked = rank_candidates(index, pool.targets, probability, set(pool.named), pool.place)
    return _decide(index, query, pool, covering(index, pool.asked, ranked), calibration, top)


def _named_in_pool(index: PolicyIndex, q: _Question, pool: npt.NDArray[np.intp]) -> set[int]:
    """Pool policies the question names by their full 文号 or (nearly) full title."""
    flat = q.plain.replace(" ", "")
    named = set()
    for t in pool.tolist():
        if t not in q.titled:
            q.titled[t] = _names(index, flat, t)
        if q.titled[t]:
            named.add(t)
    return named


def _names(index: PolicyIndex, flat: str, t: int) -> bool:
    if index.targets[t].kind != "policy":
        return False
    number = index.numbers.get(t, "")
    if len(number) >= 6 and number in flat:
        return True
    title = index.short[t][0] if index.short[t] else ""
    return (
        len(title) >= 8 and len(flat) >= 0.8 * len(title) and fuzz.partial_ratio(title, flat) >= 95
    )


def rank_candidates(
    index: PolicyIndex,
    pool: npt.NDArray[np.intp],
    probability: npt.NDArray[np.float32],
    named: set[int],
    place: Place | None = None,
) -> list[Candidate]:
    """Candidates by score; old policies give way to their replacement unless named.

    A policy of another place than the one the question names comes after every other
    candidate (it is never the answer); among equal fits (the same confidence to two
    decimals) the home region's and its parents' policies come first, then the newer."""
    best: dict[int, Candidate] = {}
    for t, p in zip(pool.tolist(), probability.tolist(), strict=True):
        target = index.targets[t]
        owner = index.library.policy(target.group)
        if t in named:
            best[t] = Candidate(t, target.kind, target.id, target.group, 1.0, named=True)
            continue
        if owner is None or owner.in_force(index.today):
            if t not in best or best[t].score < p:
                best[t] = Candidate(t, target.kind, target.id, target.group, p)
            continue
        replacement = _current_replacement(index, owner.id)
        if replacement is None:
            continue
        r = index.target_of("policy", replacement)
        if r is not None and (r not in best or best[r].score < p):
            best[r] = Candidate(r, "policy", replacement, replacement, p, replaced=owner.id)
    marked = [
        replace(c, elsewhere=True) if not c.named and _elsewhere(index, place, c.target) else c
        for c in best.values()
    ]
    return sorted(marked, key=lambda c: _order(index, c))


def _order(index: PolicyIndex, c: Candidate) -> tuple[bool, float, bool, int, bool, str]:
    g, place = index.gazetteer, index.places[c.target] if index.places else None
    home = g is not None and index.home is not None and g.at_home(index.home, place)
    policy = index.library.policy(c.group)
    issued = policy.date.toordinal() if policy is not None and policy.date else 0
    return (c.elsewhere, -round(c.score, 2), not home, -issued, c.kind != "qa", c.id)


def _current_replacement(index: PolicyIndex, policy_id: str) -> str | None:
    seen = set()
    current = index.library.policy(policy_id)
    while current is not None and current.replaced_by and current.id not in seen:
        seen.add(current.id)
        current = index.library.policy(current.replaced_by)
        if current is not None and current.in_force(index.today):
            return current.id
    return None


def covering(
    index: PolicyIndex, asked: Sequence[str], candidates: list[Candidate]
) -> list[Candidate]:
    """The candidates, each marked when one of its short texts (title, alias, Q&A question)
    holds every word the user typed: "补贴" is held by every subsidy's title, "公积金" by the
    withdrawal and the loan rules alike. A question held by several is broad, not unclear."""
    if not asked:
        return candidates
    return [
        replace(c, covers=True)
        if any(all(w in s for w in asked) for s in index.short[c.target])
        else c
        for c in candidates
    ]


def decide(
    calibration: Calibration,
    *,
    score: float,
    margin: float,
    unknown: float,
    named: bool = False,
    broad: Sequence[float] = (),
    certainty: float | None = None,
) -> Decision:
    """The decision for the best candidate's confidence, its lead over the best candidate of
    another scheme (``runner_up``), and the share of unknown words: a direct answer needs the
    ``answer`` band with its ``margin`` — or, where the calibration has a question-level model,
    that model's ``certainty`` (``calibration.decision.certainty(decision_signals(…))``).
    ``broad`` holds the confidence of each scheme whose short texts hold the whole question:
    when two of them are worth offering,
    the question names a topic they share ("公积金": withdrawal or loan?) and the user chooses,
    however sure the best one looks; one that holds it is offered from half the clarify band
    (where it would otherwise be only a related topic), as "补贴" asks about every subsidy."""
    if named:
        return Decision.ANSWER
    shared = sum(p >= calibration.clarify for p in broad) >= 2
    model = calibration.decision
    if model is not None and certainty is not None:
        sure = certainty >= model.answer and margin >= model.margin and unknown <= model.unknown
    else:
        sure = (
            score >= calibration.answer
            and margin >= calibration.margin
            and unknown <= calibration.unknown
        )
    if not shared and sure:
        return Decision.ANSWER
    if score >= calibration.clarify or any(p >= calibration.clarify / 2 for p in broad):
        return Decision.CLARIFY
    return Decision.NONE


def decision_signals(
    pool: Pool, first: Candidate, rival: Candidate | None, index: PolicyIndex | None = None
) -> dict[str, float]:
    """The question-level features (policy_index.calibration.DECISION_FEATURES) of the best
    candidate ``first`` against ``rival``, the best of another scheme. Whether a signal puts
    it first counts every other candidate but (with ``index``) the versions of its scheme
    (other places' or years' policies of the same subject; its policy's other Q&A pairs
    count) and, when the question names no place and the best is a national policy or the home
    region's, other places' own policies: those answer only their residents (``_own_level``),
    so one that shares more of the question's words (乌海's 三孩 grant against the national
    育儿补贴 for "育儿补贴二胎能领吗") says little against the best."""
    at = np.flatnonzero(pool.targets == first.target)
    own = {n: float(v[at[0]]) for n, v in pool.features.items()} if len(at) else {}
    others = np.ones(len(pool.targets), dtype=bool)
    if len(at):
        others[at[0]] = False
    if index is not None:
        for_all = _own_level(index, pool.place, first.target)
        for k, t in enumerate(pool.targets.tolist()):
            version = index.targets[t].group != first.group and _versions(index, first.target, t)
            if version or (for_all and _local(index, t)):
                others[k] = False

    def first_by(name: str) -> float:
        values = pool.features.get(name)
        if values is None or not len(at):
            return 0.0
        rest = values[others]
        return float(not len(rest) or own[name] >= float(rest.max()))

    return {
        "confidence": logit(first.score),
        "rival": logit(rival.score if rival is not None else 0.0),
        "unknown": pool.unknown,
        "first_by_vector": first_by("vector"),
        "first_by_document": first_by("doc_vector"),
        "first_by_chars": first_by("chars_rel"),
        "first_by_words": first_by("words_rel"),
        "words_share": own.get("words_rel", 0.0),
        "qa_uncovered": own.get("qa", 0.0) * (1.0 - own.get("title_cover", 0.0)),
    }


def broad_groups(index: PolicyIndex, candidates: Sequence[Candidate]) -> tuple[float, ...]:
    """The best confidence of each scheme (a policy with its Q&A pairs and its versions, see
    ``one_scheme``) that holds the whole question."""
    best: list[tuple[Candidate, float]] = []
    for c in candidates:
        if c.covers and math.isfinite(c.score):
            k = next((k for k, (d, _) in enumerate(best) if one_scheme(index, c, d)), None)
            if k is None:
                best.append((c, c.score))
            else:
                best[k] = (best[k][0], max(best[k][1], c.score))
    return tuple(score for _, score in best)


def one_scheme(index: PolicyIndex, a: Candidate, b: Candidate) -> bool:
    """Whether two candidates are one thing for the user: a policy and its Q&A pairs, or
    versions of one scheme from other places or years (policy_index/schemes.py)."""
    return a.group == b.group or _versions(index, a.target, b.target)


def _versions(index: PolicyIndex, a: int, b: int) -> bool:
    """Whether two targets' policies are versions of one scheme (policy_index/schemes.py)."""
    about = index.schemes
    return bool(about) and alike(about[a], about[b])


def runner_up(index: PolicyIndex, candidates: Sequence[Candidate]) -> Candidate | None:
    """The best candidate of another scheme than the first's: what a direct answer must lead."""
    first = candidates[0]
    return next((c for c in candidates[1:] if not one_scheme(index, first, c)), None)


def _decide(
    index: PolicyIndex,
    query: str,
    pool: Pool,
    candidates: list[Candidate],
    calibration: Calibration,
    top: int,
) -> MatchResult:
    if not candidates:
        return MatchResult(query, pool.plain, Decision.NONE, ())
    first = candidates[0]
    other = runner_up(index, candidates)
    margin = first.score - (other.score if other else 0.0)
    if first.elsewhere:  # only other places' policies: the library has nothing for this place
        margin = 0.0
    model = calibration.decision
    decision = (
        Decision.NONE
        if first.elsewhere
        else decide(
            calibration,
            score=first.score,
            margin=margin,
            unknown=pool.unknown,
            named=first.named,
            broad=broad_groups(index, candidates),
            certainty=model.certainty(decision_signals(pool, first, other, index))
            if model
            else None,
        )
    )
    kept = [c for c in candidates if math.isfinite(c.score)][:top]
    features = {k: v.tolist() for k, v in pool.features.items()}
    return MatchResult(query, pool.plain, decision, tuple(kept), margin, features)


def unknown_share(index: PolicyIndex, terms: Terms) -> float:
    """Share of the question's words (two characters or more) that the library never uses.

    A question about something the library does not cover (结婚, 护照, 二手车) is mostly such
    words, even when a generic word (登记, 材料) makes a candidate look good; above the calibrated
    share the matcher offers choices instead of answering.
    """
    words = [w for w in terms.words if len(w) >= 2]
    if not words:
        return 0.0
    return sum(w not in index.words.vocabulary for w in words) / len(words)
