"""``gongkai chat`` runs multi-turn conversations through the real endpoint (a subprocess)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_cli import gongkai

# Lexical matching only: the decisions below were checked on it, and the process need not wait
# for sentence vectors to be built when it exits.
LEXICAL = {"GONGKAI_MATCHER__EMBEDDINGS": "false"}


def test_chat_keeps_the_conversation_across_turns(tmp_path: Path) -> None:
    lines = ["低保怎么申请", "那要什么材料？", "贷款", "2", "怎么考驾照", "/取消关注", "/退出"]
    result = gongkai("chat", stdin="\n".join(lines) + "\n", env=LEXICAL, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    turns = result.stdout.split("\n您：")
    assert "机器人：《青禾区最低生活保障实施办法》" in turns[1]
    assert "查看政策原文 [https://www.qinghe.gov.cn/" in turns[1]  # links shown readably
    assert "《青禾区最低生活保障实施办法》· 所需材料" in turns[2]
    assert "您是想问：" in turns[3]
    assert "2. " in turns[3]
    assert "机器人：《" in turns[4] or "机器人：问：" in turns[4]
    assert "没有找到" in turns[5]
    assert "（无回复）" in turns[6]
