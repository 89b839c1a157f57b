"""The router: first match in declaration order, states, text predicates."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bot.batches import Batches
from bot.config import Settings
from bot.context import HandlerContext
from bot.conversations import InMemoryConversationStore
from bot.db import create_engine
from bot.privacy import PersonalData
from bot.questions import QuestionLog
from bot.routing import Router
from bot.wechat import ClickEvent, ImageMessage, TextMessage, TextReply
from policy_index.service import PolicyService
from push.subscriptions import SubscriptionDesk


def ctx(state: str | None = None) -> HandlerContext:
    engine = create_engine("sqlite+aiosqlite://")  # never connected: routing needs no I/O
    return HandlerContext(
        settings=Settings(),
        openid="o1",
        account="gh",
        now=datetime.now(UTC),
        state=state,
        log=logging.LoggerAdapter(logging.getLogger("t"), {}),
        policies=PolicyService(engine, embeddings=False),
        conversations=InMemoryConversationStore(),
        questions=QuestionLog(Batches(engine)),
        personal_data=PersonalData(Batches(engine)),
        subscriptions=SubscriptionDesk(engine),
    )


def text(content: str) -> TextMessage:
    return TextMessage(to_user="gh", from_user="o1", create_time=1, msg_id=1, content=content)


def build() -> Router:
    root = Router(name="root")
    first = root.include(Router(name="first"))
    second = root.include(Router(name="second"))

    @first.text(equals=("帮助", "help"))
    async def on_help(msg: TextMessage, c: HandlerContext) -> TextReply:
        return TextReply("help")

    @first.text(matches=r"^\d+$", state="choosing")
    async def on_choice(msg: TextMessage, c: HandlerContext) -> TextReply:
        return TextReply("choice " + msg.content)

    @first.click("MENU_A")
    async def on_menu(msg: ClickEvent, c: HandlerContext) -> TextReply:
        return TextReply("menu a")

    @second.on(TextMessage)
    async def on_text(msg: TextMessage, c: HandlerContext) -> TextReply:
        return TextReply("any text")

    return root


async def test_first_match_wins_in_declaration_order() -> None:
    router = build()
    assert await router.dispatch(text("帮助"), ctx()) == TextReply("help")
    assert await router.dispatch(text("HELP"), ctx()) == TextReply("help")
    assert await router.dispatch(text("帮助。"), ctx()) == TextReply("help")  # voice adds "。"
    assert await router.dispatch(text("帮助我找政策"), ctx()) == TextReply("any text")


async def test_state_restricts_a_route() -> None:
    router = build()
    assert await router.dispatch(text("2"), ctx()) == TextReply("any text")
    assert await router.dispatch(text("2"), ctx("choosing")) == TextReply("choice 2")


async def test_menu_keys_and_unmatched_kinds() -> None:
    router = build()
    click = ClickEvent(
        to_user="gh", from_user="o1", create_time=1, event_key="MENU_A", key="MENU_A"
    )
    other = ClickEvent(to_user="gh", from_user="o1", create_time=1, event_key="B", key="B")
    image = ImageMessage(
        to_user="gh", from_user="o1", create_time=1, msg_id=2, pic_url="u", media_id="m"
    )
    assert await router.dispatch(click, ctx()) == TextReply("menu a")
    assert await router.dispatch(other, ctx()) is None
    assert await router.dispatch(image, ctx()) is None
