"""Fit the matcher's rerank weights and decision bands, validated across libraries.

Data: the bundled sample library (policy_index/sample/library.jsonl) with the labelled questions
in tests/data/dev_questions.jsonl, in three forms (in full, as a bare policy list, as long
documents), and — when ``../shared/data`` is there — the real libraries realworld (a county
catalogue's fields, real questions) and ncpqa (long documents, formal questions). For every
question the candidate pool is scored (policy_index.matching.candidate_pool); a logistic
regression learns P(candidate is acceptable) from the transparent features, every library
weighing as much as another; the bands are chosen on held-out predictions, **leaving one
library out at a time** (the sample library's three forms share their questions and are held
out together), so that they say what the weights and bands do on a library they never saw:

* answer  — the confidence (with ``margin`` and ``unknown``) that gives the most right direct
            answers while direct answers are on average over the libraries ≥ 93 % right, in
            none of them below 85 %, and at most 10 % of out-of-scope questions are answered;
* clarify — the lowest confidence that still leaves ≥ 60 % of out-of-scope questions at "none".

Without ../shared/data the folds are five, by policy, over the sample library. It prints the
fitted values as Python to paste into policy_index/calibration.py, the held-out figures per
library, and the figures of the fitted calibration on tests/data/holdout_questions.jsonl (120
questions written without sight of the development set, never used to fit anything).

    python -m bench.calibrate [--data ../shared/data] [--sample-only] [--lexical-only]
                              [--dump FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.matching import first_segment, read_jsonl
from policy_index.calibration import (
    DECISION_FEATURES,
    FEATURES,
    VECTOR_FEATURES,
    Calibration,
    DecisionModel,
)
from policy_index.calibration import LEXICAL as SHIPPED_LEXICAL
from policy_index.embedding import Embedder, EmbeddingCache, Vectors, load_embedder
from policy_index.evaluation import Labelled, read_labelled
from policy_index.index import PolicyIndex, build_index
from policy_index.interchange import read_library
from policy_index.matching import (
    Decision,
    Pool,
    broad_groups,
    candidate_pool,
    covering,
    decide,
    decision_signals,
    rank_candidates,
    runner_up,
)
from policy_index.model import Library, Policy

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(".gongkai/embeddings.npz")
FOLDS = 5
TARGET_PRECISION = 0.93  # direct answers right, on average over the libraries held out
FLOOR_PRECISION = 0.85  # … and in each of them
# Out-of-scope questions answered directly, at most: half of what the product may do (a fifth,
# #14); an out-of-scope answer is also a wrong one under TARGET_PRECISION.
MAX_OOS_ANSWERED = 0.10
# … and in none of the libraries more than this (pooled, the sample library's three forms
# outnumber realworld's 21 out-of-scope questions eight to one and hid its share).
MAX_OOS_ANSWERED_EACH = 0.15
MIN_OOS_NONE = 0.60
UNKNOWN_SHARES = (0.2, 0.25, 1 / 3, 0.4, 0.5, 2 / 3, 1.0)
SAMPLE_HOME = "江屿省云州市青禾区"  # the sample library's county, as its deployment would name it
CASCADE_SLACK = 0.005  # how much Recall@1 / answer accuracy skipping the embedding may cost


@dataclass
class Sample:
    item: Labelled
    pool: Pool | None
    labels: npt.NDArray[np.float64]
    groups: list[str]


def collect(index: PolicyIndex, items: Sequence[Labelled]) -> list[Sample]:
    samples = []
    for item in items:
        pool = candidate_pool(index, item.query)
        if pool is None:
            samples.append(Sample(item, None, np.zeros(0), []))
            continue
        ids = [index.targets[int(t)].id for t in pool.targets]
        labels = np.asarray([i in item.expected for i in ids], dtype=np.float64)
        groups = [index.targets[int(t)].group for t in pool.targets]
        samples.append(Sample(item, pool, labels, groups))
    return samples


def design(
    samples: Sequence[Sample], names: Sequence[str], weights: Sequence[float] | None = None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Features, labels and each row's weight (its question's weight)."""
    xs, ys, ws = [], [], []
    for k, s in enumerate(samples):
        if s.pool is None:
            continue
        xs.append(np.column_stack([s.pool.features[n] for n in names]))
        ys.append(s.labels)
        ws.append(np.full(len(s.labels), 1.0 if weights is None else weights[k]))
    return np.vstack(xs), np.concatenate(ys), np.concatenate(ws)


