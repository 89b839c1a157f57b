"""Finding policies in a library the way staff look for them: words, topic, validity, audience,
issuer and a range of issue dates; and Q&A pairs by words and by what they are attached to.
Pure; the console pages paginate the result."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from dataclasses import dataclass

from policy_index.model import Library, Policy, QAPair, Status
from policy_index.staff import STAFF_QA_PREFIX


@dataclass(frozen=True, slots=True)
class Filters:
    words: str = ""  # in the title, document number, id, summary or aliases
    topic: str = ""
    status: Status | None = None  # as of today: a current policy past its expiry has lapsed
    audience: str = ""  # 个人 | 企业
    issuer: str = ""  # part of the issuing body's name
    since: dt.date | None = None  # issued on or after
    until: dt.date | None = None  # issued on or before

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in dataclasses.fields(self))


def _haystack(p: Policy) -> str:
    parts = (p.id, p.title, p.doc_number, p.summary, *p.aliases)
    return "\n".join(x for x in parts if x).casefold()


def matches(p: Policy, f: Filters, today: dt.date) -> bool:
    if f.words and not all(w in _haystack(p) for w in f.words.casefold().split()):
        return False
    if f.topic and f.topic not in p.topics:
        return False
    if f.status is not None and p.status_on(today) is not f.status:
        return False
    if f.audience and f.audience not in p.audience:
        return False
    if f.issuer and f.issuer not in (p.issuer or ""):
        return False
    if f.since and (p.date is None or p.date < f.since):
        return False
    return not (f.until and (p.date is None or p.date > f.until))


def search(library: Library, f: Filters, today: dt.date) -> list[Policy]:
    """The matching policies, newest issue date first (undated last), then by id."""
    found = [p for p in library.policies if matches(p, f, today)]
    found.sort(key=lambda p: p.id)
    found.sort(key=lambda p: p.date or dt.date.min, reverse=True)
    return found


def topics(library: Library) -> list[str]:
    """Every topic in use, the most used first."""
    counts = Counter(t for p in library.policies for t in p.topics)
    return [t for t, _n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def issuers(library: Library) -> list[str]:
    return sorted({p.issuer for p in library.policies if p.issuer})


# --- Q&A pairs --------------------------------------------------------------------------------

QA_SHOW = ("attached", "unattached", "staff")  # attached to a policy, to none, written by staff


@dataclass(frozen=True, slots=True)
class QAFilters:
    words: str = ""  # in the id, question, similar phrasings or answer
    show: str = ""  # one of QA_SHOW, or "" for every pair
    policy_id: str = ""  # attached to this policy

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in dataclasses.fields(self))


def _qa_haystack(q: QAPair) -> str:
    return "\n".join((q.id, q.question, *q.similar, q.answer)).casefold()


def qa_matches(q: QAPair, f: QAFilters) -> bool:
    if f.words and not all(w in _qa_haystack(q) for w in f.words.casefold().split()):
        return False
    if f.policy_id and q.policy_id != f.policy_id:
        return False
    if f.show == "attached" and q.policy_id is None:
        return False
    if f.show == "unattached" and q.policy_id is not None:
        return False
    return not (f.show == "staff" and not q.id.startswith(STAFF_QA_PREFIX))


def search_qa(library: Library, f: QAFilters) -> list[QAPair]:
    """The matching Q&A pairs by id (staff-written pairs, ``staff-…``, sort together)."""
    return sorted((q for q in library.qa_pairs if qa_matches(q, f)), key=lambda q: q.id)
