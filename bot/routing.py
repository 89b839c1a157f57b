"""A small typed router: first match wins, in the order routes and sub-routers were added.

A route matches on the message class, optionally an event key, a text predicate and the
user's conversation state. ``handlers.build_router()`` assembles the tree in an explicit order.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from bot.context import HandlerContext
from bot.wechat import (
    ClickEvent,
    InboundMessage,
    SubscribeEvent,
    TextMessage,
    ViewEvent,
)
from bot.wechat.replies import Reply

M = TypeVar("M", bound=InboundMessage)
Handler = Callable[[M, HandlerContext], Awaitable[Reply | None]]
AnyHandler = Callable[[Any, HandlerContext], Awaitable[Reply | None]]
Predicate = Callable[[InboundMessage, HandlerContext], bool]

EDGE_PUNCTUATION = " \t\r\n。.！!？?，,、~～…"

ANY_STATE = object()
"""Matches whatever the conversation state is (the default)."""


@dataclass(frozen=True, slots=True)
class Route:
    handler: AnyHandler
    types: tuple[type[InboundMessage], ...]
    when: Predicate | None = None
    state: object = ANY_STATE  # a state name, None (no dialog), or ANY_STATE

    def matches(self, msg: InboundMessage, ctx: HandlerContext) -> bool:
        if not isinstance(msg, self.types):
            return False
        if self.state is not ANY_STATE and ctx.state != self.state:
            return False
        return self.when is None or self.when(msg, ctx)


@dataclass
class Router:
    name: str
    _routes: list[Route | Router] = field(default_factory=list)

    def include(self, router: Router) -> Router:
        self._routes.append(router)
        return router

    def on(
        self,
        *types: type[M],
        when: Predicate | None = None,
        state: object = ANY_STATE,
    ) -> Callable[[Handler[M]], Handler[M]]:
        """Register a handler for messages of these classes (all must match ``when``)."""

        def register(handler: Handler[M]) -> Handler[M]:
            self._routes.append(
                Route(
                    cast(AnyHandler, handler),
                    cast(tuple[type[InboundMessage], ...], types),
                    when=when,
                    state=state,
                )
            )
            return handler

        return register

    def text(
        self,
        *,
        equals: str | tuple[str, ...] | None = None,
        matches: str | None = None,
        state: object = ANY_STATE,
    ) -> Callable[[Handler[TextMessage]], Handler[TextMessage]]:
        """Text messages; ``equals`` compares the case-folded content without edge punctuation
        (voice recognition ends sentences with "。")."""
        words = (equals,) if isinstance(equals, str) else equals
        folded = {w.casefold() for w in words} if words else None
        pattern = re.compile(matches) if matches else None

        def when(msg: InboundMessage, _ctx: HandlerContext) -> bool:
            content = cast(TextMessage, msg).content.strip()
            bare = content.strip(EDGE_PUNCTUATION).casefold() or content.casefold()
            if folded is not None and bare not in folded:
                return False
            return pattern is None or pattern.search(content) is not None

        return self.on(TextMessage, when=when, state=state)

    def click(self, key: str) -> Callable[[Handler[ClickEvent]], Handler[ClickEvent]]:
        """A custom-menu CLICK with this EventKey."""
        return self.on(ClickEvent, when=lambda m, _c: cast(ClickEvent, m).key == key)

    def subscribe(self) -> Callable[[Handler[SubscribeEvent]], Handler[SubscribeEvent]]:
        return self.on(SubscribeEvent)

    def view(self) -> Callable[[Handler[ViewEvent]], Handler[ViewEvent]]:
        return self.on(ViewEvent)

    def routes(self) -> Iterator[Route]:
        for item in self._routes:
            if isinstance(item, Router):
                yield from item.routes()
            else:
                yield item

    def resolve(self, msg: InboundMessage, ctx: HandlerContext) -> Route | None:
        return next((r for r in self.routes() if r.matches(msg, ctx)), None)

    async def dispatch(self, msg: InboundMessage, ctx: HandlerContext) -> Reply | None:
        route = self.resolve(msg, ctx)
        if route is None:
            return None
        return await route.handler(msg, ctx)
