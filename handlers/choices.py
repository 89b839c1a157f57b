"""Numbered options from a match result: which to offer, and how many per page.

Pure functions. Options are distinct *groups* (a policy with its Q&A pairs is one thing for the
user), each represented by its best candidate: a Q&A pair when a stored question fits best,
else the policy. Only candidates the matcher found worth a choice (at or above its calibrated
*clarify* band, or as likely as the best one within the margin a direct answer needs, or
above half that band with a title or stored question that holds the whole question) are
offered; for a "nothing found" reply, weaker ones above half that band are offered as related
topics. Repealed or lapsed policies never appear here: the matcher has already replaced them
by their current version unless the user named them.
"""

from __future__ import annotations

from bot.config import Settings
from bot.conversations import Option
from policy_index.calibration import Calibration, default_calibration
from policy_index.index import PolicyIndex
from policy_index.matching import Candidate, MatchResult
from policy_index.model import Library

MAX_CANDIDATES = 15  # asked of the matcher, so that ``更多`` has something to page through
PAGE_SIZE = 3
MAX_OPTIONS = 9
MAX_RELATED = 3
ASK_FACETS = ("conditions", "standard", "process", "materials", "phone")
OVERVIEW = "overview"  # the facet option that shows the whole answer card


def clarify_band(index: PolicyIndex, settings: Settings) -> float:
    """The matcher's clarify band as the service applies it (fitted, or set in configuration)."""
    return bands(index, settings).clarify


def bands(index: PolicyIndex, settings: Settings) -> Calibration:
    """The matcher's decision bands as the service applies them."""
    return default_calibration(index.embedder is not None, **settings.matcher.bands())


def _option(candidate: Candidate) -> Option:
    return Option("qa" if candidate.kind == "qa" else "policy", candidate.id)


def _by_group(
    candidates: tuple[Candidate, ...], floor: float, limit: int, *, covering: float = 1.0
) -> tuple[Option, ...]:
    """Up to ``limit`` groups scoring at least ``floor`` (``covering`` for a candidate whose
    title or question holds the whole question)."""
    seen: set[str] = set()
    options: list[Option] = []
    for candidate in candidates:
        if candidate.group in seen or candidate.score < (
            min(floor, covering) if candidate.covers else floor
        ):
            continue
        seen.add(candidate.group)
        options.append(_option(candidate))
        if len(options) == limit:
            break
    return tuple(options)


def choice_options(result: MatchResult, band: float, margin: float = 0.0) -> tuple[Option, ...]:
    """What to offer for a ``clarify`` decision, best first: the candidates at or above the
    clarify band, any within ``margin`` (the least lead of a direct answer) of the best one,
    and any from half the band whose title or question holds the whole question: the matcher
    cannot tell those apart ("贷款" asks about every loan, "补贴" about every subsidy)."""
    best = result.candidates[0].score if result.candidates else 0.0
    floor = min(band, best - margin) if margin > 0 else band
    return _by_group(result.candidates, floor, MAX_OPTIONS, covering=band / 2)


def related_options(result: MatchResult, band: float) -> tuple[Option, ...]:
    """A few related topics for a ``none`` decision (possibly none at all)."""
    return _by_group(result.candidates, band / 2, MAX_RELATED)


def single_policy(result: MatchResult, options: tuple[Option, ...]) -> str | None:
    """The policy id when every option worth offering belongs to that one policy."""
    if len(options) != 1 or not result.candidates:
        return None
    best = result.candidates[0]
    return best.group if best.kind == "policy" or best.group != best.id else None


def facet_options(library: Library, policy_id: str) -> tuple[Option, ...]:
    """The facets of a policy's guide worth asking about (empty without a guide)."""
    policy = library.policy(policy_id)
    guide = policy.guide if policy is not None else None
    if not guide:
        return ()
    facets = [Option("facet", f) for f in ASK_FACETS if getattr(guide, f)]
    return (*facets, Option("facet", OVERVIEW)) if len(facets) >= 2 else ()


def page_of(options: tuple[Option, ...], page: int) -> tuple[int, tuple[Option, ...]]:
    """(number of the first option, the options) on one page."""
    start = page * PAGE_SIZE
    return start + 1, options[start : start + PAGE_SIZE]


def has_more(options: tuple[Option, ...], page: int) -> bool:
    return (page + 1) * PAGE_SIZE < len(options)
