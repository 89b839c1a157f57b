"""The custom-menu file: the bundled one is valid and every bad file names button and field."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from bot.wechat.menu import MenuFormatError, load_menu, parse_menu
from handlers.menu import MENU_FILE, MenuKey


def problems(toml: str) -> list[str]:
    with pytest.raises(MenuFormatError) as info:
        parse_menu(tomllib.loads(toml), source="menu.toml")
    return [str(p) for p in info.value.problems]


def test_the_bundled_menu_is_valid_and_sent_exactly_as_written() -> None:
    menu = load_menu(MENU_FILE)
    assert menu.to_wechat() == tomllib.loads(MENU_FILE.read_text(encoding="utf-8"))
    assert menu.warnings == ()
    top = [b.name for b in menu.buttons]
    assert len(top) <= 3
    subs = [s.name for b in menu.buttons for s in b.sub_buttons]
    for label in ("个人办事", "企业办事", "免申即享", "我的订阅", "联系我们"):
        assert label in subs
    assert "热门问题" in top


def test_every_menu_key_has_a_handler_and_every_handler_a_button() -> None:
    assert sorted(load_menu(MENU_FILE).keys()) == sorted(MenuKey)


def test_a_top_level_click_button_and_a_view_button() -> None:
    menu = parse_menu(
        tomllib.loads(
            """
            [[button]]
            name = "热门问题"
            type = "click"
            key = "HOT"

            [[button]]
            name = "公开"
              [[button.sub_button]]
              name = "政府信息公开"
              type = "view"
              url = "https://www.example.gov.cn/zwgk/"
            """
        )
    )
    assert menu.to_wechat() == {
        "button": [
            {"type": "click", "name": "热门问题", "key": "HOT"},
            {
                "name": "公开",
                "sub_button": [
                    {
                        "type": "view",
                        "name": "政府信息公开",
                        "url": "https://www.example.gov.cn/zwgk/",
                    }
                ],
            },
        ]
    }
    assert menu.keys() == ["HOT"]
    assert [where for where, _ in menu.actions()] == ["热门问题", "公开 > 政府信息公开"]


def test_values_exactly_at_the_limits_are_accepted() -> None:
    url = "https://gov.example.cn/" + "a" * (1024 - len("https://gov.example.cn/"))
    menu = parse_menu(
        {
            "button": [
                {"name": "政务公开", "type": "view", "url": url},  # 12 bytes
                {
                    "name": "一二三四五",  # 15 bytes
                    "sub_button": [
                        {"name": "字" * 20, "type": "click", "key": "K" * 128}  # 60 bytes
                    ],
                },
            ]
        }
    )
    assert menu.to_wechat()["button"][0]["url"] == url


def _subs(count: int) -> str:
    return "".join(
        f'\n  [[button.sub_button]]\n  name = "项{n}"\n  type = "click"\n  key = "K{n}"\n'
        for n in range(count)
    )


def _click(name: str, key: str = "K", **extra: str) -> str:
    fields = "".join(f'{k} = "{v}"\n' for k, v in extra.items())
    return f'[[button]]\nname = "{name}"\ntype = "click"\nkey = "{key}"\n{fields}'


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        pytest.param(
            "".join(_click(f"菜单{n}", f"K{n}") for n in range(4)),
            "menu: button: 4 top-level buttons; WeChat allows at most 3",
            id="four-top-level",
        ),
        pytest.param(
            '[[button]]\nname = "办事"\n' + _subs(6),
            'button 1 "办事": sub_button: 6 sub-buttons; WeChat allows at most 5',
            id="six-sub-buttons",
        ),
        pytest.param(
            _click("政务公开服务"),
            'button 1 "政务公开服务": name: 18 bytes; WeChat allows at most 16',
            id="top-name-bytes",
        ),
        pytest.param(
            '[[button]]\nname = "办事"\n[[button.sub_button]]\n'
            f'name = "{"很" * 21}"\ntype = "click"\nkey = "K"\n',
            f'button 1 "办事" > sub_button 1 "{"很" * 21}": name: 63 bytes; '
            "WeChat allows at most 60",
            id="sub-name-bytes",
        ),
        pytest.param(
            '[[button]]\nname = "办事"\n[[button.sub_button]]\n'
            f'name = "个人办事"\ntype = "click"\nkey = "{"K" * 129}"\n',
            'button 1 "办事" > sub_button 1 "个人办事": key: 129 bytes; WeChat allows at most 128',
            id="key-bytes",
        ),
        pytest.param(
            '[[button]]\nname = "网站"\ntype = "view"\n'
            f'url = "https://gov.example.cn/{"a" * 1002}"\n',
            'button 1 "网站": url: 1025 bytes; WeChat allows at most 1024',
            id="url-bytes",
        ),
        pytest.param(
            '[[button]]\nname = "网站"\ntype = "view"\nurl = "gov.example.cn/zwgk"\n',
            'button 1 "网站": url: must start with https://',
            id="url-scheme",
        ),
        pytest.param(
            '[[button]]\nname = "热门问题"\ntype = "click"\n',
            "button 1 \"热门问题\": key: missing: type 'click' needs a key",
            id="click-without-key",
        ),
        pytest.param(
            '[[button]]\nname = "网站"\ntype = "view"\n',
            "button 1 \"网站\": url: missing: type 'view' needs a url",
            id="view-without-url",
        ),
        pytest.param(
            '[[button]]\nname = "网站"\ntype = "view"\nurl = "https://a.cn/"\nkey = "K"\n',
            "button 1 \"网站\": key: not used by type 'view'",
            id="field-of-another-type",
        ),
        pytest.param(
            '[[button]]\nname = "网站"\ntype = "link"\nurl = "https://a.cn/"\n',
            "button 1 \"网站\": type: unknown type 'link'",
            id="unknown-type",
        ),
        pytest.param(
            '[[button]]\nname = "热门问题"\n',
            'button 1 "热门问题": type: missing',
            id="no-type-no-sub-buttons",
        ),
        pytest.param(
            _click("热门问题", kye="HOT"),
            'button 1 "热门问题": kye: unknown field',
            id="misspelt-field",
        ),
        pytest.param(
            _click("", "K"),
            "button 1: name: missing",
            id="empty-name",
        ),
        pytest.param(
            _click("问题", "SAME") + _click("帮助", "SAME"),
            'button 2 "帮助": key: \'SAME\' is already the key of button 1 "问题"',
            id="duplicate-key",
        ),
        pytest.param(
            '[[button]]\nname = "办事"\ntype = "click"\nkey = "K"\n' + _subs(1),
            'button 1 "办事": type: a button with sub_button only opens them',
            id="group-with-its-own-type",
        ),
        pytest.param(
            '[[button]]\nname = "办事"\n[[button.sub_button]]\nname = "个人"\n'
            '[[button.sub_button.sub_button]]\nname = "更深"\ntype = "click"\nkey = "K"\n',
            'button 1 "办事" > sub_button 1 "个人": sub_button: a sub-button cannot have',
            id="third-level",
        ),
        pytest.param(
            'title = "菜单"\n',
            "menu: button: no buttons",
            id="no-buttons",
        ),
    ],
)
def test_a_bad_menu_names_the_button_and_the_field(toml: str, expected: str) -> None:
    found = problems(toml)
    assert any(expected in p for p in found), found


def test_every_problem_is_reported_at_once() -> None:
    toml = (
        '[[button]]\nname = "政务公开服务"\ntype = "click"\n'  # name too long, key missing
        '[[button]]\nname = "网站"\ntype = "view"\nurl = "ftp://x"\n'  # bad scheme
    )
    found = problems(toml)
    assert len(found) == 3
    assert [p.split(": ")[1] for p in found] == ["name", "key", "url"]


def test_error_message_lists_source_and_problems() -> None:
    with pytest.raises(MenuFormatError) as info:
        parse_menu(tomllib.loads(_click("政务公开服务")), source="menu.toml")
    assert str(info.value).startswith("1 problem(s) in the menu file:\n  menu.toml: button 1")


def test_a_name_wechat_would_shorten_is_a_warning_not_an_error() -> None:
    menu = parse_menu(tomllib.loads(_click("政务公开栏")))  # 15 bytes, 5 characters
    assert [str(w) for w in menu.warnings] == [
        'button 1 "政务公开栏": name: WeChat shows about 4 Chinese characters of a top-level '
        "name and cuts the rest to “...”"
    ]


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "menu.toml"
    path.write_text('[[button]]\nname = "办事\n', encoding="utf-8")
    with pytest.raises(MenuFormatError) as info:
        load_menu(path)
    (problem,) = info.value.problems
    assert problem.field == "syntax"
    assert "line 2" in problem.message


def test_the_json_wechat_returns_reads_back(tmp_path: Path) -> None:
    """What menu/get returns (``gongkai menu current``) can be saved and published again."""
    held = {
        "menu": {
            "button": [
                {"type": "click", "name": "热门问题", "key": "HOT", "sub_button": []},
                {
                    "name": "我的",
                    "sub_button": [
                        {"type": "click", "name": "联系我们", "key": "CONTACT", "sub_button": []}
                    ],
                },
            ],
            "menuid": 208396938,
        }
    }
    path = tmp_path / "current.json"
    path.write_text(json.dumps(held, ensure_ascii=False), encoding="utf-8")
    assert load_menu(path).to_wechat() == {
        "button": [
            {"type": "click", "name": "热门问题", "key": "HOT"},
            {
                "name": "我的",
                "sub_button": [{"type": "click", "name": "联系我们", "key": "CONTACT"}],
            },
        ]
    }
