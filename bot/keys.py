"""Every typed application key in one place (shared objects live on the app, not in globals)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.console.desk import StaffDesk
    from bot.conversations import ConversationStore
    from bot.metrics import Metrics
    from bot.privacy import PersonalData
    from bot.questions import QuestionLog
    from bot.receipts import CallbackLedger
    from bot.routing import Router
    from bot.tasks import TaskSet
    from bot.wechat.api import WeChatClient
    from bot.wechat.crypto import MessageCrypto
    from bot.wechat.fake_api import FakeWeChatServer
    from policy_index.service import PolicyService
    from push.enterprises import Enterprises
    from push.notices import NoticeDesk
    from push.subscriptions import SubscriptionDesk

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
ENGINE = web.AppKey("engine", AsyncEngine)
ROUTER: web.AppKey[Router] = web.AppKey("router")
LEDGER: web.AppKey[CallbackLedger] = web.AppKey("ledger")
TASKS: web.AppKey[TaskSet] = web.AppKey("tasks")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
WECHAT: web.AppKey[WeChatClient] = web.AppKey("wechat")
LOCAL_FAKE: web.AppKey[FakeWeChatServer | None] = web.AppKey("local_fake")
CRYPTO: web.AppKey[MessageCrypto | None] = web.AppKey("crypto")
POLICIES: web.AppKey[PolicyService] = web.AppKey("policies")
CONVERSATIONS: web.AppKey[ConversationStore] = web.AppKey("conversations")
QUESTIONS: web.AppKey[QuestionLog] = web.AppKey("questions")
PERSONAL_DATA: web.AppKey[PersonalData] = web.AppKey("personal_data")
STAFF_DESK: web.AppKey[StaffDesk] = web.AppKey("staff_desk")
SUBSCRIPTIONS: web.AppKey[SubscriptionDesk] = web.AppKey("subscriptions")
NOTICE_DESK: web.AppKey[NoticeDesk] = web.AppKey("notice_desk")
ENTERPRISES: web.AppKey[Enterprises] = web.AppKey("enterprises")
