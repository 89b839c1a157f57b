"""Small look-ups over a library that the conversations need besides the matcher."""

from __future__ import annotations

import datetime as dt

from policy_index.model import Library, Policy


def current_replacement(library: Library, policy_id: str, today: dt.date) -> Policy | None:
    """The policy in force that (through a chain of ``replaced_by``) replaces this one, if any.

    None when the policy is itself in force, unknown, or has no replacement in force.
    """
    seen: set[str] = set()
    current = library.policy(policy_id)
    if current is None or current.in_force(today):
        return None
    while current is not None and current.replaced_by and current.id not in seen:
        seen.add(current.id)
        current = library.policy(current.replaced_by)
        if current is not None and current.in_force(today):
            return current
    return None
