"""Latency benchmark of the WeChat callback endpoint, end to end, over loopback.

It starts the real server (``python -m bot serve``) as a subprocess in a fresh temporary
directory, configured for a real account (not local mode) whose outbound API points at a dead
local port (the welcome/help path never calls out), then plays WeChat's side: N concurrent
senders POST genuine safe-mode callbacks (fresh timestamp and nonce, ``signature``,
``encrypt_type=aes``, ``msg_signature``, an ``<Encrypt>`` body), alternating the text message
"帮助" and ``subscribe`` events. Every reply is checked the way WeChat would (HTTP 200,
``MsgSignature``, decryption, addressee, expected text). Latency is measured client-side per
request, from sending to the last byte of the reply.

    /work/venv/bin/python -m bench.callback                      # 4000 requests, 32 senders
    /work/venv/bin/python -m bench.callback --concurrency 1 --requests 500
    /work/venv/bin/python -m bench.callback --database-url postgresql+asyncpg://u:p@host/db --json

The exit code is 0 when every request succeeded, whether or not the latency target was met
(this is a measurement, not a gate), and 1 when any request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
from sqlalchemy.engine import make_url

from bot.wechat import (
    MessageCrypto,
    WeChatError,
    callback_signature,
    generate_encoding_aes_key,
    message_signature,
    parse_xml,
)

TARGET_P99_MS = 20.0
TARGET_CONCURRENCY = 32
HEALTH_TIMEOUT_S = 30.0
MIGRATE_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0
REQUEST_TIMEOUT_S = 10.0
MAX_REQUESTS = 100_000
MAX_CONCURRENCY = 512
CALLBACK_PATH = "/wechat"
ACCOUNT = "gh_bench0000000"
HELP_WORD = "帮助"
HELP_MARK = "使用说明"
WELCOME_MARK = "欢迎关注"
MAX_REASONS_SHOWN = 5
DEFAULT_LAUNCHER = (sys.executable, "-m", "bot")


# --------------------------------------------------------------------------- the account


@dataclass(frozen=True)
class Account:
    """Throw-away credentials shared by the server (via its environment) and the senders."""

    token: str
    app_id: str
    app_secret: str
    aes_key: str

    @classmethod
    def generate(cls) -> Account:
        return cls(
            token="bench" + secrets.token_hex(12),
            app_id="wxbench" + secrets.token_hex(5),
            app_secret=secrets.token_hex(16),
            aes_key=generate_encoding_aes_key(),
        )

    def crypto(self) -> MessageCrypto:
        return MessageCrypto(self.token, self.aes_key, self.app_id)


def server_env(account: Account, database_url: str) -> dict[str, str]:
    """The server's environment: a real account (not local mode) that needs no network."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GONGKAI_")}
    env.update(
        {
            "GONGKAI_WECHAT__TOKEN": account.token,
            "GONGKAI_WECHAT__APP_ID": account.app_id,
            "GONGKAI_WECHAT__APP_SECRET": account.app_secret,
            "GONGKAI_WECHAT__AES_KEY": account.aes_key,
            "GONGKAI_WECHAT__API_BASE_URL": "http://127.0.0.1:9",  # unused on this path
            "GONGKAI_DATABASE_URL": database_url,
            "GONGKAI_LOG_LEVEL": "WARNING",
        }
    )
    return env


# --------------------------------------------------------------------------- the server


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class BenchError(Exception):
    """The benchmark could not be set up (server failed to migrate or to start)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def migrate(env: dict[str, str], workdir: Path) -> None:
    """``serve`` does not migrate outside local mode, so upgrade the schema first."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=MIGRATE_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.splitlines()[-15:])
        raise BenchError(f"`bot db upgrade` failed ({result.returncode}):\n{tail}")


