"""``gongkai serve``, ``chat``, ``db`` and ``check-config``: running the service."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
from typing import Any

from aiohttp import web

from bot.cli.common import (
    ConsoleAccount,
    command_settings,
    fail,
    prepare_local_database,
    say,
)
from bot.config import ConfigError, Settings, load_settings, masked
from bot.log_setup import configure_logging


def local_banner(
    settings: Settings, host: str, port: int, console: ConsoleAccount | None = None
) -> str:
    w = settings.wechat
    line = "=" * 72
    token = w.token.get_secret_value() if w.token else ""
    aes = w.aes_key.get_secret_value() if w.aes_key else ""
    staff = (
        settings.staff.token.get_secret_value() if settings.staff.token else "（未设置，接口关闭）"
    )
    return "\n".join(
        [
            line,
            " Gongkai 本地模式 LOCAL MODE：未配置公众号凭据，所有出站微信调用发往内置模拟接口",
            f" 回调地址 URL:            http://{host}:{port}{w.callback_path}",
            f" 令牌 Token:             {token}",
            f" 消息加解密密钥 AESKey:  {aes}",
            f" AppID:                  {w.app_id}",
            f" 数据库 Database:        {masked(settings)['database_url']}",
            f" 工作人员接口 Staff API: http://{host}:{port}/staff/api/inbox",
            f"   令牌 Bearer token:    {staff}",
            *_console_lines(host, port, console),
            " 和机器人对话：另开一个终端，在同一目录运行  .venv/bin/gongkai chat",
            f"   （或连到本服务：gongkai chat --url http://{host}:{port}）",
            " 未答问题：gongkai inbox list / gongkai inbox answer 组号 --text …",
            " 接入真实公众号：设置 GONGKAI_WECHAT__TOKEN / __APP_ID / __APP_SECRET / __AES_KEY",
            line,
        ]
    )


def _console_lines(host: str, port: int, console: ConsoleAccount | None) -> list[str]:
    lines = [f" 工作人员控制台 Console:  http://{host}:{port}/console/"]
    if console is None:
        lines.append("   账号：gongkai user list（新建：gongkai user add 姓名 --role admin）")
    elif console.password is not None:
        lines.append(f"   账号 {console.name}   初始密码 {console.password}")
        lines.append(
            f"   （密码存于 {console.file}；修改："
            f"gongkai user set {console.name} --password-stdin）"
        )
    else:
        lines.append(f"   账号 {console.name}（初始密码已修改）")
    return lines


def cmd_serve(args: argparse.Namespace) -> int:
    settings = command_settings()
    configure_logging(json_lines=settings.json_logs, level=settings.log_level)
    if settings.local_mode:
        console = prepare_local_database(settings)
        say(local_banner(settings, args.host, args.port, console))
    workers = [
        multiprocessing.get_context("spawn").Process(
            target=_serve_worker,
            args=(settings, args.host, args.port, (n, args.workers)),
            name=f"gongkai-worker-{n}",
            daemon=True,
        )
        for n in range(1, args.workers)
    ]
    for worker in workers:
        worker.start()
    _run_server(settings, args.host, args.port, announce=True, share=(0, args.workers))
    for worker in workers:
        worker.terminate()
        worker.join(timeout=10)
    return 0


def _run_server(
    settings: Settings, host: str, port: int, *, announce: bool, share: tuple[int, int]
) -> None:
    """Serve as process ``share[0]`` of ``share[1]`` on one port (SO_REUSEPORT when several)."""
    from bot.app import create_app
    from policy_index.embedding import engine_cores

    # Each process runs its own embedding engine: it gets its own slice of the cores rather
    # than every engine starting a thread per core (they would spin against each other).
    engine_cores(share=share)

    _fast_event_loop()
    app = create_app(settings)
    app.on_startup.append(_freeze_startup_heap)  # after the resources' cleanup contexts
    web.run_app(
        app,
        host=host,
        port=port,
        access_log=None,
        reuse_port=share[1] > 1 or None,
        print=(lambda text: say(text.strip())) if announce else None,
    )


async def _freeze_startup_heap(app: web.Application) -> None:
    """What start-up built (the policy index, dictionaries, settings) lives as long as the
    process: keep it out of the garbage collector's full passes, each of which would otherwise
    walk ~300,000 objects and stall every request in flight for ~80 ms."""
    gc.collect()
    gc.freeze()


def _fast_event_loop() -> None:
    """Use uvloop when it is installed (about a third less CPU per callback); asyncio otherwise."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _serve_worker(settings: Settings, host: str, port: int, share: tuple[int, int]) -> None:
    """Another process serving the same port (SO_REUSEPORT); the database is shared."""
    configure_logging(json_lines=settings.json_logs, level=settings.log_level)
    _run_server(settings, host, port, announce=False, share=share)


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.chat import ChatClient, run_chat

    settings = command_settings()
    configure_logging(json_lines=False, level="WARNING")
    w = settings.wechat
    token = w.token.get_secret_value() if w.token else ""
    aes = w.aes_key.get_secret_value() if w.aes_key and not args.plain else None

    def client(url: str) -> ChatClient:
        c = ChatClient(url=url, token=token, app_id=w.app_id or "", aes_key=aes)
        if args.openid:
            c.openid = args.openid
        return c

    if args.url:
        chat = client(args.url.rstrip("/") + w.callback_path)
        asyncio.run(run_chat(chat, out=say, follow_first=not args.no_follow))
        return 0
    asyncio.run(_chat_in_process(settings, client, args))
    return 0