def fit_logistic(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64] | None = None,
    l2: float = 0.05,
) -> tuple[npt.NDArray[np.float64], float]:
    """Newton's method (IRLS) with an L2 penalty on the weights (not the bias); rows weighted
    (mean weight 1) so that each library counts as much as another."""
    a = np.column_stack([x, np.ones(len(x))])
    r = np.ones(len(y)) if weights is None else weights * len(weights) / weights.sum()
    w = np.zeros(a.shape[1])
    penalty = np.eye(a.shape[1]) * l2
    penalty[-1, -1] = 0
    for _ in range(50):
        p = 1 / (1 + np.exp(-(a @ w)))
        gradient = a.T @ (r * (p - y)) + penalty @ w
        hessian = (a * (r * p * (1 - p))[:, None]).T @ a + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


@dataclass(frozen=True)
class Scored:
    item: Labelled
    top_id: str | None
    top_score: float
    margin: float
    correct1: bool
    correct3: bool
    unknown: float = 0.0
    broad: tuple[float, ...] = ()  # confidence of each policy holding the whole question
    named: bool = False
    elsewhere: bool = False  # the best is another place's policy (never answered)
    family: str = ""  # the library (family) the question was asked of
    signals: tuple[float, ...] = ()  # DECISION_FEATURES of the best candidate
    certainty: float | None = None  # a question-level model's, held out (see choose_decision)

    def decision(self, cal: Calibration) -> Decision:
        if self.elsewhere:
            return Decision.NONE
        return decide(
            cal,
            score=self.top_score,
            margin=self.margin,
            unknown=self.unknown,
            named=self.named,
            broad=self.broad,
            certainty=self.certainty,
        )


def score(
    index: PolicyIndex, samples: Sequence[Sample], calibration: Calibration, family: str = ""
) -> list[Scored]:
    out = []
    for s in samples:
        if s.pool is None:
            out.append(Scored(s.item, None, 0.0, 0.0, False, False, family=family))
            continue
        probability = calibration.probability(s.pool.features)
        ranked = rank_candidates(
            index, s.pool.targets, probability, set(s.pool.named), s.pool.place
        )
        ranked = covering(index, s.pool.asked, ranked)
        if not ranked:
            out.append(Scored(s.item, None, 0.0, 0.0, False, False, family=family))
            continue
        first = ranked[0]
        second = runner_up(index, ranked)
        other = second.score if second is not None else 0.0
        signals = decision_signals(s.pool, first, second, index)
        model = calibration.decision
        out.append(
            Scored(
                s.item,
                first.id,
                1.0 if first.named else first.score,
                (1.0 if first.named else first.score) - other,
                first.id in s.item.expected,
                any(c.id in s.item.expected for c in ranked[:3]),
                s.pool.unknown,
                broad_groups(index, ranked),
                first.named,
                first.elsewhere,
                family,
                tuple(signals[n] for n in DECISION_FEATURES),
                model.certainty(signals) if model is not None else None,
            )
        )
    return out


def choose_bands(scored: Sequence[Scored]) -> tuple[float, float, float, float]:
    """(answer, margin, clarify, unknown) from held-out scores: the most right direct answers
    (each library's share of its questions, averaged over libraries) such that direct answers
    are on average over the libraries at least TARGET_PRECISION right, in none of them less
    than FLOOR_PRECISION, and at most MAX_OOS_ANSWERED of the out-of-scope questions are
    answered (MAX_OOS_ANSWERED_EACH in any one library)."""
    oos = [s for s in scored if not s.item.in_scope and not s.elsewhere]
    oos_scores = sorted(s.top_score for s in oos)
    clarify = float(oos_scores[int(len(oos_scores) * MIN_OOS_NONE)]) if oos_scores else 0.3
    best: tuple[float, float, float, float] = (0.0, 0.99, 0.0, 1.0)
    for unknown in UNKNOWN_SHARES:
        for margin in (0.0, 0.02, 0.05, 0.08, 0.1, 0.15, 0.2, 0.25, 0.3):
            for answer in np.arange(0.05, 0.99, 0.01):
                answered = [
                    s
                    for s in scored
                    if not s.elsewhere
                    and s.top_score >= answer
                    and s.margin >= margin
                    and s.unknown <= unknown
                    and sum(p >= min(clarify, answer) for p in s.broad) < 2
                ]
                if not answered:
                    continue
                right = _right(scored, answered)
                if right is None:
                    continue
                if right > best[0]:
                    best = (right, float(answer), float(margin), unknown)
                break  # higher thresholds only answer fewer
    _, answer, margin, unknown = best
    return round(answer, 2), round(margin, 2), round(min(clarify, answer), 3), unknown


