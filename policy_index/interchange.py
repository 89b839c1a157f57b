"""Reading and writing the library interchange format (docs/policy-library-format.md).

Every problem is reported with the file, the line and the field, and reading stops at nothing:
all errors of a file are collected so staff can fix them in one pass.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from policy_index.conditions import Condition, ConditionError, parse_conditions
from policy_index.dates import parse_date
from policy_index.errors import LibraryFormatError, RecordError
from policy_index.model import (
    AUDIENCES,
    GUIDE_FIELDS,
    INTERPRETATION_KINDS,
    Alias,
    Guide,
    Interpretation,
    Level,
    Library,
    Policy,
    QAPair,
    Status,
)

ID_PATTERN = re.compile(r"^[^\s]{1,64}$")
LIST_SPLIT = re.compile(r"[|；;，,、]")
PHRASE_SPLIT = re.compile(r"\|")
POLICY_FIELDS = (
    "id",
    "title",
    "doc_number",
    "issuer",
    "level",
    "region",
    "date",
    "effective_date",
    "expiry_date",
    "status",
    "replaced_by",
    "audience",
    "topics",
    "summary",
    "body",
    "source_url",
    "exempt_application",
    "aliases",
    "interpretations",
    "qa",
    "guide",
    "conditions",
)
TRUE_WORDS = {"true", "1", "yes", "是", "y"}
FALSE_WORDS = {"false", "0", "no", "否", "n", ""}


@dataclass
class _Record:
    """Reads typed fields out of one raw record, collecting what is wrong with it."""

    raw: Mapping[str, Any]
    errors: list[tuple[str, str]] = field(default_factory=list)

    def fail(self, name: str, message: str) -> None:
        self.errors.append((name, message))

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(name, "is required")
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.fail(name, "must be text")
            return None
        return value.strip()

    def ident(self, name: str, *, required: bool = False) -> str | None:
        value = self.text(name, required=required)
        if value is not None and not ID_PATTERN.match(value):
            self.fail(name, "must be 1–64 characters without spaces")
            return None
        return value

    def day(self, name: str, *, end: bool = False) -> date | None:
        """A date as precise as given (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``); a partial one
        stands for the first day of its period, or its last when ``end`` (an expiry date)."""
        value = self.text(name)
        if not value:
            return None
        try:
            return parse_date(value, end=end)
        except ValueError:
            self.fail(name, f"must be a date YYYY-MM-DD, YYYY-MM or YYYY, got {value!r}")
            return None

    def words(self, name: str, split: re.Pattern[str] = LIST_SPLIT) -> tuple[str, ...]:
        """A list of strings; as text, split by ``split`` (CSV cells)."""
        value = self.raw.get(name)
        if value is None or value == "":
            return ()
        if isinstance(value, str):
            items = [v.strip() for v in split.split(value)]
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            items = [v.strip() for v in value]
        else:
            self.fail(name, "must be a list of strings")
            return ()
        return tuple(dict.fromkeys(v for v in items if v))

    def flag(self, name: str) -> bool:
        value = self.raw.get(name)
        if value is None or isinstance(value, bool):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
            return value.strip().lower() in TRUE_WORDS
        self.fail(name, "must be true or false")
        return False

    def choice(self, name: str, enum: type[Status] | type[Level]) -> Any:
        value = self.text(name)
        if value is None:
            return None
        try:
            return enum(value)
        except ValueError:
            allowed = "、".join(e.value for e in enum)
            self.fail(name, f"must be one of {allowed}, got {value!r}")
            return None


def parse_policy(
    raw: Mapping[str, Any],
) -> tuple[Policy | None, list[QAPair], list[tuple[str, str]]]:
    r = _Record(raw)
    unknown = set(raw) - set(POLICY_FIELDS) - {"kind"}
    for name in sorted(unknown):
        r.fail(name, "is not a policy field (see docs/policy-library-format.md)")
    policy_id = r.ident("id", required=True)
    title = r.text("title", required=True)
    audience = r.words("audience")
    for who in audience:
        if who not in AUDIENCES:
            r.fail("audience", f"must be 个人, 企业 or both, got {who!r}")
    status = r.choice("status", Status) or Status.CURRENT
    replaced_by = r.ident("replaced_by")
    if replaced_by is not None and replaced_by == policy_id:
        r.fail("replaced_by", "cannot name the policy itself")
    interpretations = _interpretations(r)
    guide = _guide(r)
    conditions = _conditions(r)
    qa = _nested_qa(r, policy_id)
    fields = {
        "doc_number": r.text("doc_number"),
        "issuer": r.text("issuer"),
        "level": r.choice("level", Level),
        "region": r.text("region"),
        "date": r.day("date"),
        "effective_date": r.day("effective_date"),
        "expiry_date": r.day("expiry_date", end=True),
        "topics": r.words("topics"),
        "summary": r.text("summary"),
        "body": r.text("body"),
        "source_url": r.text("source_url"),
        "exempt_application": r.flag("exempt_application"),
        "aliases": r.words("aliases"),
    }
    if r.errors or policy_id is None or title is None:
        return None, [], r.errors
    policy = Policy(
        id=policy_id,
        title=title,
        status=status,
        replaced_by=replaced_by,
        audience=audience,
        interpretations=interpretations,
        guide=guide,
        conditions=conditions,
        **fields,
    )
    return policy, qa, []


def _interpretations(r: _Record) -> tuple[Interpretation, ...]:
    value = r.raw.get("interpretations")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        r.fail("interpretations", "must be a list of objects")
        return ()
    out = []
    for i, item in enumerate(value, 1):
        sub = _Record(item)
        title = sub.text("title", required=True)
        kind = sub.text("kind") or "文字"
        if kind not in INTERPRETATION_KINDS:
            sub.fail("kind", f"must be one of {'、'.join(INTERPRETATION_KINDS)}")
        for name, message in sub.errors:
            r.fail(f"interpretations[{i}].{name}", message)
        if title and not sub.errors:
            out.append(Interpretation(title, sub.text("url"), kind, sub.text("summary")))
    return tuple(out)


def _guide(r: _Record) -> Guide | None:
    value = r.raw.get("guide")
    if value is None:
        return None
    if not isinstance(value, dict):
        r.fail("guide", "must be an object")
        return None
    sub = _Record(value)
    for name in sorted(set(value) - set(GUIDE_FIELDS)):
        sub.fail(name, f"is not a guide field ({', '.join(GUIDE_FIELDS)})")
    guide = Guide(**{name: sub.text(name) for name in GUIDE_FIELDS})
    for name, message in sub.errors:
        r.fail(f"guide.{name}", message)
    return guide or None


def _conditions(r: _Record) -> Condition | None:
    value = r.raw.get("conditions")
    if value is None:
        return None
    try:
        return parse_conditions(value)
    except ConditionError as exc:
        for path, message in exc.problems:
            r.fail(f"conditions.{path}" if path else "conditions", message)
        return None


def _nested_qa(r: _Record, policy_id: str | None) -> list[QAPair]:
    value = r.raw.get("qa")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        r.fail("qa", "must be a list of objects")
        return []
    out = []
    for i, item in enumerate(value, 1):
        qa, errors = parse_qa({"id": f"{policy_id}-qa{i}", **item, "policy_id": policy_id})
        for name, message in errors:
            r.fail(f"qa[{i}].{name}", message)
        if qa is not None:
            out.append(qa)
    return out


def parse_qa(raw: Mapping[str, Any]) -> tuple[QAPair | None, list[tuple[str, str]]]:
    r = _Record(raw)
    allowed = {"kind", "id", "question", "similar", "answer", "policy_id"}
    for name in sorted(set(raw) - allowed):
        r.fail(name, "is not a Q&A field")
    qa_id = r.ident("id", required=True)
    question = r.text("question", required=True)
    answer = r.text("answer", required=True)
    similar = r.words("similar", PHRASE_SPLIT)  # phrases may contain commas
    policy_id = r.ident("policy_id")
    if r.errors or qa_id is None or question is None or answer is None:
        return None, r.errors
    return QAPair(qa_id, question, answer, similar, policy_id), []


def parse_alias(raw: Mapping[str, Any]) -> tuple[Alias | None, list[tuple[str, str]]]:
    r = _Record(raw)
    for name in sorted(set(raw) - {"kind", "alias", "canonical"}):
        r.fail(name, "is not an alias field")
    alias = r.text("alias", required=True)
    canonical = r.text("canonical", required=True)
    if alias and canonical and alias == canonical:
        r.fail("canonical", "must differ from the alias")
    if r.errors or alias is None or canonical is None:
        return None, r.errors
    return Alias(alias, canonical), []


# --- files ----------------------------------------------------------------------------------


def iter_raw_records(path: Path) -> Iterator[tuple[int, Mapping[str, Any] | RecordError]]:
    """(line number, raw record or the error reading it) for a .jsonl or .csv file."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        yield from _csv_records(path, text)
        return
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError as exc:
            yield lineno, RecordError(str(path), lineno, "-", f"not valid JSON ({exc.msg})")
            continue
        if not isinstance(value, dict):
            yield lineno, RecordError(str(path), lineno, "-", "must be a JSON object")
            continue
        yield lineno, value


