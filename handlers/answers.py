"""Which part of a policy answers the question asked: the *lead* of an answer card.

Pure functions over library records. "稳岗补贴怎么领" asks how to get it, so the answer leads with
what the library says about that — for a 免申即享 policy, that nothing needs applying for (its
stored Q&A answer saying so, else the fixed sentence and the guide's process); "能领多少" leads
with the standard, "要什么材料" with the materials, "多久" with the time limit; "有什么优惠" with
what the policy grants, never its definitions. The sources, in order: the guide's field, a
stored Q&A of the policy that asks the same thing, then (for a library with summaries only, as
a county's catalogue export) the summary's sentences about it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from handlers import texts
from handlers.intents import detect_facet
from policy_index.model import GUIDE_LABELS, Library, Policy, QAPair

# Facets for which a 免申即享 policy's answer is "nothing to apply for".
APPLYING = frozenset(("process", "materials", "location"))
_EXEMPT = re.compile(
    r"免申即享|免于申请|无需申请|无需提交|不用申请|不需要申请|无需办理|直接享受|自动发放"
)
_SENTENCE = re.compile(r"(?<=[。；！？])")
# What a sentence of a summary must hold to speak to a facet.
_FACET_CLUES = {
    "standard": re.compile(
        r"\d+(?:\.\d+)?\s*(?:元|万元|%|％)|减半|减按|免征|免收|税率|标准|每人每|给予|补贴|补助|奖励"
    ),
    "time_limit": re.compile(r"个?工作日|日内|天内|个月内|时限|办结|之日起"),
    "materials": re.compile(r"材料|证明|身份证|户口簿|营业执照|复印件"),
    "process": re.compile(r"申请|申报|办理|提出|线上|网上|窗口|受理|审核"),
    "conditions": re.compile(r"符合|条件|年满|户籍|参保|应当|可以申请|可申请|对象"),
    "location": re.compile(r"窗口|服务中心|大厅|地址|地点"),
    "phone": re.compile(r"电话|热线|\d{3,4}-\d{7,8}|12345|12366|12333"),
}
MAX_SENTENCES = 3
_DEFINITION = re.compile(r"是指|指的是|所称")  # a definition says who, not what is granted


@dataclass(frozen=True, slots=True)
class Lead:
    """What an answer starts with: a label ("所需材料", "免申即享") and the text."""

    facet: str
    label: str
    text: str


def exempt(policy: Policy) -> bool:
    """Whether nothing needs applying for: the library's flag, or its summary says so."""
    return policy.exempt_application or bool(_EXEMPT.search(policy.summary or ""))


def lead(
    library: Library, policy: Policy, facet: str | None, *, benefit: bool = False
) -> Lead | None:
    """The part of ``policy`` that answers a question about ``facet`` (None: nothing to lead
    with; the card answers as it is)."""
    if facet is None:
        return None
    if facet in APPLYING and exempt(policy):
        return _exempt_lead(library, policy)
    label = texts.GRANTED_LABEL if benefit else GUIDE_LABELS[facet]
    value = getattr(policy.guide, facet) if policy.guide else None
    if value:
        return Lead(facet, label, value)
    qa = asking(library.qa_for(policy.id), facet)
    if qa is not None:
        return Lead(facet, label, qa.answer)
    found = sentences(policy.summary or "", facet)
    return Lead(facet, label, found) if found else None


def _exempt_lead(library: Library, policy: Policy) -> Lead:
    for qa in library.qa_for(policy.id):
        if _EXEMPT.search(qa.answer):
            return Lead("process", texts.EXEMPT_LABEL, qa.answer)
    said = [s for s in _SENTENCE.split(policy.summary or "") if _EXEMPT.search(s)]
    process = policy.guide.process if policy.guide else None
    text = "".join(said[:MAX_SENTENCES]) or texts.EXEMPT_NO_APPLICATION
    if process and not said:
        text += process
    return Lead("process", texts.EXEMPT_LABEL, text)


def asking(pairs: list[QAPair], facet: str) -> QAPair | None:
    """The first stored Q&A pair whose question asks about ``facet``."""
    return next((qa for qa in pairs if detect_facet(qa.question) == facet), None)


def sentences(summary: str, facet: str) -> str:
    """The sentences of a summary that speak to ``facet`` (at most ``MAX_SENTENCES``)."""
    clue = _FACET_CLUES.get(facet)
    if clue is None:
        return ""
    found = [
        s
        for s in _SENTENCE.split(summary.strip())
        if s and clue.search(s) and not (facet == "standard" and _DEFINITION.search(s))
    ]
    return "".join(found[:MAX_SENTENCES])


def qa_misses(qa: QAPair, facet: str | None, benefit: bool) -> bool:
    """Whether a stored Q&A pair, though the best match, answers something else than the
    question asks: "小微企业有什么税收优惠" is not "怎样算小型微利企业？"."""
    if facet is None:
        return False
    own = detect_facet(qa.question)
    if benefit:
        return own != "standard"
    return own is not None and own != facet
