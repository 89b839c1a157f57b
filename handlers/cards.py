"""Answers laid out for a phone screen, within WeChat's size limit for one text reply.

Pure functions from library records to reply text (every word comes from ``texts``). A reply is
built from lines, each marked with how readily it may go: if the whole is over the limit, the
most expendable lines are dropped first (the second interpretation, the hint, the summary …),
then free text is shortened; the title, 文号, validity and the link to the policy always stay,
and a link is never cut in half.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from rapidfuzz import fuzz

from bot.config import Settings
from bot.conversations import Option
from bot.wechat.replies import TEXT_LIMIT_BYTES, fit_text
from handlers import texts
from handlers.answers import Lead
from handlers.choices import has_more, page_of
from policy_index.dates import chinese as cn_date
from policy_index.index import title_subject
from policy_index.lookup import current_replacement
from policy_index.model import GUIDE_LABELS, Library, Policy, QAPair, Status

GIST_CHARS = 90
HINT_FACETS = ("conditions", "materials", "process", "phone")
VERSION_LIKENESS = 85  # title likeness (0–100, years and numbers aside) of two versions
_SENTENCE = re.compile(r"(?<=[。；！？])")


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    drop: int = 0  # 0: always kept; otherwise dropped when too long, highest number first
    flexible: bool = False  # free text that may be shortened as a last resort


def _size(lines: list[Line]) -> int:
    return len("\n".join(line.text for line in lines).encode("utf-8"))


def compose(lines: list[Line], limit: int = TEXT_LIMIT_BYTES) -> str:
    """Join ``lines``, dropping and then shortening lines until the text fits ``limit`` bytes."""
    kept = [line for line in lines if line.text]
    while _size(kept) > limit and any(line.drop for line in kept):
        worst = max(line.drop for line in kept)
        kept.remove(next(line for line in reversed(kept) if line.drop == worst))
    excess = _size(kept) - limit
    if excess > 0:
        flexible = [line for line in kept if line.flexible]
        if flexible:
            longest = max(flexible, key=lambda line: len(line.text.encode("utf-8")))
            budget = max(len(longest.text.encode("utf-8")) - excess, 16)
            kept[kept.index(longest)] = Line(fit_text(longest.text, budget))
    return fit_text("\n".join(line.text for line in kept), limit)


def link(url: str, text: str) -> str:
    """A link WeChat shows in a text reply (the URL made safe inside the attribute)."""
    safe = url.strip().replace('"', "%22").replace("<", "%3C").replace(">", "%3E")
    label = text.replace("<", "＜").replace(">", "＞")
    return f'<a href="{safe.replace(" ", "%20")}">{label}</a>'


def gist(summary: str, max_chars: int = GIST_CHARS) -> str:
    """The opening sentence(s) of a summary, at most ``max_chars`` characters."""
    out = ""
    for sentence in _SENTENCE.split(summary.strip()):
        if out and len(out) + len(sentence) > max_chars:
            break
        out += sentence
    return out if len(out) <= max_chars else out[: max_chars - 1] + "…"


def validity(policy: Policy, today: date) -> str:
    status = policy.status_on(today)
    if status is Status.CURRENT and policy.expiry_date is not None:
        return texts.valid_until(status.value, policy.expiry_date)
    return status.value


def _facts(policy: Policy, today: date) -> list[Line]:
    facts = texts.policy_facts(
        policy.doc_number, policy.issuer, policy.date, validity(policy, today)
    )
    return [Line(texts.policy_title(policy.title)), *(Line(f) for f in facts)]


def _links(policy: Policy, interpretations: int = 2) -> list[Line]:
    lines = []
    if policy.source_url:
        lines.append(Line(texts.source_line(link(policy.source_url, texts.SOURCE_LINK_TEXT))))
    readable = [i for i in policy.interpretations if i.url]
    for n, item in enumerate(readable[:interpretations]):
        lines.append(Line(texts.interpretation_line(link(item.url or "", item.title)), 2 + 4 * n))
    return lines


def _hint(policy: Policy, shown: str | None = None) -> Line:
    guide = policy.guide
    labels = [GUIDE_LABELS[f] for f in HINT_FACETS if guide and getattr(guide, f) and f != shown]
    return Line(texts.ask_more(labels) if labels else "", 7)


def policy_card(
    policy: Policy,
    library: Library,
    today: date,
    *,
    facet: str | None = None,
    replaced: str | None = None,
    lead: Lead | None = None,
) -> str:
    """The answer card: where it comes from, whom it is for, what it grants, and the links.

    ``lead`` is the part of the policy the question asked about (``handlers.answers``): the
    card opens with it, under the title. ``facet`` adds that part of the guide; ``replaced`` is
    an old policy this one took the place of. A policy no longer in force names its current
    replacement.
    """
    lines = _facts(policy, today)
    if lead is not None:
        lines[0] = Line(texts.lead_heading(policy.title, lead.label))
        lines.insert(1, Line(lead.text, flexible=True))
        facet = None if lead.facet == facet else facet
    old = library.policy(replaced) if replaced else None
    if old is not None:
        lines.append(Line(texts.replaces(old.title, old.status_on(today).value), 3))
    current = current_replacement(library, policy.id, today)
    if current is not None:
        lines.append(Line(texts.replaced_by(current.title, current.doc_number)))
    guide = policy.guide
    target = (guide.target if guide else None) or "、".join(policy.audience)
    if target:
        lines.append(Line(texts.for_whom(target), 4))
    if policy.summary:
        lines.append(Line(texts.gist(gist(policy.summary)), 5, flexible=True))
    asked = getattr(guide, facet) if guide and facet else None
    if asked and facet:
        lines.append(Line(texts.facet_section(GUIDE_LABELS[facet], asked), flexible=True))
    lines += _links(policy)
    if current is not None:
        lines.append(Line(texts.OPEN_REPLACEMENT))
    else:
        lines.append(_hint(policy, lead.facet if lead else facet))
    return compose(lines)


def qa_card(qa: QAPair, library: Library, today: date) -> str:
    """A stored Q&A answer, verbatim, with the policy it rests on."""
    question, answer = texts.qa_lines(qa.question, qa.answer)
    lines = [Line(question), Line(answer, flexible=True)]
    policy = library.policy(qa.policy_id) if qa.policy_id else None
    if policy is not None:
        title = texts.policy_title(policy.title)
        name = link(policy.source_url, title) if policy.source_url else title
        status = policy.status_on(today).value
        lines.append(Line(texts.qa_basis(name, policy.doc_number, status)))
        lines.append(_hint(policy))
    return compose(lines)


def facet_card(policy: Policy, facet: str, settings: Settings, found: str | None = None) -> str:
    """One part of a policy's guide, for a follow-up question; ``found`` is what the library
    says of it elsewhere when the guide does not (a stored answer, the summary)."""
    label = GUIDE_LABELS[facet]
    guide = policy.guide
    lines = [Line(texts.facet_heading(policy.title, label))]
    value = (getattr(guide, facet) if guide else None) or found
    if value:
        if facet == "conditions" and guide and guide.target:
            lines.append(Line(texts.facet_section(GUIDE_LABELS["target"], guide.target), 4))
        lines.append(Line(value, flexible=True))
    else:
        phone = (guide.phone if guide else None) or settings.hotline
        lines.append(Line(texts.facet_missing(label) + texts.phone_route(phone)))
    lines += _links(policy, interpretations=0)
    lines.append(_hint(policy, facet))
    return compose(lines)


def option_label(library: Library, option: Option, *, dated: bool = False) -> str:
    if option.kind == "facet":
        return GUIDE_LABELS.get(option.id, texts.OVERVIEW_LABEL)
    if option.kind == "qa":
        qa = library.qa(option.id)
        return qa.question if qa is not None else option.id
    policy = library.policy(option.id)
    if policy is None:
        return option.id
    title = texts.policy_title(policy.title)
    return f"{title}（{cn_date(policy.date)}）" if dated and policy.date else title


_DIGITS = re.compile(r"[0-9〇一二三四五六七八九十]+")


def versions(library: Library, options: tuple[Option, ...]) -> set[str]:
    """The policy options that are versions of one scheme (titles alike but for their years
    and numbers): a choice between them shows each one's date."""
    subjects = {
        o.id: _DIGITS.sub("", title_subject(p.title))
        for o in options
        if o.kind == "policy" and (p := library.policy(o.id)) is not None
    }
    return {
        a
        for a, x in subjects.items()
        for b, y in subjects.items()
        if a != b and fuzz.ratio(x, y) >= VERSION_LIKENESS
    }


def numbered(library: Library, options: tuple[Option, ...], page: int) -> list[tuple[int, str]]:
    first, shown = page_of(options, page)
    alike = versions(library, options)
    return [(first + n, option_label(library, o, dated=o.id in alike)) for n, o in enumerate(shown)]


def choice_list(library: Library, options: tuple[Option, ...], page: int) -> str:
    items = numbered(library, options, page)
    text = texts.choose(items, first_page=page == 0, more=has_more(options, page))
    return compose([Line(text, flexible=True)])


def facet_choice(policy: Policy, options: tuple[Option, ...]) -> str:
    items = [(n, option_label(Library(), o)) for n, o in enumerate(options, 1)]
    return compose([Line(texts.choose_facet(policy.title, items), flexible=True)])


def nothing_found(settings: Settings, library: Library, related: tuple[Option, ...]) -> str:
    items = [(n, option_label(library, o)) for n, o in enumerate(related, 1)]
    return compose([Line(texts.nothing_found(settings, items), flexible=True)])
