"""The machine-checkable ``conditions`` of a policy: who qualifies, in terms of an enterprise
profile (一企一档), as the library format writes them (docs/policy-library-format.md).

A condition is either one check, ``{"field": "employees", "op": "<=", "value": 100}``, or a
group, ``{"all": [...]}`` / ``{"any": [...]}``, nested to any depth. Fields and the operators
each allows:

============== ======== =========================================== ============================
field          kind     operators                                   value
============== ======== =========================================== ============================
industry       text     ``== != in not_in``                         text, or a list for in/not_in
town           text     ``== != in not_in``                         text, or a list for in/not_in
name           text     ``== != in not_in``                         text, or a list for in/not_in
uscc           text     ``== != in not_in``                         text, or a list for in/not_in
employees      number   ``== != < <= > >= in not_in``               a whole number (or a list)
founded        date     ``== != < <= > >=``                         "YYYY-MM-DD"
qualifications list     ``has``                                     one qualification (text)
tags           list     ``has``                                     one tag (text)
============== ======== =========================================== ============================

Parsing is pure and reports every problem with its path (``all[2].value``) so that the library
import can name file, line and field. ``to_json`` writes a condition back exactly as read, so a
library survives export and import unchanged. Evaluating a condition against a profile is
``push.eligibility``'s job; this module knows only the grammar.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TEXT_FIELDS = ("industry", "town", "name", "uscc")
NUMBER_FIELDS = ("employees",)
DATE_FIELDS = ("founded",)
LIST_FIELDS = ("qualifications", "tags")
FIELDS = TEXT_FIELDS + NUMBER_FIELDS + DATE_FIELDS + LIST_FIELDS

ORDER_OPS = ("<", "<=", ">", ">=")
EQUALITY_OPS = ("==", "!=")
MEMBER_OPS = ("in", "not_in")
OPS = EQUALITY_OPS + ORDER_OPS + MEMBER_OPS + ("has",)

ALLOWED_OPS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(TEXT_FIELDS, EQUALITY_OPS + MEMBER_OPS),
    **dict.fromkeys(NUMBER_FIELDS, EQUALITY_OPS + ORDER_OPS + MEMBER_OPS),
    **dict.fromkeys(DATE_FIELDS, EQUALITY_OPS + ORDER_OPS),
    **dict.fromkeys(LIST_FIELDS, ("has",)),
}

Scalar = str | int | dt.date
Value = Scalar | tuple[str, ...] | tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Check:
    """One comparison of a profile field with a value."""

    field: str
    op: str
    value: Value


@dataclass(frozen=True, slots=True)
class Group:
    """``all`` (every item holds) or ``any`` (at least one holds)."""

    kind: str  # "all" | "any"
    items: tuple[Condition, ...]


Condition = Check | Group


class ConditionError(ValueError):
    """A condition that does not follow the grammar; ``problems`` are (path, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p}: {m}" if p else m for p, m in problems))


def _join(path: str, step: str) -> str:
    return f"{path}.{step}" if path and not step.startswith("[") else f"{path}{step}"


def _value(
    field: str, op: str, value: Any, path: str, problems: list[tuple[str, str]]
) -> Value | None:
    where = _join(path, "value")
    if op in MEMBER_OPS:
        if not isinstance(value, list) or not value:
            problems.append((where, f"must be a non-empty list for {op!r}"))
            return None
        items = [_scalar(field, v, f"{where}[{i}]", problems) for i, v in enumerate(value, 1)]
        if any(i is None for i in items):
            return None
        return tuple(items)  # type: ignore[return-value]
    return _scalar(field, value, where, problems)


def _scalar(field: str, value: Any, where: str, problems: list[tuple[str, str]]) -> Scalar | None:
    if field in NUMBER_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append((where, f"must be a whole number, got {value!r}"))
            return None
        return value
    if field in DATE_FIELDS:
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        problems.append((where, f"must be a date YYYY-MM-DD, got {value!r}"))
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append((where, f"must be non-empty text, got {value!r}"))
        return None
    return value


def _parse(raw: Any, path: str, problems: list[tuple[str, str]]) -> Condition | None:
    if not isinstance(raw, Mapping):
        problems.append((path, 'must be an object: a check or {"all"/"any": [...]}'))
        return None
    groups = [k for k in ("all", "any") if k in raw]
    if groups:
        if len(raw) != 1:
            extra = sorted(set(raw) - {groups[0]})
            problems.append((path, f"a group has one key, all or any (also found {extra})"))
            return None
        kind = groups[0]
        items = raw[kind]
        if not isinstance(items, list) or not items:
            problems.append((_join(path, kind), "must be a non-empty list of conditions"))
            return None
        parsed = [
            _parse(item, f"{_join(path, kind)}[{i}]", problems) for i, item in enumerate(items, 1)
        ]
        if any(p is None for p in parsed):
            return None
        return Group(kind, tuple(p for p in parsed if p is not None))
    unknown = sorted(set(raw) - {"field", "op", "value"})
    if unknown:
        problems.append((path, f"unknown keys {unknown}: a check has field, op and value"))
        return None
    field, op = raw.get("field"), raw.get("op")
    if field not in FIELDS:
        problems.append(
            (_join(path, "field"), f"must be one of {', '.join(FIELDS)}, got {field!r}")
        )
        return None
    if op not in ALLOWED_OPS[field]:
        allowed = " ".join(ALLOWED_OPS[field])
        problems.append((_join(path, "op"), f"{field} allows {allowed}, got {op!r}"))
        return None
    if "value" not in raw:
        problems.append((_join(path, "value"), "is required"))
        return None
    value = _value(field, op, raw["value"], path, problems)
    return None if value is None else Check(field, op, value)


def parse_conditions(raw: Any) -> Condition:
    """The condition tree in ``raw`` (decoded JSON), or ConditionError naming every problem."""
    problems: list[tuple[str, str]] = []
    condition = _parse(raw, "", problems)
    if problems or condition is None:
        raise ConditionError(problems or [("", "is not a condition")])
    return condition


def _json_value(value: Value) -> Any:
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def to_json(condition: Condition) -> dict[str, Any]:
    """The condition in the library format (what ``parse_conditions`` reads back)."""
    if isinstance(condition, Group):
        return {condition.kind: [to_json(c) for c in condition.items]}
    return {"field": condition.field, "op": condition.op, "value": _json_value(condition.value)}


def checks(condition: Condition) -> list[Check]:
    """Every check in the tree, in order."""
    if isinstance(condition, Check):
        return [condition]
    return [c for item in condition.items for c in checks(item)]
