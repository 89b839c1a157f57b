"""Statistics for the annual report from seeded question-log rows, with local (Asia/Shanghai)
day boundaries: the same figures from the function, the staff API and `gongkai stats`."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings, StaffSettings
from bot.questions import ANSWERED, DISMISSED, OPEN, QUESTIONS
from bot.stats import StatsRangeError, report, utc_bounds
from policy_index.interchange import read_library
from policy_index.library import SAMPLE_LIBRARY
from policy_index.model import Library
from policy_index.repository import LibraryRepository
from tests.conftest import MakeClient
from tests.integration.test_menu import gongkai

LIBRARY: Library = read_library([SAMPLE_LIBRARY])
TOKEN = "staff-token-for-tests-0123456789"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# (asked_at UTC, decision, answered (kind, id) or None, text, status)
ROWS: list[tuple[datetime, str, tuple[str, str] | None, str, str | None]] = [
    (utc(2026, 2, 28, 15, 59), "answer", ("policy", "qh-a-005"), "前一天", None),  # 2/28 23:59
    (utc(2026, 2, 28, 16, 0), "answer", ("policy", "qh-a-005"), "社保补贴", None),  # 3/1 00:00
    (utc(2026, 3, 1, 15, 59, 59), "clarify", ("qa", "qh-b-001-qa1"), "低保", None),  # 3/1 23:59
    (utc(2026, 3, 1, 3, 0), "clarify", None, "补贴", None),  # 3/1, nothing picked
    (utc(2026, 3, 1, 16, 0), "none", None, "怎么考驾照", ANSWERED),  # 3/2 00:00
    (utc(2026, 3, 2, 1, 0), "none", None, "驾照怎么考？", OPEN),  # 3/2
    (utc(2026, 3, 2, 2, 0), "none", None, "怎么考驾照", OPEN),  # 3/2
    (utc(2026, 3, 2, 3, 0), "none", None, "养狗要办证吗", DISMISSED),  # 3/2
    (utc(2026, 3, 2, 4, 0), "followup", ("policy", "qh-a-005"), "要什么材料", None),  # 3/2
    (utc(2026, 3, 3, 16, 0), "answer", ("policy", "qh-b-001"), "后一天", None),  # 3/4 00:00
]


async def seed_questions(engine: AsyncEngine) -> None:
    """The sample library and the question log of ``ROWS``."""
    await LibraryRepository(engine).import_files([SAMPLE_LIBRARY])
    values = [
        {
            "asked_at": at,
            "openid": None,
            "source": "text",
            "text": text,
            "normalised": text.strip("？"),
            "decision": decision,
            "candidates": [],
            "answered_kind": answered[0] if answered else None,
            "answered_id": answered[1] if answered else None,
            "status": status,
        }
        for at, decision, answered, text, status in ROWS
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(QUESTIONS), values)


@pytest.fixture
async def seeded(engine: AsyncEngine) -> AsyncEngine:
    await seed_questions(engine)
    return engine


def test_local_days_become_utc_bounds() -> None:
    assert utc_bounds(date(2026, 3, 1), date(2026, 3, 3)) == (
        utc(2026, 2, 28, 16, 0),
        utc(2026, 3, 3, 16, 0),
    )
    with pytest.raises(StatsRangeError):
        utc_bounds(date(2026, 3, 2), date(2026, 3, 1))


async def test_figures_for_a_range_of_local_days(seeded: AsyncEngine) -> None:
    r = await report(seeded, LIBRARY, date(2026, 3, 1), date(2026, 3, 3))
    assert [d.day.day for d in r.days] == [1, 2, 3]
    assert [d.questions for d in r.days] == [3, 5, 0]
    assert r.days[0].decisions == {"answer": 1, "clarify": 2, "none": 0, "followup": 0}
    assert r.days[1].decisions == {"answer": 0, "clarify": 0, "none": 4, "followup": 1}
    assert r.questions == 8
    assert r.decisions == {"answer": 1, "clarify": 2, "none": 4, "followup": 1}
    assert (r.matched, r.answered) == (7, 2)  # the follow-up is not counted
    assert r.answer_rate == pytest.approx(2 / 7)
    topics = dict(r.topics)
    assert topics["困难群众"] == 2  # qh-a-005 (answer) and qh-b-001 (through its Q&A pair)
    assert topics["社会保险"] == 1
    assert topics["社会救助"] == 1
    [driving, dogs] = r.unanswered
    assert (driving.text, driving.count, driving.examples) == ("怎么考驾照", 3, ("驾照怎么考？",))
    assert (dogs.text, dogs.count) == ("养狗要办证吗", 1)
    assert r.inbox == {"answered": 1, "open": 2, "dismissed": 1}
    as_json = r.to_json()
    assert as_json["timezone"] == "Asia/Shanghai"
    assert as_json["per_day"][2] == {
        "date": "2026-03-03",
        "questions": 0,
        "answered": 0,
        "answer": 0,
        "clarify": 0,
        "none": 0,
        "followup": 0,
    }
    one_day = await report(seeded, LIBRARY, date(2026, 3, 4), date(2026, 3, 4))
    assert (one_day.questions, one_day.answered, dict(one_day.topics)) == (
        1,
        1,
        {"社会救助": 1, "困难群众": 1},
    )
    empty = await report(seeded, LIBRARY, date(2025, 1, 1), date(2025, 1, 1))
    assert (empty.questions, empty.answer_rate, empty.unanswered) == (0, None, ())


async def test_the_staff_api_and_the_command_give_the_same_figures(
    seeded: AsyncEngine,
    make_client: MakeClient,
    settings: Settings,
    account_env: dict[str, str],
    tmp_path: Path,
) -> None:
    expected = (await report(seeded, LIBRARY, date(2026, 3, 1), date(2026, 3, 3))).to_json()
    staff = settings.model_copy(update={"staff": StaffSettings(token=SecretStr(TOKEN))})
    client: TestClient[Any, Any] = await make_client(settings=staff)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    resp = await client.get("/staff/api/stats?from=2026-03-01&to=2026-03-03", headers=auth)
    assert resp.status == 200
    assert await resp.json() == expected
    for query in ("from=2026-03-03&to=2026-03-01", "from=2026-03-01", "from=x&to=2026-03-01"):
        resp = await client.get(f"/staff/api/stats?{query}", headers=auth)
        assert resp.status == 400
        assert "日期" in (await resp.json())["error"] or "参数" in (await resp.json())["error"]

    env = account_env
    args = ("stats", "--from", "2026-03-01", "--to", "2026-03-03")
    code, out, err = await gongkai(*args, "--json", cwd=tmp_path, env=env)
    assert code == 0, err
    assert json.loads(out) == expected
    code, out, err = await gongkai(*args, cwd=tmp_path, env=env)
    assert code == 0, err
    assert "答复率 28.6%" in out
    assert "怎么考驾照（3 次）" in out
    assert "2026-03-02" in out
    code, _out, err = await gongkai(
        "stats", "--from", "2026-03-03", "--to", "2026-03-01", cwd=tmp_path, env=env
    )
    assert code == 1
    assert "日期范围不对" in err


async def test_unanswered_questions_leave_the_inbox_with_their_numbers_masked(
    engine: AsyncEngine,
) -> None:
    # The figures go to everyone who reads the dashboard and into exported files: a phone or
    # ID card number a resident typed does not go with them (the inbox still shows it in full).
    texts = ["我的电话13812345678，低保卡丢了怎么办", "身份证11010519491231002X查不到补贴"]
    at = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    rows = [
        {
            "asked_at": at,
            "openid": None,
            "source": "text",
            "text": text,
            "normalised": text,
            "decision": "none",
            "candidates": [],
            "status": OPEN,
        }
        for text in texts
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(QUESTIONS), rows)
    shown = await report(engine, LIBRARY, date(2026, 3, 2), date(2026, 3, 2))
    words = [u.text for u in shown.unanswered]
    assert "我的电话138****5678，低保卡丢了怎么办" in words
    assert "身份证110***********002X查不到补贴" in words
    assert not any("13812345678" in w or "19491231" in w for w in words)
