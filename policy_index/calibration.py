"""How rerank features become a confidence, and the bands that turn it into a decision.

The confidence is a logistic function of a few transparent features of a candidate:

* ``rrf``          reciprocal-rank fusion of the candidate generators (0–1)
* ``word_cover``   share of the question's IDF-weighted words found in the candidate's text
* ``char_cover``   the same for characters and character bigrams
* ``pinyin_cover`` the same for pinyin syllable pairs (typos, homophones)
* ``fuzzy``        best character-level similarity to a title, alias or question (0–1)
* ``title_cover``  the most of one of the candidate's short texts (a policy title without its
                   issuers, an alias, a Q&A question) that the question covers, IDF-weighted
* ``vector``       best sentence-embedding cosine to a title, alias or question
* ``doc_vector``   best cosine to what the policy says (title with summary, guide or an
                   interpretation, embedded as passages); a Q&A pair's ``vector``
* ``vector_gap``, ``doc_gap``  the two cosines less the best of the pool's (≤ 0)
* ``vector_rr``, ``doc_rr``    1 / their rank in the pool
* ``vector_soft``, ``doc_soft`` their softmax over the pool at e5's training temperature (0.01)
* ``qa``           1 for a Q&A pair (a direct answer), 0 for a policy
* ``words_rel``    the word BM25 score as a share of the best in the pool (long texts count)
* ``chars_rel``    the same for character BM25 (robust to segmentation on long formal texts)
* ``passages_rel`` the same for the best body passage
* ``elsewhere``    1 when the question names a place and the policy belongs to another one
                   (neither above it nor inside it); such a policy is never answered
* ``not_national`` 1 when the question asks what the state grants (国家…) and the policy is
                   another place's own
* ``own_level``    1 when the question names no place and the policy is national or the home
                   region's (or a parent's): it answers whoever asks, another place's own
                   policy only that place's residents
* ``year_fit``     1 when the question names a year its title names, −1 when the title names
                   only other years

Weights and bands are fitted by ``bench/calibrate.py`` (see there for the data and how each
value is validated); every band can be overridden in configuration. ``answer``: the lowest
confidence answered directly; ``clarify``: the lowest confidence worth a numbered choice;
``margin``: the least lead over the best candidate of another scheme for a direct answer;
``unknown``: the largest share of the question's words that the library never uses for which a
direct answer is still given.

With sentence vectors a second, question-level model (``DecisionModel``) decides instead of
``answer``/``margin``: the probability that the best candidate is right, from its confidence,
the runner-up's, the share of unknown words, and whether each signal on its own ranks the best
candidate first (a candidate that the sentence vectors, the document vectors and both BM25
scores all put first is rarely wrong, even at a confidence the features alone cannot vouch for),
and, for a Q&A pair, how much of its question the user's words leave out (a pair answers one
question: 结婚登记需要什么材料 is not 不动产登记需要准备哪些材料, however alike they look).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

VECTOR_FEATURES = (  # zero without sentence vectors
    "vector",
    "doc_vector",
    "vector_gap",
    "doc_gap",
    "vector_rr",
    "doc_rr",
    "vector_soft",
    "doc_soft",
)
FEATURES = (
    "rrf",
    "word_cover",
    "char_cover",
    "pinyin_cover",
    "fuzzy",
    "title_cover",
    *VECTOR_FEATURES,
    "qa",
    "words_rel",
    "chars_rel",
    "passages_rel",
    "elsewhere",
    "not_national",
    "own_level",
    "year_fit",
)


DECISION_FEATURES = (
    "confidence",  # the best candidate's confidence, as a logit
    "rival",  # the best confidence of another scheme (``runner_up``), as a logit
    "unknown",  # share of the question's words the library never uses
    "first_by_vector",  # 1 when the best is first by its short texts' cosine
    "first_by_document",  # … by the cosine to what it says
    "first_by_chars",  # … by character BM25
    "first_by_words",  # … by word BM25
    "words_share",  # its word BM25 as a share of the pool's best
    "qa_uncovered",  # for a Q&A pair, the share of its question the user's words leave out
)


def logit(p: float, eps: float = 0.02) -> float:
    """log(p / (1 − p)), with p kept within [eps, 1 − eps]. Confidences within 2 % of 0 or 1 are
    one value to the question-level model: whether a rival scores 0.02 or 0.00001 says nothing
    about the best (it said two logit units more in a tiny library, where nothing else in the
    pool scores at all, enough to answer 结婚登记 with 不动产登记)."""
    p = min(max(p, eps), 1.0 - eps)
    return math.log(p / (1.0 - p))


@dataclass(frozen=True)
class DecisionModel:
    """P(the best candidate is what the user wants), over DECISION_FEATURES: a direct answer
    needs ``answer``; ``margin`` and ``unknown`` are floors a deployment may add."""

    weights: dict[str, float]
    bias: float
    answer: float
    margin: float = 0.0
    unknown: float = 1.0

    def certainty(self, features: dict[str, float]) -> float:
        z = self.bias + sum(w * features.get(n, 0.0) for n, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-z))


@dataclass(frozen=True)
class Calibration:
    weights: dict[str, float]
    bias: float
    answer: float
    clarify: float
    margin: float
    unknown: float = 1.0  # most share of words unknown to the library for a direct answer
    source: str = field(default="hand-set")
    # the question-level model that decides a direct answer instead of answer/margin/unknown
    decision: DecisionModel | None = None
    # A cheaper pass tried first (lexical, before the query embedding): its direct answer
    # stands when its confidence reaches ``sure``.
    first: Calibration | None = None
    sure: float = math.inf

    def probability(self, feats: dict[str, npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
        n = len(next(iter(feats.values())))
        z = np.full(n, self.bias, dtype=np.float64)
        for name, weight in self.weights.items():
            if name in feats:
                z += weight * feats[name]
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


# The lexical path (before the vectors are built, under load, past the vector budget, and the
# cascade's first pass). Fitted by bench/calibrate.py --sample-only (no place or year features
# yet: another place's policy is never answered all the same) on 923 development questions
# over three forms of the sample library: in full, as a bare policy list, and as long
# documents (bodies composed of each policy's own prose). Cross-validated with the questions
# on each policy held out together:
# Recall@1 0.903, Recall@3 0.987, direct answers 97.1 % right, 96 % of out-of-scope questions
# not answered. On the held-out questions (never fitted on): Recall@1 0.94, direct answers
# 96 % right; as a bare policy list 0.87 and 94 %. Left out of the libraries it was not fitted
# on, a lexical calibration does not transfer: fitted on the other two families, it answers
# 1–10 % of a library's questions at the precision required (bench/calibrate.py prints it).
LEXICAL = Calibration(
    weights={
        "rrf": 4.432,
        "word_cover": -0.798,
        "char_cover": 2.25,
        "pinyin_cover": -2.738,
        "fuzzy": 1.832,
        "title_cover": 3.366,
        "qa": -0.762,
        "words_rel": 1.547,
        "chars_rel": 6.174,
        "passages_rel": 0.139,
    },
    bias=-12.905,
    answer=0.59,
    clarify=0.328,
    margin=0.3,
    unknown=0.5,
    source="bench/calibrate.py on the sample library and tests/data/dev_questions.jsonl",
)

# With sentence vectors: fitted by bench/calibrate.py on five libraries of three families — the
# sample library (in full, as a bare policy list, as long documents), realworld (127 real
# policies with only a county catalogue's fields, 128 real questions) and ncpqa (599 long
# documents, 1,262 formal questions) — every family weighing as much as another, without
# ``rrf`` (it ranks worse on every library left out). Each family's questions are scored by
# weights fitted on the other two (leave one library out); on those held-out scores the
# question-level model (``decision``) is fitted the same way, each family's certainties coming
# from a model that never saw it, and its threshold with a least lead over another scheme
# (here none) is the one that answers the most questions right while direct answers are on
# average ≥ 93 % right over the families, ≥ 85 % in each, and ≤ 10 % of out-of-scope questions
# are answered (≤ 15 % in any one library). Held out so, per library (Recall@1 / @3, direct
# answers right, out of scope not answered, questions answered directly):
#   realworld           0.888 / 0.981, 94.3 %, 90 %, 55 %
#   sample policy list  0.932 / 0.984, 98.0 %, 96 %, 50 %
#   sample documents    0.936 / 0.988, 98.7 %, 98 %, 49 %
#   sample (full)       0.788 / 0.973, 88.7 %, 91 %, 49 %
#   ncpqa               0.723 / 0.895, 90.0 %, —, 56 %
# realworld in five folds by policy (both models fitted without the fold's policies' questions,
# as its held-out half is about other policies): 0.888 / 0.981, 94.2 %, 90 %, 54 %.
# On the held-out sample questions (tests/data/holdout_questions.jsonl) with these weights:
# Recall@1 0.96, direct answers all right (58 of 120 answered); as a bare policy list 0.89
# and 92.2 % (64 answered). ``answer`` and ``margin`` remain the bands of a configured override
# and of the numbered choice; the lexical first pass (LEXICAL, above) stands from 0.92, the
# lowest confidence at which it costs no library left out anything (bench/calibrate.py).
WITH_VECTORS = Calibration(
    weights={
        "word_cover": 0.146,
        "char_cover": 1.665,
        "pinyin_cover": -2.003,
        "fuzzy": -1.396,
        "title_cover": 1.865,
        "vector": 9.17,
        "doc_vector": -1.165,
        "vector_gap": 2.985,
        "doc_gap": -8.296,
        "vector_rr": 0.287,
        "doc_rr": 1.869,
        "vector_soft": 0.124,
        "doc_soft": 2.668,
        "qa": -1.034,
        "words_rel": 1.089,
        "chars_rel": 6.627,
        "passages_rel": -0.077,
        "elsewhere": -2.767,
        "not_national": -4.98,
        "own_level": 0.559,
        "year_fit": 0.214,
    },
    bias=-17.291,
    answer=0.85,
    clarify=0.459,
    margin=0.3,
    unknown=1.0,
    source="bench/calibrate.py, sample (3 forms), realworld, ncpqa; leave one library out",
    decision=DecisionModel(
        weights={
            "confidence": 0.303,
            "rival": -0.527,
            "unknown": -0.964,
            "first_by_vector": 0.495,
            "first_by_document": 0.625,
            "first_by_chars": 0.876,
            "first_by_words": 0.384,
            "words_share": 1.862,
            "qa_uncovered": -1.585,
        },
        bias=-3.506,
        answer=0.825,
        margin=0.0,
    ),
    first=LEXICAL,
    sure=0.92,
)


def default_calibration(with_vectors: bool, **bands: float) -> Calibration:
    """The fitted calibration, with any decision band overridden by configuration.

    An override also bounds the lexical first pass: it never answers on terms laxer than the
    configured ones."""
    base = WITH_VECTORS if with_vectors else LEXICAL
    if not bands:
        return base
    first = base.first
    if first is not None:
        first = replace(
            first,
            margin=max(first.margin, bands.get("margin", first.margin)),
            unknown=min(first.unknown, bands.get("unknown", first.unknown)),
        )
    decision = base.decision
    if decision is not None:  # the configured bands are the question-level model's floors
        decision = replace(
            decision,
            answer=bands.get("answer", decision.answer),
            margin=bands.get("margin", decision.margin),
            unknown=bands.get("unknown", decision.unknown),
        )
    return replace(
        base,
        answer=bands.get("answer", base.answer),
        clarify=bands.get("clarify", base.clarify),
        margin=bands.get("margin", base.margin),
        unknown=bands.get("unknown", base.unknown),
        first=first,
        sure=max(base.sure, bands.get("answer", 0.0)),
        decision=decision,
    )
