"""Latency benchmark of the WeChat callback endpoint, end to end, over loopback.

It starts the real server (``python -m bot serve``) as a subprocess in a fresh temporary
directory, configured for a real account (not local mode) whose outbound API points at a dead
local port (the welcome/help path never calls out), then plays WeChat's side: N concurrent
closed-loop senders POST genuine safe-mode callbacks (fresh timestamp and nonce, ``signature``,
``encrypt_type=aes``, ``msg_signature``, an ``<Encrypt>`` body), alternating the text message
"帮助" and ``subscribe`` events. Latency is measured client-side per request, from sending to the
last byte of the reply.

Two load generators (``--client``):

* ``python`` -- N aiohttp senders in this process; every reply is checked the way WeChat would
  (HTTP 200, ``MsgSignature``, decryption, addressee, expected text). At 32 senders this client
  saturates a core of its own, so its figures include client-side queueing.
* ``wrk`` -- the C load generator ``wrk`` (4.x, ``apt-get install wrk``) with N connections,
  each one closed-loop sender. The callbacks are built beforehand by the same factory, one per
  line in a file that a generated Lua script splits between wrk's threads; no callback is sent
  twice, and a reply counts as bad unless it is HTTP 200 with an ``<Encrypt>`` body. The run
  lasts ``--seconds`` (or until the prepared callbacks are used up). wrk 4 "corrects" its
  latency histogram for coordinated omission by adding synthetic samples; the figures reported
  (and judged) are the raw closed-loop latencies recovered from that histogram, and wrk's
  corrected percentiles are shown beside them.

``auto`` (the default) uses wrk when it is on PATH. Either way the Python senders run the
warm-up first, and that phase fully verifies every reply (the correctness check). The server's
CPU use during the measured phase is sampled from ``/proc`` to tell a saturated server from a
saturated client.

    /work/venv/bin/python -m bench.callback                      # 32 senders, wrk if present
    /work/venv/bin/python -m bench.callback --client python      # 4000 requests, 32 senders
    /work/venv/bin/python -m bench.callback --concurrency 1 --seconds 10
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
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlencode

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
CLIENTS = ("auto", "wrk", "python")
WRK_THREADS = 2
WRK_DEFAULT_SECONDS = 5
WRK_MAX_SECONDS = 120  # callbacks are signed before the run; the server accepts +-300 s of skew
WRK_GRACE_S = 60.0  # beyond --seconds: wrk's start-up (loading the callbacks) and its report
WRK_FLOOR_RATE = 2000.0  # requests/s assumed at least when sizing the prepared callbacks
WRK_HEADROOM = 3.0  # prepare this many times the expected number of requests
WRK_MAX_PREPARED = 300_000
WRK_HIST_BUDGET = 2e9  # bucket scans allowed for dumping wrk's latency histogram (~1 s of C)
CPU_SAMPLE_INTERVAL_S = 0.1


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


def server_env(account: Account, database_url: str, log_level: str = "WARNING") -> dict[str, str]:
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
            "GONGKAI_LOG_LEVEL": log_level,
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
    env: dict[str, str],
    workdir: Path,
    launcher: Sequence[str] = DEFAULT_LAUNCHER,
    workers: int = 1,
) -> Iterator[Server]:
    """Start ``<launcher> serve`` and always stop it again, whatever happens meanwhile.

    ``launcher`` defaults to ``python -m bot``; a profiling wrapper may pass its own script.
    """
    port = free_port()
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 -- our own interpreter, fixed arguments
            [*launcher, "serve", "--host", "127.0.0.1", "--port", str(port)]
            + (["--workers", str(workers)] if workers > 1 else []),
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


def listening_sockets(port: int) -> int | None:
    """Sockets listening on ``port`` on this machine (one per `serve --workers` process, as each
    binds its own with SO_REUSEPORT), from /proc/net/tcp; None where that cannot be read."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            return None
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and int(local.rpartition(":")[2], 16) == port:  # 0A: LISTEN
                count += 1
    return count


async def wait_listening(server: Server, workers: int) -> None:
    """Wait until every worker listens: connections made before then all go to the first, and
    wrk keeps its connections for the whole run."""
    port = int(server.base_url.rpartition(":")[2])
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while (count := listening_sockets(port)) is not None and count < workers:
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise BenchError(f"{count} of {workers} workers listening:\n{server.log_tail()}")
        await asyncio.sleep(0.1)


