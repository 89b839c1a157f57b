"""The ``gongkai`` command: one module per command group, each registering its own parsers.

``service`` (serve, chat, db, check-config), ``library`` (import, export, match), ``menu``,
``inbox``, ``stats``, ``users``, ``subscribers``, ``enterprises``, ``notice``, ``push``. The
modules share only ``bot.cli.common``; none imports another (an import-linter contract).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from bot.cli import audit, enterprises, inbox, library, menu, notice, push, service, stats, users
from bot.cli.common import fail
from bot.cli.service import local_banner
from bot.config import ConfigError

__all__ = ["build_parser", "local_banner", "main"]

COMMAND_GROUPS = (service, library, menu, inbox, stats, users, notice, audit, push, enterprises)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gongkai",
        description="Gongkai 公开: a county's WeChat official account for government "
        "information disclosure. Configure it with GONGKAI_* environment variables.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        return fail(str(exc))
    except ValidationError as exc:
        problems = "; ".join(
            f"GONGKAI_{'__'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        return fail("invalid configuration: " + problems)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `gongkai match … | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
