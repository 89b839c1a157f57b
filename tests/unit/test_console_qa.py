"""Known answers for the Q&A pages' pure parts: finding pairs, numbering a new pair, and which
navigation link is the current page's."""

from __future__ import annotations

from bot.console.library_desk import fresh_qa_id, qa_version
from bot.console.web import here
from policy_index.browse import QAFilters, search_qa
from policy_index.model import Library, Policy, QAPair

LIBRARY = Library.of(
    [Policy("p/1", "见习补贴办法")],
    [
        QAPair("p/1-qa1", "见习补贴多久发一次", "按月发放。", ("补贴几号发",), "p/1"),
        QAPair("card", "社保卡丢了怎么补办", "到社保窗口补办。", ("社保卡遗失",)),
        QAPair("staff-0123456789abcdef", "驾照怎么考", "到车管所报名。"),
    ],
)


def ids(f: QAFilters) -> list[str]:
    return [q.id for q in search_qa(LIBRARY, f)]


def test_pairs_are_found_by_words_and_by_what_they_are_attached_to() -> None:
    assert ids(QAFilters()) == ["card", "p/1-qa1", "staff-0123456789abcdef"]
    assert ids(QAFilters(words="遗失")) == ["card"]  # a similar phrasing
    assert ids(QAFilters(words="补办 窗口")) == ["card"]  # every word, question or answer
    assert ids(QAFilters(words="补贴 车管所")) == []
    assert ids(QAFilters(show="attached")) == ["p/1-qa1"]
    assert ids(QAFilters(show="unattached")) == ["card", "staff-0123456789abcdef"]
    assert ids(QAFilters(show="staff")) == ["staff-0123456789abcdef"]
    assert ids(QAFilters(policy_id="p/1")) == ["p/1-qa1"]
    assert not QAFilters()
    assert QAFilters(show="staff")


def test_a_new_pair_is_numbered_after_its_policy() -> None:
    taken = {q.id for q in LIBRARY.qa_pairs}
    assert fresh_qa_id("p/1", taken) == "p/1-qa2"
    assert fresh_qa_id(None, taken) == "qa-1"
    assert fresh_qa_id("", {"qa-1"}) == "qa-2"
    assert fresh_qa_id("x" * 64, taken) == "qa-1"  # no room for "-qaN" in 64 characters


def test_the_version_changes_with_any_field() -> None:
    pair = LIBRARY.qa_pairs[0]
    assert qa_version(pair) == qa_version(QAPair(*[getattr(pair, f) for f in pair.__slots__]))
    assert qa_version(pair) != qa_version(QAPair(pair.id, pair.question, "改了。", pair.similar))


def test_the_current_link_is_the_longest_matching_prefix() -> None:
    links = ["/dashboard", "/library", "/notices", "/notices/new"]
    assert here("/library/qa/pair", links) == "/library"
    assert here("/notices/new", links) == "/notices/new"
    assert here("/notices/42/edit", links) == "/notices"
    assert here("/librarything", links) == ""  # a prefix of the name is not enough
    assert here("/me", links) == ""
