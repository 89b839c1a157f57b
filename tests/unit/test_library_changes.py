"""Known answers for the console's library logic: one policy validated as an imported line,
the import preview's comparison, the search filters, and the format's messages in Chinese."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.console.library_forms import field_zh, message_zh
from policy_index.browse import Filters, search, topics
from policy_index.changes import compare, validate_policy
from policy_index.errors import LibraryFormatError
from policy_index.model import Alias, Library, Policy, QAPair, Status

TODAY = dt.date(2026, 12, 6)
A = Policy("a", "就业见习补贴办法", issuer="区人社局", date=dt.date(2024, 4, 10), topics=("就业",))
B = Policy(
    "b",
    "养老保险缴费补贴细则",
    issuer="区财政局",
    date=dt.date(2023, 1, 15),
    audience=("个人",),
    topics=("社保", "就业"),
    expiry_date=dt.date(2025, 12, 31),
)
LIBRARY = Library.of([A, B], [QAPair("a-qa1", "多久发", "按月")], [Alias("低保", "最低生活保障")])


def test_validate_policy_names_every_bad_field_and_the_missing_replacement() -> None:
    raw = {"id": "a", "title": "", "date": "2024-02-30", "replaced_by": "zz"}
    with pytest.raises(LibraryFormatError) as caught:
        validate_policy(raw, known_policy_ids={"a", "b"})
    fields = [e.field for e in caught.value.errors]
    assert fields == ["title", "date"]  # a record with errors is not checked for references
    with pytest.raises(LibraryFormatError) as caught:
        validate_policy({"id": "a", "title": "t", "replaced_by": "zz"}, known_policy_ids={"a"})
    assert [(e.field, e.message) for e in caught.value.errors] == [
        ("replaced_by", "names policy 'zz', which is not in the library")
    ]
    policy, qa = validate_policy(
        {"id": "a", "title": "t", "replaced_by": "b", "qa": [{"question": "q", "answer": "x"}]},
        known_policy_ids={"a", "b"},
    )
    assert policy.replaced_by == "b"
    assert [(q.id, q.policy_id) for q in qa] == [("a-qa1", "a")]


def test_compare_lists_new_changed_and_same_with_the_changed_fields() -> None:
    incoming = Library.of(
        [A, Policy("b", "养老保险缴费补贴细则（修订）", issuer="区财政局"), Policy("c", "新政策")],
        [QAPair("a-qa1", "多久发", "按月")],
        [Alias("低保", "低保")],
    )
    changes = compare(LIBRARY, incoming)
    summary = [(e.kind, e.id, e.action) for e in changes.entries]
    assert summary == [
        ("policy", "c", "new"),
        ("policy", "b", "changed"),
        ("alias", "低保", "changed"),
        ("policy", "a", "same"),
        ("qa", "a-qa1", "same"),
    ]
    b = next(e for e in changes.entries if e.id == "b")
    assert b.fields == ("title", "date", "expiry_date", "audience", "topics")
    assert (changes.count("new"), changes.count("changed"), changes.count("same")) == (1, 2, 2)
    assert changes.any
    assert not compare(LIBRARY, LIBRARY).any


@pytest.mark.parametrize(
    ("filters", "ids"),
    [
        (Filters(), ["a", "b"]),  # newest issue date first
        (Filters(words="补贴 细则"), ["b"]),  # every word must appear
        (Filters(topic="社保"), ["b"]),
        (Filters(status=Status.EXPIRED), ["b"]),  # lapsed as of today
        (Filters(status=Status.CURRENT), ["a"]),
        (Filters(audience="企业"), []),
        (Filters(issuer="财政"), ["b"]),
        (Filters(since=dt.date(2024, 1, 1)), ["a"]),
        (Filters(until=dt.date(2023, 12, 31)), ["b"]),
    ],
)
def test_search(filters: Filters, ids: list[str]) -> None:
    assert [p.id for p in search(LIBRARY, filters, TODAY)] == ids


def test_topics_most_used_first() -> None:
    assert topics(LIBRARY) == ["就业", "社保"]
    assert not Filters()
    assert Filters(topic="就业")


def test_messages_and_fields_in_chinese() -> None:
    assert message_zh("is required") == "必须填写"
    assert message_zh("must be a date YYYY-MM-DD, YYYY-MM or YYYY, got '2024-02-30'") == (
        "须为日期（年-月-日、年-月或年），现为 '2024-02-30'"
    )
    assert message_zh("something new") == "something new"  # unknown: shown as written
    assert field_zh("interpretations[2].title") == "政策解读 第2条 · 标题"
    assert field_zh("guide.conditions") == "办事指南 · 申请条件"
    assert field_zh("conditions") == "适用条件（机器可判断）"
