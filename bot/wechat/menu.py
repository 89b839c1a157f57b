"""The custom menu (自定义菜单): a definition file, checked against WeChat's limits.

The file uses WeChat's own field names (``button``, ``sub_button``, ``name``, ``type``, ``key``,
``url`` …), written as TOML so staff can read and edit it (``handlers/menu.toml``); a JSON file
in WeChat's format (what ``gongkai menu current`` prints) is read too. What
``Menu.to_wechat()`` returns is exactly what the file says, so publishing sends the file.

Limits (menu/create, developers.weixin.qq.com/doc/subscription/api/custommenu/
api_createcustommenu.html and the global return codes 40016–40027): 1–3 top-level buttons,
1–5 sub-buttons each; a name is at most 16 bytes at the top level and 60 bytes below (UTF-8:
a Chinese character is 3 bytes); a key at most 128 bytes; a URL at most 1024 bytes. WeChat
shows about 4 Chinese characters of a top-level name and 8 of a sub-button name, then "...".
Every problem is reported at once, naming the button and the field, and nothing is published.
"""

from __future__ import annotations

import json
import tomllib
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.wechat.errors import WeChatError

__all__ = [
    "ACTION_FIELDS",
    "Menu",
    "MenuButton",
    "MenuFormatError",
    "MenuProblem",
    "load_menu",
    "parse_menu",
]

MAX_BUTTONS = 3
MAX_SUB_BUTTONS = 5
NAME_BYTES = 16
SUB_NAME_BYTES = 60
KEY_BYTES = 128
URL_BYTES = 1024
SHOWN_WIDTH = 8  # about 4 Chinese characters are shown in a top-level button
SUB_SHOWN_WIDTH = 16  # about 8 in a sub-button

ACTION_FIELDS: dict[str, tuple[str, ...]] = {
    "click": ("key",),
    "view": ("url",),
    "scancode_push": ("key",),
    "scancode_waitmsg": ("key",),
    "pic_sysphoto": ("key",),
    "pic_photo_or_album": ("key",),
    "pic_weixin": ("key",),
    "location_select": ("key",),
    "miniprogram": ("url", "appid", "pagepath"),
    "media_id": ("media_id",),
    "view_limited": ("media_id",),
    "article_id": ("article_id",),
    "article_view_limited": ("article_id",),
}
"""The button types WeChat knows, and the fields each one needs."""

_VALUE_FIELDS = ("key", "url", "appid", "pagepath", "media_id", "article_id")
_BUTTON_FIELDS = frozenset(("name", "type", "sub_button", *_VALUE_FIELDS))


@dataclass(frozen=True, slots=True)
class MenuProblem:
    """One thing wrong with the file: which button, which field, what."""

    where: str  # e.g. 'button 3 "我的" > sub_button 2 "联系我们"', or "menu"
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}"


class MenuFormatError(WeChatError):
    """The menu file breaks WeChat's rules; nothing was published."""

    def __init__(self, source: str, problems: list[MenuProblem]) -> None:
        self.source = source
        self.problems = problems
        shown = "\n".join(f"  {source}: {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the menu file:\n{shown}")


@dataclass(frozen=True, slots=True)
class MenuButton:
    """A top-level button with sub-buttons, or a button with an action (``type``)."""

    name: str
    type: str | None = None
    values: tuple[tuple[str, str], ...] = ()  # (field, value) the type needs, in file order
    sub_buttons: tuple[MenuButton, ...] = ()

    @property
    def key(self) -> str | None:
        return dict(self.values).get("key")

    def to_wechat(self) -> dict[str, Any]:
        if self.sub_buttons:
            return {"name": self.name, "sub_button": [b.to_wechat() for b in self.sub_buttons]}
        return {"type": self.type, "name": self.name, **dict(self.values)}


@dataclass(frozen=True, slots=True)
class Menu:
    buttons: tuple[MenuButton, ...]
    warnings: tuple[MenuProblem, ...] = ()  # allowed, but probably not what was meant

    def to_wechat(self) -> dict[str, Any]:
        """The body of POST /cgi-bin/menu/create."""
        return {"button": [b.to_wechat() for b in self.buttons]}

    def actions(self) -> Iterator[tuple[str, MenuButton]]:
        """Every button that does something, with its path ("我的 > 联系我们")."""
        for top in self.buttons:
            if not top.sub_buttons:
                yield top.name, top
            for sub in top.sub_buttons:
                yield f"{top.name} > {sub.name}", sub

    def keys(self) -> list[str]:
        """The event keys (EventKey of CLICK and similar events) in menu order."""
        return [key for _, button in self.actions() if (key := button.key) is not None]


def load_menu(path: Path) -> Menu:
    """Read and check a menu file (TOML, or WeChat's JSON if it ends in ``.json``).

    Raises ``MenuFormatError`` listing every problem, or ``OSError`` if the file is unreadable.
    """
    text = path.read_text(encoding="utf-8")
    try:
        data: Any = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except ValueError as exc:  # TOMLDecodeError and JSONDecodeError say where
        syntax = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise MenuFormatError(
            path.name, [MenuProblem("file", "syntax", f"not valid {syntax}: {exc}")]
        ) from exc
    return parse_menu(data, source=path.name)


def parse_menu(data: Any, *, source: str = "menu") -> Menu:
    """Check a menu given as WeChat's structure; raise ``MenuFormatError`` naming each problem."""
    check = _Checker()
    buttons = check.menu(data)
    if check.problems:
        raise MenuFormatError(source, check.problems)
    return Menu(tuple(buttons), tuple(check.warnings))


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _label(kind: str, number: int, raw: Any) -> str:
    name = raw.get("name") if isinstance(raw, Mapping) else None
    return f'{kind} {number} "{name}"' if isinstance(name, str) and name else f"{kind} {number}"