def _csv_records(path: Path, text: str) -> Iterator[tuple[int, Mapping[str, Any] | RecordError]]:
    reader = csv.DictReader(io.StringIO(text))
    for name in reader.fieldnames or []:
        if name not in POLICY_FIELDS or name in ("interpretations", "qa", "guide", "conditions"):
            yield 1, RecordError(str(path), 1, name, "is not a flat policy field usable in CSV")
            return
    for row in reader:
        yield (
            reader.line_num,
            {k: v for k, v in row.items() if k is not None and v not in (None, "")},
        )


@dataclass
class _Builder:
    """Accumulates records from several files, remembering where each came from."""

    policies: dict[str, Policy] = field(default_factory=dict)
    qa: dict[str, QAPair] = field(default_factory=dict)
    aliases: dict[str, Alias] = field(default_factory=dict)
    errors: list[RecordError] = field(default_factory=list)
    seen: dict[str, str] = field(default_factory=dict)
    references: list[tuple[str, int, str, str]] = field(default_factory=list)

    def add(self, path: Path, lineno: int, raw: Mapping[str, Any]) -> None:
        kind = raw.get("kind", "policy")
        refs: list[tuple[str, str]] = []
        if kind == "policy":
            policy, nested, problems = parse_policy(raw)
            key = f"policy:{raw.get('id')}"
            if policy is not None:
                self.policies[policy.id] = policy
                self.qa.update((q.id, q) for q in nested)
                refs = [("replaced_by", policy.replaced_by)] if policy.replaced_by else []
        elif kind == "qa":
            item, problems = parse_qa(raw)
            key = f"qa:{raw.get('id')}"
            if item is not None:
                self.qa[item.id] = item
                refs = [("policy_id", item.policy_id)] if item.policy_id else []
        elif kind == "alias":
            alias, problems = parse_alias(raw)
            key = f"alias:{raw.get('alias')}"
            if alias is not None:
                self.aliases[alias.alias] = alias
        else:
            problems, key = [("kind", f"must be policy, qa or alias, got {kind!r}")], ""
        self.errors.extend(RecordError(str(path), lineno, f, m) for f, m in problems)
        self.references.extend((str(path), lineno, name, target) for name, target in refs)
        if key and not problems:
            if key in self.seen:
                message = f"duplicates the record at {self.seen[key]}"
                self.errors.append(RecordError(str(path), lineno, "id", message))
            self.seen[key] = f"{path}:{lineno}"

    def check_references(self, known_policy_ids: Iterable[str]) -> None:
        known = set(self.policies) | set(known_policy_ids)
        self.errors.extend(
            RecordError(file, line, name, f"names policy {target!r}, which is not in the library")
            for file, line, name, target in self.references
            if target not in known
        )


def read_library(paths: Iterable[Path], *, known_policy_ids: Iterable[str] = ()) -> Library:
    """Parse files into one Library; raise LibraryFormatError listing every bad field.

    ``replaced_by`` and ``policy_id`` must name a policy in the files or in
    ``known_policy_ids`` (those already in the database).
    """
    builder = _Builder()
    for path in paths:
        for lineno, raw in iter_raw_records(path):
            if isinstance(raw, RecordError):
                builder.errors.append(raw)
            else:
                builder.add(path, lineno, raw)
    builder.check_references(known_policy_ids)
    if builder.errors:
        raise LibraryFormatError(builder.errors)
    return Library.of(builder.policies.values(), builder.qa.values(), builder.aliases.values())
