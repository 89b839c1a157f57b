"""The one object a handler receives besides the message: frozen, typed, built per message."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from bot.config import Settings


@dataclass(frozen=True, slots=True)
class HandlerContext:
    """What a handler may know and use. Handlers do no SQL or HTTP themselves."""

    settings: Settings
    openid: str
    account: str  # the official account's own id (ToUserName)
    now: datetime  # timezone-aware UTC
    state: str | None  # the user's conversation state, None outside any dialog
    log: logging.LoggerAdapter[logging.Logger]
