"""Asking for a person or for the disclosure route gets the phone lines and how to apply,
never a policy guess."""

from __future__ import annotations

import pytest

from tests.integration.test_conversations import Resident, library_engine, resident

__all__ = ["library_engine", "resident"]  # fixtures used below


@pytest.mark.parametrize("words", ["人工", "转人工！", "依申请公开"])
async def test_asking_for_people_gets_the_human_routes(resident: Resident, words: str) -> None:
    reply = await resident.say(words)
    assert "12345" in reply
    assert "依申请公开" in reply
    assert "20 个工作日" in reply  # how long an answer to a disclosure request may take
    assert "《" not in reply  # no policy offered in its place


async def test_the_no_match_reply_points_to_a_route_that_answers(resident: Resident) -> None:
    reply = await resident.say("怎么考驾照")
    assert "回复“依申请公开”" in reply
    follow = await resident.say("依申请公开")
    assert "申请" in follow
    assert "20 个工作日" in follow
