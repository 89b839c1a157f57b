"""Does an enterprise meet a policy's conditions? Three answers: 符合, 不符合, 待确认.

Each check (``policy_index.conditions``) is decided against the enterprise profile
(一企一档): 符合 or 不符合 when the profile has the field, 待确认 when it does not (no industry,
employees, town or founding date on record). Groups combine the three values as Kleene's logic
does: ``all`` fails when any item fails, else waits on any unknown item, else holds; ``any``
holds when any item holds, else waits on any unknown item, else fails. So a missing field
matters only where it could change the answer.

Qualifications and tags are the county's own record: a qualification that is not listed is not
held (it is never 待确认). A notice goes only to 符合; 待确认 enterprises are listed for staff
with the conditions the profile cannot settle, never pushed as if they qualified.

Pure: no I/O. ``Evaluation.reasons`` are the sentences the message quotes ("行业：制造业",
"职工人数 80 人，不超过 100 人", "具有高新技术企业资质").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from policy_index.conditions import Check, Condition, Scalar, to_json


class Verdict(StrEnum):
    MEETS = "符合"
    FAILS = "不符合"
    UNKNOWN = "待确认"


@dataclass(frozen=True, slots=True)
class Profile:
    """What eligibility may look at; None: not on record."""

    uscc: str
    name: str
    industry: str | None = None
    employees: int | None = None
    town: str | None = None
    founded: dt.date | None = None
    qualifications: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Evaluation:
    verdict: Verdict
    reasons: tuple[str, ...] = ()  # why it holds (MEETS) or fails (FAILS), for people
    unknown: tuple[Check, ...] = field(default=())  # what the profile cannot settle (UNKNOWN)

    def unknown_json(self) -> list[dict[str, Any]]:
        """The unknown checks as stored for staff: the library form plus a sentence."""
        return [{**to_json(c), "text": requirement(c)} for c in self.unknown]


LABELS = {
    "industry": "行业",
    "town": "所在镇街",
    "name": "企业名称",
    "uscc": "统一社会信用代码",
    "employees": "职工人数",
    "founded": "成立日期",
    "qualifications": "资质",
    "tags": "标签",
}
# How each order operator reads, for numbers and for dates.
NUMBER_WORDS = {"<": "少于", "<=": "不超过", ">": "超过", ">=": "不少于"}
DATE_WORDS = {"<": "早于", "<=": "不晚于", ">": "晚于", ">=": "不早于"}
OPPOSITE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}


def _day(d: dt.date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _show(check_field: str, value: Scalar) -> str:
    if isinstance(value, dt.date):
        return _day(value)
    if check_field == "employees":
        return f"{value} 人"
    return str(value)


def _list(check_field: str, values: Iterable[Scalar]) -> str:
    return "、".join(_show(check_field, v) for v in values)


def requirement(check: Check) -> str:
    """The check as a requirement, for staff: "职工人数不超过 100 人"."""
    f, op, v = check.field, check.op, check.value
    label = LABELS[f]
    if op == "has":
        return f"具有{v}资质" if f == "qualifications" else f"带有“{v}”标签"
    if isinstance(v, tuple):
        verb = "属于" if op == "in" else "不属于"
        return f"{label}{verb}{_list(f, v)}"
    if op == "==":
        return f"{label}为{_show(f, v)}"
    if op == "!=":
        return f"{label}不是{_show(f, v)}"
    if f == "founded":
        return f"{label}{DATE_WORDS[op]}{_show(f, v)}"
    return f"{label}{NUMBER_WORDS[op]} {_show(f, v)}"


def _compare(actual: Any, op: str, value: Any) -> bool:
    if op == "==":
        return bool(actual == value)
    if op == "!=":
        return bool(actual != value)
    if op == "<":
        return bool(actual < value)
    if op == "<=":
        return bool(actual <= value)
    if op == ">":
        return bool(actual > value)
    if op == ">=":
        return bool(actual >= value)
    if op == "in":
        return actual in value
    if op == "not_in":
        return actual not in value
    raise ValueError(f"unknown operator {op!r}")


def _reason(check: Check, actual: Any, holds: bool) -> str:
    """Why the check holds or fails for this profile, in one phrase."""
    f, op, v = check.field, check.op, check.value
    label = LABELS[f]
    if op == "has":
        if f == "qualifications":
            return f"具有{v}资质" if holds else f"未登记{v}资质"
        return f"带有“{v}”标签" if holds else f"未带有“{v}”标签"
    shown = _show(f, actual)
    if (op in ("in", "==") and holds) or (op in ("not_in", "!=") and not holds):
        return f"{label}：{shown}"
    if isinstance(v, tuple):  # in that fails, or not_in that holds
        return f"{label}：{shown}，不属于{_list(f, v)}"
    if op in ("!=", "=="):  # != that holds, or == that fails
        return f"{label}：{shown}，不是{_show(f, v)}"
    words = DATE_WORDS if f == "founded" else NUMBER_WORDS
    said = op if holds else OPPOSITE[op]
    if f == "founded":
        return f"成立于{shown}，{words[said]}{_show(f, v)}"
    return f"{label} {shown}，{words[said]} {_show(f, v)}"


def _check(check: Check, profile: Profile) -> Evaluation:
    actual = getattr(profile, check.field)
    if check.op == "has":
        holds = check.value in actual
        return Evaluation(
            Verdict.MEETS if holds else Verdict.FAILS, (_reason(check, actual, holds),)
        )
    if actual is None:
        return Evaluation(Verdict.UNKNOWN, (), (check,))
    holds = _compare(actual, check.op, check.value)
    return Evaluation(Verdict.MEETS if holds else Verdict.FAILS, (_reason(check, actual, holds),))


def _combine(kind: str, parts: list[Evaluation]) -> Evaluation:
    decisive, absorbing = (
        (Verdict.FAILS, Verdict.MEETS) if kind == "all" else (Verdict.MEETS, Verdict.FAILS)
    )
    hits = [p for p in parts if p.verdict is decisive]
    if hits:  # all: the failures say why not; any: the branches that hold say why
        return Evaluation(decisive, tuple(r for p in hits for r in p.reasons))
    unknown = [p for p in parts if p.verdict is Verdict.UNKNOWN]
    if unknown:
        settled = tuple(
            r for p in parts if p.verdict is absorbing and kind == "all" for r in p.reasons
        )
        return Evaluation(Verdict.UNKNOWN, settled, tuple(c for p in unknown for c in p.unknown))
    return Evaluation(absorbing, tuple(r for p in parts for r in p.reasons))


def evaluate(condition: Condition, profile: Profile) -> Evaluation:
    """The verdict of ``condition`` for ``profile``, with its reasons or its unknown checks.

    For 待确认 under ``all``, ``reasons`` keeps what the profile already meets."""
    if isinstance(condition, Check):
        return _check(condition, profile)
    return _combine(condition.kind, [evaluate(item, profile) for item in condition.items])