@contextlib.contextmanager
def running_server(
    env: dict[str, str], workdir: Path, launcher: Sequence[str] = DEFAULT_LAUNCHER
) -> Iterator[Server]:
    """Start ``<launcher> serve`` and always stop it again, whatever happens meanwhile.

    ``launcher`` defaults to ``python -m bot``; a profiling wrapper may pass its own script.
    """
    port = free_port()
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 -- our own interpreter, fixed arguments
            [*launcher, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Own session: a Ctrl-C in the terminal reaches only us; we stop the server below.
            start_new_session=True,
        )
    try:
        yield Server(process, f"http://127.0.0.1:{port}", log_path)
    finally:
        stop_server(process)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # SIGTERM: aiohttp shuts down gracefully
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


async def wait_healthy(session: aiohttp.ClientSession, server: Server) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchError(
                f"server exited with code {server.process.returncode}:\n{server.log_tail()}"
            )
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with session.get(
                server.base_url + "/healthz", timeout=aiohttp.ClientTimeout(total=2)
            ) as resp:
                if resp.status == 200:
                    return
        await asyncio.sleep(0.1)
    raise BenchError(f"/healthz not 200 within {HEALTH_TIMEOUT_S:.0f} s:\n{server.log_tail()}")


# --------------------------------------------------------------------------- callbacks


@dataclass(frozen=True, slots=True)
class Callback:
    """One prepared request and what its reply must contain."""

    params: dict[str, str]
    body: bytes
    openid: str
    expect: str


@dataclass
class CallbackFactory:
    """Builds genuine safe-mode callbacks; every one unique (nonce, openid, MsgId)."""

    account: Account
    crypto: MessageCrypto = field(init=False)
    run_tag: str = field(default_factory=lambda: secrets.token_hex(4))
    # Random bases keep nonces and MsgIds unique across runs sharing one database too.
    nonce_base: int = field(default_factory=lambda: 10**11 + secrets.randbelow(10**11))
    msg_id_base: int = field(default_factory=lambda: 10**18 + secrets.randbelow(10**18))

    def __post_init__(self) -> None:
        self.crypto = self.account.crypto()

    def build(self, index: int) -> Callback:
        # 28 characters like a real openid; one simulated user per request.
        openid = f"o{self.run_tag}bench{index:014d}"
        now = int(time.time())
        head = (
            f"<ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{now}</CreateTime>"
        )
        if index % 2 == 0:
            inner = (
                f"<xml>{head}<MsgType><![CDATA[text]]></MsgType>"
                f"<Content><![CDATA[{HELP_WORD}]]></Content>"
                f"<MsgId>{self.msg_id_base + index}</MsgId></xml>"
            )
            expect = HELP_MARK
        else:  # a follow event: WeChat sends no MsgId, it is told apart by openid and time
            inner = (
                f"<xml>{head}<MsgType><![CDATA[event]]></MsgType>"
                "<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[]]></EventKey></xml>"
            )
            expect = WELCOME_MARK
        timestamp, nonce = str(now), str(self.nonce_base + index)
        token = self.account.token
        encrypted = self.crypto.encrypt(inner.encode("utf-8"))
        params = {
            "signature": callback_signature(token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": openid,
            "encrypt_type": "aes",
            "msg_signature": message_signature(token, timestamp, nonce, encrypted),
        }
        body = (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        ).encode("ascii")
        return Callback(params=params, body=body, openid=openid, expect=expect)

    def check(self, callback: Callback, status: int, raw: bytes) -> str | None:
        """None if WeChat would accept the reply, else a short reason."""
        if status != 200:
            return f"HTTP {status}: {raw[:80].decode('utf-8', 'replace')}"
        try:
            envelope = parse_xml(raw)
            encrypted = envelope.get("Encrypt")
            if not isinstance(encrypted, str) or not encrypted:
                return "reply is not encrypted"
            signature = message_signature(
                self.account.token,
                str(envelope.get("TimeStamp", "")),
                str(envelope.get("Nonce", "")),
                encrypted,
            )
            if signature != envelope.get("MsgSignature"):
                return "reply MsgSignature mismatch"
            reply = parse_xml(self.crypto.decrypt(encrypted))
        except WeChatError as exc:
            return f"undecodable reply ({type(exc).__name__})"
        if reply.get("ToUserName") != callback.openid:
            return "reply addressed to someone else"
        if callback.expect not in str(reply.get("Content", "")):
            return f"reply lacks {callback.expect}"
        return None


# --------------------------------------------------------------------------- driving


@dataclass
class Phase:
    latencies: list[float] = field(default_factory=list)  # seconds, one per answered request
    failures: list[str] = field(default_factory=list)
    wall_s: float = 0.0


async def run_phase(
    session: aiohttp.ClientSession,
    url: str,
    factory: CallbackFactory,
    indices: range,
    concurrency: int,
    deadline: float,
) -> Phase:
    """``concurrency`` closed-loop senders share ``indices``; each has one request in flight.

    Requests are signed and encrypted before the clock starts and replies are checked after it
    stops, so the figures measure the server, not this Python client's crypto (WeChat's own
    servers do that work in production).
    """
    phase = Phase()
    prepared = [factory.build(index) for index in indices]
    todo = iter(prepared)  # shared: next() never awaits, so senders cannot take the same one
    answered: list[tuple[Callback, int, bytes]] = []
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)

    async def sender() -> None:
        for callback in todo:
            if time.monotonic() > deadline:
                phase.failures.append("not sent: time limit reached")
                continue
            started = time.perf_counter()
            try:
                async with session.post(
                    url, params=callback.params, data=callback.body, timeout=timeout
                ) as resp:
                    raw = await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                phase.failures.append(f"transport error: {type(exc).__name__}")
                continue
            phase.latencies.append(time.perf_counter() - started)
            answered.append((callback, status, raw))

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(min(concurrency, len(prepared)))))
    phase.wall_s = time.perf_counter() - started
    for callback, status, raw in answered:
        if (reason := factory.check(callback, status, raw)) is not None:
            phase.failures.append(reason)
    return phase


