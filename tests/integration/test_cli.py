"""The gongkai command, run as a user runs it (a subprocess in an empty folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

AES = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aQ"


def gongkai(
    *args: str, stdin: str = "", env: dict[str, str] | None = None, cwd: Path
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GONGKAI_")}
    return subprocess.run(  # noqa: S603 - our own CLI with fixed arguments
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_chat_answers_the_welcome_and_help_flow(tmp_path: Path) -> None:
    # Lexical matching only: exiting while sentence vectors are being built waits for the build
    # (PolicyService.stop cannot interrupt its worker thread), which has nothing to do with chat.
    env = {"GONGKAI_MATCHER__EMBEDDINGS": "false"}
    result = gongkai("chat", stdin="帮助\n/语音 帮助\n/图片\n/退出\n", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "欢迎关注" in out  # the follow event sent first
    assert out.count("使用说明") == 2  # typed and spoken
    assert "收到您的图片" in out
    assert (tmp_path / "gongkai.db").exists()  # local mode migrated its SQLite database


@pytest.mark.parametrize(
    "command", [[], ["serve"], ["chat"], ["db"], ["db", "upgrade"], ["check-config"]]
)
def test_every_command_has_help(tmp_path: Path, command: list[str]) -> None:
    result = gongkai(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "usage: gongkai" in result.stdout
    assert len(result.stdout.splitlines()) >= 3


def test_check_config_masks_secrets_and_lists_what_production_needs(tmp_path: Path) -> None:
    env = {"GONGKAI_WECHAT__TOKEN": "my-token-value", "GONGKAI_WECHAT__APP_SECRET": "my-app-secret"}
    result = gongkai("check-config", env=env, cwd=tmp_path)
    assert result.returncode == 0
    assert "my-token-value" not in result.stdout
    assert "my-app-secret" not in result.stdout
    assert "GONGKAI_WECHAT__APP_ID" in result.stdout
    assert "GONGKAI_WECHAT__AES_KEY" in result.stdout
    assert "LOCAL" in result.stdout


def test_serve_refuses_production_without_secrets(tmp_path: Path) -> None:
    result = gongkai("serve", "--port", "1", env={"GONGKAI_ENV": "production"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "GONGKAI_WECHAT__APP_SECRET" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_setting_is_named(tmp_path: Path) -> None:
    result = gongkai("check-config", env={"GONGKAI_WECHAT__AES_KEY": "short"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "GONGKAI_WECHAT__AES_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    result = gongkai("db", "upgrade", env={"GONGKAI_DATABASE_URL": url}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    import sqlite3

    with sqlite3.connect(tmp_path / "x.db") as conn:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    assert {
        "callback_receipt",
        "callback_nonce",
        "wechat_access_token",
        "alembic_version",
    } <= tables


def test_match_prints_one_json_result_per_question_in_order(tmp_path: Path) -> None:
    import json

    from policy_index.library import SAMPLE_LIBRARY

    questions = ["低保怎么申请", "今天天气怎么样", "見習補貼標準"]
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        "\n".join(
            json.dumps({"query": q, "id": n}, ensure_ascii=False) for n, q in enumerate(questions)
        ),
        encoding="utf-8",
    )
    result = gongkai(
        "match",
        "--library",
        str(SAMPLE_LIBRARY),
        "--queries",
        str(queries),
        "--top",
        "3",
        "--json",
        "--no-embeddings",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["query"] for r in rows] == questions
    assert all(r["decision"] in {"answer", "clarify", "none"} for r in rows)
    assert all(len(r["results"]) <= 3 for r in rows)
    assert rows[0]["results"][0]["id"].startswith("qh-b-001")
    assert rows[1]["decision"] == "none"
    scores = [item["score"] for item in rows[2]["results"]]
    assert scores == sorted(scores, reverse=True)


def test_import_reports_bad_lines_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id": "p1", "title": "好"}\n{"id": "p2", "date": "2024-02-30"}\n', encoding="utf-8"
    )
    result = gongkai("import", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    assert "bad.jsonl:2: title" in result.stderr
    assert "bad.jsonl:2: date" in result.stderr
    exported = gongkai("export", cwd=tmp_path)
    assert exported.returncode == 0
    assert exported.stdout == ""  # nothing was written
    assert gongkai("import", "--sample", cwd=tmp_path).returncode == 0
    assert len(gongkai("export", cwd=tmp_path).stdout.splitlines()) > 100
