"""Policy conditions in the library format: the grammar, its errors by path, and the round trip
through the interchange files (and the database, in tests/integration/test_enterprises.py)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from policy_index.conditions import Check, ConditionError, Group, parse_conditions, to_json
from policy_index.errors import LibraryFormatError
from policy_index.export import dump_library
from policy_index.interchange import read_library
from policy_index.library import SAMPLE_LIBRARY

EXAMPLE = {
    "all": [
        {"field": "industry", "op": "in", "value": ["制造业"]},
        {"field": "employees", "op": "<=", "value": 100},
        {
            "any": [
                {"field": "qualifications", "op": "has", "value": "高新技术企业"},
                {"field": "founded", "op": ">=", "value": "2023-01-01"},
            ]
        },
    ]
}


def test_the_example_parses_into_a_tree_and_writes_back_unchanged() -> None:
    condition = parse_conditions(EXAMPLE)
    assert condition == Group(
        "all",
        (
            Check("industry", "in", ("制造业",)),
            Check("employees", "<=", 100),
            Group(
                "any",
                (
                    Check("qualifications", "has", "高新技术企业"),
                    Check("founded", ">=", dt.date(2023, 1, 1)),
                ),
            ),
        ),
    )
    assert to_json(condition) == EXAMPLE


@pytest.mark.parametrize(
    ("raw", "path", "words"),
    [
        ({"all": []}, "all", "non-empty"),
        ({"all": [{"field": "revenue", "op": ">", "value": 1}]}, "all[1].field", "revenue"),
        ({"any": [{"field": "industry", "op": "<", "value": "a"}]}, "any[1].op", "industry allows"),
        ({"field": "employees", "op": "<=", "value": "100"}, "value", "whole number"),
        ({"field": "employees", "op": "<=", "value": True}, "value", "whole number"),
        ({"field": "founded", "op": ">=", "value": "2023-02-30"}, "value", "YYYY-MM-DD"),
        ({"field": "industry", "op": "in", "value": "制造业"}, "value", "non-empty list"),
        ({"field": "industry", "op": "in", "value": ["制造业", 3]}, "value[2]", "text"),
        ({"field": "tags", "op": "has"}, "value", "required"),
        ({"field": "tags", "op": "has", "value": "x", "note": 1}, "", "unknown keys"),
        ({"all": [{"field": "town", "op": "==", "value": "a"}], "any": []}, "", "one key"),
        ([{"field": "town", "op": "==", "value": "a"}], "", "must be an object"),
    ],
)
def test_each_mistake_is_named_by_its_path(raw: Any, path: str, words: str) -> None:
    with pytest.raises(ConditionError) as info:
        parse_conditions(raw)
    assert [p for p, _ in info.value.problems] == [path]
    assert words in info.value.problems[0][1]


def test_a_bad_condition_in_a_library_file_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "lib.jsonl"
    bad = {"all": [{"field": "employees", "op": "<=", "value": "一百"}]}
    path.write_text(
        json.dumps({"id": "p1", "title": "好的", "conditions": EXAMPLE}, ensure_ascii=False)
        + "\n"
        + json.dumps({"id": "p2", "title": "坏的", "conditions": bad}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    with pytest.raises(LibraryFormatError) as info:
        read_library([path])
    assert [(e.line, e.field) for e in info.value.errors] == [(2, "conditions.all[1].value")]
    assert "lib.jsonl:2: conditions.all[1].value: must be a whole number" in str(info.value)


def test_conditions_survive_export_and_import(tmp_path: Path) -> None:
    original = read_library([SAMPLE_LIBRARY])
    with_conditions = [p for p in original.policies if p.conditions is not None]
    assert len(with_conditions) >= 3
    out = tmp_path / "out.jsonl"
    out.write_text("\n".join(dump_library(original)) + "\n", encoding="utf-8")
    again = read_library([out])
    for policy in with_conditions:
        assert again.policy(policy.id) == policy
    raw = {r.get("id"): r for r in map(json.loads, SAMPLE_LIBRARY.read_text("utf-8").splitlines())}
    exported = {r.get("id"): r for r in map(json.loads, out.read_text("utf-8").splitlines())}
    for policy in with_conditions:
        assert exported[policy.id]["conditions"] == raw[policy.id]["conditions"]