async def _chat_in_process(settings: Settings, client: object, args: argparse.Namespace) -> None:
    from bot import keys
    from bot.app import create_app
    from bot.chat import run_chat

    if settings.local_mode:
        await asyncio.to_thread(prepare_local_database, settings)
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    chat = client(f"http://127.0.0.1:{port}{settings.wechat.callback_path}")  # type: ignore[operator]
    seen = 0

    def late_messages() -> list[str]:
        nonlocal seen
        fake = app[keys.LOCAL_FAKE]
        if fake is None:
            return []
        new = fake.messages_to(chat.openid)[seen:]
        seen += len(new)
        return [_describe(body) for body in new]

    try:
        await run_chat(chat, out=say, follow_first=not args.no_follow, late_messages=late_messages)
    finally:
        await runner.cleanup()


def _describe(body: dict[str, object]) -> str:
    from bot.chat import links_as_text

    text = body.get("text")
    if isinstance(text, dict):
        return links_as_text(str(text.get("content", "")))
    return json.dumps(body, ensure_ascii=False)


def cmd_db(args: argparse.Namespace) -> int:
    from bot.migrate import current, upgrade

    settings = load_settings()
    url = settings.database_url.get_secret_value()
    if args.db_command == "upgrade":
        upgrade(url, args.revision)
        say(f"数据库已升级到最新结构 (database upgraded to {args.revision}).")
    else:
        current(url)
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        return fail(str(exc), 1)
    say(json.dumps(masked(settings), ensure_ascii=False, indent=2))
    missing = settings.missing_for_production()
    if settings.local_mode:
        say("\n模式 mode: LOCAL（本地模式：缺少公众号凭据，出站调用发往内置模拟接口）")
    else:
        say(
            "\n模式 mode: " + ("PRODUCTION" if settings.production else "DEVELOPMENT, real account")
        )
    if missing:
        say("生产环境还缺少 missing for production: " + ", ".join(missing))
    else:
        say("生产环境所需的密钥已齐全 (all production secrets are set).")
    for warning in settings.production_warnings():
        say("提醒 warning: " + warning)
    return 1 if settings.production and missing else 0


def add_parser(sub: Any) -> None:
    serve = sub.add_parser(
        "serve",
        help="run the service (WeChat callback, health and metrics endpoints)",
        description="Run the service. Without WeChat credentials it starts in local mode: "
        "it prints a generated callback token, upgrades the local database and sends outbound "
        "WeChat calls to a built-in fake, so everything can be tried at once.",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default %(default)s)"
    )
    serve.add_argument(
        "--port", type=int, default=8080, help="port to listen on (default %(default)s)"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port (default 1; use the number of CPU cores). "
        "Retried callbacks are still handled once: the processes share the database",
    )
    serve.set_defaults(func=cmd_serve)

    chat = sub.add_parser(
        "chat",
        help="talk to the bot in this terminal, as a WeChat user would",
        description="Talk to the bot in the terminal. Every line becomes a signed, encrypted "
        "callback exactly as WeChat sends it, through the same handler path. By default the bot "
        "runs inside this command; --url talks to a running `gongkai serve` instead.",
    )
    chat.add_argument("--url", help="base URL of a running service, e.g. http://127.0.0.1:8080")
    chat.add_argument("--openid", help="pretend to be this user (default: a random test openid)")
    chat.add_argument(
        "--plain", action="store_true", help="send plaintext callbacks, not encrypted"
    )
    chat.add_argument("--no-follow", action="store_true", help="do not send a follow event first")
    chat.set_defaults(func=cmd_chat)

    db = sub.add_parser("db", help="database migrations", description="Database migrations.")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = db_sub.add_parser(
        "upgrade",
        help="create or upgrade the tables to the latest version",
        description="Create or upgrade the database tables (GONGKAI_DATABASE_URL).",
    )
    up.add_argument("revision", nargs="?", default="head", help="target revision (default: head)")
    db_sub.add_parser("current", help="show the database's current revision")
    db.set_defaults(func=cmd_db)

    check = sub.add_parser(
        "check-config",
        help="show the effective configuration (secrets masked) and what production still needs",
        description="Print the effective configuration with secrets masked, and list what is "
        "missing for production. Exits 1 in production mode when something is missing.",
    )
    check.set_defaults(func=cmd_check_config)
