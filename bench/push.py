"""Push benchmark: one notice to 100,000 subscribers through the fake WeChat API with faults.

Everything runs on loopback, each part in its own process, as in production:

1. ``gongkai fake-wechat`` serves the fake API (it counts what reached users: a template
   message's ``client_msg_id`` is delivered once per user within WeChat's 10 minutes).
2. **The ceiling**: a raw aiohttp client in this process sends template messages to the fake as
   fast as it can (``--concurrency`` in flight, no database, no retries): sends/s.
3. Faults are switched on (errcode -1, HTTP 500, HTTP 500 after delivering — the answer lost —
   and token expiry), and ``gongkai push run --until-idle`` (one worker process) delivers a
   notice to the audience: deliveries/s, its peak RSS (``wait4``), and the fake's counts: every
   subscriber exactly once. A run at a tenth of the audience gives the RSS to compare (memory
   must not grow with the audience).
4. **The crash**: a second notice; the worker is killed with SIGKILL when about half is
   delivered and started again. Lost = subscribers the fake never reached (must be 0); the
   sends in flight at the kill (rows ``sending`` in the outbox) bound the duplicates; resends
   WeChat recognised by ``client_msg_id`` are counted apart.

    .venv/bin/python -m bench.push                          # 100,000 subscribers, SQLite
    .venv/bin/python -m bench.push --subscribers 20000 --database-url postgresql+asyncpg://…

Exit code 0 when every subscriber got each notice exactly once (a measurement otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, insert, select, text

from bot.db import create_engine
from bot.migrate import upgrade
from push.subscriptions import ensure_topics
from push.tables import DELIVERIES, NOTICES, SUBSCRIBERS, SUBSCRIPTIONS, DeliveryState

TOPIC = "惠企/免申即享"
TEMPLATE = "/cgi-bin/message/template/send"
FAULTS = "busy=0.01,http_500=0.01,lost_answer=0.005,token_expiry=0.0002,seed=7"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GONGKAI_")}


@dataclass
class Worker:
    """``gongkai push run`` as a child process whose peak RSS we read when it ends."""

    proc: subprocess.Popen[bytes]
    started: float
    rusage: Any = None
    status: int | None = None

    def wait(self) -> None:
        _pid, self.status, self.rusage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = self.status

    @property
    def peak_rss_mb(self) -> float:
        return float(self.rusage.ru_maxrss) / 1024 if self.rusage else float("nan")


def start_worker(env: dict[str, str], workdir: Path, name: str) -> Worker:
    proc = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "bot", "push", "run", "--until-idle", "--worker", name],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return Worker(proc, time.perf_counter())


async def seed(url: str, subscribers: int, now: datetime) -> None:
    """Subscribers of one topic, inserted in chunks (not one by one)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(ensure_topics)
            existing = (await conn.execute(select(func.count()).select_from(SUBSCRIBERS))).scalar()
            for start in range(int(existing or 0), subscribers, 10_000):
                stop = min(subscribers, start + 10_000)
                rows = [
                    {
                        "openid": f"oBench{i:08d}",
                        "tags": [],
                        "active": True,
                        "source": "import",
                        "created_at": now,
                    }
                    for i in range(start, stop)
                ]
                ids = (
                    await conn.execute(insert(SUBSCRIBERS).returning(SUBSCRIBERS.c.id), rows)
                ).scalars()
                await conn.execute(
                    insert(SUBSCRIPTIONS),
                    [{"subscriber_id": i, "topic": TOPIC, "consented_at": now} for i in ids],
                )
    finally:
        await engine.dispose()


async def add_notice(url: str, now: datetime, limit_town: str | None = None) -> int:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            values = {
                "title": "关于兑现2026年度稳岗返还资金的通知",
                "body": "符合条件的企业无需申请，资金直接拨付。",
                "url": "https://example.gov.cn/n",
                "channel": "template",
                "topics": [TOPIC],
                "towns": [limit_town] if limit_town else [],
                "tags": [],
                "state": "scheduled",
                "author": "bench",
                "content_hash": "b" * 64,
                "approved_hash": "b" * 64,
                "approved_by": "reviewer",
                "approved_at": now,
                "scheduled_at": now,
                "created_at": now,
                "updated_at": now,
            }
            nid = await conn.execute(insert(NOTICES).values(**values).returning(NOTICES.c.id))
            return int(nid.scalar_one())
    finally:
        await engine.dispose()