# --------------------------------------------------------------------------- callbacks


@dataclass(frozen=True, slots=True)
class Callback:
    """One prepared request and what its reply must contain."""

    params: dict[str, str]
    body: bytes
    openid: str
    expect: str


def seal(
    token: str, crypto: MessageCrypto, inner: str, timestamp: str, nonce: str, openid: str
) -> tuple[dict[str, str], bytes]:
    """Query parameters and body of a safe-mode callback, signed and encrypted as WeChat does."""
    encrypted = crypto.encrypt(inner.encode("utf-8"))
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
    return params, body


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
        nonce = str(self.nonce_base + index)
        params, body = seal(self.account.token, self.crypto, inner, str(now), nonce, openid)
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
    window: tuple[float, float] = (0.0, 0.0)  # time.monotonic() when sending began and ended


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

    started, began = time.perf_counter(), time.monotonic()
    await asyncio.gather(*(sender() for _ in range(min(concurrency, len(prepared)))))
    phase.wall_s = time.perf_counter() - started
    phase.window = (began, time.monotonic())
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


# --------------------------------------------------------------------------- latency figures


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize_ms(sorted_ms: Sequence[float]) -> dict[str, float]:
    """mean, p50, p90, p99 and max (ms, rounded) of already sorted latencies in ms."""
    return {
        "mean": round(sum(sorted_ms) / len(sorted_ms), 2) if sorted_ms else 0.0,
        "p50": round(percentile(sorted_ms, 50), 2),
        "p90": round(percentile(sorted_ms, 90), 2),
        "p99": round(percentile(sorted_ms, 99), 2),
        "max": round(sorted_ms[-1], 2) if sorted_ms else 0.0,
    }


def summarize_histogram_us(histogram: dict[int, int]) -> dict[str, float]:
    """Like summarize_ms, from a {microseconds: count} histogram (same nearest-rank rule)."""
    items = sorted((value, count) for value, count in histogram.items() if count > 0)
    total = sum(count for _, count in items)
    if not total:
        return summarize_ms([])

    def rank_value(pct: float) -> float:
        rank, seen = max(1, math.ceil(pct / 100 * total)), 0
        for value, count in items:
            seen += count
            if seen >= rank:
                return value / 1000
        return items[-1][0] / 1000

    return {
        "mean": round(sum(value * count for value, count in items) / total / 1000, 2),
        "p50": round(rank_value(50), 2),
        "p90": round(rank_value(90), 2),
        "p99": round(rank_value(99), 2),
        "max": round(items[-1][0] / 1000, 2),
    }


def correct_like_wrk(raw: dict[int, int], expected: int) -> dict[int, int]:
    """wrk 4's ``stats_correct``: a sample n >= 2e adds one at n-e, n-2e, ... while above e.

    ``e`` is wrk's mean interval per connection, runtime / (requests / connections).
    """
    corrected = dict(raw)
    if expected <= 0:
        return corrected
    for value, count in raw.items():
        if value < 2 * expected:
            continue
        synthetic = value - expected
        while synthetic > expected:
            corrected[synthetic] = corrected.get(synthetic, 0) + count
            synthetic -= expected
    return corrected


def uncorrect_like_wrk(corrected: dict[int, int], expected: int) -> dict[int, int] | None:
    """The raw histogram that ``correct_like_wrk`` turned into ``corrected``; None if none did.

    Synthetic samples only ever land below the sample that made them, so walking down from
    the largest value, each bucket's count minus what larger buckets added is its raw count.
    The result is checked by correcting it again.
    """
    if expected <= 0:
        return dict(corrected)
    added: defaultdict[int, int] = defaultdict(int)
    raw: dict[int, int] = {}
    for value in sorted(corrected, reverse=True):
        count = corrected[value] - added.pop(value, 0)
        if count < 0:
            return None
        if count == 0:
            continue
        raw[value] = count
        if value >= 2 * expected:
            synthetic = value - expected
            while synthetic > expected:
                added[synthetic] += count
                synthetic -= expected
    if any(added.values()) or correct_like_wrk(raw, expected) != corrected:
        return None
    return raw


# --------------------------------------------------------------------------- CPU use


