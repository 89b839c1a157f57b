"""The period's figures as files staff hand on: CSV and XLSX (``bot.annual.Overview``).

The CSV is UTF-8 with a byte-order mark, so Excel on a county office PC opens the Chinese
correctly (without it Excel guesses GBK); one table of 部分, 项目, 数值, 说明 — the report
figures, then questions per day, top topics, top unanswered and subscribers per topic. The XLSX
(openpyxl) has the same rows on the first sheet and one sheet per table after it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from openpyxl import Workbook
from openpyxl.styles import Font

from bot.annual import Overview
from bot.stats import DECISION_NAMES

HEADER = ("部分", "项目", "数值", "说明")
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

Row = tuple[str, str, int | str, str]


def filename(o: Overview, extension: str) -> str:
    return f"政务公开统计_{o.start.isoformat()}_{o.end.isoformat()}.{extension}"


def _title(o: Overview) -> str:
    return f"统计期间 {o.start.isoformat()} 至 {o.end.isoformat()}（北京时间，含首尾两天）"


def rows(o: Overview) -> Iterator[Row]:
    for f in o.figures():
        yield (f.section, f.label, f.value, f.note)
    for d in o.stats.days:
        mix = "，".join(f"{DECISION_NAMES[k]} {n}" for k, n in d.decisions.items())
        yield ("每日提问", d.day.isoformat(), d.questions, mix)
    for topic, n in o.stats.topics:
        yield ("热门主题", topic, n, "答复所涉主题的提问数")
    for u in o.stats.unanswered:
        yield ("未能答复的问题", u.text, u.count, "；".join(u.examples))
    for topic, n in o.push.per_topic:
        yield ("各主题订阅用户（现在）", topic, n, "")


def _guard(value: int | str) -> int | str:
    """A cell starting like a formula is kept as text (CSV injection: residents' questions)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_bytes(o: Overview) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow((_title(o), "", "", ""))
    writer.writerow(HEADER)
    for row in rows(o):
        writer.writerow([_guard(v) for v in row])
    return "\ufeff".encode() + out.getvalue().encode()


def xlsx_bytes(o: Overview) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # noqa: S101 - a new workbook has one sheet
    sheet.title = "年度报告数据"
    sheet.append([_title(o)])
    sheet.append(list(HEADER))
    for f in o.figures():
        sheet.append([f.section, f.label, f.value, f.note])
    _tables(book, o)
    bold = Font(bold=True)
    for ws in book.worksheets:
        for cell in ws[2 if ws is sheet else 1]:
            cell.font = bold
        for column, width in zip("ABCDEFG", (22, 30, 10, 36, 10, 10, 10), strict=False):
            ws.column_dimensions[column].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _tables(book: Workbook, o: Overview) -> None:
    days = book.create_sheet("每日提问")
    days.append(["日期", "提问", "给出答复", *DECISION_NAMES.values()])
    for d in o.stats.days:
        days.append([d.day.isoformat(), d.questions, d.answered, *d.decisions.values()])
    topics = book.create_sheet("热门主题")
    topics.append(["主题", "提问"])
    for topic, n in o.stats.topics:
        topics.append([topic, n])
    unanswered = book.create_sheet("未能答复的问题")
    unanswered.append(["问题（最常见的问法）", "次数", "其他问法"])
    for u in o.stats.unanswered:
        unanswered.append([_guard(u.text), u.count, _guard("；".join(u.examples))])
    subscribers = book.create_sheet("订阅")
    subscribers.append(["主题", "订阅用户（现在）"])
    for topic, n in o.push.per_topic:
        subscribers.append([topic, n])
