"""Reply latency of whole conversations, matching included, over loopback.

For each question set it starts the real server (``python -m bot serve``, a configured account,
not local mode — as ``bench.callback`` does, whose server helpers it uses) with a policy library
imported through ``gongkai import``, and replays the set's questions as genuine safe-mode
callbacks (signed, AES-encrypted, one fresh openid per question so flood control never trips)
from ``--concurrency`` senders (32), in two modes, each on a freshly started server:

* residents — each sender reads its reply before asking again (a random pause, exponential with
  a mean of ``--think`` seconds, 3 by default: far more impatient than people, see THINK_S).
  This is the latency 32 people chatting at once see; the target applies to it;
* saturated — closed loops without a pause: the server's capacity (replies/s) and the latency
  when more questions arrive than it can match (then ``GONGKAI_MATCHER__SHED_AT`` sheds the
  sentence vectors).

Every question goes through the real path:
signature, decryption, de-duplication, the router, the matcher, the answer card, the question
log and the conversation row, the encrypted reply.

Data (``../shared/data``, read only, never copied into the repository or used by the tests):

* faq-smoke — the 40 standard questions as a Q&A library with the set's aliases, and its 85
  user-style queries (15 out of scope). The set has no answer texts, so the stored answers are
  a short placeholder: its reply sizes say nothing about long answers;
* ncpqa — 599 policy documents as a library, built exactly as ``bench.matching`` builds it
  (title = the text's first segment, body = the whole text), and its questions whose document
  is in the library (1,262).

Printed per set: p50/p90/p99/max reply latency (client-side, from sending the request to the
last byte of the reply), throughput, the share of replies over WeChat's limits (a text reply
over 2,048 bytes, or more than one article in a news reply to a user's message; target 0), the
decision mix from the server's question log, and replies that fell back to ``success`` (late).
Target: p99 < 100 ms at 32 concurrent senders.

By default the server matches as in production, with sentence vectors (``--no-embeddings``:
lexical only); the benchmark waits until the server says its index uses them. Computed vectors
are kept in ``.gongkai/bench-conversation/`` (seeded from ``bench.matching``'s cache), so only
the first run embeds the libraries.

    /work/venv/bin/python -m bench.conversation [--set faq-smoke|ncpqa|both] [--concurrency 32]
        [--mode both|residents|saturated] [--think 3] [--no-embeddings] [--server-workers N]
        [--data ../shared/data] [--json]

Exit code: 0 when every request got a valid reply (a measurement, not a gate on the target), 1
when any failed, 2 when the data or the server is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import create_engine as sync_engine
from sqlalchemy import text as sql

from bench.callback import (
    Account,
    BenchError,
    migrate,
    running_server,
    seal,
    server_env,
    summarize_ms,
    terminated,
    wait_healthy,
)
from bench.matching import first_segment, read_jsonl, write_jsonl
from bot.wechat import WeChatError, message_signature, parse_xml
from bot.wechat.replies import TEXT_LIMIT_BYTES

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"
STATE_DIR = ROOT / ".gongkai" / "bench-conversation"
MATCHING_CACHE = ROOT / ".gongkai" / "bench-embeddings.npz"
SETS = ("faq-smoke", "ncpqa")
NEEDED = {
    "faq-smoke": ("qa.jsonl", "aliases.jsonl", "queries.jsonl"),
    "ncpqa": ("policies.jsonl", "queries.jsonl"),
}
ACCOUNT = "gh_bench0000000"
TARGET_P99_MS = 100.0
TARGET_CONCURRENCY = 32
# A resident reads a reply card (a few hundred characters) and types the next question: 10–30 s
# in life. 3 s is a deliberately impatient mean: 32 such senders ask ~10 questions a second,
# 36,000 an hour, far beyond a county account's busiest hour.
THINK_S = 3.0
SEED = 7
REQUEST_TIMEOUT_S = 10.0
IMPORT_TIMEOUT_S = 300.0
VECTORS_TIMEOUT_S = 1800.0
VECTORS_READY = "policy index now uses sentence vectors"
VECTORS_UNAVAILABLE = "matching lexically"
WARMUP = (
    "帮助", "社保怎么交", "低保怎么申请", "创业贷款", "公积金提取", "失业保险金怎么领",
    "企业有什么补贴", "医保报销", "高校毕业生就业补贴", "养老保险缴费",
)  # fmt: skip
NOT_FOUND = "抱歉，政策库里没有找到"


class DataMissingError(BenchError):
    """The question sets are not where they should be."""


# --------------------------------------------------------------------------- the sets


@dataclass(frozen=True)
class QuestionSet:
    name: str
    library: list[Path]  # files for `gongkai import`
    questions: list[str]


def check_data(data: Path, names: Sequence[str]) -> None:
    missing = [
        str(data / name / file)
        for name in names
        for file in NEEDED[name]
        if not (data / name / file).is_file()
    ]
    if missing:
        raise DataMissingError(
            "the benchmark data is missing: " + ", ".join(missing) + f"\n  expected the shared "
            f"question sets under {data} (--data to point elsewhere); nothing was measured."
        )


def load_set(name: str, data: Path, workdir: Path) -> QuestionSet:
    """The library files and the questions of one set (the libraries as bench.matching builds
    them, so that its cache of sentence vectors applies)."""
    folder = data / name
    if name == "faq-smoke":
        qa = [
            {
                "kind": "qa",
                "id": q["id"],
                "question": q["question"],
                "answer": "(smoke set: no answer text)",
            }
            for q in read_jsonl(folder / "qa.jsonl")
        ]
        aliases = [{"kind": "alias", **a} for a in read_jsonl(folder / "aliases.jsonl")]
        files = [
            write_jsonl(workdir / "faq-qa.jsonl", qa),
            write_jsonl(workdir / "faq-aliases.jsonl", aliases),
        ]
        questions = [q["query"] for q in read_jsonl(folder / "queries.jsonl")]
        return QuestionSet(name, files, questions)
    policies = read_jsonl(folder / "policies.jsonl")
    known = {p["id"] for p in policies}
    records = [
        {"id": p["id"], "title": first_segment(p["text"]), "body": p["text"]} for p in policies
    ]
    questions = [
        q["query"] for q in read_jsonl(folder / "queries.jsonl") if q["policy_id"] in known
    ]
    return QuestionSet(name, [write_jsonl(workdir / "ncpqa.jsonl", records)], questions)


# --------------------------------------------------------------------------- callbacks


@dataclass(frozen=True, slots=True)
class Callback:
    params: dict[str, str]
    body: bytes
    openid: str


@dataclass
class Factory:
    """Safe-mode text callbacks, each from a new openid, with unique nonces and MsgIds."""

    account: Account
    run_tag: str = field(default_factory=lambda: secrets.token_hex(4))
    nonce_base: int = field(default_factory=lambda: 10**11 + secrets.randbelow(10**11))
    msg_id_base: int = field(default_factory=lambda: 10**18 + secrets.randbelow(10**18))
    count: int = 0

    def __post_init__(self) -> None:
        self.crypto = self.account.crypto()

    def build(self, content: str) -> Callback:
        self.count += 1
        n = self.count
        openid = f"o{self.run_tag}conv{n:014d}"
        now = int(time.time())
        inner = (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{now}</CreateTime>"
            "<MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content.replace(']]>', ']] >')}]]></Content>"
            f"<MsgId>{self.msg_id_base + n}</MsgId></xml>"
        )
        nonce = str(self.nonce_base + n)
        params, body = seal(self.account.token, self.crypto, inner, str(now), nonce, openid)
        return Callback(params, body, openid)

    def open(self, callback: Callback, status: int, raw: bytes) -> dict[str, Any] | str:
        """The decrypted reply's fields, or why WeChat would not accept it."""
        if status != 200:
            return f"HTTP {status}"
        if raw == b"success":
            return {"MsgType": "success"}
        try:
            envelope = parse_xml(raw)
            encrypted = str(envelope.get("Encrypt", ""))
            signature = message_signature(
                self.account.token,
                str(envelope.get("TimeStamp", "")),
                str(envelope.get("Nonce", "")),
                encrypted,
            )
            if not encrypted or signature != envelope.get("MsgSignature"):
                return "reply not encrypted or badly signed"
            reply = parse_xml(self.crypto.decrypt(encrypted))
        except WeChatError as exc:
            return f"undecodable reply ({type(exc).__name__})"
        if reply.get("ToUserName") != callback.openid:
            return "reply addressed to someone else"
        return dict(reply)


