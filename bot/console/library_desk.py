"""The policy library as the console changes it: import (checked and previewed first), edit,
repeal, aliases, export — each as the signed-in staff member.

The parsing and validation are the library format's own (``policy_index.interchange``, the
code behind ``gongkai import``), so the console refuses exactly what the command line refuses,
naming the line and the field, and then writes nothing. Every change is one transaction with
its audit row (``push.audit``), bumps the library revision (other processes rebuild within
``GONGKAI_MATCHER__REFRESH_S``) and rebuilds this process's index at once, so the chat
simulator answers from the new library on the next message.

An uploaded file waits for its confirmation in ``<state_dir>/console-imports``
(``bot.console.uploads``); it is checked again when confirmed, since the library may have
changed in between.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.console.uploads import Upload, Uploads
from policy_index.changes import Changes, compare, validate_policy
from policy_index.errors import LibraryFormatError, RecordError
from policy_index.export import dump_library, policy_record
from policy_index.interchange import ID_PATTERN, parse_alias, parse_qa, read_library
from policy_index.model import Library, Policy, QAPair, Status
from policy_index.repository import AfterWrite, ImportResult, LibraryRepository
from policy_index.service import PolicyService
from push import audit
from push.staff import Refused

SUFFIXES = (".jsonl", ".csv")
WRONG_KIND = "只能导入 .jsonl 或 .csv 文件（格式见《政策库文件格式》）。"
STALE = (
    "这条政策在您编辑期间已被其他人保存，您的修改没有保存。请重新打开编辑页面，在最新内容上修改。"
)
QA_STALE = (
    "这条问答在您编辑期间已被其他人修改，您的修改没有保存。请重新打开这条问答，在最新内容上修改。"
)
QA_GONE = "政策库中没有这条问答（可能已被删除）。"
QA_CHANGED = (
    "这条问答在您确认删除前已被其他人修改，没有删除。请重新打开这条问答，看过最新内容后再决定。"
)
QA_FIELDS = ("question", "answer", "similar", "policy_id")
AUDITED_IDS = 500  # the policies an import added or changed, as the audit row lists them


@dataclass(frozen=True, slots=True)
class Preview:
    upload: Upload
    changes: Changes


def _audited(actor: str, action: str, object_id: str, detail: dict[str, Any]) -> AfterWrite:
    async def write(conn: AsyncConnection) -> None:
        await audit.record(
            conn,
            actor=actor,
            action=action,
            object_type="policy_library",
            object_id=object_id,
            at=datetime.now(UTC),
            detail=detail,
        )

    return write


def _named(errors: list[RecordError], name: str) -> LibraryFormatError:
    """The errors of a stashed upload, naming the file staff chose instead of the stash."""
    return LibraryFormatError([RecordError(name, e.line, e.field, e.message) for e in errors])


class LibraryDesk:
    def __init__(self, engine: AsyncEngine, policies: PolicyService, uploads: Path) -> None:
        self.engine = engine
        self._repo = LibraryRepository(engine)
        self._policies = policies
        self._uploads = Uploads(uploads, SUFFIXES, WRONG_KIND)

    async def library(self) -> Library:
        return await self._repo.load()

    async def _changed(self) -> None:
        await self._policies.refresh()  # this process answers from the new library at once

    # --- import and export ----------------------------------------------------------------

    def stash(self, name: str, data: bytes) -> Upload:
        return self._uploads.stash(name, data)

    def upload(self, token: str, name: str) -> Upload:
        return self._uploads.upload(token, name)

    async def _read(self, upload: Upload) -> Library:
        try:
            return read_library([upload.path], known_policy_ids=await self._repo.policy_ids())
        except LibraryFormatError as exc:
            raise _named(exc.errors, upload.name) from None
        except UnicodeDecodeError:
            error = RecordError(upload.name, 0, "-", "文件不是 UTF-8 编码的文本")
            raise LibraryFormatError([error]) from None

    async def preview(self, upload: Upload) -> Preview:
        """What importing the file would change; ``LibraryFormatError`` if any line is bad."""
        incoming = await self._read(upload)
        return Preview(upload, compare(await self._repo.load(), incoming))

    async def run_import(self, upload: Upload, actor: str) -> ImportResult:
        incoming = await self._read(upload)
        changes = compare(await self._repo.load(), incoming)
        detail = {
            "file": upload.name,
            "new": changes.count("new"),
            "changed": changes.count("changed"),
            "same": changes.count("same"),
            "ids": [e.id for e in changes.entries if e.action != "same" and e.kind == "policy"][
                :AUDITED_IDS
            ],
        }
        result = await self._repo.upsert(
            incoming, then=_audited(actor, "library.import", upload.name, detail)
        )
        upload.path.unlink(missing_ok=True)
        await self._changed()
        return result

    async def export(self, actor: str) -> list[str]:
        lines = list(dump_library(await self._repo.load()))
        async with self.engine.begin() as conn:
            await _audited(actor, "library.export", "-", {"records": len(lines)})(conn)
        return lines

    # --- one policy -------------------------------------------------------------------------

    async def save(
        self,
        raw: dict[str, Any],
        actor: str,
        *,
        editing: Policy | None,
        version: str | None = None,
    ) -> tuple[Policy, tuple[str, ...]]:
        """Create or replace one policy (with exactly its Q&A pairs) from a record in the
        library format; returns it and the fields that changed. ``version`` is the policy's
        ``version_of`` when the form was opened: if someone saved it since, nothing is written
        (their change is not silently overwritten)."""
        library = await self._repo.load()
        known = library_ids(library)
        if editing is not None:
            raw = {**raw, "id": editing.id}  # the id is the key: never renamed by a form
            current = library.policy(editing.id)
            if current is None:
                raise Refused("这条政策已不在政策库中。", status=404)
            if version is not None and version != version_of(current, library.qa_for(current.id)):
                raise Refused(STALE, status=409)
        policy, qa = validate_policy(raw, known_policy_ids=known, source="表单")
        if editing is None and policy.id in known:
            message = f"policy {policy.id!r} already exists"
            raise LibraryFormatError([RecordError("表单", 0, "id", message)])
        before = library.policy(policy.id)
        changed = _changed_fields(before, library.qa_for(policy.id), policy, qa)
        if before is not None and not changed:
            return policy, ()
        action = "library.create" if before is None else "library.edit"
        detail = {"title": policy.title, "changed": list(changed)}
        await self._repo.save_policy(policy, qa, then=_audited(actor, action, policy.id, detail))
        await self._changed()
        return policy, changed

    async def repeal(self, policy_id: str, replaced_by: str | None, actor: str) -> Policy:
        """已废止, optionally naming the policy that replaces it (checked as on import)."""
        library = await self._repo.load()
        policy = library.policy(policy_id)
        if policy is None:
            raise Refused("政策库中没有这条政策。", status=404)
        qa = library.qa_for(policy_id)
        raw = policy_record(policy, qa) | {"status": Status.REPEALED.value}
        raw["replaced_by"] = replaced_by or None
        for q, nested in zip(qa, raw.get("qa", []), strict=True):
            nested["id"] = q.id  # keep the pairs' own ids (staff pairs are not "<id>-qaN")
        repealed, pairs = validate_policy(raw, known_policy_ids=library_ids(library), source="表单")
        detail = {"title": policy.title, "replaced_by": repealed.replaced_by}
        await self._repo.save_policy(
            repealed, pairs, then=_audited(actor, "library.repeal", policy_id, detail)
        )
        await self._changed()
        return repealed

    # --- Q&A pairs --------------------------------------------------------------------------

    async def save_qa(
        self,
        raw: dict[str, Any],
        actor: str,
        *,
        editing: str | None,
        version: str | None = None,
    ) -> tuple[QAPair, tuple[str, ...]]:
        """Create or replace one Q&A pair from a ``kind: qa`` record of the library format
        (checked by ``parse_qa``, its policy by the import's reference check); returns it and
        the fields that changed. A new pair without an id gets ``<policy id>-qaN`` or
        ``qa-N``. ``version`` is the pair's ``qa_version`` when the form was opened."""
        library = await self._repo.load()
        pairs = {q.id: q for q in library.qa_pairs}
        before = None
        if editing is not None:
            before = pairs.get(editing)
            if before is None:
                raise Refused(QA_GONE, status=404)
            if version is not None and version != qa_version(before):
                raise Refused(QA_STALE, status=409)
            raw = {**raw, "id": editing}  # the id is the key: never renamed by a form
        elif not raw.get("id"):
            raw = {**raw, "id": fresh_qa_id(raw.get("policy_id"), set(pairs))}
        pair, problems = parse_qa(raw)
        errors = [RecordError("表单", 0, f, m) for f, m in problems]
        if pair is not None and pair.policy_id and library.policy(pair.policy_id) is None:
            message = f"names policy {pair.policy_id!r}, which is not in the library"
            errors.append(RecordError("表单", 0, "policy_id", message))
        if pair is not None and editing is None and pair.id in pairs:
            errors.append(RecordError("表单", 0, "id", f"Q&A pair {pair.id!r} already exists"))
        if errors or pair is None:
            raise LibraryFormatError(errors)
        if before is None:
            changed: tuple[str, ...] = ("new",)
        else:
            changed = tuple(f for f in QA_FIELDS if getattr(before, f) != getattr(pair, f))
            if not changed:
                return pair, ()
        action = "library.qa_create" if before is None else "library.qa_edit"
        detail = {"question": pair.question, "policy_id": pair.policy_id, "changed": list(changed)}
        await self._repo.upsert(
            Library.of(qa_pairs=[pair]), then=_audited(actor, action, pair.id, detail)
        )
        await self._changed()
        return pair, changed

    async def remove_qa(self, qa_id: str, actor: str, *, version: str | None = None) -> QAPair:
        """Delete one Q&A pair (as shown when the deletion was confirmed, if ``version``)."""
        library = await self._repo.load()
        pair = next((q for q in library.qa_pairs if q.id == qa_id), None)
        if pair is None:
            raise Refused(QA_GONE, status=404)
        if version is not None and version != qa_version(pair):
            raise Refused(QA_CHANGED, status=409)
        detail = {"question": pair.question, "policy_id": pair.policy_id}
        then = _audited(actor, "library.qa_delete", qa_id, detail)
        if not await self._repo.remove_qa(qa_id, then=then):
            raise Refused(QA_GONE, status=404)
        await self._changed()
        return pair

    # --- aliases ----------------------------------------------------------------------------

    async def add_alias(self, alias: str, canonical: str, actor: str) -> None:
        found, problems = parse_alias({"alias": alias, "canonical": canonical})
        if found is None:
            raise LibraryFormatError([RecordError("表单", 0, f, m) for f, m in problems])
        detail = {"canonical": found.canonical}
        await self._repo.upsert(
            Library.of(aliases=[found]),
            then=_audited(actor, "library.alias_add", found.alias, detail),
        )
        await self._changed()

    async def remove_alias(self, alias: str, actor: str) -> None:
        then = _audited(actor, "library.alias_remove", alias, {})
        if not await self._repo.remove_alias(alias, then=then):
            raise Refused(f"没有别名“{alias}”。", status=404)
        await self._changed()


def version_of(policy: Policy, qa: list[QAPair]) -> str:
    """A short fingerprint of a policy and its Q&A pairs as the edit form shows them."""
    record = policy_record(policy, sorted(qa, key=lambda q: q.id))
    for pair, nested in zip(sorted(qa, key=lambda q: q.id), record.get("qa", []), strict=True):
        nested["id"] = pair.id
    data = json.dumps(record, ensure_ascii=False, sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def qa_version(pair: QAPair) -> str:
    """A short fingerprint of a Q&A pair as its form shows it."""
    data = json.dumps(dataclasses.asdict(pair), ensure_ascii=False, sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def fresh_qa_id(policy_id: Any, taken: set[str]) -> str:
    """The first free ``<policy id>-qaN`` (as the policy form numbers its pairs), or ``qa-N``
    for a pair of no policy (or when the policy's id leaves no room)."""
    stem = f"{policy_id}-qa" if isinstance(policy_id, str) and policy_id.strip() else "qa-"
    n = 1
    while f"{stem.strip()}{n}" in taken:
        n += 1
    found = f"{stem.strip()}{n}"
    return found if ID_PATTERN.match(found) else fresh_qa_id(None, taken)


def library_ids(library: Library) -> set[str]:
    return {p.id for p in library.policies}


def _changed_fields(
    before: Policy | None, before_qa: list[QAPair], after: Policy, after_qa: list[QAPair]
) -> tuple[str, ...]:
    if before is None:
        return ("new",)
    fields = [
        f.name
        for f in dataclasses.fields(Policy)
        if getattr(before, f.name) != getattr(after, f.name)
    ]
    if sorted(before_qa, key=lambda q: q.id) != sorted(after_qa, key=lambda q: q.id):
        fields.append("qa")
    return tuple(fields)
