"""Which enterprises a policy's 免申即享 / subsidy notice is for, and whom to tell.

``assess`` evaluates the policy's ``conditions`` against every enterprise profile, a chunk of
rows at a time (``push.eligibility``): 符合 ones are the audience, 待确认 ones (可能符合) are
listed for staff with the conditions their profile cannot settle, 不符合 ones are dropped.
Enterprises the policy was already pushed to (``policy_push_ledger``) are left out, so no
enterprise hears of one policy twice; the delivery engine makes that hold under concurrency by
claiming the ledger rows (``claim``) in the transaction that writes the deliveries. A policy
without conditions has no eligible enterprise: nothing is pushed as if it qualified.

Each function has a sync form (``…_in``, on a ``Connection``, for code inside ``run_sync``
such as the outbox's materialiser) and an async one on an ``AsyncConnection`` (or, for the
read-only ones, an ``AsyncEngine``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.db import insert_for
from policy_index.model import Policy
from push.eligibility import Evaluation, Verdict, evaluate
from push.profiles import Enterprise
from push.tables import CONTACTS, ENTERPRISES, MAYBE, POLICY_LEDGER

CHUNK = 1000
T = TypeVar("T")

Database = AsyncConnection | AsyncEngine


@dataclass(frozen=True, slots=True)
class Candidate:
    enterprise: Enterprise
    evaluation: Evaluation
    openids: tuple[str, ...] = ()  # its contacts (eligible ones only)

    def detail(self) -> dict[str, Any]:
        """What a delivery records of why (``push_delivery.detail``)."""
        return {
            "uscc": self.enterprise.uscc,
            "name": self.enterprise.name,
            "verdict": self.evaluation.verdict.value,
            "reasons": list(self.evaluation.reasons),
        }


@dataclass(frozen=True, slots=True)
class Assessment:
    policy_id: str
    eligible: list[Candidate] = field(default_factory=list)  # 符合, not yet told
    maybe: list[Candidate] = field(default_factory=list)  # 待确认 (可能符合), not yet told
    notified: int = 0  # enterprises already told of this policy (the ledger)
    checked: int = 0  # enterprise profiles evaluated
    conditional: bool = True  # False: the policy has no conditions, so nobody qualifies


async def _run(db: Database, work: Callable[[Connection], T]) -> T:
    if isinstance(db, AsyncConnection):
        return await db.run_sync(work)
    async with db.connect() as conn:
        return await conn.run_sync(work)


def assess_in(conn: Connection, policy: Policy, *, include_notified: bool = False) -> Assessment:
    """Evaluate every enterprise against ``policy.conditions`` (see the module docstring), on a
    sync connection (inside ``run_sync``, as the outbox materialises); ``assess`` is the same,
    awaited."""
    if policy.conditions is None:
        return Assessment(policy.id, conditional=False)
    eligible: list[Candidate] = []
    maybe: list[Candidate] = []
    checked = notified = 0
    e = ENTERPRISES.c
    ledger = select(POLICY_LEDGER.c.enterprise_id).where(POLICY_LEDGER.c.policy_id == policy.id)
    told = set(conn.execute(ledger).scalars())
    after = 0
    while True:
        query = select(*ENTERPRISES.c).where(e.id > after).order_by(e.id).limit(CHUNK)
        rows = conn.execute(query).mappings().all()
        if not rows:
            break
        after = rows[-1]["id"]
        for row in rows:
            if row["id"] in told and not include_notified:
                notified += 1
                continue
            checked += 1
            enterprise = Enterprise.of(row)
            result = evaluate(policy.conditions, enterprise.profile())
            if result.verdict is Verdict.MEETS:
                eligible.append(Candidate(enterprise, result))
            elif result.verdict is Verdict.UNKNOWN:
                maybe.append(Candidate(enterprise, result))
    contacts = _contacts(conn, [c.enterprise.id for c in eligible])
    eligible = [
        Candidate(c.enterprise, c.evaluation, contacts.get(c.enterprise.id, ())) for c in eligible
    ]
    return Assessment(policy.id, eligible, maybe, notified, checked)


async def assess(db: Database, policy: Policy, *, include_notified: bool = False) -> Assessment:
    return await _run(db, lambda c: assess_in(c, policy, include_notified=include_notified))


def _contacts(conn: Connection, ids: list[int]) -> dict[int, tuple[str, ...]]:
    out: dict[int, list[str]] = {}
    c = CONTACTS.c
    for start in range(0, len(ids), CHUNK):
        query = (
            select(c.enterprise_id, c.openid)
            .where(c.enterprise_id.in_(ids[start : start + CHUNK]))
            .order_by(c.enterprise_id, c.openid)
        )
        for row in conn.execute(query):
            out.setdefault(row.enterprise_id, []).append(row.openid)
    return {k: tuple(v) for k, v in out.items()}


def eligible_contacts_in(conn: Connection, policy: Policy) -> list[tuple[int, str, Evaluation]]:
    """(enterprise id, contact openid, why it qualifies) for every contact of every enterprise
    that meets the policy and has not been told of it yet; an enterprise without contacts has
    no row."""
    return [
        (c.enterprise.id, openid, c.evaluation)
        for c in assess_in(conn, policy).eligible
        for openid in c.openids
    ]


async def eligible_contacts(db: Database, policy: Policy) -> list[tuple[int, str, Evaluation]]:
    return await _run(db, lambda c: eligible_contacts_in(c, policy))


def record_maybe_in(conn: Connection, notice_id: int, maybe: Iterable[Candidate]) -> int:
    """Store the 可能符合 list of a notice for staff (``notice_maybe``); rows already there stay."""
    rows = [
        {
            "notice_id": notice_id,
            "enterprise_id": c.enterprise.id,
            "unknown": c.evaluation.unknown_json(),
        }
        for c in maybe
    ]
    if rows:
        stmt = insert_for(conn.dialect, MAYBE).on_conflict_do_nothing(
            index_elements=["notice_id", "enterprise_id"]
        )
        for start in range(0, len(rows), CHUNK):
            conn.execute(stmt, rows[start : start + CHUNK])
    return len(rows)


async def record_maybe(conn: AsyncConnection, notice_id: int, maybe: Iterable[Candidate]) -> int:
    return await conn.run_sync(lambda c: record_maybe_in(c, notice_id, maybe))


def claim_in(
    conn: Connection,
    policy_id: str,
    notice_id: int,
    enterprise_ids: Iterable[int],
    now: dt.datetime,
) -> set[int]:
    """Record that these enterprises are told of the policy by this notice; return the ids now
    held by this notice. An enterprise the ledger already gives to another notice is not
    returned; running it again for the same notice returns the same ids (a resumed
    materialisation; deliveries are unique per notice and openid). Run it in the transaction
    that writes the deliveries, and write deliveries only for the ids returned: that is what
    makes "never twice" hold when two workers race."""
    held: set[int] = set()
    ids = sorted(set(enterprise_ids))
    ledger = POLICY_LEDGER.c
    insert = insert_for(conn.dialect, POLICY_LEDGER).on_conflict_do_nothing(
        index_elements=["policy_id", "enterprise_id"]
    )
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        conn.execute(
            insert,
            [
                {"policy_id": policy_id, "enterprise_id": i, "notice_id": notice_id, "at": now}
                for i in chunk
            ],
        )
        mine = select(ledger.enterprise_id).where(
            ledger.policy_id == policy_id,
            ledger.notice_id == notice_id,
            ledger.enterprise_id.in_(chunk),
        )
        held.update(conn.execute(mine).scalars())
    return held


async def claim(
    conn: AsyncConnection,
    policy_id: str,
    notice_id: int,
    enterprise_ids: Iterable[int],
    now: dt.datetime,
) -> set[int]:
    return await conn.run_sync(lambda c: claim_in(c, policy_id, notice_id, enterprise_ids, now))


def grants(policy: Policy) -> str | None:
    """What the policy gives, for the message: the guide's 补贴标准, else its summary."""
    if policy.guide is not None and policy.guide.standard:
        return policy.guide.standard
    return policy.summary


def eligibility_text(policy: Policy, candidate: Candidate) -> str:
    """The sentence an eligible enterprise's contact reads: the policy, what it grants, and why
    this enterprise qualifies (its reasons)."""
    kind = "免申即享" if policy.exempt_application else "惠企政策"
    why = "；".join(candidate.evaluation.reasons)
    text = (
        f"【{kind}】{candidate.enterprise.name}：根据企业档案，"
        f"贵企业符合《{policy.title}》的条件（{why}）。"
    )
    if (granted := grants(policy)) is not None:
        text += f"\n可享受：{granted}"
    if policy.exempt_application:
        text += "\n无需申请，按政策直接兑现。"
    return text
