"""Dates as real catalogues give them (2023, 2023-02, 2023-02-15): read, shown, written back."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path

import pytest

from bot.conversations import Option
from handlers import cards
from policy_index.dates import PartialDate, Precision, chinese, parse_date
from policy_index.errors import LibraryFormatError
from policy_index.export import dump_library
from policy_index.interchange import read_library
from policy_index.model import Library, Policy

RECORDS = [
    {"id": "y", "title": "某县养老服务补贴办法", "date": "2022", "expiry_date": "2025"},
    {"id": "m", "title": "某县低保标准调整通知", "date": "2023-02", "effective_date": "2023-03"},
    {"id": "d", "title": "某县临时救助办法", "date": "2023-02-15", "expiry_date": "2024-02"},
    {"id": "n", "title": "某县无日期文件", "date": ""},
]


def catalogue(tmp_path: Path) -> Path:
    path = tmp_path / "catalogue.jsonl"
    lines = [json.dumps(r, ensure_ascii=False) for r in RECORDS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def loaded(tmp_path: Path) -> Library:
    return read_library([catalogue(tmp_path)])


def test_a_catalogue_with_partial_and_missing_dates_loads(tmp_path: Path) -> None:
    lib = loaded(tmp_path)
    by_id = {p.id: p for p in lib.policies}
    assert str(by_id["y"].date) == "2022"
    assert str(by_id["m"].date) == "2023-02"
    assert by_id["d"].date == date(2023, 2, 15)
    assert by_id["n"].date is None


def test_export_writes_each_date_back_as_it_was_given(tmp_path: Path) -> None:
    path = catalogue(tmp_path)
    written = {r["id"]: r for r in map(json.loads, dump_library(read_library([path])))}
    for original in RECORDS:
        for field in ("date", "effective_date", "expiry_date"):
            assert written[original["id"]].get(field) == (original.get(field) or None)


def test_dates_are_shown_as_people_write_them(tmp_path: Path) -> None:
    lib = loaded(tmp_path)
    card = cards.policy_card(lib.policy("m"), lib, date(2026, 1, 1))  # type: ignore[arg-type]
    assert "2023年2月" in card
    assert "2023年2月1日" not in card
    card = cards.policy_card(lib.policy("y"), lib, date(2024, 6, 1))  # type: ignore[arg-type]
    assert "2022年" in card
    assert "有效期至2025年）" in card
    assert chinese(date(2023, 2, 15)) == "2023年2月15日"


def test_an_expiry_year_or_month_lasts_to_its_end(tmp_path: Path) -> None:
    lib = loaded(tmp_path)
    year, month = lib.policy("y"), lib.policy("d")
    assert year is not None
    assert month is not None
    assert year.in_force(date(2025, 12, 31))
    assert not year.in_force(date(2026, 1, 1))
    assert month.in_force(date(2024, 2, 29))
    assert not month.in_force(date(2024, 3, 1))


def test_partial_dates_order_by_the_start_of_their_period() -> None:
    days = [
        parse_date("2023-02-15"),
        parse_date("2023"),
        parse_date("2022-12-31"),
        parse_date("2023-02"),
    ]
    assert [str(d) for d in sorted(days)] == ["2022-12-31", "2023", "2023-02", "2023-02-15"]
    assert sorted(days, reverse=True)[0] == date(2023, 2, 15)


def test_a_partial_date_survives_copying() -> None:
    day = parse_date("2023-02")
    again = copy.deepcopy(day)
    assert isinstance(again, PartialDate)
    assert again.precision is Precision.MONTH
    assert str(again) == "2023-02"


@pytest.mark.parametrize("bad", ["2023-13", "23-02", "2023/02/01", "2023-02-30", "二〇二三年"])
def test_a_date_that_is_no_date_names_its_field(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"id": "x", "title": "t", "date": bad}) + "\n", encoding="utf-8")
    with pytest.raises(LibraryFormatError) as caught:
        read_library([path])
    assert "date" in str(caught.value)


def test_a_choice_between_versions_shows_their_dates() -> None:
    lib = Library.of(
        [
            Policy("v1", "青禾区2022年城乡低保标准调整通知", date=parse_date("2022")),
            Policy("v2", "青禾区2024年城乡低保标准调整通知", date=parse_date("2024-02")),
            Policy("other", "青禾区临时救助办法", date=parse_date("2023-05-01")),
        ]
    )
    options = tuple(Option("policy", i) for i in ("v2", "v1", "other"))
    text = cards.choice_list(lib, options, 0)
    assert "《青禾区2024年城乡低保标准调整通知》（2024年2月）" in text
    assert "《青禾区2022年城乡低保标准调整通知》（2022年）" in text
    assert "《青禾区临时救助办法》（" not in text
