"""The policy edit form: a policy as form values, the form back as a record of the library
format (checked by ``policy_index.changes.validate_policy``, as an imported line is), and the
format's error messages in Chinese with the fields named as staff see them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from policy_index.conditions import to_json
from policy_index.dates import iso
from policy_index.errors import RecordError
from policy_index.model import GUIDE_FIELDS, GUIDE_LABELS, Policy, QAPair

SCALARS = (
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
    "summary",
    "body",
    "source_url",
)
MAX_ROWS = 200
BLANK_INTERPRETATIONS = 1
BLANK_QA = 2

LABELS = {
    "id": "编号",
    "title": "标题",
    "doc_number": "文号",
    "issuer": "发文机关",
    "level": "层级",
    "region": "地区",
    "date": "发文日期",
    "effective_date": "施行日期",
    "expiry_date": "失效日期",
    "status": "效力状态",
    "replaced_by": "替代政策",
    "audience": "适用对象",
    "topics": "主题",
    "summary": "摘要",
    "body": "正文",
    "source_url": "原文链接",
    "exempt_application": "免申即享",
    "aliases": "别称",
    "interpretations": "政策解读",
    "qa": "问答",
    "guide": "办事指南",
    "conditions": "适用条件（机器可判断）",
    "alias": "别名",
    "canonical": "标准名称",
    "question": "问题",
    "answer": "答案",
    "similar": "相似问法",
    "kind": "类型",
    "url": "链接",
    "policy_id": "所属政策",
    "new": "新建",
    "-": "整行",
}

# The library format's messages (policy_index.interchange), as staff read them.
MESSAGES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), r)
    for p, r in [
        (r"^is required$", "必须填写"),
        (r"^must be text$", "必须是文字"),
        (r"^must be 1–64 characters without spaces$", "须为 1–64 个字符，不含空格"),
        (
            r"^must be a date YYYY-MM-DD, YYYY-MM or YYYY, got (.*)$",
            r"须为日期（年-月-日、年-月或年），现为 \1",
        ),
        (r"^must be a list of strings$", "须为文字列表"),
        (r"^must be a list of objects$", "须为对象列表"),
        (r"^must be an object$", "须为对象"),
        (r"^must be true or false$", "须为 true 或 false"),
        (r"^must be one of (.*), got (.*)$", r"须为 \1 之一，现为 \2"),
        (r"^must be one of (.*)$", r"须为 \1 之一"),
        (r"^must be 个人, 企业 or both, got (.*)$", r"须为 个人 或 企业，现为 \1"),
        (r"^cannot name the policy itself$", "不能指向本政策自己"),
        (r"^must differ from the alias$", "不能与别名相同"),
        (r"^is not a .*field.*$", "不是政策库格式中的字段（见《政策库文件格式》）"),
        (r"^names policy (.*), which is not in the library$", r"指向的政策 \1 不在政策库中"),
        (r"^duplicates the record at (.*)$", r"与 \1 的记录重复"),
        (r"^not valid JSON \((.*)\)$", r"不是有效的 JSON（\1）"),
        (r"^must be a JSON object$", "须为 JSON 对象"),
        (r"^must be policy, qa or alias, got (.*)$", r"类型须为 policy、qa 或 alias，现为 \1"),
        (r"^policy (.*) already exists$", r"编号 \1 已被其他政策使用"),
        (r"^Q&A pair (.*) already exists$", r"编号 \1 已被其他问答使用"),
    ]
]
PATH_STEP = re.compile(r"([a-z_]+)(?:\[(\d+)\])?")


def message_zh(message: str) -> str:
    for pattern, replacement in MESSAGES:
        if pattern.match(message):
            return pattern.sub(replacement, message)
    return message


def saved_message(created: str | None, changed: Sequence[str]) -> str:
    """What staff read after saving a record: ``created`` names a new one (e.g. “新建政策“…””)."""
    if created is not None:
        return f"已{created}，机器人已按新内容回答。"
    if changed:
        return f"已保存（改动：{'、'.join(field_zh(f) for f in changed)}），机器人已按新内容回答。"
    return "内容没有变化。"


def field_zh(path: str) -> str:
    """``interpretations[2].title`` → 政策解读 第2条 · 标题."""
    parts: list[str] = []
    for step in path.split("."):
        m = PATH_STEP.fullmatch(step)
        if m is None:
            parts.append(step)
            continue
        names = GUIDE_LABELS if parts == [LABELS["guide"]] else LABELS
        label = names.get(m[1], m[1])
        parts.append(f"{label} 第{m[2]}条" if m[2] else label)
    return " · ".join(parts)


def errors_zh(errors: Iterable[RecordError]) -> list[dict[str, Any]]:
    return [
        {
            "file": e.file,
            "line": e.line,
            "field": e.field,
            "label": field_zh(e.field),
            "message": message_zh(e.message),
        }
        for e in errors
    ]


# --- a policy as form values ------------------------------------------------------------------


def form_of(policy: Policy | None, qa: list[QAPair]) -> dict[str, Any]:
    """Text values for every input of the edit form (blank rows to add a few more)."""
    if policy is None:
        form: dict[str, Any] = dict.fromkeys(SCALARS, "")
        form.update(status="现行有效", audience=[], topics="", aliases="", exempt=False)
        form.update(guide={}, conditions="", interpretations=[], qa=[])
    else:
        form = {n: "" if (v := getattr(policy, n)) is None else str(v) for n in SCALARS}
        for name in ("date", "effective_date", "expiry_date"):
            day = getattr(policy, name)
            form[name] = iso(day) if day else ""
        form.update(
            audience=list(policy.audience),
            topics="，".join(policy.topics),
            aliases="，".join(policy.aliases),
            exempt=policy.exempt_application,
            guide=dict(policy.guide.items()) if policy.guide else {},
            conditions=(
                json.dumps(to_json(policy.conditions), ensure_ascii=False, indent=2)
                if policy.conditions is not None
                else ""
            ),
            interpretations=[
                {"title": i.title, "kind": i.kind, "url": i.url or "", "summary": i.summary or ""}
                for i in policy.interpretations
            ],
            qa=[
                {
                    "id": q.id,
                    "question": q.question,
                    "similar": "\n".join(q.similar),
                    "answer": q.answer,
                }
                for q in sorted(qa, key=lambda q: q.id)
            ],
        )
    form["interpretations"] += [
        {"title": "", "kind": "文字", "url": "", "summary": ""}
    ] * BLANK_INTERPRETATIONS
    form["qa"] += [{"id": "", "question": "", "similar": "", "answer": ""}] * BLANK_QA
    return form


def _rows(form: Mapping[str, Any], prefix: str, names: tuple[str, ...]) -> list[dict[str, str]]:
    rows = []
    for n in range(MAX_ROWS):
        if f"{prefix}_{names[0]}_{n}" not in form:
            break
        rows.append({name: str(form.get(f"{prefix}_{name}_{n}", "")).strip() for name in names})
    return rows


def _fresh_qa_id(policy_id: str, taken: set[str]) -> str:
    n = 1
    while f"{policy_id}-qa{n}" in taken:
        n += 1
    taken.add(found := f"{policy_id}-qa{n}")
    return found


def record_of(
    form: Any, *, policy_id: str | None = None, taken_qa_ids: Iterable[str] = ()
) -> tuple[dict[str, Any], list[RecordError], dict[str, Any]]:
    """The submitted form as a library record, the problems no record can carry (conditions
    that are not JSON), and the values to show again if it is refused."""
    raw: dict[str, Any] = {}
    for name in SCALARS:
        if value := str(form.get(name, "")).strip():
            raw[name] = value
    pid = policy_id or raw.get("id", "")
    audience = [str(v) for v in form.getall("audience", [])]
    if audience:
        raw["audience"] = audience
    for name in ("topics", "aliases"):
        if value := str(form.get(name, "")).strip():
            raw[name] = value
    if form.get("exempt_application"):
        raw["exempt_application"] = True
    guide = {n: v for n in GUIDE_FIELDS if (v := str(form.get(f"guide_{n}", "")).strip())}
    if guide:
        raw["guide"] = guide
    problems = []
    conditions = str(form.get("conditions", "")).strip()
    if conditions:
        try:
            raw["conditions"] = json.loads(conditions)
        except json.JSONDecodeError as exc:
            problems.append(RecordError("表单", 0, "conditions", f"not valid JSON ({exc.msg})"))
    interpretations = [
        {k: v for k, v in row.items() if v}
        for row in _rows(form, "int", ("title", "kind", "url", "summary"))
        if row["title"] or row["url"] or row["summary"]
    ]
    if interpretations:
        raw["interpretations"] = interpretations
    qa_rows = [
        r
        for r in _rows(form, "qa", ("id", "question", "similar", "answer"))
        if r["question"] or r["answer"]
    ]
    taken = set(taken_qa_ids) | {r["id"] for r in qa_rows if r["id"]}
    if qa_rows:
        raw["qa"] = [
            {
                "id": row["id"] or _fresh_qa_id(pid, taken),
                "question": row["question"],
                "answer": row["answer"],
                "similar": "|".join(s.strip() for s in row["similar"].splitlines() if s.strip()),
            }
            for row in qa_rows
        ]
    echo: dict[str, Any] = {n: str(form.get(n, "")) for n in SCALARS}
    echo.update(
        version=str(form.get("version", "")),
        audience=audience,
        topics=str(form.get("topics", "")),
        aliases=str(form.get("aliases", "")),
        exempt=bool(form.get("exempt_application")),
        guide={n: str(form.get(f"guide_{n}", "")) for n in GUIDE_FIELDS},
        conditions=conditions,
        interpretations=_rows(form, "int", ("title", "kind", "url", "summary")),
        qa=_rows(form, "qa", ("id", "question", "similar", "answer")),
    )
    return raw, problems, echo
