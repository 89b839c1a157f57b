"""The composition root: ``create_app`` builds the whole service from settings.

Every resource (database engine, HTTP session, WeChat sender, background tasks) is opened and
closed in its own cleanup context, in order; shared objects live on the app under typed keys.
The staff JSON API (``bot.console``) is a sub-application under ``/staff/api/``, mounted only
when a staff token is configured; the staff console's pages are one under ``/console``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import keys
from bot.batches import Batches
from bot.config import Settings
from bot.console.api import PREFIX as STAFF_API_PREFIX
from bot.console.api import staff_api
from bot.console.desk import StaffDesk
from bot.console.web import PREFIX as CONSOLE_PREFIX
from bot.console.web import console_app
from bot.conversations import SqlConversationStore
from bot.db import create_engine, ping
from bot.metrics import Metrics
from bot.privacy import PersonalData
from bot.questions import QuestionLog
from bot.receipts import CallbackLedger
from bot.routing import Router
from bot.tasks import TaskSet
from bot.token_store import SqlTokenStore
from bot.webhook import routes as webhook_routes
from bot.wechat.api import DEFAULT_API_BASE_URL, WeChatClient
from bot.wechat.crypto import MessageCrypto
from bot.wechat.fake_api import FakeWeChatServer
from push.audience import SqlAudienceCounter
from push.enterprises import Enterprises
from push.notices import NoticeDesk, TextTestSender
from push.subscriptions import SubscriptionDesk

logger = logging.getLogger(__name__)

RECEIPT_TTL = timedelta(hours=1)  # far longer than WeChat's ~15 s retry window
PURGE_EVERY_S = 60.0
SHUTDOWN_GRACE_S = 10.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    router: Router | None = None,
) -> web.Application:
    """Build the service. Tests pass their own engine (and router); the CLI passes neither."""
    if router is None:
        from handlers import build_router

        router = build_router()
    app = web.Application(middlewares=[_unexpected_errors])
    app[keys.SETTINGS] = settings
    app[keys.ROUTER] = router
    app[keys.METRICS] = Metrics()
    app[keys.TASKS] = TaskSet()
    app[keys.CRYPTO] = _crypto(settings)

    app.cleanup_ctx.append(_database(engine))
    app.cleanup_ctx.append(_policies)
    app.cleanup_ctx.append(_wechat_client)
    app.cleanup_ctx.append(_staff_desk)
    app.cleanup_ctx.append(_notice_desk)
    app.cleanup_ctx.append(_enterprises)
    app.cleanup_ctx.append(_background_tasks)

    app.add_routes(webhook_routes(settings.wechat.callback_path))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    if (console := staff_api(settings)) is not None:  # no staff token: no staff API (404)
        app.add_subapp(STAFF_API_PREFIX, console)
    app.add_subapp(CONSOLE_PREFIX, console_app(settings))  # the staff console (sign-in required)
    return app


def _crypto(settings: Settings) -> MessageCrypto | None:
    w = settings.wechat
    if w.aes_key is None or not w.aes_key.get_secret_value() or not w.app_id or w.token is None:
        return None
    return MessageCrypto(w.token.get_secret_value(), w.aes_key.get_secret_value(), w.app_id)


def _database(
    engine: AsyncEngine | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        own = engine is None
        eng = engine or create_engine(app[keys.SETTINGS].database_url.get_secret_value())
        app[keys.ENGINE] = eng
        ledger = CallbackLedger(eng, app[keys.SETTINGS].wechat.max_clock_skew_s)
        ledger.start()
        app[keys.LEDGER] = ledger
        batches = Batches(eng)
        batches.start()
        memory = timedelta(seconds=app[keys.SETTINGS].conversation.memory_s)
        app[keys.CONVERSATIONS] = SqlConversationStore(batches, memory)
        app[keys.QUESTIONS] = QuestionLog(batches)
        app[keys.PERSONAL_DATA] = PersonalData(batches)
        app[keys.SUBSCRIPTIONS] = SubscriptionDesk(eng)
        yield
        await batches.stop()
        await ledger.stop()
        if own:
            await eng.dispose()

    return ctx


async def _policies(app: web.Application) -> AsyncIterator[None]:
    from policy_index.service import PolicyService

    settings = app[keys.SETTINGS]
    service = PolicyService(
        app[keys.ENGINE],
        embeddings=settings.matcher.embeddings,
        cache_file=settings.state_dir / "embeddings.npz",
        refresh_s=settings.matcher.refresh_s,
        bands=settings.matcher.bands(),
        shed_at=settings.matcher.shed_at,
        vector_budget_s=settings.matcher.vector_budget_ms / 1000,
        home_region=settings.home_region,
    )
    await service.start()
    app[keys.POLICIES] = service
    yield
    await service.stop()


async def _wechat_client(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    w = settings.wechat
    fake: FakeWeChatServer | None = None
    base_url = w.api_base_url
    if base_url is None and settings.local_mode and not settings.production:
        fake = FakeWeChatServer(
            app_id=w.app_id, app_secret=w.app_secret.get_secret_value() if w.app_secret else None
        )
        base_url = await fake.start()
        logger.warning(
            "LOCAL MODE: outbound WeChat calls go to the built-in fake at %s",
            base_url,
            extra={"action": "local_mode"},
        )
    app[keys.LOCAL_FAKE] = fake
    session = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=10, connect=3),
        connector=aiohttp.TCPConnector(limit=32),
    )
    app[keys.WECHAT] = WeChatClient(
        session,
        token_store=SqlTokenStore(app[keys.ENGINE]),
        app_id=w.app_id or "",
        app_secret=w.app_secret.get_secret_value() if w.app_secret else "",
        base_url=base_url or DEFAULT_API_BASE_URL,
        on_result=app[keys.METRICS].count_outbound,
    )
    yield
    await session.close()
    if fake is not None:
        await fake.stop()


async def _staff_desk(app: web.Application) -> AsyncIterator[None]:
    app[keys.STAFF_DESK] = StaffDesk(app[keys.ENGINE], app[keys.SETTINGS], app[keys.WECHAT])
    yield


async def _notice_desk(app: web.Application) -> AsyncIterator[None]:
    # Test sends go out as customer-service text (WeChat lets them reach a staff member who wrote
    # to the account in the last 48 hours); the preview counts what materialising would give.
    sender = TextTestSender(app[keys.WECHAT])
    consent = app[keys.SETTINGS].push.subscribe_template_id or None
    counter = SqlAudienceCounter(app[keys.ENGINE], consent_template=consent)
    app[keys.NOTICE_DESK] = NoticeDesk(app[keys.ENGINE], sender=sender, counter=counter)
    yield


async def _enterprises(app: web.Application) -> AsyncIterator[None]:
    app[keys.ENTERPRISES] = Enterprises(app[keys.ENGINE])
    yield


async def _background_tasks(app: web.Application) -> AsyncIterator[None]:
    tasks = app[keys.TASKS]
    ledger = app[keys.LEDGER]

    async def purge() -> None:
        await ledger.purge(RECEIPT_TTL, time.time())

    async def forget() -> None:
        """Expired conversations; openids no answer could reach any more."""
        now = datetime.now(UTC)
        await app[keys.CONVERSATIONS].purge(now)
        await app[keys.QUESTIONS].expire_openids(now)

    tasks.every(PURGE_EVERY_S, purge, name="purge_receipts")
    tasks.every(PURGE_EVERY_S, forget, name="purge_personal_data")
    yield
    await tasks.drain(SHUTDOWN_GRACE_S)


@web.middleware
async def _unexpected_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Anything unforeseen is logged with its traceback and answered 503, never shown."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        logger.exception("request failed", extra={"action": "request_failed", "path": request.path})
        return web.Response(status=503, text="503 service unavailable", content_type="text/plain")


async def healthz(request: web.Request) -> web.Response:
    try:
        await ping(request.app[keys.ENGINE])
    except Exception as exc:
        logger.warning("health check failed: %s", type(exc).__name__, extra={"action": "healthz"})
        return web.json_response({"status": "error", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


async def metrics(request: web.Request) -> web.Response:
    m = request.app[keys.METRICS]
    return web.Response(body=m.render(), headers={"Content-Type": m.content_type})