def _right(scored: Sequence[Scored], answered: Sequence[Scored]) -> float | None:
    """The right direct answers among ``answered`` (each library's share of its in-scope
    questions, summed over libraries), or None when the answers break a condition: direct
    answers on average over the libraries at least TARGET_PRECISION right, in none of them
    below FLOOR_PRECISION, and at most MAX_OOS_ANSWERED of the out-of-scope questions answered,
    in none of them more than MAX_OOS_ANSWERED_EACH."""
    oos = [s for s in scored if not s.item.in_scope and not s.elsewhere]
    if oos and sum(not s.item.in_scope for s in answered) / len(oos) > MAX_OOS_ANSWERED:
        return None
    families = sorted({s.family for s in scored})
    for f in families:
        asked = sum(s.family == f for s in oos)
        wrong = sum(s.family == f and not s.item.in_scope for s in answered)
        if asked and wrong / asked > MAX_OOS_ANSWERED_EACH:
            return None
    precision = [_precision([s for s in answered if s.family == f]) for f in families]
    if min(precision) < FLOOR_PRECISION or np.mean(precision) < TARGET_PRECISION:
        return None
    size = {f: max(sum(s.item.in_scope for s in scored if s.family == f), 1) for f in families}
    return sum(s.correct1 / size[s.family] for s in answered if s.item.in_scope)


