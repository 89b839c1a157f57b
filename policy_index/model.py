"""The policy library as plain, frozen values: policies, interpretations, guides, Q&A, aliases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from policy_index.conditions import Condition


class Status(StrEnum):
    CURRENT = "现行有效"
    AMENDED = "已修改"
    REPEALED = "已废止"
    EXPIRED = "已失效"


class Level(StrEnum):
    NATIONAL = "国家"
    PROVINCE = "省"
    CITY = "市"
    COUNTY = "县区"
    TOWN = "乡镇"


AUDIENCES = ("个人", "企业")
INTERPRETATION_KINDS = ("文字", "图解", "视频", "问答")
GUIDE_FIELDS = (
    "target",
    "conditions",
    "standard",
    "materials",
    "process",
    "time_limit",
    "location",
    "phone",
)
GUIDE_LABELS = {
    "target": "申请对象",
    "conditions": "申请条件",
    "standard": "补贴标准",
    "materials": "所需材料",
    "process": "办理流程",
    "time_limit": "办理时限",
    "location": "办理地点",
    "phone": "咨询电话",
}


@dataclass(frozen=True, slots=True)
class Interpretation:
    title: str
    url: str | None = None
    kind: str = "文字"
    summary: str | None = None


@dataclass(frozen=True, slots=True)
class Guide:
    """办事指南: who may apply, on what conditions, what they get, and how."""

    target: str | None = None
    conditions: str | None = None
    standard: str | None = None
    materials: str | None = None
    process: str | None = None
    time_limit: str | None = None
    location: str | None = None
    phone: str | None = None

    def items(self) -> list[tuple[str, str]]:
        """The filled fields as (field name, text), in the canonical order."""
        return [(f, v) for f in GUIDE_FIELDS if (v := getattr(self, f))]

    def __bool__(self) -> bool:
        return bool(self.items())


@dataclass(frozen=True, slots=True)
class QAPair:
    id: str
    question: str
    answer: str
    similar: tuple[str, ...] = ()
    policy_id: str | None = None


@dataclass(frozen=True, slots=True)
class Alias:
    alias: str
    canonical: str


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    title: str
    doc_number: str | None = None
    issuer: str | None = None
    level: Level | None = None
    region: str | None = None
    date: dt.date | None = None
    effective_date: dt.date | None = None
    expiry_date: dt.date | None = None
    status: Status = Status.CURRENT
    replaced_by: str | None = None
    audience: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    summary: str | None = None
    body: str | None = None
    source_url: str | None = None
    exempt_application: bool = False
    aliases: tuple[str, ...] = ()
    interpretations: tuple[Interpretation, ...] = ()
    guide: Guide | None = None
    conditions: Condition | None = None  # machine-checkable eligibility (policy_index.conditions)

    def status_on(self, today: dt.date) -> Status:
        """The validity as of ``today``: a current policy past its expiry date has lapsed."""
        if self.status is Status.CURRENT and self.expiry_date and self.expiry_date < today:
            return Status.EXPIRED
        return self.status

    def in_force(self, today: dt.date) -> bool:
        return self.status_on(today) is Status.CURRENT


@dataclass(frozen=True)
class Library:
    """A whole library; ``policy(id)`` and ``qa(id)`` look entries up."""

    policies: tuple[Policy, ...] = ()
    qa_pairs: tuple[QAPair, ...] = ()
    aliases: tuple[Alias, ...] = ()
    _policies: Mapping[str, Policy] = field(default_factory=dict, repr=False, compare=False)
    _qa: Mapping[str, QAPair] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_policies", {p.id: p for p in self.policies})
        object.__setattr__(self, "_qa", {q.id: q for q in self.qa_pairs})

    @classmethod
    def of(
        cls,
        policies: Iterable[Policy] = (),
        qa_pairs: Iterable[QAPair] = (),
        aliases: Iterable[Alias] = (),
    ) -> Library:
        return cls(tuple(policies), tuple(qa_pairs), tuple(aliases))

    def policy(self, policy_id: str) -> Policy | None:
        return self._policies.get(policy_id)

    def qa(self, qa_id: str) -> QAPair | None:
        return self._qa.get(qa_id)

    def qa_for(self, policy_id: str) -> list[QAPair]:
        return [q for q in self.qa_pairs if q.policy_id == policy_id]

    def __len__(self) -> int:
        return len(self.policies)