async def reply_seconds(session: aiohttp.ClientSession, base_url: str) -> tuple[float, float]:
    """The server's own ``gongkai_reply_seconds`` (sum, count) from /metrics."""
    async with session.get(base_url + "/metrics") as resp:
        text = await resp.text()
    values: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("gongkai_reply_seconds_sum", "gongkai_reply_seconds_count"):
            values[name] = float(value)
    return values.get("gongkai_reply_seconds_sum", 0.0), values.get(
        "gongkai_reply_seconds_count", 0.0
    )


async def drive(
    server: Server, account: Account, args: argparse.Namespace
) -> tuple[Phase, Phase, float | None]:
    """Warm up, then measure; returns (warm-up, measured, server-side mean ms or None)."""
    factory = CallbackFactory(account)
    url = server.base_url + CALLBACK_PATH
    deadline = time.monotonic() + args.max_seconds
    connector = aiohttp.TCPConnector(limit=args.concurrency + 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        await wait_healthy(session, server)
        warmup = await run_phase(
            session, url, factory, range(args.warmup), args.concurrency, deadline
        )
        before = await reply_seconds(session, server.base_url)
        measured = await run_phase(
            session,
            url,
            factory,
            range(args.warmup, args.warmup + args.requests),
            args.concurrency,
            deadline,
        )
        after = await reply_seconds(session, server.base_url)
    count = after[1] - before[1]
    server_mean_ms = (after[0] - before[0]) / count * 1000 if count else None
    return warmup, measured, server_mean_ms


# --------------------------------------------------------------------------- reporting


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def figures(
    args: argparse.Namespace, warmup: Phase, measured: Phase, server_mean_ms: float | None
) -> dict[str, Any]:
    lat = sorted(measured.latencies)
    ms = [v * 1000 for v in lat]
    p99 = percentile(ms, 99)
    failures = len(measured.failures) + len(warmup.failures)
    reasons = Counter(warmup.failures + measured.failures).most_common(MAX_REASONS_SHOWN)
    return {
        "requests": args.requests,
        "answered": len(lat),
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "database": make_url(args.database_url).get_backend_name()
        if args.database_url
        else "sqlite (temporary file)",
        "wall_s": round(measured.wall_s, 3),
        "requests_per_s": round(len(lat) / measured.wall_s, 1) if measured.wall_s else 0.0,
        "latency_ms": {
            "mean": round(sum(ms) / len(ms), 2) if ms else 0.0,
            "p50": round(percentile(ms, 50), 2),
            "p90": round(percentile(ms, 90), 2),
            "p99": round(p99, 2),
            "max": round(ms[-1], 2) if ms else 0.0,
        },
        "server_reply_mean_ms": round(server_mean_ms, 2) if server_mean_ms is not None else None,
        "failures": failures,
        "warmup_failures": len(warmup.failures),
        "failure_reasons": dict(reasons),
        "target": f"p99 < {TARGET_P99_MS:g} ms at {TARGET_CONCURRENCY} concurrent senders",
        "target_met": bool(ms) and p99 < TARGET_P99_MS and failures == 0,
        "at_target_concurrency": args.concurrency == TARGET_CONCURRENCY,
    }


def print_report(result: dict[str, Any]) -> None:
    lat = result["latency_ms"]
    print(f"requests        {result['requests']} (+{result['warmup']} warm-up, not measured)")
    print(f"concurrency     {result['concurrency']} senders")
    print(f"database        {result['database']}")
    print(f"wall time       {result['wall_s']:.2f} s")
    print(f"throughput      {result['requests_per_s']:.1f} requests/s")
    print(
        f"latency (ms)    p50 {lat['p50']:.2f}  p90 {lat['p90']:.2f}  p99 {lat['p99']:.2f}  "
        f"max {lat['max']:.2f}  (mean {lat['mean']:.2f}, client-side)"
    )
    if result["server_reply_mean_ms"] is not None:
        print(f"server mean     {result['server_reply_mean_ms']:.2f} ms (gongkai_reply_seconds)")
    print(f"failures        {result['failures']} (warm-up {result['warmup_failures']})")
    for reason, count in result["failure_reasons"].items():
        print(f"  {count:6d} x {reason}")
    verdict = "PASS" if result["target_met"] else "FAIL"
    note = ""
    if not result["at_target_concurrency"]:
        note = f" [indicative only: this run used {result['concurrency']} senders]"
    print(f"{verdict}: p99 {lat['p99']:.2f} ms, target {result['target']}{note}")


# --------------------------------------------------------------------------- command line


def bounded_int(low: int, high: int) -> Any:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.callback",
        description="Measure the WeChat callback endpoint of a real `gongkai serve` over loopback.",
    )
    parser.add_argument(
        "--concurrency",
        type=bounded_int(1, MAX_CONCURRENCY),
        default=TARGET_CONCURRENCY,
        help="concurrent senders, each with one request in flight (default %(default)s)",
    )
    parser.add_argument(
        "--requests",
        type=bounded_int(1, MAX_REQUESTS),
        default=4000,
        help="measured requests (default %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=bounded_int(0, MAX_REQUESTS),
        default=200,
        help="requests sent first and not measured (default %(default)s)",
    )
    parser.add_argument(
        "--database-url",
        help="GONGKAI_DATABASE_URL for the server, e.g. postgresql+asyncpg://... "
        "(default: a SQLite file in the temporary directory)",
    )
    parser.add_argument(
        "--max-seconds",
        type=bounded_int(1, 3600),
        default=600,
        help="stop sending after this long; unsent requests count as failures "
        "(default %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    return parser


def _terminated(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM into the same unwinding as Ctrl-C, so the server is always stopped.
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminated)
    account = Account.generate()
    try:
        with tempfile.TemporaryDirectory(prefix="gongkai-bench-") as tmp:
            workdir = Path(tmp)
            database_url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
            env = server_env(account, database_url)
            migrate(env, workdir)
            with running_server(env, workdir) as server:
                warmup, measured, server_mean_ms = asyncio.run(drive(server, account, args))
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; server stopped", file=sys.stderr)
        return 130
    result = figures(args, warmup, measured, server_mean_ms)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print_report(result)
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
