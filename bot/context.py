"""The one object a handler receives besides the message: frozen, typed, built per message."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from bot.config import Settings
from bot.conversations import ConversationStore

if TYPE_CHECKING:
    from bot.privacy import PersonalData
    from bot.questions import QuestionLog
    from policy_index.index import PolicyIndex
    from policy_index.matching import MatchResult
    from push.enterprises import Enterprises
    from push.subscriptions import SubscriptionDesk


class Policies(Protocol):
    """What handlers use of the policy service: the matcher and the current index."""

    @property
    def index(self) -> PolicyIndex: ...

    async def match(self, query: str, *, top: int = 5) -> MatchResult: ...


@dataclass(frozen=True, slots=True)
class HandlerContext:
    """What a handler may know and use. Handlers do no SQL or HTTP themselves: they call the
    service objects below."""

    settings: Settings
    openid: str
    account: str  # the official account's own id (ToUserName)
    now: datetime  # timezone-aware UTC
    state: str | None  # a router state for dialogs that route on one (None outside any)
    log: logging.LoggerAdapter[logging.Logger]
    policies: Policies
    conversations: ConversationStore
    questions: QuestionLog
    personal_data: PersonalData
    subscriptions: SubscriptionDesk
    over_limit: bool = False  # the user sent more messages than flood control allows
    enterprises: Enterprises | None = None  # enterprise contacts: bind, unbind, 我的企业
