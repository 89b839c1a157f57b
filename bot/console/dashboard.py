"""The console's dashboard (概览): a period's figures as charts and tables, and the report export.

Every page, the JSON and both files read ``StaffDesk.overview`` (``bot.annual``), the figures
``gongkai stats`` and the staff API's statistics come from. The charts are Apache ECharts
(``static/vendor``, see its README), drawn by ``static/dashboard.js`` from a
``<script type="application/json">`` block on the page (the CSP allows no inline script; a
JSON block is data, not script). Any signed-in member of staff may read it.

A period is two local dates (Asia/Shanghai), both included; without them, the last 30 days.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from bot import keys
from bot.annual import Overview
from bot.console.desk import DeskError
from bot.console.web import access, now, render
from bot.exports import CSV_TYPE, XLSX_TYPE, csv_bytes, filename, xlsx_bytes
from bot.stats import DECISION_NAMES
from policy_index.index import LOCAL_TZ
from push.staff import Refused
from push.tables import DeliveryState

DEFAULT_DAYS = 30
DELIVERY_NAMES = {
    DeliveryState.SENT: "已送达",
    DeliveryState.FAILED: "失败",
    DeliveryState.PENDING: "待发送",
    DeliveryState.HELD: "暂缓（免打扰或限额）",
    DeliveryState.SENDING: "发送中",
    DeliveryState.UNKNOWN: "结果未知",
    DeliveryState.CANCELLED: "已取消",
}


def add_dashboard_pages(app: web.Application) -> None:
    r = app.router
    r.add_get("/dashboard", dashboard_page, name="dashboard")
    r.add_get("/dashboard.json", dashboard_json)
    r.add_get("/dashboard/export.csv", export_csv)
    r.add_get("/dashboard/export.xlsx", export_xlsx)


def today() -> date:
    return now().astimezone(LOCAL_TZ).date()


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise Refused(f"{name}“{value}”不是有效的日期，请写成 2026-03-01 这样的格式。") from None


def period(request: web.Request) -> tuple[date, date]:
    """The ``from`` and ``to`` of the query (either may be left out), checked."""
    end = today()
    given_end = request.query.get("to", "").strip()
    given_start = request.query.get("from", "").strip()
    if given_end:
        end = _day(given_end, "结束日期")
    start = _day(given_start, "开始日期") if given_start else end - timedelta(DEFAULT_DAYS - 1)
    if end < start:
        raise Refused(f"结束日期 {end} 早于开始日期 {start}，请重新选择统计期间。")
    return start, end


async def _overview(request: web.Request, start: date, end: date) -> Overview:
    library = request.config_dict[keys.POLICIES].index.library
    try:
        return await request.config_dict[keys.STAFF_DESK].overview(library, start, end)
    except DeskError as exc:
        raise Refused(str(exc), exc.status) from exc


def presets(day: date) -> list[tuple[str, date, date]]:
    """Periods staff ask for most: this month, last month, this year, last year."""
    month = day.replace(day=1)
    last_month_end = month - timedelta(days=1)
    return [
        ("近 30 天", day - timedelta(DEFAULT_DAYS - 1), day),
        ("本月", month, day),
        ("上月", last_month_end.replace(day=1), last_month_end),
        ("今年", day.replace(month=1, day=1), day),
        ("去年", date(day.year - 1, 1, 1), date(day.year - 1, 12, 31)),
    ]


def chart_data(o: Overview) -> dict[str, Any]:
    """What ``dashboard.js`` draws: labels in Chinese, numbers as they are."""
    return {
        "days": [d.day.isoformat() for d in o.stats.days],
        "per_day": [
            {"name": DECISION_NAMES[k], "values": [d.decisions[k] for d in o.stats.days]}
            for k in DECISION_NAMES
        ],
        "mix": [{"name": DECISION_NAMES[k], "value": n} for k, n in o.stats.decisions.items()],
        "topics": [{"name": t, "value": n} for t, n in o.stats.topics],
        "unanswered": [{"name": u.text, "value": u.count} for u in o.stats.unanswered],
        "subscribers": [{"name": t, "value": n} for t, n in o.push.per_topic],
        "deliveries": [
            {"name": DELIVERY_NAMES[state], "value": o.push.deliveries[state], "key": str(state)}
            for state in DELIVERY_NAMES
        ],
    }


def _query(start: date, end: date) -> str:
    return urlencode({"from": start.isoformat(), "to": end.isoformat()})


@access("signed_in")
async def dashboard_page(request: web.Request) -> web.Response:
    day = today()
    try:
        start, end = period(request)
        o: Overview | None = await _overview(request, start, end)
        error = None
    except Refused as exc:
        o, error = None, str(exc)
        start = end = day
    ctx = {
        "o": o,
        "error": error,
        "start": request.query.get("from", start.isoformat()) if error else start.isoformat(),
        "end": request.query.get("to", end.isoformat()) if error else end.isoformat(),
        "query": _query(start, end),
        "presets": [
            (name, _query(a, b), o is not None and (a, b) == (start, end))
            for name, a, b in presets(day)
        ],
        "charts": chart_data(o) if o else None,
        "delivery_names": DELIVERY_NAMES,
        "decision_names": DECISION_NAMES,
    }
    return await render(request, "dashboard.html", ctx, status=400 if error else 200)


@access("signed_in")
async def dashboard_json(request: web.Request) -> web.Response:
    o = await _overview(request, *period(request))
    return web.json_response({**o.to_json(), "charts": chart_data(o)})


def _download(body: bytes, content_type: str, name: str) -> web.Response:
    # RFC 6266/5987: the Chinese file name for browsers, an ASCII one for everything else.
    ascii_name = "gongkai-" + name.split("_", 1)[1]
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return web.Response(
        body=body, headers={"Content-Type": content_type, "Content-Disposition": disposition}
    )


@access("signed_in")
async def export_csv(request: web.Request) -> web.Response:
    o = await _overview(request, *period(request))
    return _download(csv_bytes(o), CSV_TYPE, filename(o, "csv"))


@access("signed_in")
async def export_xlsx(request: web.Request) -> web.Response:
    o = await _overview(request, *period(request))
    return _download(xlsx_bytes(o), XLSX_TYPE, filename(o, "xlsx"))