def _decision_rows(
    scored: Sequence[Scored],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Question-level features, labels (the best candidate is right) and weights (every library
    family weighing as much as another) of the questions a model decides (not named, not
    another place's, with a candidate)."""
    rows = [s for s in scored if s.signals and not s.named and not s.elsewhere]
    count = Counter(s.family for s in rows)
    x = np.asarray([s.signals for s in rows], dtype=np.float64)
    y = np.asarray([float(s.item.in_scope and s.correct1) for s in rows])
    w = np.asarray([1.0 / count[s.family] for s in rows])
    return x, y, w


def _certain(s: Scored, model: DecisionModel) -> Scored:
    """``s`` with ``model``'s certainty that its best candidate is right."""
    if not s.signals:
        return s
    return replace(
        s, certainty=model.certainty(dict(zip(DECISION_FEATURES, s.signals, strict=True)))
    )


def _model(w_b: tuple[npt.NDArray[np.float64], float]) -> DecisionModel:
    weights, bias = w_b
    return DecisionModel(dict(zip(DECISION_FEATURES, weights.tolist(), strict=True)), bias, 0.5)


DECISION_MARGINS = (0.0, 0.05, 0.1, 0.15)  # least leads tried with the question-level model


def choose_decision(
    scored: Sequence[Scored], bands: Calibration
) -> tuple[DecisionModel, list[Scored]]:
    """The question-level model (policy_index.calibration.DecisionModel) on held-out scores:
    for each library family, fitted on the other families' questions, its certainty for that
    family's; the threshold (and a least lead over another scheme, DECISION_MARGINS) chosen on
    those certainties under the conditions of ``_right`` to answer the most questions right;
    the weights then fitted on every family. Returns the model and the scores with their
    held-out certainty."""
    models = {}
    for family in sorted({s.family for s in scored}):
        x, y, w = _decision_rows([s for s in scored if s.family != family])
        models[family] = _model(fit_logistic(x, y, w))
    held = [_certain(s, models[s.family]) for s in scored]
    best = (_right(held, [s for s in held if _answers(s, bands)]) or 0.0, math.inf, 0.0)
    for margin in DECISION_MARGINS:
        for answer in np.arange(0.3, 0.995, 0.005):
            trial = replace(bands, decision=DecisionModel({}, 0.0, float(answer), margin))
            got = _right(held, [s for s in held if _answers(s, trial)])
            if got is not None and got > best[0] + 1e-9:
                best = (got, round(float(answer), 3), margin)
    x, y, w = _decision_rows(scored)
    final = _model(fit_logistic(x, y, w))
    final = replace(
        final,
        weights={n: round(v, 3) for n, v in final.weights.items()},
        bias=round(final.bias, 3),
        answer=best[1],
        margin=best[2],
    )
    return final, held


def _precision(answered: Sequence[Scored]) -> float:
    return sum(s.correct1 for s in answered) / len(answered) if answered else 1.0


def figures(scored: Sequence[Scored], cal: Calibration) -> dict[str, object]:
    inscope = [s for s in scored if s.item.in_scope]
    oos = [s for s in scored if not s.item.in_scope]

    def decision(s: Scored) -> str:
        return s.decision(cal).value

    answers = [s for s in scored if decision(s) == "answer"]
    return {
        "questions": len(scored),
        "recall_at_1": round(sum(s.correct1 for s in inscope) / max(len(inscope), 1), 4),
        "recall_at_3": round(sum(s.correct3 for s in inscope) / max(len(inscope), 1), 4),
        "answer_accuracy": round(sum(s.correct1 for s in answers) / max(len(answers), 1), 4),
        "answered": len(answers),
        "answered_share": round(len(answers) / max(len(scored), 1), 4),
        "oos_not_answered": round(sum(decision(s) != "answer" for s in oos) / max(len(oos), 1), 4),
        "oos_none": round(sum(decision(s) == "none" for s in oos) / max(len(oos), 1), 4),
    }


def answerable(library: Library, items: Sequence[Labelled]) -> list[Labelled]:
    """The questions with their expected targets limited to those in ``library``; in-scope
    questions none of whose targets is left are dropped."""
    kept = []
    for item in items:
        expected = frozenset(i for i in item.expected if library.policy(i) is not None)
        if item.in_scope and not expected:
            continue
        kept.append(replace(item, expected=expected))
    return kept


def policies_only(library: Library, items: Sequence[Labelled]) -> tuple[Library, list[Labelled]]:
    """The same library as a bare policy list (no Q&A, aliases, guides, interpretations), as
    many counties publish it, with the questions only a Q&A pair could answer left out."""
    bare = Library.of(
        replace(p, aliases=(), guide=None, interpretations=()) for p in library.policies
    )
    return bare, answerable(bare, items)


def as_documents(library: Library, items: Sequence[Labelled]) -> tuple[Library, list[Labelled]]:
    """The library as long policy documents: each policy's body is its own prose (summary,
    guide, interpretation summaries and its Q&A answers, not the questions), with no Q&A
    targets or aliases — how a county's full-text archive looks. It teaches the rerank what
    body passages and whole-text BM25 are worth; the sample library has no bodies itself."""
    answers: dict[str, list[str]] = {}
    for q in library.qa_pairs:
        if q.policy_id:
            answers.setdefault(q.policy_id, []).append(q.answer)
    docs = []
    for p in library.policies:
        parts: list[str | None] = [p.summary]
        if p.guide is not None:
            g = p.guide
            parts += [g.target, g.conditions, g.standard, g.materials, g.process]
            parts += [g.time_limit, g.location]
        parts += [i.summary for i in p.interpretations]
        parts += answers.get(p.id, [])
        body = "\n".join(x for x in parts if x)
        docs.append(replace(p, aliases=(), body=body, interpretations=(), guide=None))
    bare = Library.of(docs)
    return bare, answerable(bare, items)


def fold_key(library: Library, item: Labelled) -> str:
    """What decides a question's fold: the policy it is about (its Q&A pairs belong to it), so
    that every question on a policy, in every form of the library, is held out together and
    the figures say how the rerank does on policies it was not fitted on; out-of-scope
    questions by their text."""
    owners = set()
    for target in item.expected:
        qa = library.qa(target)
        owners.add(qa.policy_id or qa.id if qa is not None else target)
    return min(owners) if owners else item.query


@dataclass(frozen=True)
class Corpus:
    """A library with its labelled questions. Corpora of one ``family`` share questions (the
    sample library's forms) and are always held out together."""

    name: str
    family: str
    index: PolicyIndex
    items: Sequence[Labelled]


def _fit(
    pairs: Sequence[tuple[Corpus, Sequence[Sample]]], names: Sequence[str]
) -> tuple[npt.NDArray[np.float64], float]:
    """Logistic weights over ``pairs``, every family weighing as much as another."""
    sizes = Counter[str]()
    for c, samples in pairs:
        sizes[c.family] += len(samples)
    samples = [s for _, ss in pairs for s in ss]
    weights = [1.0 / sizes[c.family] for c, ss in pairs for _ in ss]
    return fit_logistic(*design(samples, names, weights))


def _calibration(names: Sequence[str], w: npt.NDArray[np.float64], b: float) -> Calibration:
    return Calibration(dict(zip(names, w.tolist(), strict=True)), b, 0.5, 0.3, 0.1)


Collected = list[tuple[Corpus, list[Sample]]]


def calibrate(
    collected: Collected, names: Sequence[str]
) -> tuple[Calibration, dict[str, object], list[Scored]]:
    """Weights fitted and bands chosen on held-out predictions: with several library families,
    leaving one family out at a time (its questions scored by weights fitted on the others);
    with one, five folds by policy."""
    corpora = [c for c, _ in collected]
    families = sorted({c.family for c in corpora})
    by_corpus: dict[str, list[Scored]] = {c.name: [] for c in corpora}
    if len(families) > 1:
        for family in families:
            cal = _calibration(names, *_fit([p for p in collected if p[0].family != family], names))
            for c, samples in collected:
                if c.family == family:
                    by_corpus[c.name] = score(c.index, samples, cal, c.family)
    else:
        folds = {
            c.name: [zlib.crc32(fold_key(c.index.library, s.item).encode()) % FOLDS for s in ss]
            for c, ss in collected
        }
        for k in range(FOLDS):
            train = [
                (c, [s for s, f in zip(ss, folds[c.name], strict=True) if f != k])
                for c, ss in collected
            ]
            cal = _calibration(names, *_fit(train, names))
            for c, ss in collected:
                test = [s for s, f in zip(ss, folds[c.name], strict=True) if f == k]
                by_corpus[c.name].extend(score(c.index, test, cal, c.family))
    held = [s for c in corpora for s in by_corpus[c.name]]
    answer, margin, clarify, unknown = choose_bands(held)
    w, b = _fit(collected, names)
    final = Calibration(
        {n: round(float(v), 3) for n, v in zip(names, w, strict=True)},
        round(b, 3),
        answer,
        clarify,
        margin,
        round(unknown, 3),
        source="bench/calibrate.py, " + ", ".join(c.name for c in corpora),
    )
    # only where the bands are chosen leaving a library out, and with sentence vectors (the
    # signals a question-level model weighs)
    if len(families) > 1 and "vector" in names:
        model, held = choose_decision(held, final)
        if math.isfinite(model.answer):
            final = replace(final, decision=model)
            start = 0
            for c in corpora:  # held is in the order of the corpora
                end = start + len(by_corpus[c.name])
                by_corpus[c.name], start = held[start:end], end
    figs = figures(held, final)
    figs["per_library"] = {c.name: figures(by_corpus[c.name], final) for c in corpora}
    return final, figs, held


# Other ways to deal realworld's policies into five folds (salts of fold_key), so that a change
# judged by policy is judged on more than one split of 33 policies.
SPLITS = ("", "/1", "/2", "/3")


def by_policy(
    collected: Collected,
    names: Sequence[str],
    held: Sequence[Scored],
    final: Calibration,
    split: str = "",
) -> dict[str, object] | None:
    """What the shipped calibration does on realworld questions about policies it was not fitted
    on (as its held-out half is): five folds by policy (dealt by ``fold_key`` with ``split``
    appended); for each, the rerank weights fitted on every other library and realworld's other
    folds, the question-level model on the other families' held-out scores and the other
    folds', the bands and threshold as shipped."""
    real = [(c, ss) for c, ss in collected if c.family == "realworld"]
    if not real or final.decision is None:
        return None
    corpus, samples = real[0]
    library = corpus.index.library
    folds = [zlib.crc32((fold_key(library, s.item) + split).encode()) % FOLDS for s in samples]
    scored: list[list[Scored]] = []
    for k in range(FOLDS):
        train = [(c, ss) for c, ss in collected if c.family != "realworld"]
        train.append((corpus, [s for s, f in zip(samples, folds, strict=True) if f != k]))
        cal = _calibration(names, *_fit(train, names))
        fold = [s for s, f in zip(samples, folds, strict=True) if f == k]
        scored.append(score(corpus.index, fold, cal, "realworld"))
    others = [s for s in held if s.family != "realworld"]
    out: list[Scored] = []
    for k in range(FOLDS):
        rest = [s for j, ss in enumerate(scored) if j != k for s in ss]
        x, y, w = _decision_rows([*others, *rest])
        model = replace(_model(fit_logistic(x, y, w)), answer=final.decision.answer)
        out += [_certain(s, model) for s in scored[k]]
    return figures(out, final)


def _print_by_policy(
    collected: Collected, names: Sequence[str], held: Sequence[Scored], cal: Calibration
) -> None:
    for split in SPLITS:
        unseen_policies = by_policy(collected, names, held, cal, split)
        if unseen_policies is not None:
            label = f", split {split}" if split else ""
            print(f"# realworld, five folds by policy{label}: {json.dumps(unseen_policies)}")


def _answers(s: Scored, cal: Calibration) -> bool:
    return s.decision(cal) is Decision.ANSWER


def _number(value: object) -> float:
    if not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def choose_sure(
    lexical: Sequence[Scored],
    lexical_cal: Calibration,
    vectors: Sequence[Scored],
    vectors_cal: Calibration,
) -> tuple[float, dict[str, object]]:
    """The lexical confidence from which the lexical pass's direct answer stands and the query
    embedding is skipped: the lowest at which the cascade, on the same questions, keeps Recall@1
    and direct-answer accuracy within CASCADE_SLACK of the full vector path and answers no more
    out-of-scope questions, in every library family (pooled, the largest family would hide what
    the cascade costs a small one). ``lexical`` is scored by the shipped lexical calibration,
    ``vectors`` held out."""
    if [s.item.query for s in lexical] != [s.item.query for s in vectors]:
        raise ValueError("the two runs must score the same questions in the same order")
    families = sorted({s.family for s in vectors})
    full = {f: figures([s for s in vectors if s.family == f], vectors_cal) for f in families}
    for sure in np.arange(max(lexical_cal.answer, 0.5), 1.0, 0.01):
        skip = [_answers(a, lexical_cal) and a.top_score >= sure for a in lexical]
        mixed = [a if k else b for a, b, k in zip(lexical, vectors, skip, strict=True)]
        answered = [k or _answers(b, vectors_cal) for b, k in zip(vectors, skip, strict=True)]
        rows = list(zip(mixed, answered, vectors, skip, strict=True))
        if all(_keeps(_cascade([r for r in rows if r[2].family == f]), full[f]) for f in families):
            return round(float(sure), 2), {"sure": round(float(sure), 2), **_cascade(rows)}
    never: dict[str, object] = {"skipped": 0.0}
    return math.inf, never


def _cascade(rows: Sequence[tuple[Scored, bool, Scored, bool]]) -> dict[str, float]:
    """The cascade's figures from its rows: its answer, whether it answered directly, the
    vector path's answer, whether the embedding was skipped."""
    inscope = [m for m, _, _, _ in rows if m.item.in_scope]
    oos = [a for m, a, _, _ in rows if not m.item.in_scope]
    right = [m.correct1 for m, a, _, _ in rows if a]
    return {
        "skipped": round(sum(k for *_, k in rows) / max(len(rows), 1), 4),
        "recall_at_1": round(sum(m.correct1 for m in inscope) / max(len(inscope), 1), 4),
        "answer_accuracy": round(sum(right) / max(len(right), 1), 4),
        "oos_not_answered": round(1 - sum(oos) / max(len(oos), 1), 4),
    }


def _keeps(cascade: dict[str, float], full: dict[str, object]) -> bool:
    """Whether the cascade keeps the full vector path's figures (see ``choose_sure``)."""
    return (
        cascade["recall_at_1"] >= _number(full["recall_at_1"]) - CASCADE_SLACK
        and cascade["answer_accuracy"] >= _number(full["answer_accuracy"]) - CASCADE_SLACK
        and cascade["oos_not_answered"] >= _number(full["oos_not_answered"])
    )


# Left out with sentence vectors: the reciprocal-rank fusion of the generators says again what
# the vector ranks and the BM25 shares say, weighted as the sample library's titles would have
# it; without it every library left out ranks as well or better (Recall@1: realworld 0.869 →
# 0.879, ncpqa 0.701 → 0.710, sample 0.885 → 0.885; realworld by policy 0.879 → 0.888).
LEXICAL_ONLY = ("rrf",)


class CachedQuestions:
    """The embedder with question vectors kept in the embedding cache: calibrating embeds the
    same two thousand questions on every run. (e5 embeds questions and short library texts
    alike, so the cache's short-text vectors are question vectors.)"""

    def __init__(self, inner: Embedder, cache: EmbeddingCache) -> None:
        self.name, self.dim = inner.name, inner.dim
        self._inner, self._cache = inner, cache

    def queries(self, texts: Sequence[str], timeout: float | None = None) -> Vectors:
        return self._cache.embed(self._inner, texts)

    def passages(self, texts: Sequence[str]) -> Vectors:
        return self._inner.passages(texts)

    def documents(self, texts: Sequence[str]) -> Vectors:
        return self._inner.documents(texts)


def shared_corpora(data: Path, embedder: Embedder | None, cache: EmbeddingCache) -> list[Corpus]:
    """The real libraries beside the repo (../shared/data), when there: realworld (a county
    catalogue's fields, real questions) and ncpqa (long documents, formal questions)."""
    out = []
    real = data / "realworld"
    if real.is_dir():
        library = read_library([real / "policies.jsonl"])
        index = build_index(library, embedder=embedder, cache=cache)
        items = read_labelled(real / "dev_queries.jsonl")
        if embedder is not None:
            embedder.queries([i.query for i in items])
        out.append(Corpus("realworld", "realworld", index, items))
    qa = data / "ncpqa"
    if qa.is_dir():
        docs = read_jsonl(qa / "policies.jsonl")
        records = [Policy(d["id"], first_segment(d["text"]), body=d["text"]) for d in docs]
        known = {d["id"] for d in docs}
        items = [
            Labelled(q["query"], frozenset({q["policy_id"]}))
            for q in read_jsonl(qa / "queries.jsonl")
            if q["policy_id"] in known
        ]
        index = build_index(Library.of(records), embedder=embedder, cache=cache)
        if embedder is not None:
            embedder.queries([i.query for i in items])
        out.append(Corpus("ncpqa", "ncpqa", index, items))
    return out


def print_calibration(name: str, cal: Calibration, sure: str) -> None:
    """The fitted values as Python, to paste into policy_index/calibration.py."""
    print(f"{name} = Calibration(")
    print(f"    weights={cal.weights!r},")
    print(f"    bias={cal.bias!r},")
    print(f"    answer={cal.answer!r},")
    print(f"    clarify={cal.clarify!r},")
    print(f"    margin={cal.margin!r},")
    print(f"    unknown={cal.unknown!r},")
    print(f"    source={cal.source!r},")
    if cal.decision is not None:
        d = cal.decision
        print(f"    decision=DecisionModel(\n        weights={d.weights!r},")
        print(f"        bias={d.bias!r},\n        answer={d.answer!r},")
        print(f"        margin={d.margin!r},\n    ),")
    print(f"{sure})")


def _dump(path: Path, held: Sequence[Scored]) -> None:
    with path.open("w") as fh:
        for h in held:
            record = {k: v for k, v in h.__dict__.items() if k != "item"}
            record |= {"query": h.item.query, "in_scope": h.item.in_scope}
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--library", type=Path, default=ROOT / "policy_index/sample/library.jsonl")
    parser.add_argument("--questions", type=Path, default=ROOT / "tests/data/dev_questions.jsonl")
    parser.add_argument("--holdout", type=Path, default=ROOT / "tests/data/holdout_questions.jsonl")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--lexical-only", action="store_true")
    parser.add_argument("--sample-only", action="store_true", help="no ../shared libraries")
    parser.add_argument("--dump", type=Path, help="write the held-out scores here (JSON Lines)")
    parser.add_argument("--without", nargs="*", default=(), help="features left out (to compare)")
    args = parser.parse_args()
    library = read_library([args.library])
    items = read_labelled(args.questions)
    holdout = read_labelled(args.holdout) if args.holdout.exists() else []
    runs: list[tuple[str, Embedder | None]] = [("LEXICAL", None)]
    if not args.lexical_only:
        runs.append(("WITH_VECTORS", load_embedder()))
    bare, bare_items = policies_only(library, items)
    documents, document_items = as_documents(library, items)
    fitted: dict[str, tuple[Calibration, list[Scored], Collected]] = {}
    for name, embedder in runs:
        cache = EmbeddingCache.load(CACHE)
        if embedder is not None:
            embedder = CachedQuestions(embedder, cache)
            embedder.queries([i.query for i in [*items, *holdout]])  # in batches, once
        corpora = [
            Corpus(
                "sample",
                "sample",
                build_index(library, embedder=embedder, cache=cache, home_region=SAMPLE_HOME),
                items,
            ),
            Corpus(
                "sample policy list",
                "sample",
                build_index(bare, embedder=embedder, cache=cache, home_region=SAMPLE_HOME),
                bare_items,
            ),
            Corpus(
                "sample documents",
                "sample",
                build_index(documents, embedder=embedder, cache=cache, home_region=SAMPLE_HOME),
                document_items,
            ),
        ]
        if not args.sample_only:
            corpora += shared_corpora(args.data, embedder, cache)
        if embedder is not None:
            cache.save(CACHE)
        names = [
            f
            for f in FEATURES
            if (f not in VECTOR_FEATURES or embedder is not None)
            and (f not in LEXICAL_ONLY or embedder is None)
            and f not in args.without
        ]
        collected = [(c, collect(c.index, c.items)) for c in corpora]
        cal, figs, held = calibrate(collected, names)
        fitted[name] = (cal, held, collected)
        if args.dump:
            _dump(args.dump.with_suffix(f".{name.lower()}.jsonl"), held)
        held_out = (
            "leaving one library out" if len({c.family for c in corpora}) > 1 else "by policy"
        )
        print(f"# {name}: cross-validated ({held_out}) on {len(held)} questions")
        per = figs.pop("per_library")
        print(f"#   all: {json.dumps(figs)}")
        for corpus, f in per.items():  # type: ignore[attr-defined]
            print(f"#   {corpus}: {json.dumps(f)}")
        _print_by_policy(collected, names, held, cal)
        if holdout:  # in full, and as the bare policy list many counties publish
            forms = (
                ("full", corpora[0].index, holdout),
                ("policies-only", corpora[1].index, answerable(bare, holdout)),
            )
            for form, index, asked in forms:
                unseen = figures(score(index, collect(index, asked), cal), cal)
                print(f"# held out ({args.holdout.name}, {form}): {json.dumps(unseen)}")
        sure = ""
        if name == "WITH_VECTORS" and "LEXICAL" in fitted:
            # the first pass is the shipped lexical calibration, scored on every library
            first = [
                s
                for c, ss in fitted["LEXICAL"][2]
                for s in score(c.index, ss, SHIPPED_LEXICAL, c.family)
            ]
            value, cascade = choose_sure(first, SHIPPED_LEXICAL, held, cal)
            print(f"# lexical first pass as shipped, then the vector path: {json.dumps(cascade)}")
            sure = f"    first=LEXICAL,\n    sure={value!r},\n"
        print_calibration(name, cal, sure)


if __name__ == "__main__":
    main()
