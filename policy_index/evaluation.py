"""Quality figures for a matcher run over labelled questions (used by benches and tests).

A question is labelled with every acceptable target id (policy or Q&A), or none when it is out
of scope. Ranking: Recall@1, Recall@3, MRR@10. Decisions: the accuracy of ``answer`` decisions,
and the share of out-of-scope questions that got ``none`` or ``clarify`` rather than an answer.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Labelled:
    query: str
    expected: frozenset[str]  # empty = out of scope
    kind: str = ""

    @property
    def in_scope(self) -> bool:
        return bool(self.expected)


@dataclass(frozen=True, slots=True)
class Outcome:
    decision: str
    ranked: Sequence[str]  # target ids, best first


@dataclass
class Report:
    n: int = 0
    in_scope: int = 0
    r1: int = 0
    r3: int = 0
    rr10: float = 0.0
    answers: int = 0
    answers_correct: int = 0
    oos: int = 0
    oos_deferred: int = 0  # out of scope and not answered (none or clarify)
    oos_none: int = 0
    decisions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_kind: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))

    def add(self, item: Labelled, outcome: Outcome) -> None:
        self.n += 1
        self.decisions[outcome.decision] += 1
        if not item.in_scope:
            self.oos += 1
            self.oos_deferred += outcome.decision != "answer"
            self.oos_none += outcome.decision == "none"
            self.answers += outcome.decision == "answer"
            return
        self.in_scope += 1
        rank = next((i for i, t in enumerate(outcome.ranked[:10], 1) if t in item.expected), None)
        kind = self.by_kind[item.kind]
        kind[0] += 1
        if rank == 1:
            self.r1 += 1
            kind[1] += 1
        if rank is not None and rank <= 3:
            self.r3 += 1
            kind[2] += 1
        self.rr10 += 1.0 / rank if rank else 0.0
        if outcome.decision == "answer":
            self.answers += 1
            self.answers_correct += rank == 1

    def figures(self) -> dict[str, Any]:
        def ratio(a: float, b: int) -> float | None:
            return round(a / b, 4) if b else None

        return {
            "questions": self.n,
            "in_scope": self.in_scope,
            "recall_at_1": ratio(self.r1, self.in_scope),
            "recall_at_3": ratio(self.r3, self.in_scope),
            "mrr_at_10": ratio(self.rr10, self.in_scope),
            "answer_accuracy": ratio(self.answers_correct, self.answers),
            "answers": self.answers,
            "out_of_scope": self.oos,
            "oos_not_answered": ratio(self.oos_deferred, self.oos),
            "oos_none": ratio(self.oos_none, self.oos),
            "decisions": dict(self.decisions),
            "recall_at_1_by_kind": {k: ratio(v[1], v[0]) for k, v in sorted(self.by_kind.items())},
        }


def read_labelled(path: Path) -> list[Labelled]:
    """JSON Lines: ``query`` and acceptable ids in ``expected`` (or ``policies`` and ``qa``)."""
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        raw = json.loads(line)
        ids = raw.get("expected")
        if ids is None:
            ids = [*raw.get("policies", []), *raw.get("qa", [])]
        if isinstance(ids, str):
            ids = [ids]
        items.append(Labelled(raw["query"], frozenset(ids), raw.get("kind", "")))
    return items


def evaluate(items: Iterable[Labelled], outcomes: Iterable[Outcome]) -> Report:
    report = Report()
    for item, outcome in zip(items, outcomes, strict=True):
        report.add(item, outcome)
    return report
