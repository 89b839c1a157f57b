"""The library file format: parsing, validation with file/line/field, writing back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policy_index.errors import LibraryFormatError
from policy_index.export import dump_library
from policy_index.interchange import read_library
from policy_index.library import SAMPLE_LIBRARY
from policy_index.model import Level, Status


def write(path: Path, *records: object) -> Path:
    path.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records),
        encoding="utf-8",
    )
    return path


def test_minimal_and_full_records(tmp_path: Path) -> None:
    lib = read_library(
        [
            write(
                tmp_path / "lib.jsonl",
                {"id": "p1", "title": "最简政策"},
                {
                    "id": "p2",
                    "title": "青禾区就业见习补贴实施办法",
                    "doc_number": "青人社发〔2024〕3号",
                    "level": "县区",
                    "date": "2024-03-01",
                    "status": "已废止",
                    "replaced_by": "p1",
                    "audience": "个人,企业",
                    "topics": ["就业创业"],
                    "exempt_application": True,
                    "interpretations": [{"title": "一图读懂", "kind": "图解", "url": "https://x"}],
                    "guide": {"materials": "身份证", "phone": "0596-1234567"},
                    "qa": [{"question": "补贴多少？", "answer": "每月1000元。"}],
                },
                {"kind": "qa", "id": "q1", "question": "几点上班？", "answer": "9点。"},
                {"kind": "alias", "alias": "低保", "canonical": "最低生活保障"},
            )
        ]
    )
    p2 = lib.policy("p2")
    assert p2 is not None
    assert p2.level is Level.COUNTY
    assert p2.status is Status.REPEALED
    assert p2.audience == ("个人", "企业")
    assert p2.guide is not None
    assert p2.guide.items() == [("materials", "身份证"), ("phone", "0596-1234567")]
    assert lib.qa("p2-qa1") is not None
    assert lib.qa("p2-qa1").policy_id == "p2"  # type: ignore[union-attr]
    assert [a.alias for a in lib.aliases] == ["低保"]


def test_every_bad_field_is_named_with_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.jsonl",
        {"id": "ok", "title": "好的"},
        {"id": "has space", "title": ""},
        {"id": "p3", "title": "x", "date": "2024-13-01", "status": "作废", "level": "村"},
        "not json",
        {"kind": "qa", "id": "q1", "question": "问"},
        {"id": "p4", "title": "y", "replaced_by": "nowhere", "colour": "red"},
        {"id": "ok", "title": "重复"},
    )
    with pytest.raises(LibraryFormatError) as info:
        read_library([path])
    found = {(e.line, e.field) for e in info.value.errors}
    assert {
        (2, "id"),
        (2, "title"),
        (3, "date"),
        (3, "status"),
        (3, "level"),
        (4, "-"),
        (5, "answer"),
        (6, "colour"),
        (7, "id"),
    } <= found
    assert all(e.file == str(path) for e in info.value.errors)
    assert "bad.jsonl:3: date" in str(info.value)


def test_dangling_reference_is_an_error_unless_known(tmp_path: Path) -> None:
    path = write(
        tmp_path / "lib.jsonl",
        {"kind": "qa", "id": "q", "question": "a", "answer": "b", "policy_id": "p9"},
    )
    with pytest.raises(LibraryFormatError):
        read_library([path])
    assert read_library([path], known_policy_ids={"p9"}).qa("q") is not None


def test_csv_with_flat_fields(tmp_path: Path) -> None:
    path = tmp_path / "lib.csv"
    path.write_text(
        "id,title,topics,audience,exempt_application\np1,高龄津贴,养老服务|困难群众,个人,是\n",
        encoding="utf-8",
    )
    policy = read_library([path]).policy("p1")
    assert policy is not None
    assert policy.topics == ("养老服务", "困难群众")
    assert policy.exempt_application


def test_sample_library_round_trips(tmp_path: Path) -> None:
    original = read_library([SAMPLE_LIBRARY])
    assert len(original.policies) >= 60
    assert len(original.qa_pairs) >= 60
    out = tmp_path / "out.jsonl"
    out.write_text("\n".join(dump_library(original)) + "\n", encoding="utf-8")
    again = read_library([out])
    assert sorted(again.policies, key=lambda p: p.id) == sorted(
        original.policies, key=lambda p: p.id
    )
    assert sorted(again.qa_pairs, key=lambda q: q.id) == sorted(
        original.qa_pairs, key=lambda q: q.id
    )
    assert set(again.aliases) == set(original.aliases)
