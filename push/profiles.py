"""Enterprise profiles (一企一档): reading and checking the county's records, and the profile as
stored (``Enterprise``).

One JSON object per line::

    {"uscc": "91…", "name": "…", "industry": "制造业", "employees": 80, "town": "禾丰镇",
     "founded": "2019-05-08", "qualifications": ["高新技术企业"], "tags": ["规上工业"],
     "openids": ["o…"]}

``uscc`` and ``name`` are required; a field left out is left as it is on record (so staff
edits survive a re-import), ``null`` clears it. The 统一社会信用代码 is checked with
python-stdnum (``stdnum.cn.uscc``: length, characters, check digit) and each of its complaints
becomes a reason staff can act on. Every problem of a file is reported with file, line and
field, in Chinese (staff read them). Pure: no I/O beyond reading the file.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import RowMapping
from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength, ValidationError

from policy_index.errors import RecordError
from push.eligibility import Profile
from push.errors import PushError

FIELDS = (
    "uscc",
    "name",
    "industry",
    "employees",
    "town",
    "founded",
    "qualifications",
    "tags",
    "openids",
)
PROFILE_FIELDS = ("name", "industry", "employees", "town", "founded", "qualifications", "tags")
OPENID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")
MAX_EMPLOYEES = 10_000_000
TEXT_LIMITS = {"name": 200, "industry": 64, "town": 64}


class EnterpriseError(PushError):
    """Root of push's enterprise errors: a request about enterprises that cannot be done."""


class EnterpriseFormatError(EnterpriseError):
    """The file has bad records; nothing was imported."""

    def __init__(self, problems: list[RecordError]) -> None:
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:50])
        more = f"\n  ……另有 {len(problems) - 50} 处" if len(problems) > 50 else ""
        super().__init__(f"文件中有 {len(problems)} 处错误，未导入任何记录：\n{shown}{more}")


def uscc_problem(value: str) -> str | None:
    """Why ``value`` is not a valid 统一社会信用代码 (None: it is)."""
    try:
        stdnum_uscc.validate(value)
    except InvalidLength:
        n = len(stdnum_uscc.compact(value))
        return f"统一社会信用代码应为 18 位，这里是 {n} 位"
    except InvalidFormat:
        return (
            "统一社会信用代码含不允许的字符"
            "（前 8 位应为数字，其余为数字或大写字母，不含 I、O、Z、S、V）"
        )
    except InvalidChecksum:
        return "统一社会信用代码校验位不符，请核对是否有抄错的字符"
    except ValidationError:
        return "统一社会信用代码无效"
    return None


def normalise_uscc(value: str) -> str:
    """Full-width characters and lower case as people type them; spaces and dashes dropped."""
    return str(stdnum_uscc.compact(unicodedata.normalize("NFKC", value)))


@dataclass(frozen=True, slots=True)
class ProfileRecord:
    """One checked record: ``fields`` holds only the profile fields the record sets."""

    uscc: str
    fields: Mapping[str, Any]
    openids: tuple[str, ...] | None  # None: the record says nothing about contacts
    line: int = 0


def _text(raw: Mapping[str, Any], name: str, fail: Callable[[str, str], None]) -> str | None:
    value = raw[name]
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        fail(name, "应为非空文本")
        return None
    value = value.strip()
    if len(value) > TEXT_LIMITS[name]:
        fail(name, f"过长（最多 {TEXT_LIMITS[name]} 个字符）")
    return value


def _words(raw: Mapping[str, Any], name: str, fail: Callable[[str, str], None]) -> tuple[str, ...]:
    value = raw[name]
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        fail(name, '应为文本列表，例如 ["高新技术企业"]')
        return ()
    return tuple(dict.fromkeys(v.strip() for v in value))


def _employees(value: Any, fail: Callable[[str, str], None]) -> int | None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_EMPLOYEES
    ):
        fail("employees", f"应为不小于 0 的整数，这里是 {value!r}")
        return None
    return value


def _founded(value: Any, fail: Callable[[str, str], None]) -> dt.date | None:
    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        day = None
    if day is None:
        fail("founded", f"应为日期 YYYY-MM-DD，这里是 {value!r}")
    elif day > dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1):
        fail("founded", f"成立日期 {value} 晚于今天")
        return None
    return day


