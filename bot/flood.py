"""Flood control: how many messages a user sent in the last minute, in every process.

Several server processes share the callback port, so one user's messages land in different
processes and an in-process counter would allow ``workers ×`` the limit. The count comes from
the callback receipts instead, at no extra round trip: every receipt of what a user sent names
the sender, and the ledger's batch that claims a message counts that sender's receipts of the
last 60 seconds (indexed by sender and time). The handler context then says whether the user is
over the limit, and the flood router answers politely; nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.engine import Connection

from bot.models import CallbackReceipt
from bot.wechat import ClickEvent, InboundEvent, InboundMessage

WINDOW = timedelta(minutes=1)

_RECEIPTS: Table = CallbackReceipt.__table__  # type: ignore[assignment]
# Built once: it runs for every ledger batch that claims a user's message.
_SENT_SINCE = (
    select(_RECEIPTS.c.sender, func.count())
    .where(
        _RECEIPTS.c.sender.in_(bindparam("senders", expanding=True)),
        _RECEIPTS.c.created_at > bindparam("since"),
    )
    .group_by(_RECEIPTS.c.sender)
)


def counts_as_sent(msg: InboundMessage) -> bool:
    """What flood control counts: messages and menu clicks, not other events."""
    return not isinstance(msg, InboundEvent) or isinstance(msg, ClickEvent)


def sent_last_minute(conn: Connection, senders: Collection[str], now: datetime) -> dict[str, int]:
    """Receipts per sender in the last minute (one query for a whole batch)."""
    if not senders:
        return {}
    result = conn.execute(_SENT_SINCE, {"senders": list(senders), "since": now - WINDOW})
    return {row[0]: int(row[1]) for row in result}
