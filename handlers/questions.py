"""Policy questions: answer with a card, ask when unsure, follow up, or hand over to people.

Routes, in this order (first match wins):

1. ``更多`` shows the next page of the pending numbered options;
2. a number picks one of them (or says the options have expired);
3. a short question about a facet, or pointing back ("那要多久能批下来", "电话多少"), continues
   the policy last shown unless it names another subject (``handlers.subjects``);
4. text that is not a question (keyboard noise, a bare number, emoji only) gets a short help:
   neither logged nor promised an answer;
5. anything else is a new question for the matcher, and a new topic starts afresh:
   ``answer`` → the card, leading with the part asked about (``handlers.answers``), or the
   stored Q&A answer; ``clarify`` → numbered options, or the facets of the one policy in
   question when it holds most of the question; ``none`` → said plainly, with related topics
   and the human routes, and the question goes to the unanswered inbox. A weak guess (linked
   to the question only by a word the library uses in many senses) is never an answer, an
   option or a related topic.

Every question put to the matcher is logged (``ctx.questions``); the conversation is saved
after each turn (``ctx.conversations``) and forgotten after ``conversation.memory_s``. Only the
replies that continue a dialog (1–3) read it back, so other messages cost no extra query.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import replace
from datetime import date
from typing import cast

from bot.context import HandlerContext
from bot.conversations import Conversation, Option
from bot.questions import Asked
from bot.routing import Router
from bot.wechat import InboundMessage, TextMessage
from bot.wechat.replies import TextReply
from handlers import answers, cards, subjects, texts
from handlers.choices import (
    MAX_CANDIDATES,
    OVERVIEW,
    PAGE_SIZE,
    bands,
    choice_options,
    clarify_band,
    facet_options,
    has_more,
    related_options,
    single_policy,
)
from handlers.intents import (
    asks_benefit,
    asks_exempt_list,
    detect_facet,
    is_follow_up,
    may_follow_up,
    parse_choice,
    refers_back,
)
from handlers.menu import exempt_text
from handlers.subjects import COVERED_SHARE
from policy_index.index import LOCAL_TZ
from policy_index.lookup import current_replacement
from policy_index.matching import Decision as Verdict
from policy_index.matching import MatchResult, expand_aliases
from policy_index.model import Library
from policy_index.normalise import normalise

router = Router(name="questions")

MORE_WORDS = ("更多", "下一页", "还有吗", "more")


def _library(ctx: HandlerContext) -> Library:
    return ctx.policies.index.library


def _today(ctx: HandlerContext) -> date:
    return ctx.now.astimezone(LOCAL_TZ).date()


def _last_page(options: tuple[Option, ...]) -> int:
    """The page to record when every option is shown at once."""
    return max(len(options) - 1, 0) // PAGE_SIZE


def _text(msg: InboundMessage) -> str:
    return cast(TextMessage, msg).content


# --- 1. 更多 ---------------------------------------------------------------------------------


@router.text(equals=MORE_WORDS)
async def on_more(msg: TextMessage, ctx: HandlerContext) -> TextReply:
    conversation = await ctx.conversations.load(ctx.openid, ctx.now)
    if not conversation.options:
        return TextReply(texts.NOTHING_TO_PAGE)
    if not has_more(conversation.options, conversation.page):
        return TextReply(texts.NO_MORE_OPTIONS)
    page = conversation.page + 1
    await ctx.conversations.save(ctx.openid, replace(conversation, page=page), ctx.now)
    return TextReply(cards.choice_list(_library(ctx), conversation.options, page))


# --- 2. a number -----------------------------------------------------------------------------


@router.on(TextMessage, when=lambda m, _c: parse_choice(_text(m)) is not None)
async def on_choice(msg: TextMessage, ctx: HandlerContext) -> TextReply:
    conversation = await ctx.conversations.load(ctx.openid, ctx.now)
    if not conversation.options:
        return TextReply(texts.choice_expired(ctx.settings.conversation.memory_s // 60))
    number = parse_choice(msg.content) or 0
    shown = min(len(conversation.options), (conversation.page + 1) * PAGE_SIZE)
    if number == texts.NONE_OF_THESE and conversation.policy_id is None:
        return await _none_of_these(ctx, conversation)
    if not 1 <= number <= shown:
        return TextReply(texts.choice_out_of_range(shown))
    option = conversation.options[number - 1]
    if option.kind == "facet" and conversation.policy_id is not None:
        return await _show_facet(ctx, conversation.policy_id, option.id, conversation)
    if conversation.question_id is not None:
        await ctx.questions.answered(conversation.question_id, option.kind, option.id)
    return await _show(ctx, option)


async def _none_of_these(ctx: HandlerContext, conversation: Conversation) -> TextReply:
    """No option fits: the question joins the staff inbox, answered back in this chat."""
    if conversation.question_id is not None:
        await ctx.questions.unresolved(conversation.question_id, ctx.openid)
        ctx.log.info(
            "question sent to the unanswered inbox",
            extra={"action": "question_unanswered", "question_id": conversation.question_id},
        )
    await ctx.conversations.save(ctx.openid, Conversation(), ctx.now)
    return TextReply(texts.none_of_these(ctx.settings))


# --- 3. follow-ups ---------------------------------------------------------------------------


@router.on(TextMessage, when=lambda m, _c: may_follow_up(_text(m)))
async def on_follow_up(msg: TextMessage, ctx: HandlerContext) -> TextReply:
    """A short question about a facet ("那要多久能批下来", "电话多少") continues the policy last
    shown, unless it names another subject of the library ("公租房要什么材料")."""
    conversation = await ctx.conversations.load(ctx.openid, ctx.now)
    policy_id = conversation.policy_id
    if policy_id is None or _library(ctx).policy(policy_id) is None:
        if is_follow_up(msg.content):
            return TextReply(texts.ASK_TOPIC_FIRST)
        return await _new_question(msg, ctx)
    if not is_follow_up(msg.content) and subjects.other_subject(
        ctx.policies.index, msg.content, policy_id, refers_back=refers_back(msg.content)
    ):
        return await _new_question(msg, ctx)
    facet = detect_facet(msg.content) or "process"
    asked = Asked(
        msg.content,
        normalise(msg.content),
        "followup",
        source=_source(msg),
        answered=("policy", policy_id),
        facet=facet,
    )
    await ctx.questions.record(ctx.openid, asked, ctx.now)
    return await _show_facet(ctx, policy_id, facet, conversation)


# --- 4. a new question -----------------------------------------------------------------------


@router.on(TextMessage, when=lambda m, c: subjects.not_a_question(c.policies.index, _text(m)))
async def on_no_words(msg: TextMessage, ctx: HandlerContext) -> TextReply:
    """Nothing to look up: a short help, not logged, nothing promised."""
    return TextReply(texts.not_understood(ctx.settings))


@router.on(TextMessage, when=lambda m, _c: asks_exempt_list(_text(m)))
async def on_exempt_list(msg: TextMessage, ctx: HandlerContext) -> TextReply:
    """The whole list of 免申即享 policies in force, as the menu shows it."""
    return TextReply(exempt_text(_library(ctx), _today(ctx)))


@router.on(TextMessage)
async def on_question(msg: TextMessage, ctx: HandlerContext) -> TextReply:
    return await _new_question(msg, ctx)


async def _new_question(msg: TextMessage, ctx: HandlerContext) -> TextReply:
    """Any other text goes to the matcher; a new topic starts afresh."""
    result = await ctx.policies.match(msg.content.strip(), top=MAX_CANDIDATES)
    ctx.log.info(
        "policy question",
        extra={"action": "question", "decision": result.decision.value},
    )
    best = result.best
    if result.decision is Verdict.ANSWER and best is not None:
        if subjects.foreign_to_library(ctx.policies.index, msg.content) and _weak(
            ctx, msg.content, result, {best.group}
        ):
            # Only a word of many senses links them, and the subject is not in the library.
            return await _nothing_found(ctx, msg, replace(result, decision=Verdict.NONE))
        return await _answer(ctx, msg, result)
    if result.decision is Verdict.CLARIFY:
        return await _clarify(ctx, msg, result)
    return await _nothing_found(ctx, msg, result)


def _weak(ctx: HandlerContext, text: str, result: MatchResult, groups: Set[str]) -> set[str]:
    """Which of ``groups`` (those about to be shown) are weak guesses (``handlers.subjects``)."""
    candidates = tuple(c for c in result.candidates if c.group in groups)
    if not candidates:
        return set()
    index = ctx.policies.index
    expanded = expand_aliases(index, result.normalised)
    return subjects.weak_candidates(index, text, candidates, expanded)


def _groups(result: MatchResult, options: tuple[Option, ...]) -> set[str]:
    shown = {(o.kind, o.id) for o in options}
    return {c.group for c in result.candidates if (c.kind, c.id) in shown}


def _strong(result: MatchResult, weak: Set[str]) -> MatchResult:
    return replace(result, candidates=tuple(c for c in result.candidates if c.group not in weak))


def _drop(result: MatchResult, options: tuple[Option, ...], weak: Set[str]) -> tuple[Option, ...]:
    """``options`` without those of weak groups (chosen on the whole result, so that the bands
    keep their meaning)."""
    gone = {(c.kind, c.id) for c in result.candidates if c.group in weak}
    return tuple(o for o in options if (o.kind, o.id) not in gone)


async def _answer(ctx: HandlerContext, msg: TextMessage, result: MatchResult) -> TextReply:
    """The card, leading with the part of the policy the question asks about."""
    best = result.best
    library = _library(ctx)
    if best is None:
        return await _nothing_found(ctx, msg, result)
    facet = detect_facet(msg.content)
    benefit = asks_benefit(msg.content)
    if best.kind == "qa":
        qa = library.qa(best.id)
        policy = library.policy(qa.policy_id) if qa and qa.policy_id else None
        lead = answers.lead(library, policy, facet, benefit=benefit) if policy else None
        if (
            qa is None
            or policy is None
            or lead is None
            or not answers.qa_misses(qa, facet, benefit)
        ):
            await _record(ctx, msg, result, answered=(best.kind, best.id))
            return await _show(ctx, _as_option(best.kind, best.id))
        await _record(ctx, msg, result, answered=("policy", policy.id), facet=lead.facet)
        return await _show(ctx, Option("policy", policy.id), lead=lead)
    policy = library.policy(best.id)
    lead = answers.lead(library, policy, facet, benefit=benefit) if policy else None
    shown = lead.facet if lead else facet
    await _record(ctx, msg, result, answered=(best.kind, best.id), facet=shown)
    return await _show(ctx, Option("policy", best.id), facet, best.replaced, lead)


async def _clarify(ctx: HandlerContext, msg: TextMessage, result: MatchResult) -> TextReply:
    library = _library(ctx)
    applied = bands(ctx.policies.index, ctx.settings)
    offered = choice_options(result, applied.clarify, applied.margin)
    best = {result.candidates[0].group} if result.candidates else set()
    weak = _weak(ctx, msg.content, result, _groups(result, offered) | best)
    options = _drop(result, offered, weak)
    unsure = replace(result, decision=Verdict.NONE)
    if not options:  # only weak guesses (or the bands changed since matching)
        return await _nothing_found(ctx, msg, unsure)
    policy_id = single_policy(_strong(result, weak), options)
    policy = library.policy(policy_id) if policy_id else None
    if policy is not None and _covered(ctx, msg.content, result, policy.id) < COVERED_SHARE:
        # A single guess that leaves most of the question out: not found, with it as related.
        return await _nothing_found(ctx, msg, unsure)
    if policy is None:
        question_id = await _record(ctx, msg, result)
        await ctx.conversations.save(
            ctx.openid, Conversation(options=options, question_id=question_id), ctx.now
        )
        return TextReply(cards.choice_list(library, options, 0))
    # Only one policy is in question: ask which facet, unless the question says it.
    facet = detect_facet(msg.content)
    facets = facet_options(library, policy.id)
    lead = answers.lead(library, policy, facet, benefit=asks_benefit(msg.content))
    if lead is not None and lead.label == texts.EXEMPT_LABEL:  # nothing to apply for: say so
        await _record(ctx, msg, result, answered=("policy", policy.id), facet=lead.facet)
        return await _show(ctx, Option("policy", policy.id), lead=lead)
    if facet is not None and policy.guide and getattr(policy.guide, facet):
        await _record(ctx, msg, result, answered=("policy", policy.id), facet=facet)
        return await _show_facet(ctx, policy.id, facet, None)
    if not facets:
        shown = lead.facet if lead else None
        await _record(ctx, msg, result, answered=("policy", policy.id), facet=shown)
        return await _show(ctx, Option("policy", policy.id), lead=lead)
    question_id = await _record(ctx, msg, result)
    pending = Conversation(
        policy_id=policy.id, options=facets, page=_last_page(facets), question_id=question_id
    )
    await ctx.conversations.save(ctx.openid, pending, ctx.now)
    return TextReply(cards.facet_choice(policy, facets))


def _covered(ctx: HandlerContext, text: str, result: MatchResult, policy_id: str) -> float:
    """The share of the question's subject words that the one policy in question holds."""
    if any(c.named and c.group == policy_id for c in result.candidates):
        return 1.0  # named by 文号 or title
    index = ctx.policies.index
    words = subjects.subject_words(index, text)
    expansion = subjects.expansion_words(index, expand_aliases(index, result.normalised), words)
    return subjects.fit(index, words, policy_id, expansion).covered


