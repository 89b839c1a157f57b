"""What the bot says: one module per conversation kind, assembled in an explicit order."""

from __future__ import annotations

from bot.routing import Router
from handlers import fallback, welcome


def build_router() -> Router:
    root = Router(name="root")
    # 1. Follow/unfollow and the help text: fixed answers that must win over any dialog.
    root.include(welcome.router)
    # 2. Last: polite defaults for every kind of message no other router took.
    root.include(fallback.router)
    return root
