"""What the bot says: one module per conversation kind, assembled in an explicit order."""

from __future__ import annotations

from bot.routing import Router
from handlers import (
    enterprise,
    fallback,
    flood,
    menu,
    push_events,
    questions,
    subscriptions,
    welcome,
)


def build_router() -> Router:
    root = Router(name="root")
    # 0. A user over the flood-control limit is told to slow down, whatever they sent.
    root.include(flood.router)
    # 1. Follow/unfollow and the help text: fixed answers that must win over any dialog.
    root.include(welcome.router)
    #    WeChat's reports on our pushes (template results, subscription-notice consent).
    root.include(push_events.router)
    # 2. Custom-menu clicks (handlers/menu.toml): answered by key, whatever dialog is open.
    root.include(menu.router)
    # 3. Subscriptions (订阅 / 退订 / 我的订阅, 免打扰) and enterprise contacts (绑定 <credit code>
    #    <binding code>, 解绑, 我的企业): fixed forms, before any policy question.
    root.include(subscriptions.router)
    root.include(enterprise.router)
    # 4. Policy questions: numbered choices, follow-ups, then any other text to the matcher.
    root.include(questions.router)
    # 5. Last: polite defaults for every kind of message no other router took.
    root.include(fallback.router)
    return root
