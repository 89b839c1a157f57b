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

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Connection

from bot.db import insert_for
from policy_index.model import Policy
from push.audience import consented, initial_state
from push.config import QuietHours
from push.tables import DELIVERIES, NOTICES, Channel
from push.targeting import Candidate, assess_in, claim_in, record_maybe_in


def materialise(
    conn: Connection,
    notice: Mapping[str, Any],
    policy: Policy | None,
    now: datetime,
    quiet: QuietHours | None,
    consent_template: str | None = None,
) -> int:
    """Write the deliveries of an eligibility notice; returns how many were added.

    On the subscription-message channel only contacts who consented are written, and an
    enterprise none of whose contacts did is not claimed in the policy ledger (a later notice
    on another channel may still tell it)."""
    added = 0
    if policy is not None and policy.conditions is not None:
        assessment = assess_in(conn, policy)
        reachable = _reachable(conn, assessment.eligible, notice, consent_template)
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


def _reachable(
    conn: Connection,
    eligible: Sequence[Candidate],
    notice: Mapping[str, Any],
    consent_template: str | None,
) -> list[Candidate]:
    reachable = [c for c in eligible if c.openids]
    if notice["channel"] != Channel.SUBSCRIBE:
        return reachable
    yes = consented(conn, (o for c in reachable for o in c.openids), consent_template)
    narrowed = (replace(c, openids=tuple(o for o in c.openids if o in yes)) for c in reachable)
    return [c for c in narrowed if c.openids]


def count(
    conn: Connection,
    policy: Policy | None,
    notice: Mapping[str, Any],
    consent_template: str | None = None,
) -> tuple[int, int]:
    """(contacts that would be sent to now, enterprises that may qualify) for the preview."""
    if policy is None or policy.conditions is None:
        return 0, 0
    assessment = assess_in(conn, policy)
    reachable = _reachable(conn, assessment.eligible, notice, consent_template)
    return sum(len(c.openids) for c in reachable), len(assessment.maybe)