async def _nothing_found(ctx: HandlerContext, msg: TextMessage, result: MatchResult) -> TextReply:
    library = _library(ctx)
    offered = related_options(result, clarify_band(ctx.policies.index, ctx.settings))
    related = _drop(result, offered, _weak(ctx, msg.content, result, _groups(result, offered)))
    question_id = await _record(ctx, msg, result)
    pending = Conversation(options=related, page=_last_page(related), question_id=question_id)
    await ctx.conversations.save(ctx.openid, pending, ctx.now)
    ctx.log.info(
        "question sent to the unanswered inbox",
        extra={"action": "question_unanswered", "question_id": question_id},
    )
    return TextReply(cards.nothing_found(ctx.settings, library, related))


# --- showing an answer -----------------------------------------------------------------------


def _as_option(kind: str, target: str) -> Option:
    return Option("qa" if kind == "qa" else "policy", target)


async def _show(
    ctx: HandlerContext,
    option: Option,
    facet: str | None = None,
    replaced: str | None = None,
    lead: answers.Lead | None = None,
) -> TextReply:
    """The card for a policy or Q&A pair; it becomes the topic of follow-ups."""
    library, today = _library(ctx), _today(ctx)
    if option.kind == "qa":
        qa = library.qa(option.id)
        if qa is None:
            return await _gone(ctx)
        topic = qa.policy_id if qa.policy_id and library.policy(qa.policy_id) else None
        await ctx.conversations.save(ctx.openid, Conversation(policy_id=topic), ctx.now)
        return TextReply(cards.qa_card(qa, library, today))
    policy = library.policy(option.id)
    if policy is None:
        return await _gone(ctx)
    current = current_replacement(library, policy.id, today)
    if current is not None:  # named though no longer in force: offer the current version
        after = Conversation(policy_id=current.id, options=(Option("policy", current.id),))
    else:
        after = Conversation(policy_id=policy.id, facet=lead.facet if lead else facet)
    await ctx.conversations.save(ctx.openid, after, ctx.now)
    card = cards.policy_card(policy, library, today, facet=facet, replaced=replaced, lead=lead)
    return TextReply(card)


