"""What every ``gongkai`` command shares: output, settings, the local database, a sender."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings, load_settings, with_local_credentials
from bot.db import create_engine
from bot.log_setup import configure_logging
from bot.token_store import SqlTokenStore
from bot.wechat.api import DEFAULT_API_BASE_URL, RetryPolicy, WeChatClient
from bot.wechat.fake_api import FakeWeChatServer

T = TypeVar("T")


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def fail(text: str, code: int = 2) -> int:
    sys.stderr.write(f"gongkai: {text}\n")
    return code


def command_settings() -> Settings:
    settings = load_settings()
    if settings.local_mode and not settings.production:
        settings = with_local_credentials(settings)
    return settings


def prepared_settings() -> Settings:
    """A staff command's settings, quiet logging, and (local mode) a current database."""
    settings = command_settings()
    configure_logging(json_lines=False, level="WARNING")
    migrate_if_local(settings)
    return settings


def migrate_if_local(settings: Settings) -> None:
    """Local mode keeps its own database current; production runs `gongkai db upgrade`."""
    if settings.local_mode:
        from bot.migrate import upgrade

        upgrade(settings.database_url.get_secret_value())


CONSOLE_ADMIN_FILE = "console-admin.json"


@dataclass(frozen=True, slots=True)
class ConsoleAccount:
    """Local mode's first console administrator; ``password`` None once it has been changed."""

    name: str
    password: str | None
    file: Path


def prepare_local_database(settings: Settings) -> ConsoleAccount | None:
    """Local mode: migrate the database, on first start load the sample library and create the
    console's first administrator (its generated password is kept, private to this user, in
    the local state folder until it is changed)."""
    from bot.migrate import upgrade
    from policy_index.library import ensure_sample

    url = settings.database_url.get_secret_value()
    upgrade(url)
    loaded = asyncio.run(ensure_sample(url))
    if loaded is not None:
        say(f"已载入示例政策库：{loaded.policies} 条政策、{loaded.qa_pairs} 条问答。")
    return _first_admin(url, settings.state_dir / CONSOLE_ADMIN_FILE)


def _first_admin(url: str, file: Path) -> ConsoleAccount | None:
    from push import staff

    async def on_engine(work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
        engine = create_engine(url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    now = datetime.now(UTC)
    password = asyncio.run(on_engine(lambda e: staff.add_first_admin(e, actor="本地模式", now=now)))
    if password is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"name": staff.FIRST_ADMIN, "password": password}, fh, ensure_ascii=False)
    if not file.exists():
        return None
    kept = json.loads(file.read_text(encoding="utf-8"))
    name, password = str(kept["name"]), str(kept["password"])
    still = asyncio.run(on_engine(lambda e: staff.password_matches(e, name, password)))
    return ConsoleAccount(name, password if still else None, file)


def uses_builtin_fake(settings: Settings) -> bool:
    """Local mode without an API base URL: outbound calls go to a fake started on loopback."""
    return settings.wechat.api_base_url is None and settings.local_mode and not settings.production


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The configured database's engine for one command, disposed of at the end."""
    engine = create_engine(settings.database_url.get_secret_value())
    try:
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def wechat_client(
    settings: Settings, engine: AsyncEngine | None = None, *, retry: RetryPolicy | None = None
) -> AsyncIterator[tuple[WeChatClient, bool]]:
    """The sender for a one-off command, and whether it talks to the built-in fake.

    ``engine`` is the command's own database engine, if it has one (it stays open); ``retry``
    replaces the client's own bounded retries (the push engine retries durably itself)."""
    w = settings.wechat
    fake: FakeWeChatServer | None = None
    base_url = w.api_base_url
    if uses_builtin_fake(settings):
        fake = FakeWeChatServer(
            app_id=w.app_id, app_secret=w.app_secret.get_secret_value() if w.app_secret else None
        )
        base_url = await fake.start()
    own = engine is None
    engine = engine or create_engine(settings.database_url.get_secret_value())
    try:
        async with aiohttp.ClientSession() as session:
            yield (
                WeChatClient(
                    session,
                    token_store=SqlTokenStore(engine),
                    app_id=w.app_id or "",
                    app_secret=w.app_secret.get_secret_value() if w.app_secret else "",
                    base_url=base_url or DEFAULT_API_BASE_URL,
                    retry=retry or RetryPolicy(),
                ),
                fake is not None,
            )
    finally:
        if own:
            await engine.dispose()
        if fake is not None:
            await fake.stop()


def on_database(settings: Settings, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``work`` with an engine on the configured database, disposed afterwards."""

    async def main() -> T:
        engine = create_engine(settings.database_url.get_secret_value())
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


Command = Callable[[argparse.Namespace], int]


def guarded(*refusals: type[Exception]) -> Callable[[Command], Command]:
    """A command whose refusals (``refusals``: the service said no, with a reason for staff)
    exit 1 with the reason, and whose database, when not ready, is named as the cause."""

    def wrap(command: Command) -> Command:
        def run(args: argparse.Namespace) -> int:
            try:
                return command(args)
            except refusals as exc:
                return fail(str(exc), 1)
            except SQLAlchemyError as exc:
                return fail(
                    f"the database is not ready ({type(exc).__name__}); check "
                    "GONGKAI_DATABASE_URL and run `gongkai db upgrade`.",
                    1,
                )

        return run

    return wrap


def print_json(data: Any) -> None:
    say(json.dumps(data, ensure_ascii=False, indent=2))
