"""The whole schema: imports every package's table module so ``Base.metadata`` is complete."""

from __future__ import annotations

from sqlalchemy import MetaData

import bot.models  # noqa: F401 - registers the callback tables
import policy_index.tables  # noqa: F401 - registers the policy-library tables
from bot.db import Base


def metadata() -> MetaData:
    return Base.metadata