async def outbox_counts(url: str, notice_id: int) -> dict[str, int]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            d = DELIVERIES.c
            rows = await conn.execute(
                select(d.status, func.count()).where(d.notice_id == notice_id).group_by(d.status)
            )
            return {s: int(n) for s, n in rows}
    finally:
        await engine.dispose()


async def ceiling(base: str, sends: int, concurrency: int) -> float:
    """Raw template sends per second to the fake: no database, no retries, no bookkeeping."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        token = (await (await s.post(f"{base}/cgi-bin/stable_token", json={})).json())[
            "access_token"
        ]
        queue = iter(range(sends))

        async def sender() -> None:
            for i in queue:
                async with s.post(
                    f"{base}{TEMPLATE}",
                    params={"access_token": token},
                    json={
                        "touser": f"oRaw{i}",
                        "template_id": "T",
                        "data": {"thing1": {"value": "通知"}},
                        "client_msg_id": f"raw:{i}",
                    },
                ) as resp:
                    await resp.read()

        began = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        return sends / (time.perf_counter() - began)


async def fake_stats(base: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s, s.get(f"{base}/_fake/stats") as resp:
        return dict(await resp.json())


async def set_faults(base: str, spec: str) -> None:
    faults: dict[str, Any] = {}
    for item in filter(None, spec.split(",")):
        k, _, v = item.partition("=")
        faults[k] = int(v) if k == "seed" else float(v)
    async with aiohttp.ClientSession() as s:
        await (await s.post(f"{base}/_fake/faults", json=faults)).read()


def run_to_end(env: dict[str, str], workdir: Path, name: str) -> Worker:
    worker = start_worker(env, workdir, name)
    worker.wait()
    if worker.status != 0:
        err = worker.proc.stderr.read().decode() if worker.proc.stderr else ""
        raise SystemExit(f"push run failed ({worker.status}):\n{err[-3000:]}")
    return worker


async def delivered(base: str, notice_id: int) -> int:
    return int((await fake_stats(base))["per_notice"].get(f"gk:n{notice_id}", 0))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.push", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--database-url", help="default: a scratch SQLite file")
    parser.add_argument("--concurrency", type=int, default=32, help="sends in flight")
    parser.add_argument("--ceiling-sends", type=int, default=20_000)
    parser.add_argument("--faults", default=FAULTS)
    parser.add_argument("--lease-s", type=float, default=5.0, help="lease of the crashed worker")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="gongkai-bench-push-"))
    url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    if url.startswith("postgresql"):
        asyncio.run(_reset_postgres(url))
    upgrade(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    fake = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "bot", "fake-wechat", "--port", str(port), "--count-only"],
        env=clean_env(),
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if fake.stdout is None or not fake.stdout.readline():
        raise SystemExit("the fake WeChat API did not start")
    env = {
        **clean_env(),
        "GONGKAI_ENV": "development",
        "GONGKAI_DATABASE_URL": url,
        "GONGKAI_WECHAT__APP_ID": "wxbench0000000000",
        "GONGKAI_WECHAT__APP_SECRET": "bench-secret",
        "GONGKAI_WECHAT__TOKEN": "benchtoken",
        "GONGKAI_WECHAT__API_BASE_URL": base,
        "GONGKAI_PUSH__TEMPLATE_ID": "TEMPLATE_BENCH",
        "GONGKAI_PUSH__QUIET_HOURS": "",
        "GONGKAI_PUSH__DAILY_CAP": "10",
        "GONGKAI_PUSH__BACKOFF_S": "0.2",
        "GONGKAI_PUSH__BACKOFF_CAP_S": "2",
        "GONGKAI_PUSH__POLL_S": "0.2",
        "GONGKAI_PUSH__CONCURRENCY": str(args.concurrency),
        "GONGKAI_PUSH__RATE_PER_S": "100000",
        "GONGKAI_LOG_LEVEL": "WARNING",
    }
    report: dict[str, Any] = {"subscribers": args.subscribers, "database": url.split(":")[0]}
    try:
        now = datetime.now(UTC)
        report["ceiling_sends_per_s"] = round(
            asyncio.run(ceiling(base, args.ceiling_sends, args.concurrency))
        )
        asyncio.run(set_faults(base, args.faults))

        # A tenth of the audience first: the RSS to compare with.
        small = max(1, args.subscribers // 10)
        asyncio.run(seed(url, small, now))
        nid_small = asyncio.run(add_notice(url, now))
        w_small = run_to_end(env, workdir, "small")
        report["rss_mb_at_tenth"] = round(w_small.peak_rss_mb, 1)

        asyncio.run(seed(url, args.subscribers, now))
        nid = asyncio.run(add_notice(url, now))
        began = time.perf_counter()
        w = run_to_end(env, workdir, "full")
        elapsed = time.perf_counter() - began
        stats = asyncio.run(fake_stats(base))
        got = int(stats["per_notice"].get(f"gk:n{nid}", 0))
        report["full"] = {
            "seconds": round(elapsed, 1),
            "deliveries_per_s": round(args.subscribers / elapsed),
            "rss_mb": round(w.peak_rss_mb, 1),
            "recipients": got,
            "outbox": asyncio.run(outbox_counts(url, nid)),
        }
        report["share_of_ceiling"] = round(
            report["full"]["deliveries_per_s"] / report["ceiling_sends_per_s"], 3
        )
        report["faults_so_far"] = stats["faults"]
        report["duplicates_so_far"] = stats["duplicates"]

        # The crash: SIGKILL about halfway through a second notice, then a restart.
        crash_env = {**env, "GONGKAI_PUSH__LEASE_S": str(args.lease_s)}
        nid2 = asyncio.run(add_notice(url, now))
        victim = start_worker(crash_env, workdir, "victim")
        waiter = threading.Thread(target=victim.wait)
        waiter.start()
        while asyncio.run(delivered(base, nid2)) < args.subscribers // 2:
            time.sleep(0.2)
        os.kill(victim.proc.pid, signal.SIGKILL)
        waiter.join()
        before = asyncio.run(outbox_counts(url, nid2))
        at_kill = asyncio.run(delivered(base, nid2))
        dedup_before = asyncio.run(fake_stats(base))["deduplicated"]
        run_to_end(crash_env, workdir, "restarted")
        after_stats = asyncio.run(fake_stats(base))
        got2 = int(after_stats["per_notice"].get(f"gk:n{nid2}", 0))
        report["crash"] = {
            "delivered_at_kill": at_kill,
            "in_flight_at_kill": before.get(DeliveryState.SENDING, 0),
            "recipients": got2,
            "lost": args.subscribers - got2,
            "resends_recognised_by_client_msg_id": after_stats["deduplicated"] - dedup_before,
            "outbox": asyncio.run(outbox_counts(url, nid2)),
        }
        report["duplicates"] = after_stats["duplicates"]
        report["faults"] = after_stats["faults"]
        report["tokens_issued"] = after_stats["tokens_issued"]
        report["small_notice_recipients"] = int(
            after_stats["per_notice"].get(f"gk:n{nid_small}", 0)
        )
    finally:
        fake.send_signal(signal.SIGINT)
        fake.wait(timeout=30)

    exactly_once = (
        report["full"]["recipients"] == args.subscribers
        and report["crash"]["lost"] == 0
        and report["duplicates"] <= report["crash"]["in_flight_at_kill"]
    )
    report["exactly_once"] = exactly_once
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        _print(report, args.subscribers)
    return 0 if exactly_once else 1


def _print(r: dict[str, Any], n: int) -> None:
    full, crash = r["full"], r["crash"]
    print(f"push benchmark: {n:,} subscribers, one notice, one worker process ({r['database']})")
    print(f"  ceiling (raw aiohttp sends to the fake):  {r['ceiling_sends_per_s']:>8,} sends/s")
    print(
        f"  gongkai push run with faults:             {full['deliveries_per_s']:>8,} deliveries/s"
        f"  ({r['share_of_ceiling']:.0%} of the ceiling; target >= 30%), {full['seconds']} s"
    )
    print(
        f"  peak RSS of the worker:                   {full['rss_mb']:>8} MB at {n:,}; "
        f"{r['rss_mb_at_tenth']} MB at {n // 10:,}"
    )
    print(f"  faults injected:                          {r['faults']}")
    print(f"  tokens issued by the fake:                {r['tokens_issued']}")
    print(
        f"  recipients of the notice:                 {full['recipients']:,} of {n:,} "
        f"(outbox {full['outbox']})"
    )
    print(
        f"  SIGKILL at {crash['delivered_at_kill']:,} delivered, {crash['in_flight_at_kill']} in "
        f"flight; after the restart: {crash['recipients']:,} reached, lost {crash['lost']}, "
        f"resends recognised by client_msg_id {crash['resends_recognised_by_client_msg_id']}"
    )
    print(
        f"  duplicates reaching users (all runs):     {r['duplicates']} "
        f"(bound: the {crash['in_flight_at_kill']} in flight at the kill)"
    )
    print(f"  every subscriber exactly once:            {'yes' if r['exactly_once'] else 'NO'}")


async def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
