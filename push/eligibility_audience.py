"""The audience of a 免申即享 / subsidy notice: the contacts of the enterprises that meet the
policy's conditions (``push.targeting``), materialised into the outbox in one transaction.

A county holds thousands of enterprise profiles, not millions, so they are evaluated at once.
The never-twice ledger (``policy_push_ledger``) is claimed in the same transaction as the
deliveries are written: an enterprise told of the policy by another notice gets nothing, and
two workers racing on one notice write the same rows once (the outbox's unique key). The
enterprises that *may* qualify (a condition the profile cannot settle) are listed for staff
(``notice_maybe``), never sent to.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Connection

from bot.db import insert_for
from policy_index.model import Policy
from push.audience import initial_state
from push.config import QuietHours
from push.tables import DELIVERIES, NOTICES, Channel
from push.targeting import assess_in, claim_in, record_maybe_in


def materialise(
    conn: Connection,
    notice: Mapping[str, Any],
    policy: Policy | None,
    now: datetime,
    quiet: QuietHours | None,
) -> int:
    """Write the deliveries of an eligibility notice; returns how many were added."""
    added = 0
    if policy is not None and policy.conditions is not None:
        assessment = assess_in(conn, policy)
        reachable = [c for c in assessment.eligible if c.openids]
        held = claim_in(conn, policy.id, notice["id"], [c.enterprise.id for c in reachable], now)
        status, due = initial_state(None if notice["channel"] == Channel.MASS else quiet, now)
        rows = [
            {
                "notice_id": notice["id"],
                "openid": openid,
                "enterprise_id": c.enterprise.id,
                "channel": notice["channel"],
                "status": status.value,
                "attempts": 0,
                "next_attempt_at": due,
                "detail": c.detail(),
            }
            for c in reachable
            if c.enterprise.id in held
            for openid in c.openids
        ]
        if rows:
            stmt = insert_for(conn.dialect, DELIVERIES).on_conflict_do_nothing(
                index_elements=["notice_id", "openid"]
            )
            added = int(conn.execute(stmt, rows).rowcount or 0)
        record_maybe_in(conn, notice["id"], assessment.maybe)
    conn.execute(update(NOTICES).where(NOTICES.c.id == notice["id"]).values(materialised=True))
    return added


def count(conn: Connection, policy: Policy | None) -> tuple[int, int]:
    """(contacts that would be sent to now, enterprises that may qualify) for the preview."""
    if policy is None or policy.conditions is None:
        return 0, 0
    assessment = assess_in(conn, policy)
    return sum(len(c.openids) for c in assessment.eligible), len(assessment.maybe)
