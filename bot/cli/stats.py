"""``gongkai stats``: the annual-report figures (``bot.stats``) for a range of local dates."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.annual import Overview
from bot.cli.common import prepared_settings, print_json, say
from bot.cli.inbox import STATUS_TEXT, _day, _guarded, _run
from bot.console.desk import StaffDesk
from bot.exports import csv_bytes, filename, xlsx_bytes
from bot.inbox import DeliveryStatus
from bot.stats import DECISION_NAMES, Report

# --- gongkai stats --------------------------------------------------------------------------------


@_guarded
def cmd_stats(args: argparse.Namespace) -> int:
    settings = prepared_settings()

    async def work(desk: StaffDesk) -> Report | Overview:
        from policy_index.repository import LibraryRepository

        library = await LibraryRepository(desk.engine).load()
        if args.format:  # the dashboard's export: every figure, not only the questions'
            return await desk.overview(library, args.start, args.end)
        return await desk.stats(library, args.start, args.end)

    report, _local = _run(settings, work)
    if isinstance(report, Overview):
        data = csv_bytes(report) if args.format == "csv" else xlsx_bytes(report)
        out = args.out or Path(filename(report, args.format))
        out.write_bytes(data)
        say(f"已写入 {out}（{report.start} 至 {report.end}，{len(data)} 字节）")
    elif args.json:
        print_json(report.to_json())
    else:
        _say_report(report)
    return 0


def _share(n: int, total: int) -> str:
    return f"{n / total:.1%}" if total else "—"


def _say_report(r: Report) -> None:
    say(f"问答统计 {r.start} 至 {r.end}（北京时间）")
    followups = r.decisions["followup"]
    say(f"提问 {r.questions} 条（其中追问 {followups} 条）")
    say(
        "决定："
        + "  ".join(
            f"{DECISION_NAMES[k]} {n}（{_share(n, r.questions)}）" for k, n in r.decisions.items()
        )
    )
    rate = f"{r.answer_rate:.1%}" if r.answer_rate is not None else "—"
    say(f"答复率 {rate}：{r.matched} 条提问中 {r.answered} 条给出了答复")
    say("  （直接答复，或用户从选项中选定；追问不计入）")
    busy = [d for d in r.days if d.questions]
    say(f"每日提问（{len(busy)} 天有提问）：")
    for d in busy:
        mix = " ".join(f"{DECISION_NAMES[k]}{n}" for k, n in d.decisions.items() if n)
        say(f"  {d.day}  {d.questions:5d}  {mix}")
    say("热门主题：" if r.topics else "热门主题：（无）")
    for n, (topic, count) in enumerate(r.topics, 1):
        say(f"  {n}. {topic}  {count}")
    say("未能答复的问题（相似的归为一组）：" if r.unanswered else "未能答复的问题：（无）")
    for n, u in enumerate(r.unanswered, 1):
        also = f"  另有问法：{'；'.join(u.examples)}" if u.examples else ""
        say(f"  {n}. {u.text}（{u.count} 次）{also}")
    if r.inbox:
        names = {"open": "待答复", "answered": "工作人员已答复", "dismissed": "已搁置"}
        say("未答问题处理：" + "，".join(f"{names.get(k, k)} {n}" for k, n in r.inbox.items()))
    if r.deliveries:
        say(
            "答复送达："
            + "，".join(f"{STATUS_TEXT[DeliveryStatus(k)]} {n}" for k, n in r.deliveries.items())
        )


def add_parser(sub: Any) -> None:
    """Register ``gongkai stats``."""
    stats = sub.add_parser(
        "stats",
        help="question statistics for a date range (annual disclosure report)",
        description="Questions per day, decision mix, answer rate, top topics and top "
        "unanswered questions between two local dates (Asia/Shanghai), both included.",
    )
    stats.add_argument("--from", dest="start", type=_day, required=True, metavar="YYYY-MM-DD")
    stats.add_argument("--to", dest="end", type=_day, required=True, metavar="YYYY-MM-DD")
    stats.add_argument("--json", action="store_true", help="print JSON (as the staff API)")
    stats.add_argument(
        "--format",
        choices=("csv", "xlsx"),
        help="write the console dashboard's export (report figures, per day, topics, "
        "unanswered, subscribers per topic) instead of printing",
    )
    stats.add_argument(
        "--out", type=Path, metavar="FILE", help="where --format writes (default: a dated name)"
    )
    stats.set_defaults(func=cmd_stats)
