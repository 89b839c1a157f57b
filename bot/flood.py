"""Flood control: how many messages a user sent in the last minute, in every process.

Several server processes share the callback port, so one user's messages land in different
processes and an in-process counter would allow ``workers ×`` the limit. The count comes from
the callback receipts instead, at no extra round trip: every receipt of what a user sent names
the sender, and the ledger's batch that claims a message counts that sender's receipts of the
last 60 seconds (indexed by sender and time; the statement is in ``bot.receipt_sql``). The
handler context then says whether the user is over the limit, and the flood router answers
politely; nothing is dropped.
"""

from __future__ import annotations

from datetime import timedelta

from bot.wechat import ClickEvent, InboundEvent, InboundMessage

WINDOW = timedelta(minutes=1)  # the ledger counts each sender's receipts this far back


def counts_as_sent(msg: InboundMessage) -> bool:
    """What flood control counts: messages and menu clicks, not other events."""
    return not isinstance(msg, InboundEvent) or isinstance(msg, ClickEvent)