class _Checker:
    def __init__(self) -> None:
        self.problems: list[MenuProblem] = []
        self.warnings: list[MenuProblem] = []
        self._keys: dict[str, str] = {}  # key → where it was first used

    def fail(self, where: str, field: str, message: str) -> None:
        self.problems.append(MenuProblem(where, field, message))

    def menu(self, data: Any) -> list[MenuButton]:
        if not isinstance(data, Mapping):
            self.fail("menu", "button", "the file must define [[button]] entries")
            return []
        if isinstance(data.get("menu"), Mapping) and "button" not in data:
            data = data["menu"]  # the shape menu/get returns
        for extra in sorted(set(data) - {"button", "menuid"}):
            self.fail("menu", extra, "unknown field (expected [[button]] entries)")
        raw_buttons = data.get("button")
        if not isinstance(raw_buttons, list) or not raw_buttons:
            self.fail("menu", "button", "no buttons: define 1 to 3 [[button]] entries")
            return []
        if len(raw_buttons) > MAX_BUTTONS:
            self.fail(
                "menu",
                "button",
                f"{len(raw_buttons)} top-level buttons; WeChat allows at most {MAX_BUTTONS}",
            )
        return [
            button
            for n, raw in enumerate(raw_buttons, 1)
            if (button := self.button(raw, _label("button", n, raw), top=True)) is not None
        ]

    def button(self, raw: Any, where: str, *, top: bool) -> MenuButton | None:
        if not isinstance(raw, Mapping):
            self.fail(where, "button", "must be a table with name and type")
            return None
        for extra in sorted(set(raw) - _BUTTON_FIELDS):
            self.fail(
                where,
                extra,
                "unknown field (expected one of: " + ", ".join(sorted(_BUTTON_FIELDS)) + ")",
            )
        name = self.name(raw, where, top=top)
        subs = raw.get("sub_button")
        if subs:  # an empty list is what menu/get returns for a plain button
            if not top:
                self.fail(where, "sub_button", "a sub-button cannot have sub-buttons of its own")
                return None
            return self.group(raw, where, name, subs)
        return self.action(raw, where, name)

    def name(self, raw: Mapping[str, Any], where: str, *, top: bool) -> str:
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            self.fail(where, "name", "missing: every button needs a name")
            return ""
        limit, shown = (NAME_BYTES, SHOWN_WIDTH) if top else (SUB_NAME_BYTES, SUB_SHOWN_WIDTH)
        level = "top-level" if top else "sub-button"
        if _size(name) > limit:
            self.fail(
                where,
                "name",
                f"{_size(name)} bytes; WeChat allows at most {limit} for a {level} name "
                "(a Chinese character is 3 bytes)",
            )
        elif _display_width(name) > shown:
            self.warnings.append(
                MenuProblem(
                    where,
                    "name",
                    f"WeChat shows about {shown // 2} Chinese characters of a {level} name "
                    "and cuts the rest to “...”",
                )
            )
        return name

    def group(self, raw: Mapping[str, Any], where: str, name: str, subs: Any) -> MenuButton | None:
        for field in ("type", *_VALUE_FIELDS):
            if field in raw:
                self.fail(
                    where, field, "a button with sub_button only opens them; remove this field"
                )
        if not isinstance(subs, list):
            self.fail(where, "sub_button", "must be a list of [[button.sub_button]] entries")
            return None
        if len(subs) > MAX_SUB_BUTTONS:
            self.fail(
                where,
                "sub_button",
                f"{len(subs)} sub-buttons; WeChat allows at most {MAX_SUB_BUTTONS}",
            )
        children = [
            child
            for n, sub in enumerate(subs, 1)
            if (child := self.button(sub, f"{where} > {_label('sub_button', n, sub)}", top=False))
            is not None
        ]
        return MenuButton(name=name, sub_buttons=tuple(children))

    def action(self, raw: Mapping[str, Any], where: str, name: str) -> MenuButton | None:
        kind = raw.get("type")
        if kind is None:
            self.fail(where, "type", 'missing: "click", "view", … (or give it sub_button entries)')
            return None
        if kind not in ACTION_FIELDS:
            self.fail(
                where, "type", f"unknown type {kind!r}; WeChat knows " + ", ".join(ACTION_FIELDS)
            )
            return None
        needed = ACTION_FIELDS[kind]
        for field in _VALUE_FIELDS:
            if field in raw and field not in needed:
                self.fail(where, field, f"not used by type {kind!r} (it needs {', '.join(needed)})")
        values = []
        for field in needed:
            value = raw.get(field)
            if not isinstance(value, str) or not value.strip():
                self.fail(where, field, f"missing: type {kind!r} needs a {field}")
                continue
            self.value(where, field, value)
            values.append((field, value))
        return MenuButton(name=name, type=kind, values=tuple(values))

    def value(self, where: str, field: str, value: str) -> None:
        if field == "key":
            if _size(value) > KEY_BYTES:
                self.fail(where, "key", f"{_size(value)} bytes; WeChat allows at most {KEY_BYTES}")
            first = self._keys.setdefault(value, where)
            if first != where:
                self.fail(where, "key", f"{value!r} is already the key of {first}")
        elif field == "url":
            if _size(value) > URL_BYTES:
                self.fail(where, "url", f"{_size(value)} bytes; WeChat allows at most {URL_BYTES}")
            if not value.startswith(("https://", "http://")):
                self.fail(where, "url", "must start with https:// (or http://)")
