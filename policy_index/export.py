"""Writing the library back in the interchange format (docs/policy-library-format.md)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from policy_index.conditions import to_json
from policy_index.dates import iso
from policy_index.model import Interpretation, Library, Policy, QAPair, Status

TEXT_FIELDS = ("doc_number", "issuer", "region", "summary", "body", "source_url", "replaced_by")
DATE_FIELDS = ("date", "effective_date", "expiry_date")


def _interpretation(i: Interpretation) -> dict[str, str]:
    pairs = (("title", i.title), ("url", i.url), ("kind", i.kind), ("summary", i.summary))
    return {k: v for k, v in pairs if v}


def policy_record(policy: Policy, qa: Iterable[QAPair] = ()) -> dict[str, Any]:
    record: dict[str, Any] = {"id": policy.id, "title": policy.title}
    record.update({n: v for n in TEXT_FIELDS if (v := getattr(policy, n)) is not None})
    if policy.level is not None:
        record["level"] = policy.level.value
    record.update({n: iso(v) for n in DATE_FIELDS if (v := getattr(policy, n)) is not None})
    if policy.status is not Status.CURRENT:
        record["status"] = policy.status.value
    if policy.audience:
        record["audience"] = ",".join(policy.audience)
    record.update({n: list(v) for n in ("topics", "aliases") if (v := getattr(policy, n))})
    if policy.exempt_application:
        record["exempt_application"] = True
    if policy.interpretations:
        record["interpretations"] = [_interpretation(i) for i in policy.interpretations]
    if policy.guide:
        record["guide"] = dict(policy.guide.items())
    if policy.conditions is not None:
        record["conditions"] = to_json(policy.conditions)
    if nested := [qa_record(q, nested=True) for q in qa]:
        record["qa"] = nested
    return record


def qa_record(qa: QAPair, *, nested: bool = False) -> dict[str, Any]:
    record: dict[str, Any] = {} if nested else {"kind": "qa"}
    record.update({"id": qa.id, "question": qa.question})
    if qa.similar:
        record["similar"] = list(qa.similar)
    record["answer"] = qa.answer
    if qa.policy_id and not nested:
        record["policy_id"] = qa.policy_id
    return record


def dump_library(library: Library) -> Iterator[str]:
    """The library as JSON Lines: policies (with their Q&A), standalone Q&A, aliases."""
    for policy in sorted(library.policies, key=lambda p: p.id):
        nested = sorted(library.qa_for(policy.id), key=lambda q: q.id)
        yield json.dumps(policy_record(policy, nested), ensure_ascii=False)
    for pair in sorted(library.qa_pairs, key=lambda q: q.id):
        if pair.policy_id is None or library.policy(pair.policy_id) is None:
            yield json.dumps(qa_record(pair), ensure_ascii=False)
    for alias in sorted(library.aliases, key=lambda a: a.alias):
        yield json.dumps(
            {"kind": "alias", "alias": alias.alias, "canonical": alias.canonical},
            ensure_ascii=False,
        )
