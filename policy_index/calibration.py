"""How rerank features become a confidence, and the bands that turn it into a decision.

The confidence is a logistic function of a few transparent features of a candidate:

* ``rrf``          reciprocal-rank fusion of the candidate generators (0–1)
* ``word_cover``   share of the question's IDF-weighted words found in the candidate's text
* ``char_cover``   the same for characters and character bigrams
* ``pinyin_cover`` the same for pinyin syllable pairs (typos, homophones)
* ``fuzzy``        best character-level similarity to a title, alias or question (0–1)
* ``vector``       best sentence-embedding cosine to a title, alias, question or summary
* ``qa``           1 for a Q&A pair (a direct answer), 0 for a policy

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

FEATURES = ("rrf", "word_cover", "char_cover", "pinyin_cover", "fuzzy", "vector", "qa")


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
# a bare policy list). Cross-validated: Recall@1 0.875, Recall@3 0.951, direct answers 95.0 %
# right, 90 % of out-of-scope questions not answered.
LEXICAL = Calibration(
    weights={
        "rrf": 13.605,
        "word_cover": 1.925,
        "char_cover": 1.928,
        "pinyin_cover": -0.944,
        "fuzzy": 2.991,
        "qa": -0.754,
    },
    bias=-15.931,
    answer=0.28,
    clarify=0.16,
    margin=0.15,
    source="bench/calibrate.py on the sample library and tests/data/dev_questions.jsonl",
)

# The same with sentence vectors. Cross-validated: Recall@1 0.901, Recall@3 0.972, direct
# answers 95.1 % right, 94 % of out-of-scope questions not answered (62 % told "none").
WITH_VECTORS = Calibration(
    weights={
        "rrf": 16.502,
        "word_cover": 1.245,
        "char_cover": 0.764,
        "pinyin_cover": -0.618,
        "fuzzy": -0.509,
        "vector": 30.593,
        "qa": -0.91,
    },
    bias=-44.752,
    answer=0.32,
    clarify=0.096,
    margin=0.05,
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
