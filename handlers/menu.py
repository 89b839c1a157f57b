"""The custom menu's CLICK keys: topic lists, 免申即享, hot questions, subscriptions, contact.

The menu itself is ``handlers/menu.toml`` (``gongkai menu publish`` sends it to WeChat); its
click keys are ``MenuKey``, and ``gongkai menu check`` warns about a key nothing here answers
(such a click gets the polite fallback). What a key says is computed by pure functions of the
policy library, the local date and (热门问题) the question log's counts, so each handler is a
line or two and the answers are tested with known libraries. Every reply fits WeChat's text
limit: lists are shortened, never cut mid-line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.context import HandlerContext
from bot.questions import AnswerCount
from bot.routing import Router
from bot.wechat import ClickEvent
from bot.wechat.replies import TEXT_LIMIT_BYTES, TextReply, fit_text
from handlers import texts
from handlers.subscriptions import my_subscriptions_reply
from policy_index.model import Library, Policy, QAPair

MENU_FILE = Path(__file__).with_name("menu.toml")
LOCAL_TZ = ZoneInfo("Asia/Shanghai")

TOPICS_SHOWN = 12
EXAMPLES_SHOWN = 2
EXEMPT_SHOWN = 15
HOT_SHOWN = 8
HOT_WINDOW = timedelta(days=30)  # 热门问题: answers most asked in the last 30 days
HOT_MIN_ASKS = 2  # an answer asked about once is not yet "hot"


class MenuKey(StrEnum):
    """The EventKey of each CLICK button this module answers (``key`` in menu.toml)."""

    PERSONAL = "PERSONAL_AFFAIRS"
    ENTERPRISE = "ENTERPRISE_AFFAIRS"
    EXEMPT = "EXEMPT_APPLICATION"
    HOT_QUESTIONS = "HOT_QUESTIONS"
    SUBSCRIPTIONS = "MY_SUBSCRIPTIONS"
    CONTACT = "CONTACT_US"
    HELP = "HELP"


# --- What each key answers: pure functions of the library and the local date -------------------


def local_date(ctx: HandlerContext) -> date:
    """Today in the county (validity changes at local midnight)."""
    return ctx.now.astimezone(LOCAL_TZ).date()


def audience_topics(library: Library, today: date, audience: str) -> list[tuple[str, int]]:
    """Topics of the policies in force for ``audience`` ("个人" or "企业"), most policies first."""
    counts = Counter(
        topic
        for policy in library.policies
        if audience in policy.audience and policy.in_force(today)
        for topic in topics_of(policy)
    )
    return counts.most_common()  # ties keep library order


EXEMPT_TOPIC = "免申即享"


def is_exempt(policy: Policy) -> bool:
    """免申即享 as the menu counts and lists it: flagged, or filed under the topic."""
    return policy.exempt_application or EXEMPT_TOPIC in policy.topics


def topics_of(policy: Policy) -> tuple[str, ...]:
    """A policy's topics, with 免申即享 exactly when ``is_exempt``: the topic's count under
    个人办事 / 企业办事 is then the number of that audience's policies the 免申即享 list shows."""
    own = tuple(t for t in policy.topics if t != EXEMPT_TOPIC)
    return (*own, EXEMPT_TOPIC) if is_exempt(policy) else own


def exempt_policies(library: Library, today: date) -> list[Policy]:
    """免申即享 policies in force today, newest first (repealed, amended and lapsed ones never)."""
    current = [p for p in library.policies if is_exempt(p) and p.in_force(today)]
    return sorted(current, key=lambda p: p.date or date.min, reverse=True)


def hot_questions_from_library(
    library: Library, today: date, *, audience: str | None = None
) -> list[QAPair]:
    """The library's own guess at what people ask most (before the question log knows).

    The library's Q&A pairs ranked by how many ways of asking them staff recorded (``similar``),
    one question per policy, never about a policy that is no longer in force. ``audience``
    keeps questions about that audience's policies.
    """

    def usable(qa: QAPair) -> bool:
        policy = library.policy(qa.policy_id) if qa.policy_id else None
        if policy is None:
            return audience is None
        return policy.in_force(today) and (audience is None or audience in policy.audience)

    ranked = sorted(
        (qa for qa in library.qa_pairs if usable(qa)), key=lambda qa: len(qa.similar), reverse=True
    )
    seen: set[str] = set()
    chosen = []
    for qa in ranked:
        group = qa.policy_id or qa.id
        if group not in seen:
            seen.add(group)
            chosen.append(qa)
    return chosen