def over_limits(reply: dict[str, Any]) -> bool:
    """Over WeChat's limits for a passive reply to a user's message."""
    if reply.get("MsgType") == "text":
        return len(str(reply.get("Content", "")).encode("utf-8")) > TEXT_LIMIT_BYTES
    if reply.get("MsgType") == "news":
        return int(str(reply.get("ArticleCount", "0")) or 0) > 1
    return False


# --------------------------------------------------------------------------- driving


@dataclass
class Run:
    latencies_ms: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)  # reply MsgType (success = late)
    sizes: list[int] = field(default_factory=list)  # text reply bytes
    over_limit: int = 0
    not_found: int = 0
    wall_s: float = 0.0


async def replay(
    session: aiohttp.ClientSession,
    url: str,
    factory: Factory,
    questions: Sequence[str],
    concurrency: int,
    think_s: float = 0.0,
) -> Run:
    """``concurrency`` senders share the questions, one request in flight each. With
    ``think_s`` each sender, like a resident, reads the reply before asking again (a random
    pause, exponential with that mean; the first question after a random part of one);
    without, they are closed loops that saturate the server. Callbacks are built before the
    clock starts and replies checked after it stops."""
    run = Run()
    rng = random.Random(SEED)
    prepared = [factory.build(q) for q in questions]
    todo = iter(prepared)
    answered: list[tuple[Callback, int, bytes]] = []
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)

    async def sender() -> None:
        if think_s:
            await asyncio.sleep(rng.uniform(0, think_s))
        for callback in todo:
            started = time.perf_counter()
            try:
                async with session.post(
                    url, params=callback.params, data=callback.body, timeout=timeout
                ) as resp:
                    raw, status = await resp.read(), resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                run.failures[f"transport error: {type(exc).__name__}"] += 1
                continue
            run.latencies_ms.append((time.perf_counter() - started) * 1000)
            answered.append((callback, status, raw))
            if think_s:
                await asyncio.sleep(rng.expovariate(1 / think_s))

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(min(concurrency, len(prepared)))))
    run.wall_s = time.perf_counter() - started
    for callback, status, raw in answered:
        reply = factory.open(callback, status, raw)
        if isinstance(reply, str):
            run.failures[reply] += 1
            continue
        run.kinds[str(reply.get("MsgType"))] += 1
        if reply.get("MsgType") == "text":
            content = str(reply.get("Content", ""))
            run.sizes.append(len(content.encode("utf-8")))
            run.not_found += content.startswith(NOT_FOUND)
        run.over_limit += over_limits(reply)
    return run


