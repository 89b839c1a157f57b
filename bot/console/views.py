"""The staff side's JSON: groups, answers, deliveries — never an openid. Times are local
(Asia/Shanghai) ISO 8601 with their offset."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.console.desk import AnswerOutcome
from bot.inbox import Answer, Group
from policy_index.index import LOCAL_TZ


def local(moment: datetime | None) -> str | None:
    return moment.astimezone(LOCAL_TZ).isoformat(timespec="seconds") if moment else None


def group_json(group: Group, now: datetime) -> dict[str, Any]:
    return {
        "id": group.id,
        "text": group.text,
        "questions": len(group.questions),
        "reachable_askers": group.reachable_askers(now),
        "first_asked": local(group.questions[0].asked_at),
        "last_asked": local(group.questions[-1].asked_at),
        "members": [
            {
                "id": q.id,
                "text": q.text,
                "asked_at": local(q.asked_at),
                "reachable": q.reachable(now),
            }
            for q in group.questions
        ],
    }


def answer_json(answer: Answer) -> dict[str, Any]:
    return {
        "id": answer.id,
        "created_at": local(answer.created_at),
        "question": answer.question,
        "text": answer.text,
        "by": answer.author,
        "qa_id": answer.qa_id,
        "policy_id": answer.policy_id,
        "summary": answer.summary(),
        "deliveries": [
            {
                "question_id": d.question_id,
                "question": d.question,
                "asked_at": local(d.asked_at),
                "status": d.status.value,
                "reason": d.reason,
                "errcode": d.errcode,
                "attempted_at": local(d.attempted_at),
                "finished_at": local(d.finished_at),
            }
            for d in answer.deliveries
        ],
    }


def outcome_json(outcome: AnswerOutcome) -> dict[str, Any]:
    return {
        "answer": answer_json(outcome.answer) if outcome.answer else None,
        "earlier_answers": [answer_json(a) for a in outcome.earlier],
        "already_answered": sorted(outcome.claim.earlier),
        "not_in_inbox": list(outcome.claim.not_open),
        "qa": {
            "id": outcome.qa.id,
            "question": outcome.qa.question,
            "policy_id": outcome.qa.policy_id,
        }
        if outcome.qa
        else None,
    }
