"""One period's figures for the dashboard and the annual disclosure report (年度报告).

``overview()`` reads the three owners once — the question statistics (``bot.stats``), the
policy library (``policy_index.figures``) and push (``push.figures``) — and ``Overview.figures()``
lays out the rows of the 《中华人民共和国政府信息公开工作年度报告》 that a WeChat disclosure
channel can supply. The dashboard page, its JSON and the CSV/XLSX exports (``bot.exports``) all
read this one function, so they cannot disagree. What each figure means is in docs/console.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.grouping import THRESHOLD
from bot.questions import ANSWERED
from bot.stats import Report, report, utc_bounds
from policy_index.figures import LibraryFigures, library_figures
from policy_index.model import Library
from push.figures import PushFigures, push_figures


@dataclass(frozen=True, slots=True)
class Figure:
    section: str
    label: str
    value: int | str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Overview:
    stats: Report
    library: LibraryFigures
    push: PushFigures

    @property
    def start(self) -> date:
        return self.stats.start

    @property
    def end(self) -> date:
        return self.stats.end

    @property
    def received(self) -> int:
        """Questions put to the matcher (follow-ups on a policy already shown not counted)."""
        return self.stats.matched

    @property
    def by_staff(self) -> int:
        return self.stats.inbox.get(ANSWERED, 0)

    @property
    def unanswered(self) -> int:
        return max(self.received - self.stats.answered - self.by_staff, 0)

    def figures(self) -> list[Figure]:
        lib, push, s = self.library, self.push, self.stats
        rate = f"{s.answer_rate:.1%}" if s.answer_rate is not None else "—"
        policy, qa, wx = "主动公开政府信息", "群众咨询（微信）", "推送与订阅（微信）"
        return [
            Figure(policy, "新公开政策文件（件）", lib.published, "按政策成文日期计"),
            Figure(policy, "政策解读（篇）", lib.interpretations, "随上述政策发布的解读"),
            Figure(policy, "到期失效政策（件）", lib.expired, "失效日期在本期内"),
            Figure(policy, "废止或修改政策（件）", lib.replaced, "替代它的新政策在本期内发布"),
            Figure(policy, "期末已废止、失效政策（件）", lib.not_in_force, "截至期末，累计"),
            Figure(policy, "政策库政策总数（件）", lib.total, "现在"),
            Figure(qa, "收到提问（条）", self.received, "不含对已答政策的追问"),
            Figure(qa, "机器人直接答复（条）", s.answered, f"含用户从选项中选定；答复率 {rate}"),
            Figure(qa, "工作人员答复（条）", self.by_staff, "从待答复问题中答复"),
            Figure(qa, "未能答复（条）", self.unanswered, "收到提问减去以上两项"),
            Figure(qa, "追问（条）", s.decisions["followup"], "追问办理材料、流程等"),
            Figure(wx, "发出通知（条）", push.notices_sent, "本期内开始发送的通知"),
            Figure(wx, "送达消息（条）", push.delivered, "上述通知已送达的消息"),
            Figure(wx, "发送失败（条）", push.failed, "微信拒收（已取消关注、拒收等）"),
            Figure(wx, "待发送（条）", push.pending, "仍在等待或正在发送"),
            Figure(wx, "期末订阅用户（人）", push.subscribers_at_end, "至今仍在订阅的用户"),
            Figure(wx, "期末订阅数（个）", push.subscriptions_at_end, "按主题计"),
            Figure(wx, "新增订阅（个）", push.new_subscriptions, "按主题计"),
            Figure(wx, "取消订阅（个）", push.cancelled_subscriptions, "按主题计，含取消关注"),
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            **self.stats.to_json(),
            "received": self.received,
            "answered_by_staff": self.by_staff,
            "unanswered": self.unanswered,
            "notice_deliveries": self.push.deliveries,
            "subscribers_per_topic": [
                {"topic": t, "subscribers": n} for t, n in self.push.per_topic
            ],
            "figures": [
                {"section": f.section, "label": f.label, "value": f.value, "note": f.note}
                for f in self.figures()
            ],
        }


async def overview(
    engine: AsyncEngine, library: Library, start: date, end: date, *, similarity: float = THRESHOLD
) -> Overview:
    """The figures of the local dates ``start`` to ``end`` (inclusive); ``StatsRangeError`` on a
    reversed or overlong range."""
    lo, hi = utc_bounds(start, end)
    stats = await report(engine, library, start, end, similarity=similarity)
    return Overview(stats, library_figures(library, start, end), await push_figures(engine, lo, hi))