def _process_ticks(pid: int) -> int | None:
    """utime + stime of a process in clock ticks, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()  # what follows "(comm)", which may hold spaces
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 in proc(5)


def _group_ticks(pids: Sequence[int]) -> int | None:
    """utime + stime of several processes together, or None once the first is gone."""
    total = 0
    for n, pid in enumerate(pids):
        ticks = _process_ticks(pid)
        if ticks is None:
            if n == 0:
                return None
            continue  # a worker that ended: the group's figure falls, and the report says so
        total += ticks
    return total


def process_group(pid: int) -> list[int]:
    """``pid`` and its child processes (``serve --workers N`` starts N - 1 of them)."""
    children: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        if int(text.rpartition(")")[2].split()[1]) == pid:  # field 4, the parent's pid
            children.append(int(stat.parent.name))
    return [pid, *sorted(children)]


def _machine_jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs together, from the first line of /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            user, nice, system, idle, iowait, irq, softirq, steal = (
                int(v) for v in stat.readline().split()[1:9]
            )
    except (OSError, ValueError):
        return None
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


@dataclass(frozen=True, slots=True)
class CpuSample:
    at: float  # time.monotonic()
    ticks: dict[str, int | None]
    machine: tuple[int, int] | None


class CpuSampler:
    """Samples the CPU time of named groups of processes, and of the machine, from a thread."""

    def __init__(
        self, pids: Mapping[str, Sequence[int]], interval: float = CPU_SAMPLE_INTERVAL_S
    ) -> None:
        self.pids = pids
        self.interval = interval
        self.samples: list[CpuSample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def _run(self) -> None:
        while True:
            ticks = {name: _group_ticks(pids) for name, pids in self.pids.items()}
            self.samples.append(CpuSample(time.monotonic(), ticks, _machine_jiffies()))
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def usage(self, start: float, end: float) -> dict[str, Any] | None:
        """CPU use between the first and the last sample taken within [start, end] (monotonic).

        Per group in % of one core (100 = one core busy); the machine in % of all its CPUs.
        """
        inside = [s for s in self.samples if start <= s.at <= end]
        if len(inside) < 2 or inside[-1].at - inside[0].at < 5 * self.interval:
            return None
        first, last = inside[0], inside[-1]
        span = last.at - first.at
        ticks_per_s = os.sysconf("SC_CLK_TCK")
        result: dict[str, Any] = {"window_s": round(span, 2), "cpus": os.cpu_count()}
        for name, pids in self.pids.items():
            result[f"{name}_processes"] = len(pids)
        for name in self.pids:
            before, after = first.ticks.get(name), last.ticks.get(name)
            result[f"{name}_percent_of_one_core"] = (
                round((after - before) / ticks_per_s / span * 100, 1)
                if before is not None and after is not None
                else None
            )
        if first.machine is not None and last.machine is not None:
            busy = last.machine[0] - first.machine[0]
            total = last.machine[1] - first.machine[1]
            result["machine_percent"] = round(busy / total * 100, 1) if total > 0 else None
            ours = [result[f"{name}_percent_of_one_core"] for name in self.pids]
            if total > 0 and None not in ours and result["cpus"]:
                # Whatever else kept the machine busy (other processes, the kernel's softirqs):
                # a large figure means the run competed for the CPUs and is not representative.
                others = busy / total * 100 * result["cpus"] - sum(ours)
                result["others_percent_of_one_core"] = round(max(others, 0.0), 1)
        return result


# --------------------------------------------------------------------------- clients


@dataclass(frozen=True)
class ClientChoice:
    name: str  # "wrk" or "python"
    note: str  # for the report: which one and why
    wrk_path: str | None = None


def wrk_version(path: str) -> str:
    """The first words of ``wrk -v`` (wrk prints them, then its usage, and exits 1)."""
    try:
        result = subprocess.run(  # noqa: S603 -- the wrk found on PATH, fixed arguments
            [path, "-v"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "wrk"
    lines = result.stdout.strip().splitlines()
    return (lines[0].partition(" Copyright")[0].strip() if lines else "") or "wrk"


def choose_client(requested: str) -> ClientChoice:
    if requested == "python":
        return ClientChoice("python", "python aiohttp senders (asked for)")
    found = shutil.which("wrk")
    if found is None:
        if requested == "wrk":
            raise BenchError("--client wrk: wrk is not on PATH (Debian: apt-get install wrk)")
        return ClientChoice("python", "python aiohttp senders (auto: wrk not found on PATH)")
    how = "asked for" if requested == "wrk" else "auto: found on PATH"
    return ClientChoice("wrk", f"{wrk_version(found)} at {found} ({how})", found)


@dataclass
class Measurement:
    """The measured phase, whichever client drove it."""

    client: str
    client_note: str
    sent: int
    answered: int
    wall_s: float  # first request sent to last reply received
    latency_ms: dict[str, float]  # mean, p50, p90, p99, max
    failures: Counter[str]
    cpu: dict[str, Any] | None = None
    wrk: dict[str, Any] | None = None  # wrk-only details


async def run_python(
    session: aiohttp.ClientSession,
    server: Server,
    factory: CallbackFactory,
    args: argparse.Namespace,
    choice: ClientChoice,
    deadline: float,
) -> Measurement:
    pids = {"server": process_group(server.process.pid), "client": [os.getpid()]}
    with CpuSampler(pids) as sampler:
        phase = await run_phase(
            session,
            server.base_url + CALLBACK_PATH,
            factory,
            range(args.warmup, args.warmup + args.requests),
            args.concurrency,
            deadline,
        )
    unsent = phase.failures.count("not sent: time limit reached")
    return Measurement(
        client="python",
        client_note=choice.note,
        sent=args.requests - unsent,
        answered=len(phase.latencies),
        wall_s=phase.wall_s,
        latency_ms=summarize_ms(sorted(v * 1000 for v in phase.latencies)),
        failures=Counter(phase.failures),
        cpu=sampler.usage(*phase.window),
    )


# --------------------------------------------------------------------------- wrk

# The Lua side of the wrk client. bench/callback.py prepends REQUESTS_FILE, TOTAL, THREADS and
# HIST_BUDGET. It needs LuaJIT's FFI (wrk is always built with LuaJIT) for a monotonic clock,
# the same one as Python's time.monotonic(), and for pthread_self().
WRK_LUA = r"""
local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } gongkai_timespec;
int clock_gettime(int clock_id, gongkai_timespec *tp);
unsigned long pthread_self(void);
]])
local CLOCK_MONOTONIC = 1
local clock = ffi.new("gongkai_timespec")

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1000000 + math.floor(tonumber(clock.tv_nsec) / 1000)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "text/xml"

