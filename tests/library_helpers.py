"""Shared by the policy-library console tests: a small library file and a bad one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

SUBSIDY: dict[str, Any] = {
    "id": "t-001",
    "title": "青禾区高校毕业生就业见习补贴办法",
    "doc_number": "青人社规〔2024〕2号",
    "issuer": "青禾区人力资源和社会保障局",
    "level": "县区",
    "date": "2024-04-10",
    "audience": "个人,企业",
    "topics": ["就业创业", "高校毕业生"],
    "summary": "见习基地按每人每月1500元领取见习补贴，每月10日前到区政务服务中心申报。",
    "aliases": ["见习补贴"],
    "guide": {"materials": "见习协议、身份证复印件", "phone": "0571-12345678"},
    "qa": [{"question": "见习补贴多久发一次", "answer": "按月发放，每月10日前申报上月补贴。"}],
}
PENSION: dict[str, Any] = {
    "id": "t-002",
    "title": "青禾区城乡居民基本养老保险缴费补贴实施细则",
    "issuer": "青禾区财政局",
    "level": "县区",
    "date": "2023-01-15",
    "audience": "个人",
    "topics": ["社会保障"],
    "summary": "参保居民按年缴费的，区财政按缴费档次给予每年30元至150元的缴费补贴。",
}
OLD_PENSION: dict[str, Any] = {
    "id": "t-000",
    "title": "青禾区城乡居民养老保险缴费补贴暂行办法",
    "issuer": "青禾区财政局",
    "date": "2019-03-01",
    "audience": "个人",
    "topics": ["社会保障"],
    "summary": "已被新的实施细则替代。",
}
ALIAS = {"kind": "alias", "alias": "养老钱", "canonical": "养老保险"}


def jsonl(*records: Mapping[str, object]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


LIBRARY = jsonl(SUBSIDY, PENSION, OLD_PENSION, ALIAS)
# Line 2 has a bad date and an unknown audience; line 3 points at a policy nobody has.
BAD_LIBRARY = jsonl(
    SUBSIDY,
    {**PENSION, "date": "2023-13-45", "audience": "农民"},
    {**OLD_PENSION, "replaced_by": "t-999"},
)