def check_fields(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The profile fields present in ``raw``, checked; and (field, reason) for each problem."""
    problems: list[tuple[str, str]] = []

    def fail(name: str, message: str) -> None:
        problems.append((name, message))

    out: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        if name not in raw:
            continue
        if name in TEXT_LIMITS:
            out[name] = _text(raw, name, fail)
        elif name in ("qualifications", "tags"):
            out[name] = list(_words(raw, name, fail))
        elif name == "employees":
            out[name] = _employees(raw[name], fail)
        else:
            out[name] = _founded(raw[name], fail)
    if "name" in out and out["name"] is None:
        fail("name", "不能为空")
    return out, problems


def parse_record(raw: Mapping[str, Any]) -> tuple[ProfileRecord | None, list[tuple[str, str]]]:
    problems = [(name, "不是企业档案的字段") for name in sorted(set(raw) - set(FIELDS))]
    code = raw.get("uscc")
    uscc = None
    if not isinstance(code, str) or not code.strip():
        problems.append(("uscc", "缺少统一社会信用代码"))
    elif (reason := uscc_problem(normalise_uscc(code))) is not None:
        problems.append(("uscc", reason))
    else:
        uscc = normalise_uscc(code)
    if "name" not in raw:
        problems.append(("name", "缺少企业名称"))
    fields, more = check_fields(raw)
    problems.extend(more)
    openids: tuple[str, ...] | None = None
    if "openids" in raw:
        value = raw["openids"]
        if value is None:
            openids = ()
        elif isinstance(value, list) and all(isinstance(v, str) and OPENID.match(v) for v in value):
            openids = tuple(dict.fromkeys(value))
        else:
            problems.append(("openids", "应为微信 openid 的列表"))
    if problems or uscc is None:
        return None, problems
    return ProfileRecord(uscc, fields, openids), []


def read_profiles(path: Path) -> list[ProfileRecord]:
    """Every record of a JSON Lines file, or EnterpriseFormatError naming every problem."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise EnterpriseFormatError(
            [RecordError(str(path), 0, "-", "文件不是 UTF-8 编码")]
        ) from None
    records: list[ProfileRecord] = []
    problems: list[RecordError] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            raw = json.loads(stripped)
        except json.JSONDecodeError as exc:
            problems.append(RecordError(str(path), lineno, "-", f"不是有效的 JSON（{exc.msg}）"))
            continue
        if not isinstance(raw, dict):
            problems.append(RecordError(str(path), lineno, "-", "每行应为一个 JSON 对象"))
            continue
        record, found = parse_record(raw)
        problems.extend(RecordError(str(path), lineno, f, m) for f, m in found)
        code = raw.get("uscc")
        key = normalise_uscc(code) if isinstance(code, str) else None
        if key and key in seen and not any(f == "uscc" for f, _ in found):
            message = f"与第 {seen[key]} 行的统一社会信用代码重复"
            problems.append(RecordError(str(path), lineno, "uscc", message))
            continue
        if key:
            seen.setdefault(key, lineno)
        if record is not None:
            records.append(ProfileRecord(record.uscc, record.fields, record.openids, lineno))
    if problems:
        raise EnterpriseFormatError(problems)
    return records


@dataclass(frozen=True, slots=True)
class Enterprise:
    id: int
    uscc: str
    name: str
    industry: str | None
    employees: int | None
    town: str | None
    founded: dt.date | None
    qualifications: tuple[str, ...]
    tags: tuple[str, ...]
    contacts: int = 0

    @classmethod
    def of(cls, row: RowMapping, contacts: int = 0) -> Enterprise:
        return cls(
            id=row["id"],
            uscc=row["uscc"],
            name=row["name"],
            industry=row["industry"],
            employees=row["employees"],
            town=row["town"],
            founded=row["founded"],
            qualifications=tuple(row["qualifications"] or ()),
            tags=tuple(row["tags"] or ()),
            contacts=contacts,
        )

    def profile(self) -> Profile:
        return Profile(
            uscc=self.uscc,
            name=self.name,
            industry=self.industry,
            employees=self.employees,
            town=self.town,
            founded=self.founded,
            qualifications=self.qualifications,
            tags=self.tags,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "uscc": self.uscc,
            "name": self.name,
            "industry": self.industry,
            "employees": self.employees,
            "town": self.town,
            "founded": self.founded.isoformat() if self.founded else None,
            "qualifications": list(self.qualifications),
            "tags": list(self.tags),
            "contacts": self.contacts,
        }
