"""Shared fixtures: a real database (SQLite file, or PostgreSQL when GONGKAI_TEST_DATABASE_URL
is set), the fake WeChat API on loopback, settings, the app under a test client, and a peer that
plays the WeChat platform's side of the callback protocol."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from bot.batches import Batches
from bot.config import MatcherSettings, Settings, WeChatSettings
from bot.db import create_engine
from bot.schema import metadata
from bot.wechat.fake_api import FakeWeChatServer
from tests.wechat_peer import WeChatPeer

TOKEN = "gongkaiTestToken2026"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aQ"
APP_ID = "wx0123456789abcdef"
APP_SECRET = "test-app-secret-0123456789"
ACCOUNT = "gh_0123456789ab"

PG_ENV = "GONGKAI_TEST_DATABASE_URL"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A developer's shell must not leak GONGKAI_* settings into tests; run in a temp dir."""
    for name in list(os.environ):
        if name.startswith("GONGKAI_") and name != PG_ENV:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def postgres_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return postgres_url() or f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A fresh, empty schema for each test (dropped and recreated on PostgreSQL)."""
    eng = create_engine(database_url)
    async with eng.begin() as conn:
        if eng.dialect.name == "postgresql":
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await conn.run_sync(metadata().create_all)
    yield eng
    await eng.dispose()


@pytest.fixture
async def batches(engine: AsyncEngine) -> AsyncIterator[Batches]:
    """The conversation layer's database worker on the test database."""
    worker = Batches(engine)
    worker.start()
    yield worker
    await worker.stop()


@pytest.fixture
async def fake_wechat() -> AsyncIterator[FakeWeChatServer]:
    server = FakeWeChatServer(app_id=APP_ID, app_secret=APP_SECRET)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def account_env(database_url: str, fake_wechat: FakeWeChatServer) -> dict[str, str]:
    """A configured (not local-mode) account whose API is the fake on loopback."""
    return {
        "GONGKAI_DATABASE_URL": database_url,
        "GONGKAI_WECHAT__APP_ID": APP_ID,
        "GONGKAI_WECHAT__APP_SECRET": APP_SECRET,
        "GONGKAI_WECHAT__TOKEN": TOKEN,
        "GONGKAI_WECHAT__AES_KEY": AES_KEY,
        "GONGKAI_WECHAT__API_BASE_URL": fake_wechat.base_url,
    }


MakeSettings = Callable[..., Settings]


@pytest.fixture
def make_settings(database_url: str, fake_wechat: FakeWeChatServer) -> MakeSettings:
    def make(**wechat: Any) -> Settings:
        values: dict[str, Any] = {
            "token": SecretStr(TOKEN),
            "app_id": APP_ID,
            "app_secret": SecretStr(APP_SECRET),
            "aes_key": SecretStr(AES_KEY),
            "api_base_url": fake_wechat.base_url,
        }
        values.update(wechat)
        return Settings(
            database_url=SecretStr(database_url),
            wechat=WeChatSettings(**values),
            matcher=MatcherSettings(embeddings=False, refresh_s=0.2),
        )

    return make


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings()


@pytest.fixture
def peer() -> WeChatPeer:
    return WeChatPeer(TOKEN, AES_KEY, APP_ID)


@pytest.fixture
def openid() -> str:
    return "o" + uuid.uuid4().hex[:27]


MakeClient = Callable[..., Any]


@pytest.fixture
async def make_client(
    engine: AsyncEngine, settings: Settings, aiohttp_client: Callable[..., Any]
) -> MakeClient:
    """Start the real app on loopback (optionally with other settings or router).

    ``engine`` comes before ``aiohttp_client`` so that apps are closed (their last receipts
    written) before the engine is disposed.
    """

    async def make(app: web.Application | None = None, **kwargs: Any) -> TestClient[Any, Any]:
        kwargs.setdefault("engine", engine)
        return await aiohttp_client(app or create_app(kwargs.pop("settings", settings), **kwargs))

    return make


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient[Any, Any]:
    return await make_client()