def decision_mix(database_url: str) -> Counter[str]:
    """What the matcher decided so far, from the server's own question log (SQLite)."""
    engine = sync_engine(database_url.replace("+aiosqlite", ""))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sql("SELECT decision, COUNT(*) FROM question_log GROUP BY decision")
            )
            return Counter({str(d): int(n) for d, n in rows})
    finally:
        engine.dispose()


def import_library(env: dict[str, str], workdir: Path, files: Sequence[Path]) -> None:
    import subprocess

    result = subprocess.run(  # noqa: S603 -- our own interpreter, fixed arguments
        [sys.executable, "-m", "bot", "import", *map(str, files)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=IMPORT_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"`bot import` failed ({result.returncode}):\n{result.stderr[-2000:]}")


def _read_log(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


async def wait_for_vectors(log_path: Path) -> bool:
    """True once the server's index uses sentence vectors; False if it said it cannot."""
    deadline = time.monotonic() + VECTORS_TIMEOUT_S
    while time.monotonic() < deadline:
        log = await asyncio.to_thread(_read_log, log_path)
        if VECTORS_READY in log:
            return True
        if VECTORS_UNAVAILABLE in log:
            return False
        await asyncio.sleep(0.5)
    raise BenchError(f"the index had no sentence vectors after {VECTORS_TIMEOUT_S:.0f} s")


def prepare_state_dir() -> None:
    """Keep computed vectors between runs; start from bench.matching's cache (same texts)."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    cache = STATE_DIR / "embeddings.npz"
    if not cache.exists() and MATCHING_CACHE.exists():
        shutil.copyfile(MATCHING_CACHE, cache)


async def measure(
    qset: QuestionSet,
    account: Account,
    env: dict[str, str],
    workdir: Path,
    args: argparse.Namespace,
    think_s: float,
) -> dict[str, Any]:
    """One fresh server (so no question's vector is remembered from another run) and one
    replay of the set."""
    database_url = env["GONGKAI_DATABASE_URL"]
    with running_server(env, workdir, workers=args.server_workers) as server:
        connector = aiohttp.TCPConnector(limit=args.concurrency + 2)
        async with aiohttp.ClientSession(connector=connector) as session:
            await wait_healthy(session, server)
            vectors = False if args.no_embeddings else await wait_for_vectors(server.log_path)
            factory = Factory(account)
            url = server.base_url + "/wechat"
            warmup = await replay(session, url, factory, WARMUP * 4, args.concurrency)
            before = await asyncio.to_thread(decision_mix, database_url)
            run = await replay(session, url, factory, qset.questions, args.concurrency, think_s)
            decisions = await asyncio.to_thread(decision_mix, database_url)
    decisions.subtract(before)
    lat = summarize_ms(sorted(run.latencies_ms))
    answered = len(run.latencies_ms)
    failures = sum(run.failures.values()) + sum(warmup.failures.values())
    return {
        "set": qset.name,
        "mode": f"residents (think {think_s:g} s)" if think_s else "saturated (no think time)",
        "think_s": think_s,
        "questions": len(qset.questions),
        "answered": answered,
        "concurrency": args.concurrency,
        "server_workers": args.server_workers,
        "sentence_vectors": vectors,
        "wall_s": round(run.wall_s, 2),
        "requests_per_s": round(answered / run.wall_s, 1) if run.wall_s else 0.0,
        "latency_ms": lat,
        "reply_types": dict(run.kinds),
        "late_replies": run.kinds.get("success", 0),
        "over_size_limits": run.over_limit,
        "over_size_share": round(run.over_limit / answered, 4) if answered else 0.0,
        "text_bytes": summarize_ms(sorted(float(s) for s in run.sizes)) if run.sizes else None,
        "decisions": {k: decisions[k] for k in ("answer", "clarify", "none", "followup")},
        "failures": failures,
        "failure_reasons": dict((run.failures + warmup.failures).most_common(5)),
        "target": f"p99 < {TARGET_P99_MS:g} ms at {TARGET_CONCURRENCY} senders, "
        "0 over the size limits",
        "target_met": bool(answered)
        and lat["p99"] < TARGET_P99_MS
        and run.over_limit == 0
        and failures == 0
        and args.concurrency == TARGET_CONCURRENCY,
    }


# --------------------------------------------------------------------------- reporting


def print_report(result: dict[str, Any]) -> None:
    lat = result["latency_ms"]
    print(
        f"== {result['set']}, {result['mode']}: {result['questions']} questions, "
        f"{result['concurrency']} senders, "
        f"{result['server_workers']} server process(es), "
        f"{'with' if result['sentence_vectors'] else 'without'} sentence vectors"
    )
    print(f"throughput      {result['requests_per_s']:.1f} replies/s over {result['wall_s']:.1f} s")
    print(
        f"latency (ms)    p50 {lat['p50']:.1f}  p90 {lat['p90']:.1f}  p99 {lat['p99']:.1f}  "
        f"max {lat['max']:.1f}  (mean {lat['mean']:.1f}, client-side, matching included)"
    )
    sizes = result["text_bytes"]
    if sizes:
        print(
            f"text replies    p50 {sizes['p50']:.0f} B  p99 {sizes['p99']:.0f} B  "
            f"max {sizes['max']:.0f} B"
        )
    print(
        f"over limits     {result['over_size_limits']} of {result['answered']} "
        f"({result['over_size_share']:.2%}); late (success) {result['late_replies']}"
    )
    decisions = result["decisions"]
    total = sum(decisions.values()) or 1
    print(
        "decisions       "
        + "  ".join(f"{k} {v} ({v / total:.0%})" for k, v in decisions.items())
        + "  (from the server's question log)"
    )
    print(f"failures        {result['failures']}")
    for reason, count in result["failure_reasons"].items():
        print(f"  {count:6d} x {reason}")
    verdict = "PASS" if result["target_met"] else "FAIL"
    print(
        f"{verdict}: p99 {lat['p99']:.1f} ms, {result['over_size_limits']} over limits; "
        f"target {result['target']}"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.conversation",
        description="Replay the faq-smoke and ncpqa questions as encrypted callbacks against a "
        "real server and report reply latency (matching included), reply sizes and decisions.",
    )
    parser.add_argument("--set", choices=(*SETS, "both"), default="both", help="question set(s)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--concurrency", type=int, default=TARGET_CONCURRENCY, help="senders")
    parser.add_argument("--server-workers", type=int, default=1, help="`gongkai serve --workers`")
    parser.add_argument("--no-embeddings", action="store_true", help="lexical matching only")
    parser.add_argument(
        "--think",
        type=float,
        default=THINK_S,
        help="mean seconds a sender reads a reply before the next question (0: saturated only)",
    )
    parser.add_argument(
        "--mode",
        choices=("both", "residents", "saturated"),
        default="both",
        help="senders who read their replies, closed loops that saturate the server, or both",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per set")
    return parser


def thinking(args: argparse.Namespace) -> list[float]:
    """The think times to run: residents who read their replies, then saturating loops."""
    modes = []
    if args.mode in ("both", "residents") and args.think > 0:
        modes.append(args.think)
    if args.mode in ("both", "saturated"):
        modes.append(0.0)
    return modes


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, terminated)
    names = list(SETS) if args.set == "both" else [args.set]
    results = []
    try:
        check_data(args.data, names)
        prepare_state_dir()
        for name in names:
            account = Account.generate()
            with tempfile.TemporaryDirectory(prefix="gongkai-bench-conv-") as tmp:
                workdir = Path(tmp)
                qset = load_set(name, args.data, workdir)
                env = server_env(account, f"sqlite+aiosqlite:///{workdir / 'bench.db'}")
                env["GONGKAI_LOG_LEVEL"] = "INFO"  # the default level; tells when vectors are in
                env["GONGKAI_STATE_DIR"] = str(STATE_DIR)
                env["GONGKAI_MATCHER__EMBEDDINGS"] = "false" if args.no_embeddings else "true"
                migrate(env, workdir)
                import_library(env, workdir, qset.library)
                for think_s in thinking(args):
                    result = asyncio.run(measure(qset, account, env, workdir, args, think_s))
                    results.append(result)
                    if args.json:
                        print(json.dumps(result, ensure_ascii=False))
                    else:
                        print_report(result)
    except DataMissingError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; server stopped", file=sys.stderr)
        return 130
    return 1 if any(r["failures"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