async def _show_facet(
    ctx: HandlerContext, policy_id: str, facet: str, keep: Conversation | None
) -> TextReply:
    """One part of a policy's guide (or its whole card for the overview option)."""
    library = _library(ctx)
    policy = library.policy(policy_id)
    if policy is None:
        return await _gone(ctx)
    if facet == OVERVIEW:
        text = cards.policy_card(policy, library, _today(ctx))
    else:
        found = answers.lead(library, policy, facet)  # the guide's, else a Q&A's or summary's
        text = cards.facet_card(policy, facet, ctx.settings, found.text if found else None)
    after = replace(keep, facet=facet) if keep else Conversation(policy_id=policy.id, facet=facet)
    await ctx.conversations.save(ctx.openid, after, ctx.now)
    return TextReply(text)


async def _gone(ctx: HandlerContext) -> TextReply:
    """The entry was removed from the library since it was offered."""
    await ctx.conversations.save(ctx.openid, Conversation(), ctx.now)
    return TextReply(texts.ENTRY_GONE)


def _source(msg: TextMessage) -> str:
    return "voice" if msg.raw.get("MsgType") == "voice" else "text"


async def _record(
    ctx: HandlerContext,
    msg: TextMessage,
    result: MatchResult,
    *,
    answered: tuple[str, str] | None = None,
    facet: str | None = None,
) -> int:
    asked = Asked(
        text=msg.content,
        normalised=result.normalised,
        decision=result.decision.value,
        candidates=tuple((c.kind, c.id, c.score) for c in result.candidates[:5]),
        source=_source(msg),
        answered=answered,
        facet=facet,
    )
    return await ctx.questions.record(ctx.openid, asked, ctx.now)
