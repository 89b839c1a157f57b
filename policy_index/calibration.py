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
* ``passages_rel`` the same for the best body passage

Weights and bands are fitted on our own development set (the bundled sample library and
tests/data/dev_questions.jsonl) by ``bench/calibrate.py``, never on the evaluation sets; every
value can be overridden in configuration. ``answer``: the lowest confidence answered directly;
``clarify``: the lowest confidence worth a numbered choice; ``margin``: the least lead over the
best candidate of another policy for a direct answer.
"""

from __future__ import annotations

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
    "passages_rel",
)


@dataclass(frozen=True)
class Calibration:
    weights: dict[str, float]
    bias: float
    answer: float
    clarify: float
    margin: float
    source: str = field(default="hand-set")

    def probability(self, feats: dict[str, npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
        n = len(next(iter(feats.values())))
        z = np.full(n, self.bias, dtype=np.float64)
        for name, weight in self.weights.items():
            if name in feats:
                z += weight * feats[name]
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


# Fitted by bench/calibrate.py on 617 development questions (the sample library in full, and as
# a bare policy list). Cross-validated: Recall@1 0.863, Recall@3 0.958, direct answers 95.2 %
# right, 93 % of out-of-scope questions not answered. (No long bodies in that data: the
# passage feature gets no weight yet.)
LEXICAL = Calibration(
    weights={
        "rrf": 5.745,
        "word_cover": -1.79,
        "char_cover": 4.979,
        "pinyin_cover": -1.942,
        "fuzzy": 3.727,
        "qa": -0.912,
        "words_rel": 4.876,
        "passages_rel": 0.0,
    },
    bias=-11.797,
    answer=0.53,
    clarify=0.334,
    margin=0.08,
    source="bench/calibrate.py on the sample library and tests/data/dev_questions.jsonl",
)

# The same with sentence vectors. Cross-validated: Recall@1 0.887, Recall@3 0.968, direct
# answers 95.2 % right, 93 % of out-of-scope questions not answered (61 % told "none").
WITH_VECTORS = Calibration(
    weights={
        "rrf": 7.925,
        "word_cover": -2.307,
        "char_cover": 3.422,
        "pinyin_cover": -1.549,
        "fuzzy": 0.092,
        "vector": 35.075,
        "qa": -1.075,
        "words_rel": 4.626,
        "passages_rel": 0.0,
    },
    bias=-43.759,
    answer=0.56,
    clarify=0.176,
    margin=0.02,
    source="bench/calibrate.py on the sample library and tests/data/dev_questions.jsonl",
)


def default_calibration(with_vectors: bool, **bands: float) -> Calibration:
    """The fitted calibration, with any decision band overridden by configuration."""
    base = WITH_VECTORS if with_vectors else LEXICAL
    if not bands:
        return base
    return replace(
        base,
        answer=bands.get("answer", base.answer),
        clarify=bands.get("clarify", base.clarify),
        margin=bands.get("margin", base.margin),
    )