def hot_questions(library: Library, today: date, asked: Sequence[AnswerCount] = ()) -> list[str]:
    """What 热门问题 lists: the most asked answered questions, then the library's guess.

    ``asked`` is the question log's count of the answers users were shown (last
    ``HOT_WINDOW``, most first). Each answer asked about at least ``HOT_MIN_ASKS`` times is
    listed by a question that gets it: a Q&A pair's own question, or for a policy its most
    rephrased Q&A question (else its title, which the bot answers with its card) — never a
    resident's own words, which may hold personal details. One line per policy; answers no
    longer in the library or no longer in force are skipped. When that gives fewer than
    ``HOT_SHOWN`` lines, the library-derived list fills the rest.
    """
    library_list = hot_questions_from_library(library, today)
    best_qa = {qa.policy_id: qa for qa in library_list if qa.policy_id}  # one per policy
    lines: list[str] = []
    seen: set[str] = set()

    def add(group: str, line: str) -> None:
        if group not in seen and line not in lines:
            seen.add(group)
            lines.append(line)

    for count in asked:
        if count.times < HOT_MIN_ASKS:
            break
        if count.kind == "qa":
            qa = library.qa(count.id)
            policy = library.policy(qa.policy_id) if qa and qa.policy_id else None
            if qa is not None and (policy is None or policy.in_force(today)):
                add(qa.policy_id or qa.id, qa.question)
            continue
        policy = library.policy(count.id)
        if policy is not None and policy.in_force(today):
            qa = best_qa.get(policy.id)
            add(policy.id, qa.question if qa else texts.policy_title(policy.title))
    for qa in library_list:
        add(qa.policy_id or qa.id, qa.question)
    return lines


def _fitting(render: Callable[[int], str], total: int, most: int) -> str:
    """The longest ``render(shown)`` (shown ≤ most items) within WeChat's text limit."""
    for shown in range(min(total, most), -1, -1):
        text = render(shown)
        if len(text.encode()) <= TEXT_LIMIT_BYTES:
            return text
    return fit_text(render(0))


def topics_text(library: Library, today: date, audience: str) -> str:
    if not library.policies:
        return texts.MENU_LIBRARY_EMPTY
    topics = audience_topics(library, today, audience)
    examples = [
        q.question
        for q in hot_questions_from_library(library, today, audience=audience)[:EXAMPLES_SHOWN]
    ]
    return _fitting(
        lambda n: texts.menu_topics(audience, topics[:n], len(topics) - n, examples),
        len(topics),
        TOPICS_SHOWN,
    )


def _shown_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def exempt_text(library: Library, today: date) -> str:
    if not library.policies:
        return texts.MENU_LIBRARY_EMPTY
    policies = exempt_policies(library, today)
    items = [
        (
            p.title,
            ("面向" + "、".join(p.audience)) if p.audience else "不限对象",
            _shown_date(p.expiry_date) if p.expiry_date else None,
        )
        for p in policies
    ]
    return _fitting(
        lambda n: texts.menu_exempt(items[:n], _shown_date(today), len(items) - n),
        len(items),
        EXEMPT_SHOWN,
    )


def hot_questions_text(library: Library, today: date, asked: Sequence[AnswerCount] = ()) -> str:
    if not library.policies and not library.qa_pairs:
        return texts.MENU_LIBRARY_EMPTY
    questions = hot_questions(library, today, asked)
    return _fitting(
        lambda n: texts.menu_hot_questions(questions[:n]),
        len(questions),
        HOT_SHOWN,
    )


# --- The router ----------------------------------------------------------------------------------

router = Router(name="menu")


def library(ctx: HandlerContext) -> Library:
    """The library the policy service answers from right now (its current index's)."""
    return ctx.policies.index.library


@router.click(MenuKey.PERSONAL)
async def on_personal(msg: ClickEvent, ctx: HandlerContext) -> TextReply:
    return TextReply(topics_text(library(ctx), local_date(ctx), "个人"))


@router.click(MenuKey.ENTERPRISE)
async def on_enterprise(msg: ClickEvent, ctx: HandlerContext) -> TextReply:
    return TextReply(topics_text(library(ctx), local_date(ctx), "企业"))


@router.click(MenuKey.EXEMPT)
async def on_exempt(msg: ClickEvent, ctx: HandlerContext) -> TextReply:
    return TextReply(exempt_text(library(ctx), local_date(ctx)))


@router.click(MenuKey.HOT_QUESTIONS)
async def on_hot_questions(msg: ClickEvent, ctx: HandlerContext) -> TextReply:
    asked = await ctx.questions.most_answered(ctx.now - HOT_WINDOW)
    return TextReply(hot_questions_text(library(ctx), local_date(ctx), asked))


@router.click(MenuKey.SUBSCRIPTIONS)
async def on_subscriptions(msg: ClickEvent, ctx: HandlerContext) -> TextReply:
    return await my_subscriptions_reply(ctx)


@router.click(MenuKey.CONTACT)
async def on_contact(msg: ClickEvent, ctx: HandlerContext) -> TextReply:
    return TextReply(texts.menu_contact(ctx.settings))


@router.click(MenuKey.HELP)
async def on_help(msg: ClickEvent, ctx: HandlerContext) -> TextReply:
    return TextReply(texts.help_text(ctx.settings))
