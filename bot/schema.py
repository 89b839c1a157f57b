"""The whole schema: imports every package's table module so ``Base.metadata`` is complete."""

from __future__ import annotations

from sqlalchemy import MetaData

import policy_index.tables  # noqa: F401 - registers the policy-library tables
import push.notice_versions
import push.tables  # noqa: F401 - subscriptions, enterprises, staff, notices, the outbox
from bot import (  # noqa: F401 - each module registers its tables
    conversations,  # conversation state
    inbox,  # staff answers to unanswered questions and their deliveries
    models,  # callback receipts, nonces, access token
    questions,  # the question log and unanswered inbox
)
from bot.console import sessions  # noqa: F401 - the staff console's sessions
from bot.db import Base


def metadata() -> MetaData:
    return Base.metadata