-- setup() and done() run in their own Lua state, in wrk's main thread.
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("slot", #threads)
end

-- Everything below runs in one thread's own Lua state. Globals are read back by done().
local queue = {}
local next_index = 1
local init_thread = nil
local started = false

function init(args)
  -- This thread's slice of the prepared callbacks: lines first..last of REQUESTS_FILE.
  local first = math.floor(TOTAL * (slot - 1) / THREADS) + 1
  local last = math.floor(TOTAL * slot / THREADS)
  local index = 0
  for line in io.lines(REQUESTS_FILE) do
    index = index + 1
    if index > last then
      break
    end
    if index >= first then
      local tab = string.find(line, "\t", 1, true)
      local path, body = string.sub(line, 1, tab - 1), string.sub(line, tab + 1)
      queue[#queue + 1] = wrk.format(nil, path, nil, body)
    end
  end
  prepared, sent, answered, bad = #queue, 0, 0, 0
  first_us, last_us, exhausted_us = 0, 0, 0
  init_thread = tonumber(ffi.C.pthread_self())
end

function request()
  if not started then
    if tonumber(ffi.C.pthread_self()) == init_thread then
      -- wrk builds one request on the thread that ran init() to validate it, and never sends
      -- it: lend it the next callback without using that up.
      return queue[next_index]
    end
    started = true
    first_us = now_us()
  end
  local callback = queue[next_index]
  if callback == nil then
    -- Slice used up: this connection stays idle; the thread stops once all are answered.
    if answered >= sent then
      wrk.thread:stop()
    end
    return ""
  end
  queue[next_index] = nil
  next_index = next_index + 1
  sent = sent + 1
  if sent == prepared then
    exhausted_us = now_us()
  end
  return callback
end

function response(status, headers, body)
  answered = answered + 1
  last_us = now_us()
  if status ~= 200 or not string.find(body, "<Encrypt>", 1, true) then
    bad = bad + 1
  end
  if queue[next_index] == nil and answered >= sent then
    wrk.thread:stop()
  end
end

local function emit(lines, key, value)
  lines[#lines + 1] = string.format("gongkai-wrk %s %.0f", key, value)
end

function done(summary, latency, requests)
  local lines = {}
  emit(lines, "requests", summary.requests)
  emit(lines, "duration_us", summary.duration)
  emit(lines, "bytes", summary.bytes)
  for _, kind in ipairs({ "connect", "read", "write", "status", "timeout" }) do
    emit(lines, "errors_" .. kind, summary.errors[kind])
  end
  emit(lines, "latency_min_us", latency.min)
  emit(lines, "latency_max_us", latency.max)
  emit(lines, "latency_mean_us", latency.mean)
  for _, p in ipairs({ 50, 90, 99 }) do
    emit(lines, "latency_p" .. p .. "_us", latency:percentile(p))
  end
  local total = { prepared = 0, sent = 0, answered = 0, bad = 0 }
  local first, last, exhausted, exhausted_threads = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    for key, value in pairs(total) do
      total[key] = value + thread:get(key)
    end
    local f, l, e = thread:get("first_us"), thread:get("last_us"), thread:get("exhausted_us")
    if f > 0 and (first == 0 or f < first) then
      first = f
    end
    if l > last then
      last = l
    end
    if e > 0 then
      exhausted_threads = exhausted_threads + 1
      if exhausted == 0 or e < exhausted then
        exhausted = e
      end
    end
  end
  for key, value in pairs(total) do
    emit(lines, key, value)
  end
  emit(lines, "threads", #threads)
  emit(lines, "first_us", first)
  emit(lines, "last_us", last)
  emit(lines, "exhausted_threads", exhausted_threads)
  emit(lines, "exhausted_us", exhausted)
  -- The whole latency histogram, so that the raw figures can be recovered from wrk's
  -- corrected ones. latency(i) scans from the smallest bucket each time: keep it bounded.
  local distinct = #latency
  if distinct > 0 and distinct * (latency.max - latency.min + 1) <= HIST_BUDGET then
    for i = 1, distinct do
      local value, count = latency(i)
      lines[#lines + 1] = string.format("gongkai-wrk-hist %.0f %.0f", value, count)
    end
  else
    emit(lines, "hist_skipped", distinct)
  end
  io.write(table.concat(lines, "\n"), "\n")
end
"""


def wrk_script(requests_file: Path, total: int, threads: int) -> str:
    name = str(requests_file)
    if "]==]" in name or "\n" in name:
        raise BenchError(f"unusable path for the Lua script: {name!r}")
    return (
        f"local REQUESTS_FILE = [==[{name}]==]\n"
        f"local TOTAL = {total}\n"
        f"local THREADS = {threads}\n"
        f"local HIST_BUDGET = {WRK_HIST_BUDGET:.0f}\n" + WRK_LUA
    )


def write_callbacks(path: Path, factory: CallbackFactory, indices: range) -> None:
    """One prepared callback a line: path and query, a TAB, the body (neither holds either)."""
    with path.open("w", encoding="ascii", newline="\n") as out:
        for index in indices:
            callback = factory.build(index)
            query = urlencode(callback.params)
            out.write(f"{CALLBACK_PATH}?{query}\t{callback.body.decode('ascii')}\n")


def wrk_prepared(requests: int, seconds: int, warm_rate: float | None) -> int:
    """How many callbacks to prepare so that wrk does not run out before ``seconds``."""
    rate = max(warm_rate or 0.0, WRK_FLOOR_RATE)
    return min(WRK_MAX_PREPARED, max(requests, math.ceil(rate * seconds * WRK_HEADROOM)))


def parse_wrk_output(stdout: str) -> tuple[dict[str, int], dict[int, int]]:
    values: dict[str, int] = {}
    histogram: dict[int, int] = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "gongkai-wrk":
            values[parts[1]] = int(float(parts[2]))
        elif len(parts) == 3 and parts[0] == "gongkai-wrk-hist":
            histogram[int(parts[1])] = int(parts[2])
    return values, histogram


async def run_wrk(
    server: Server,
    factory: CallbackFactory,
    args: argparse.Namespace,
    choice: ClientChoice,
    warm_rate: float | None,
    deadline: float,
) -> Measurement:
    """``args.concurrency`` wrk connections (closed-loop senders) for ``args.seconds``."""
    assert choice.wrk_path is not None  # noqa: S101 -- set whenever name == "wrk"
    seconds = min(args.seconds, math.floor(deadline - time.monotonic() - 1))
    if seconds < 1:
        raise BenchError("--max-seconds reached before the measured phase")
    threads = WRK_THREADS if args.concurrency % WRK_THREADS == 0 else 1  # exact connections
    prepared = wrk_prepared(args.requests, seconds, warm_rate)
    workdir = server.log_path.parent
    requests_file, script_file = workdir / "wrk-callbacks.txt", workdir / "wrk-callbacks.lua"
    script_file.write_text(wrk_script(requests_file, prepared, threads), encoding="ascii")
    # Built right before the launch: their timestamps are checked against the server's clock.
    write_callbacks(requests_file, factory, range(args.warmup, args.warmup + prepared))
    command = [
        choice.wrk_path,
        *("-t", str(threads), "-c", str(args.concurrency), "-d", f"{seconds}s"),
        *("--timeout", f"{REQUEST_TIMEOUT_S:.0f}s", "-s", str(script_file)),
        server.base_url + CALLBACK_PATH,
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a Ctrl-C reaches only us; wrk is killed below
    )
    try:
        pids = {"server": process_group(server.process.pid), "client": [process.pid]}
        with CpuSampler(pids) as sampler:
            out, err = await asyncio.wait_for(process.communicate(), seconds + WRK_GRACE_S)
    except TimeoutError:
        raise BenchError(f"wrk did not finish within {seconds + WRK_GRACE_S:.0f} s") from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stdout = out.decode("utf-8", "replace")
    values, histogram = parse_wrk_output(stdout)
    if process.returncode != 0 or "last_us" not in values:
        tail = "\n".join((stdout + err.decode("utf-8", "replace")).splitlines()[-15:])
        raise BenchError(f"wrk failed (exit {process.returncode}):\n{tail}")
    return wrk_measurement(values, histogram, choice, args, sampler, threads=threads)


def wrk_measurement(
    values: dict[str, int],
    histogram: dict[int, int],
    choice: ClientChoice,
    args: argparse.Namespace,
    sampler: CpuSampler,
    *,
    threads: int,
) -> Measurement:
    answered, connections = values["requests"], args.concurrency
    per_connection = answered // connections
    expected = values["duration_us"] // per_connection if per_connection else 0
    raw = uncorrect_like_wrk(histogram, expected) if histogram else None
    corrected_ms = {
        "mean": round(values["latency_mean_us"] / 1000, 2),
        **{p: round(values[f"latency_{p}_us"] / 1000, 2) for p in ("p50", "p90", "p99")},
        "max": round(values["latency_max_us"] / 1000, 2),
    }
    first, last = values["first_us"] / 1e6, values["last_us"] / 1e6
    wall_s = last - first if values["first_us"] and last > first else values["duration_us"] / 1e6
    errors = {kind: values[f"errors_{kind}"] for kind in ("connect", "read", "write", "timeout")}
    failures: Counter[str] = Counter()
    for kind, count in errors.items():
        if count:
            failures[f"wrk {kind} error" if kind != "timeout" else "reply after the timeout"] = (
                count
            )
    if values["bad"]:
        failures["reply not HTTP 200 with an <Encrypt> body"] = values["bad"]
    # One request per connection may be in flight when the time is up; more were lost.
    unanswered = values["sent"] - answered
    if unanswered > connections:
        failures["sent but never answered"] = unanswered - connections
    exhausted_after = (
        round(values["exhausted_us"] / 1e6 - first, 2) if values["exhausted_threads"] else None
    )
    details = {
        "threads": threads,
        "connections": connections,
        "seconds": args.seconds,
        "prepared": values["prepared"],
        "unanswered_at_stop": unanswered,
        "exhausted_threads": values["exhausted_threads"],
        "exhausted_after_s": exhausted_after,
        "errors": {**errors, "status": values["errors_status"]},
        "bad_replies": values["bad"],
        "duration_s": round(values["duration_us"] / 1e6, 3),
        "corrected_latency_ms": corrected_ms,
        "correction_interval_us": expected,
        "latency_source": "raw (recovered from wrk's histogram, checked)"
        if raw is not None
        else "wrk-corrected (raw histogram unavailable)",
    }
    return Measurement(
        client="wrk",
        client_note=choice.note,
        sent=values["sent"],
        answered=answered,
        wall_s=wall_s,
        latency_ms=summarize_histogram_us(raw) if raw is not None else corrected_ms,
        failures=failures,
        cpu=sampler.usage(first, last),
        wrk=details,
    )


# --------------------------------------------------------------------------- driving both


async def drive(
    server: Server, account: Account, args: argparse.Namespace, choice: ClientChoice
) -> tuple[Phase, Measurement, float | None]:
    """Warm up, then measure; returns (warm-up, measured, server-side mean ms or None)."""
    factory = CallbackFactory(account)
    url = server.base_url + CALLBACK_PATH
    deadline = time.monotonic() + args.max_seconds
    connector = aiohttp.TCPConnector(limit=args.concurrency + 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        await wait_healthy(session, server)
        await wait_listening(server, args.server_workers)
        # The warm-up always uses the Python senders: they decrypt and check every reply.
        warmup = await run_phase(
            session, url, factory, range(args.warmup), args.concurrency, deadline
        )
        before = await reply_seconds(session, server.base_url)
        if choice.name == "wrk":
            warm_rate = len(warmup.latencies) / warmup.wall_s if warmup.wall_s > 0 else None
            measured = await run_wrk(server, factory, args, choice, warm_rate, deadline)
        else:
            measured = await run_python(session, server, factory, args, choice, deadline)
        after = await reply_seconds(session, server.base_url)
    count = after[1] - before[1]
    server_mean_ms = (after[0] - before[0]) / count * 1000 if count else None
    return warmup, measured, server_mean_ms


# --------------------------------------------------------------------------- reporting


def figures(
    args: argparse.Namespace, warmup: Phase, measured: Measurement, server_mean_ms: float | None
) -> dict[str, Any]:
    lat = measured.latency_ms
    failures = sum(measured.failures.values()) + len(warmup.failures)
    reasons = (Counter(warmup.failures) + measured.failures).most_common(MAX_REASONS_SHOWN)
    result: dict[str, Any] = {
        "client": measured.client,
        "client_note": measured.client_note,
        "requests": measured.sent,
        "answered": measured.answered,
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "database": make_url(args.database_url).get_backend_name()
        if args.database_url
        else "sqlite (temporary file)",
        "wall_s": round(measured.wall_s, 3),
        "requests_per_s": round(measured.answered / measured.wall_s, 1) if measured.wall_s else 0.0,
        "latency_ms": lat,
        "server_reply_mean_ms": round(server_mean_ms, 2) if server_mean_ms is not None else None,
        "cpu": measured.cpu,
        "failures": failures,
        "warmup_failures": len(warmup.failures),
        "failure_reasons": dict(reasons),
        "target": f"p99 < {TARGET_P99_MS:g} ms at {TARGET_CONCURRENCY} concurrent senders",
        "target_met": measured.answered > 0 and lat["p99"] < TARGET_P99_MS and failures == 0,
        "at_target_concurrency": args.concurrency == TARGET_CONCURRENCY,
    }
    result["server_workers"] = args.server_workers
    result["log_level"] = args.log_level
    result["cpu_ms_per_request"] = cpu_per_request(measured.cpu, result["requests_per_s"])
    if measured.wrk is not None:
        result["wrk"] = measured.wrk
    return result


def cpu_per_request(cpu: dict[str, Any] | None, rate: float) -> dict[str, float] | None:
    """CPU milliseconds per answered request, of the server (all its processes) and the client."""
    if cpu is None or rate <= 0:
        return None
    result = {}
    for name in ("server", "client"):
        percent = cpu.get(f"{name}_percent_of_one_core")
        if percent is not None:
            result[name] = round(percent / 100 / rate * 1000, 3)
    return result


def _cpu_line(cpu: dict[str, Any] | None, client: str) -> str:
    if cpu is None:
        return "not sampled (measured phase too short)"

    def pct(key: str) -> str:
        value = cpu.get(key)
        return f"{value:.0f} %" if value is not None else "?"

    processes = cpu.get("server_processes", 1)
    server = "server" if processes == 1 else f"server ({processes} processes)"
    return (
        f"{server} {pct('server_percent_of_one_core')} of one core, "
        f"{client} client {pct('client_percent_of_one_core')} of one core, "
        f"everything else {pct('others_percent_of_one_core')} of one core; "
        f"machine {pct('machine_percent')} of {cpu['cpus']} CPUs (over {cpu['window_s']:.1f} s)"
    )


def print_report(result: dict[str, Any]) -> None:
    lat = result["latency_ms"]
    wrk = result.get("wrk")
    print(f"client          {result['client_note']}")
    if wrk is None:
        print(f"requests        {result['requests']} (+{result['warmup']} warm-up, not measured)")
    else:
        print(
            f"requests        {result['requests']} sent, {result['answered']} answered "
            f"({wrk['prepared']} prepared; {wrk['threads']} wrk threads, {wrk['seconds']} s)"
        )
        print(
            f"warm-up         {result['warmup']} by the Python senders, every reply decrypted "
            "and checked"
        )
        if wrk["exhausted_threads"] == wrk["threads"]:
            print(
                f"  note: every prepared callback was sent after {wrk['exhausted_after_s']} s; "
                "the measured phase ended there"
            )
        elif wrk["exhausted_threads"]:
            print(
                f"  note: the prepared callbacks ran out after {wrk['exhausted_after_s']} s in "
                f"{wrk['exhausted_threads']} of {wrk['threads']} threads: fewer senders since"
            )
    print(f"concurrency     {result['concurrency']} senders")
    print(
        f"server          {result['server_workers']} process(es), log level {result['log_level']}"
    )
    print(f"database        {result['database']}")
    print(f"wall time       {result['wall_s']:.2f} s")
    print(f"throughput      {result['requests_per_s']:.1f} requests/s")
    print(
        f"latency (ms)    p50 {lat['p50']:.2f}  p90 {lat['p90']:.2f}  p99 {lat['p99']:.2f}  "
        f"max {lat['max']:.2f}  (mean {lat['mean']:.2f}, client-side)"
    )
    if wrk is not None:
        cor = wrk["corrected_latency_ms"]
        print(
            f"wrk corrected   p50 {cor['p50']:.2f}  p90 {cor['p90']:.2f}  p99 {cor['p99']:.2f}  "
            f"(wrk's coordinated-omission estimate; the line above is {wrk['latency_source']})"
        )
    if result["server_reply_mean_ms"] is not None:
        print(f"server mean     {result['server_reply_mean_ms']:.2f} ms (gongkai_reply_seconds)")
    print(f"CPU             {_cpu_line(result['cpu'], result['client'])}")
    if (per := result["cpu_ms_per_request"]) is not None:
        print(
            f"CPU / request   server {per.get('server', 0):.3f} ms, "
            f"{result['client']} client {per.get('client', 0):.3f} ms"
        )
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
        "--client",
        choices=CLIENTS,
        default="auto",
        help="load generator for the measured phase: wrk (C), python (aiohttp), or auto = wrk "
        "when it is on PATH (default %(default)s)",
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
        help="measured requests with the python client; with wrk, the least number of "
        "callbacks prepared (default %(default)s)",
    )
    parser.add_argument(
        "--seconds",
        type=bounded_int(1, WRK_MAX_SECONDS),
        default=WRK_DEFAULT_SECONDS,
        help="wrk only: length of the measured phase (default %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=bounded_int(0, MAX_REQUESTS),
        default=200,
        help="requests sent first by the python senders, checked, not measured "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--server-workers",
        type=bounded_int(1, 16),
        default=1,
        help="`gongkai serve --workers N`: server processes sharing the port (default 1; "
        "CPU figures then cover the first process only)",
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
    parser.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING"),
        default="WARNING",
        help="the server's GONGKAI_LOG_LEVEL; INFO adds the line per callback that production "
        "writes, into the server log (default %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    return parser


def terminated(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM into the same unwinding as Ctrl-C, so the server is always stopped.
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, terminated)
    account = Account.generate()
    try:
        choice = choose_client(args.client)
        with tempfile.TemporaryDirectory(prefix="gongkai-bench-") as tmp:
            workdir = Path(tmp)
            database_url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
            env = server_env(account, database_url, args.log_level)
            migrate(env, workdir)
            with running_server(env, workdir, workers=args.server_workers) as server:
                warmup, measured, server_mean_ms = asyncio.run(drive(server, account, args, choice))
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
