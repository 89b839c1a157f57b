"""What an import or an edit would change in the library, checked before anything is written.

``validate_policy`` reads one policy record (the shape of a line of the library format, e.g.
built from the console's edit form) with exactly the parser the import uses, so a field the
import would refuse is refused here too, named the same way. ``compare`` lists, record by
record, what a parsed library would add or change in the current one: the import preview.
Both are pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from policy_index.errors import LibraryFormatError, RecordError
from policy_index.interchange import parse_policy
from policy_index.model import Alias, Library, Policy, QAPair

Action = Literal["new", "changed", "same"]


def validate_policy(
    raw: Mapping[str, Any], *, known_policy_ids: Iterable[str], source: str = "-", line: int = 0
) -> tuple[Policy, list[QAPair]]:
    """The policy and its nested Q&A pairs, or ``LibraryFormatError`` naming every bad field
    (``replaced_by`` must name another policy of the library, as on import)."""
    policy, qa, problems = parse_policy(raw)
    errors = [RecordError(source, line, name, message) for name, message in problems]
    target = policy.replaced_by if policy is not None else None
    if policy is not None and target is not None and target not in set(known_policy_ids):
        message = f"names policy {target!r}, which is not in the library"
        errors.append(RecordError(source, line, "replaced_by", message))
    if errors or policy is None:
        raise LibraryFormatError(errors)
    return policy, qa


@dataclass(frozen=True, slots=True)
class Change:
    kind: Literal["policy", "qa", "alias"]
    id: str
    label: str  # the title, the question or the canonical name
    action: Action
    fields: tuple[str, ...] = ()  # the fields that differ, for "changed"


@dataclass(frozen=True, slots=True)
class Changes:
    entries: tuple[Change, ...]

    def count(self, action: Action, kind: str | None = None) -> int:
        return sum(1 for e in self.entries if e.action == action and kind in (None, e.kind))

    @property
    def any(self) -> bool:
        return any(e.action != "same" for e in self.entries)


def _differs(before: Any, after: Any) -> tuple[str, ...]:
    return tuple(
        f.name
        for f in dataclasses.fields(after)
        if getattr(before, f.name) != getattr(after, f.name)
    )


def _entry(
    kind: Literal["policy", "qa", "alias"],
    key: str,
    label: str,
    before: Policy | QAPair | Alias | None,
    after: Policy | QAPair | Alias,
) -> Change:
    if before is None:
        return Change(kind, key, label, "new")
    fields = _differs(before, after)
    return Change(kind, key, label, "changed" if fields else "same", fields)


def compare(current: Library, incoming: Library) -> Changes:
    """Every record of ``incoming`` as new, changed (which fields) or the same as in
    ``current``; an import replaces records by id and never deletes any."""
    aliases = {a.alias: a for a in current.aliases}
    entries = [_entry("policy", p.id, p.title, current.policy(p.id), p) for p in incoming.policies]
    entries += [_entry("qa", q.id, q.question, current.qa(q.id), q) for q in incoming.qa_pairs]
    entries += [
        _entry("alias", a.alias, a.canonical, aliases.get(a.alias), a) for a in incoming.aliases
    ]
    order = {"new": 0, "changed": 1, "same": 2}
    return Changes(tuple(sorted(entries, key=lambda e: order[e.action])))
