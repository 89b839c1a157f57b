"""How rerank features become a confidence, and the bands that turn it into a decision.

The confidence is a logistic function of a few transparent features of a candidate:

* ``rrf``          reciprocal-rank fusion of the candidate generators (0–1)
* ``word_cover``   share of the question's IDF-weighted words found in the candidate's text
* ``char_cover``   the same for characters and character bigrams
* ``pinyin_cover`` the same for pinyin syllable pairs (typos, homophones)
* ``fuzzy``        best character-level similarity to a title, alias or question (0–1)
* ``vector``       best sentence-embedding cosine to a title, alias, question or summary
* ``qa``           1 for a Q&A pair (a direct answer), 0 for a policy
* ``words_rel``    the word BM25 score as a share of the best in the pool (long texts count)
* ``chars_rel``    the same for character BM25 (robust to segmentation on long formal texts)
* ``passages_rel`` the same for the best body passage

Weights and bands are fitted on our own development set (the bundled sample library and
tests/data/dev_questions.jsonl) by ``bench/calibrate.py``, never on the evaluation sets; every
value can be overridden in configuration. ``answer``: the lowest confidence answered directly;
``clarify``: the lowest confidence worth a numbered choice; ``margin``: the least lead over the
best candidate of another policy for a direct answer; ``unknown``: the largest share of the
question's words that the library never uses for which a direct answer is still given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

FEATURES = (
    "rrf",
    "word_cover",
    "char_cover",
    "pinyin_cover",
    "fuzzy",
    "vector",
    "qa",
    "words_rel",
    "chars_rel",
    "passages_rel",
)


@dataclass(frozen=True)
class Calibration:
    weights: dict[str, float]
    bias: float
    answer: float
    clarify: float
    margin: float
    unknown: float = 1.0  # most share of words unknown to the library for a direct answer
    source: str = field(default="hand-set")
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


# Fitted by bench/calibrate.py on 923 development questions over three forms of the sample
# library: in full, as a bare policy list, and as long documents (bodies composed of each
# policy's own prose). Cross-validated: Recall@1 0.905, Recall@3 0.982, direct answers 95.0 %
# right, 92 % of out-of-scope questions not answered.
LEXICAL = Calibration(
    weights={
        "rrf": 5.728,
        "word_cover": -0.225,
        "char_cover": 1.912,
        "pinyin_cover": -1.216,
        "fuzzy": 3.278,
        "qa": -0.775,
        "words_rel": 1.911,
        "chars_rel": 5.755,
        "passages_rel": -0.1,
    },
    bias=-13.685,
    answer=0.61,
    clarify=0.416,
    margin=0.15,
    unknown=0.5,
    source="bench/calibrate.py on the sample library and tests/data/dev_questions.jsonl",
)

# The same with sentence vectors. Cross-validated: Recall@1 0.922, Recall@3 0.983, direct
# answers 95.2 % right, 93 % of out-of-scope questions not answered (60 % told "none").
# Cascade: the lexical pass's direct answer stands from confidence 0.74 (28 % of questions
# then skip the query embedding; Recall@1 0.922, direct answers 95.1 % right, out of scope
# unchanged).
WITH_VECTORS = Calibration(
    weights={
        "rrf": 7.061,
        "word_cover": -0.548,
        "char_cover": 0.395,
        "pinyin_cover": -0.905,
        "fuzzy": 0.004,
        "vector": 34.704,
        "qa": -1.001,
        "words_rel": 1.696,
        "chars_rel": 5.749,
        "passages_rel": 0.119,
    },
    bias=-44.705,
    answer=0.57,
    clarify=0.249,
    margin=0.08,
    unknown=0.667,
    source="bench/calibrate.py on the sample library and tests/data/dev_questions.jsonl",
    first=LEXICAL,
    sure=0.74,
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
    return replace(
        base,
        answer=bands.get("answer", base.answer),
        clarify=bands.get("clarify", base.clarify),
        margin=bands.get("margin", base.margin),
        unknown=bands.get("unknown", base.unknown),
        first=first,
        sure=max(base.sure, bands.get("answer", 0.0)),
    )
