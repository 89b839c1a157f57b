"""``gongkai enterprises``, run as staff run it (a subprocess) against the test database."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from policy_index.library import SAMPLE_LIBRARY
from policy_index.repository import LibraryRepository
from push.enterprises import Enterprises

# Each command is a fresh interpreter (a few seconds each): room beyond the default timeout.
pytestmark = pytest.mark.timeout(180)

MAKER = "91110000600037341L"
SHOP = "91350100M000100Y43"
RECORDS: list[dict[str, Any]] = [
    {
        "uscc": MAKER,
        "name": "青禾精工有限公司",
        "industry": "制造业",
        "employees": 80,
        "qualifications": ["高新技术企业"],
        "openids": ["oMaker000000000000000000001"],
    },
    {"uscc": SHOP, "name": "溪口百货商店", "industry": "零售业"},
]


def gongkai(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GONGKAI_")}
    return subprocess.run(  # noqa: S603 - our own CLI with fixed arguments
        [sys.executable, "-m", "bot", "enterprises", *args],
        capture_output=True,
        text=True,
        env={**base, **env},
        cwd=cwd,
        timeout=60,
        check=False,
    )


def write(path: Path, records: list[Any]) -> Path:
    lines = (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def run(engine: AsyncEngine, account_env: dict[str, str], tmp_path: Path) -> Any:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return gongkai(*args, env=account_env, cwd=tmp_path)

    return run


async def test_import_prints_counts_and_a_bad_file_names_line_and_reason(
    run: Any, engine: AsyncEngine, tmp_path: Path
) -> None:
    bad = write(tmp_path / "bad.jsonl", [RECORDS[0], {**RECORDS[1], "uscc": SHOP[:-1] + "4"}])
    result = await asyncio.to_thread(run, "import", str(bad))
    assert result.returncode == 1
    assert "bad.jsonl:2: uscc: 统一社会信用代码校验位不符" in result.stderr
    assert await Enterprises(engine).all() == []

    good = write(tmp_path / "good.jsonl", RECORDS)
    result = await asyncio.to_thread(run, "import", str(good))
    assert result.returncode == 0, result.stderr
    assert "新增 2 家，更新 0 家，未变 0 家" in result.stdout
    result = await asyncio.to_thread(run, "import", str(good))
    assert "新增 0 家，更新 0 家，未变 2 家" in result.stdout

    listed = await asyncio.to_thread(run, "list", "--json")
    assert [(e["uscc"], e["contacts"]) for e in json.loads(listed.stdout)] == [
        (MAKER, 1),
        (SHOP, 0),
    ]


async def test_code_binds_once_and_eligible_lists_reasons_and_unknowns(
    run: Any, engine: AsyncEngine, tmp_path: Path
) -> None:
    await LibraryRepository(engine).import_files([SAMPLE_LIBRARY])
    service = Enterprises(engine)
    await service.import_file(write(tmp_path / "qy.jsonl", RECORDS))

    result = await asyncio.to_thread(run, "code", SHOP, "--by", "王")
    assert result.returncode == 0, result.stderr
    code = result.stdout.split("绑定码：")[1].split()[0]
    assert (await service.bind("oShop0000000000000000000001", SHOP, code)).result.value == "bound"
    assert (await service.bind("oOther000000000000000000001", SHOP, code)).result.value == "refused"

    edited = await asyncio.to_thread(run, "edit", SHOP, "--set", "town=溪口街道", "--by", "王")
    assert edited.returncode == 0, edited.stderr
    assert (await service.get(SHOP)).town == "溪口街道"  # type: ignore[union-attr]

    result = await asyncio.to_thread(run, "eligible", "qh-b-025")
    assert result.returncode == 0, result.stderr
    assert "符合 1 家" in result.stdout
    assert "理由：具有高新技术企业资质" in result.stdout

    await service.edit(SHOP, {"tags": ["限额以上"]}, by="王")
    await service.edit(MAKER, {"industry": None}, by="王")
    data = json.loads((await asyncio.to_thread(run, "eligible", "qh-b-023", "--json")).stdout)
    assert data["status"] == "现行有效"
    assert [(e["uscc"], e["reasons"]) for e in data["eligible"]] == [
        (SHOP, ["行业：零售业", "带有“限额以上”标签"])
    ]
    assert data["maybe"] == []  # the maker has no tag: fails whatever its industry

    missing = await asyncio.to_thread(run, "eligible", "nope")
    assert missing.returncode == 1
    assert "no policy" in missing.stderr
