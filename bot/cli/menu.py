"""``gongkai menu``: check the custom-menu file, show what would be sent, publish it, read it back.

Publishing uses the service's own sender (the stable access token shared through the database,
bounded retries, classified errcodes). In local mode (no real account configured) the menu goes
to a built-in fake WeChat API started for the command, which checks it as WeChat does; nothing
leaves the machine. A file that breaks WeChat's rules is never sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.cli.common import (
    command_settings,
    fail,
    migrate_if_local,
    prepared_settings,
    say,
    uses_builtin_fake,
    wechat_client,
)
from bot.config import Settings
from bot.log_setup import configure_logging
from bot.wechat.errcodes import WeChatAPIError, WeChatUnavailableError, explain
from bot.wechat.menu import Menu, MenuButton, MenuFormatError, load_menu


def default_menu_file() -> Path:
    from handlers.menu import MENU_FILE

    return MENU_FILE


def answered_keys() -> frozenset[str]:
    """The click keys this bot's handlers answer."""
    from handlers.menu import MenuKey

    return frozenset(MenuKey)


async def publish(settings: Settings, menu: Menu) -> bool:
    """Send ``menu`` to the account; True if it went to the built-in fake."""
    async with wechat_client(settings) as (client, local):
        await client.create_menu(menu.to_wechat())
        return local


async def current(settings: Settings) -> dict[str, Any] | None:
    async with wechat_client(settings) as (client, _local):
        return await client.get_menu()


def _read(args: argparse.Namespace) -> Menu | int:
    """The checked menu, or the exit code after reporting why there is none."""
    path: Path = args.file or default_menu_file()
    try:
        return load_menu(path)
    except MenuFormatError as exc:
        return fail(f"{path}: not a valid menu; nothing was sent.\n{exc}", 1)
    except OSError as exc:
        return fail(f"cannot read {path}: {exc.strerror}")


def _outline(menu: Menu) -> list[str]:
    def action(b: MenuButton) -> str:
        return f"{b.name} · {b.type} " + " ".join(value for _, value in b.values)

    lines = []
    for top in menu.buttons:
        if top.sub_buttons:
            lines.append(f"  {top.name}")
            lines += [f"    {action(b)}" for b in top.sub_buttons]
        else:
            lines.append(f"  {action(top)}")
    return lines


def _warnings(menu: Menu) -> list[str]:
    found = [str(w) for w in menu.warnings]
    answered = answered_keys()
    for where, button in menu.actions():
        if button.type == "click" and button.key not in answered:
            found.append(
                f"{where}: key: {button.key!r} is not answered by this bot; "
                "users get “这个菜单暂时还没有内容”"
            )
    return found


def cmd_check(args: argparse.Namespace) -> int:
    menu = _read(args)
    if isinstance(menu, int):
        return menu
    actions = sum(1 for _ in menu.actions())
    say(f"菜单符合微信的要求 (the menu is valid): {len(menu.buttons)} 个一级菜单，{actions} 个按钮")
    for line in _outline(menu):
        say(line)
    for warning in _warnings(menu):
        say("提醒 warning: " + warning)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    menu = _read(args)
    if isinstance(menu, int):
        return menu
    say(json.dumps(menu.to_wechat(), ensure_ascii=False, indent=2))
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    menu = _read(args)
    if isinstance(menu, int):
        return menu
    settings = prepared_settings()
    for warning in _warnings(menu):
        say("提醒 warning: " + warning)
    try:
        local = asyncio.run(publish(settings, menu))
    except WeChatAPIError as exc:
        return fail(_refused("/cgi-bin/menu/create", exc), 1)
    except WeChatUnavailableError as exc:
        return fail(f"the WeChat API could not be reached; the menu was not published. {exc}", 1)
    except SQLAlchemyError as exc:
        return fail(_database_trouble(exc), 1)
    if local:
        say(
            "本地模式 LOCAL MODE：菜单已发送到内置模拟微信接口并通过检查，没有连接真实公众号。"
            "接入公众号的方法见 README。"
        )
    else:
        say(
            f"菜单已发布到公众号 {settings.wechat.app_id} (menu published)。"
            "用户下次进入公众号时更新（客户端约 5 分钟拉取一次；测试时可取消关注后重新关注）。"
        )
    return 0


def cmd_current(args: argparse.Namespace) -> int:
    settings = command_settings()
    if uses_builtin_fake(settings):
        say(
            "本地模式 LOCAL MODE：没有连接真实公众号，内置模拟接口不保存菜单。"
            "要查看将发送的内容，请用 gongkai menu show。"
        )
        return 0
    configure_logging(json_lines=False, level="WARNING")
    migrate_if_local(settings)
    try:
        menu = asyncio.run(current(settings))
    except WeChatAPIError as exc:
        return fail(_refused("/cgi-bin/menu/get", exc), 1)
    except WeChatUnavailableError as exc:
        return fail(f"the WeChat API could not be reached. {exc}", 1)
    except SQLAlchemyError as exc:
        return fail(_database_trouble(exc), 1)
    if menu is None:
        say("公众号当前没有自定义菜单 (the account has no menu).")
    else:
        say(json.dumps(menu, ensure_ascii=False, indent=2))
    return 0


def _refused(api: str, exc: WeChatAPIError) -> str:
    """WeChat's answer, what it means, and (for publishing) that nothing changed."""
    meaning = explain(exc.errcode)
    return (
        f"WeChat refused {exc.api or api}: errcode {exc.errcode} ({exc.errmsg})"
        + (f"\n  {meaning}" if meaning else "")
        + ("\n  the menu was not published." if api.endswith("menu/create") else "")
    )


def _database_trouble(exc: SQLAlchemyError) -> str:
    return (
        "the database holding the shared access token is not ready "
        f"({type(exc).__name__}); check GONGKAI_DATABASE_URL and run `gongkai db upgrade`."
    )


def add_parser(sub: Any) -> None:
    """Register ``gongkai menu`` on the top-level subcommands."""
    menu = sub.add_parser(
        "menu",
        help="check, show and publish the official account's custom menu",
        description="The custom menu is defined in a TOML file (default: the bundled "
        "handlers/menu.toml) using WeChat's field names. `check` validates it against WeChat's "
        "limits and names each bad button and field; `show` prints the JSON that would be sent; "
        "`publish` sends it (in local mode to the built-in fake); `current` prints the menu "
        "WeChat holds now.",
    )
    actions = menu.add_subparsers(dest="menu_command", required=True, metavar="ACTION")
    file_help = "menu file, TOML or WeChat's JSON (default: the bundled handlers/menu.toml)"
    for name, func, summary in (
        ("check", cmd_check, "validate the menu file and list its buttons (nothing is sent)"),
        ("show", cmd_show, "print the JSON body that publishing would send (nothing is sent)"),
        ("publish", cmd_publish, "validate the menu file and publish it to the account"),
    ):
        action = actions.add_parser(
            name, help=summary, description=summary[0].upper() + summary[1:] + "."
        )
        action.add_argument("file", nargs="?", type=Path, help=file_help)
        action.set_defaults(func=func)
    now = actions.add_parser(
        "current",
        help="print the menu the account has now (as WeChat returns it)",
        description="Print the menu the account has now, as WeChat returns it (menu/get).",
    )
    now.set_defaults(func=cmd_current)
