"""``gongkai push`` (run the delivery engine, see the channels), ``gongkai subscribers``,
``gongkai topics`` and ``gongkai fake-wechat`` (the fake WeChat API, for local mode and
benchmarks, with injectable faults)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.cli.common import (
    command_settings,
    database,
    fail,
    migrate_if_local,
    prepared_settings,
    say,
    wechat_client,
)
from bot.log_setup import configure_logging
from bot.wechat.api import RetryPolicy
from bot.wechat.fake_api import FakeWeChatServer, Faults
from push.clock import PushClock
from push.engine import Dispatcher, RunStats
from push.errors import PushError
from push.subscriptions import (
    catalogue,
    ensure_topics,
    import_subscribers,
    parse_subscriber_lines,
)
from push.tables import CHANNEL_STATE, DELIVERIES, NOTICES, SUBSCRIBERS, TOPICS, Channel


def _now() -> datetime:
    return datetime.now(UTC)


# --- gongkai push run / status ------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    settings = command_settings()
    configure_logging(json_lines=settings.json_logs, level=args.log_level or settings.log_level)
    migrate_if_local(settings)

    async def main() -> RunStats:
        async with database(settings) as engine:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            async with wechat_client(settings, engine, retry=RetryPolicy(attempts=1)) as (
                client,
                _local,
            ):
                dispatcher = Dispatcher(engine, client, settings.push, worker=args.worker)
                clock = PushClock(engine, refresh_token=client.tokens.get)
                await clock.start()
                try:
                    return await dispatcher.run(until_idle=args.until_idle, stop=stop)
                finally:
                    await clock.stop()

    stats = asyncio.run(main())
    say(
        f"已发送 {stats.sent}，失败 {stats.failed}，结果不明 {stats.unknown}，"
        f"暂缓（免打扰或每日上限）{stats.held}，接管中断批次 {stats.recovered}；"
        f"完成的通知：{', '.join(f'#{n}' for n in stats.notices_done) or '无'}"
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    settings = prepared_settings()

    async def main() -> dict[str, Any]:
        async with database(settings) as engine:
            now = _now()
            async with engine.connect() as conn:
                d, n, c = DELIVERIES.c, NOTICES.c, CHANNEL_STATE.c
                by_status: dict[str, int] = dict(
                    (await conn.execute(select(d.status, func.count()).group_by(d.status))).all()
                )
                paused = (
                    await conn.execute(
                        select(c.channel, c.paused_until, c.reason, c.errcode).where(
                            c.paused_until > now
                        )
                    )
                ).all()
                month_start = now.astimezone().replace(day=1, hour=0, minute=0, second=0)
                mass = (
                    await conn.execute(
                        select(func.count()).where(
                            n.channel == Channel.MASS,
                            n.started_at >= month_start,
                        )
                    )
                ).scalar_one()
                subscribers = (
                    await conn.execute(select(func.count()).select_from(SUBSCRIBERS))
                ).scalar_one()
        return {
            "deliveries": {k: int(v) for k, v in by_status.items()},
            "paused": [
                {
                    "channel": p.channel,
                    "until": p.paused_until.isoformat(),
                    "reason": p.reason,
                    "errcode": p.errcode,
                }
                for p in paused
            ],
            "subscribers": int(subscribers),
            "mass_sends_this_month": int(mass),
            "mass_quota_per_follower_per_month": 4,
        }

    status = asyncio.run(main())
    if args.json:
        say(json.dumps(status, ensure_ascii=False))
        return 0
    say(f"订阅用户：{status['subscribers']}")
    say("推送记录：" + ("，".join(f"{k} {v}" for k, v in status["deliveries"].items()) or "无"))
    for p in status["paused"]:
        say(f"通道 {p['channel']} 暂停至 {p['until']}（{p['reason']}，errcode {p['errcode']}）")
    say(
        f"本月群发：{status['mass_sends_this_month']} 次（服务号每位用户每月最多收到 4 条群发消息）"
    )
    return 0


# --- gongkai subscribers / topics ---------------------------------------------------------------


def cmd_subscribers_import(args: argparse.Namespace) -> int:
    settings = prepared_settings()
    path: Path = args.file
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        return fail(f"cannot read {path}: {exc.strerror}")

    async def main() -> int:
        async with database(settings) as engine, engine.begin() as conn:
            known = {t.name for t in await conn.run_sync(catalogue)}
            records = parse_subscriber_lines(path, lines, known)
            now = _now()
            return int(await conn.run_sync(lambda c: import_subscribers(c, records, now)))

    try:
        count = asyncio.run(main())
    except PushError as exc:
        return fail(f"nothing was imported.\n{exc}", 1)
    say(f"已导入 {count} 位订阅用户（重复导入不会重复订阅）。")
    return 0


def cmd_topics_list(args: argparse.Namespace) -> int:
    settings = prepared_settings()

    async def main() -> list[dict[str, Any]]:
        async with database(settings) as engine, engine.begin() as conn:
            await conn.run_sync(ensure_topics)
            t = TOPICS.c
            rows = (
                await conn.execute(
                    select(t.name, t.description, t.aliases, t.active).order_by(t.position)
                )
            ).all()
        return [dict(r._mapping) for r in rows]

    topics = asyncio.run(main())
    if args.json:
        say(json.dumps(topics, ensure_ascii=False))
        return 0
    for topic in topics:
        mark = "" if topic["active"] else "（已停用）"
        say(f"{topic['name']}{mark}：{topic['description']}  别名：{'、'.join(topic['aliases'])}")
    return 0


def cmd_topics_add(args: argparse.Namespace) -> int:
    settings = prepared_settings()
    name = args.name.strip()
    if not 1 <= len(name) <= 32:
        return fail("a topic name has 1 to 32 characters")

    async def main() -> None:
        async with database(settings) as engine, engine.begin() as conn:
            await conn.run_sync(ensure_topics)
            t = TOPICS.c
            exists = (await conn.execute(select(t.name).where(t.name == name))).scalar_one_or_none()
            values = {
                "description": args.description or "",
                "aliases": list(args.alias or []),
                "active": not args.disable,
            }
            if exists is None:
                last = (await conn.execute(select(func.max(t.position)))).scalar_one() or 0
                await conn.execute(TOPICS.insert().values(name=name, position=last + 1, **values))
            else:
                await conn.execute(TOPICS.update().where(t.name == name).values(**values))

    asyncio.run(main())
    say(f"主题“{name}”已{'停用' if args.disable else '保存'}。")
    return 0


# --- gongkai fake-wechat ------------------------------------------------------------------------


def cmd_fake_wechat(args: argparse.Namespace) -> int:
    try:
        faults = Faults.parse(args.faults or "")
    except ValueError as exc:
        return fail(str(exc))

    async def main() -> dict[str, Any]:
        fake = FakeWeChatServer(
            app_id=args.app_id,
            app_secret=args.app_secret,
            faults=faults,
            daily_quota=args.daily_quota,
            record_sends=not args.count_only,
        )
        url = await fake.start(args.host, args.port)
        say(f"模拟微信接口已启动：{url}")
        say(f"  让服务用它：export GONGKAI_WECHAT__API_BASE_URL={url}")
        say(f"  收到的消息：curl {url}/_fake/calls    统计：curl {url}/_fake/stats")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        with contextlib.suppress(asyncio.CancelledError):
            await stop.wait()
        await fake.stop()
        return fake.stats()

    stats = asyncio.run(main())
    say(json.dumps(stats, ensure_ascii=False))
    return 0


def add_parser(sub: Any) -> None:
    push = sub.add_parser(
        "push",
        help="deliver due notices (the delivery engine) and see the channels",
        description="The delivery engine: materialises due notices into the outbox and sends "
        "them through WeChat with rate limits, retries and quiet hours. Run it as a service "
        "(several processes may share one PostgreSQL database; on SQLite run one).",
    )
    actions = push.add_subparsers(dest="push_command", required=True, metavar="ACTION")
    run = actions.add_parser(
        "run",
        help="deliver what is due, until stopped (or --until-idle)",
        description="Deliver due notices until stopped with Ctrl-C / SIGTERM. With --until-idle "
        "exit when nothing due is left (deliveries held for quiet hours, the daily cap or a "
        "paused channel wait for a later run).",
    )
    run.add_argument("--until-idle", action="store_true", help="exit when nothing is left to do")
    run.add_argument("--worker", help="this worker's name in the outbox (default host:pid)")
    run.add_argument("--log-level", help="e.g. INFO, WARNING (default: GONGKAI_LOG_LEVEL)")
    run.set_defaults(func=cmd_run)
    status = actions.add_parser(
        "status",
        help="deliveries by state, paused channels, this month's mass sends",
        description="Deliveries by state, paused channels and this month's mass sends.",
    )
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=cmd_status)

    subscribers = sub.add_parser(
        "subscribers",
        help="import subscribers (JSON Lines)",
        description="Subscribers the county already has, e.g. from an earlier system.",
    )
    sub_actions = subscribers.add_subparsers(
        dest="subscribers_command", required=True, metavar="ACTION"
    )
    imp = sub_actions.add_parser(
        "import",
        help='import {"openid", "topics": [...], "town", "tags": [...]} lines (idempotent)',
        description="Import subscribers from JSON Lines, all or nothing; a bad line is named "
        "with its field. Importing the same file again changes nothing.",
    )
    imp.add_argument("file", type=Path)
    imp.set_defaults(func=cmd_subscribers_import)

    topics = sub.add_parser(
        "topics", help="the topic catalogue", description="The topics people subscribe to."
    )
    topic_actions = topics.add_subparsers(dest="topics_command", required=True, metavar="ACTION")
    listing = topic_actions.add_parser("list", help="list the topics")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=cmd_topics_list)
    add = topic_actions.add_parser("add", help="add or edit a topic (name, aliases, description)")
    add.add_argument("name")
    add.add_argument("--alias", action="append", help="another name people use (repeatable)")
    add.add_argument("--description", help="what the topic covers")
    add.add_argument("--disable", action="store_true", help="no longer offered for subscription")
    add.set_defaults(func=cmd_topics_add)

    fake = sub.add_parser(
        "fake-wechat",
        help="run the fake WeChat API (local mode, demos, benchmarks), with injectable faults",
        description="Serve the built-in fake WeChat API on loopback until Ctrl-C, then print "
        "what reached users. Point the service at it with GONGKAI_WECHAT__API_BASE_URL.",
    )
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=9001)
    fake.add_argument(
        "--faults",
        help="e.g. busy=0.02,http_500=0.01,lost_answer=0.005,token_expiry=0.001,seed=7",
    )
    fake.add_argument("--daily-quota", type=int, help="message sends accepted before 45009")
    fake.add_argument("--app-id", help="accept only this AppID (default: any)")
    fake.add_argument("--app-secret", help="accept only this AppSecret (default: any)")
    fake.add_argument(
        "--count-only", action="store_true", help="count sends without recording each (big runs)"
    )
    fake.set_defaults(func=cmd_fake_wechat)
