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

from dataclasses import dataclass, field

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


LEXICAL = Calibration(
    weights={
        "rrf": 2.0,
        "word_cover": 2.5,
        "char_cover": 3.0,
        "pinyin_cover": 1.0,
        "fuzzy": 2.0,
        "qa": 0.3,
    },
    bias=-5.5,
    answer=0.6,
    clarify=0.3,
    margin=0.1,
)

WITH_VECTORS = Calibration(
    weights={
        "rrf": 2.0,
        "word_cover": 2.0,
        "char_cover": 2.5,
        "pinyin_cover": 1.0,
        "fuzzy": 1.5,
        "vector": 8.0,
        "qa": 0.3,
    },
    bias=-12.0,
    answer=0.6,
    clarify=0.3,
    margin=0.1,
)


def default_calibration(with_vectors: bool) -> Calibration:
    return WITH_VECTORS if with_vectors else LEXICAL
