"""Direct requests that are not policy questions: a person, the disclosure route, the list of
免申即享 policies. They get their fixed answers, never a policy guess."""

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


async def test_asking_for_the_exempt_list_gets_every_exempt_policy_in_force(
    resident: Resident,
) -> None:
    from datetime import datetime

    from handlers.menu import LOCAL_TZ, exempt_policies
    from policy_index.interchange import read_library
    from policy_index.library import SAMPLE_LIBRARY

    today = datetime.now(LOCAL_TZ).date()
    exempt = exempt_policies(read_library([SAMPLE_LIBRARY]), today)
    assert exempt
    reply = await resident.say("免审即享政策清单")  # typed with a homophone
    for policy in exempt:
        assert policy.title in reply
