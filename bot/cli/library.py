"""``gongkai import``, ``export`` and ``match``: the policy library's files."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from bot.cli.common import fail, migrate_if_local, say
from bot.config import load_settings
from bot.log_setup import configure_logging


def cmd_import(args: argparse.Namespace) -> int:
    from policy_index.errors import LibraryFormatError
    from policy_index.library import SAMPLE_LIBRARY, import_files

    settings = load_settings()
    files: list[Path] = list(args.files)
    if args.sample:
        files.insert(0, SAMPLE_LIBRARY)
    if not files:
        return fail("name at least one library file, or --sample")
    url = settings.database_url.get_secret_value()
    migrate_if_local(settings)
    try:
        result = asyncio.run(import_files(url, files))
    except LibraryFormatError as exc:
        return fail(f"nothing was imported.\n{exc}", 1)
    except OSError as exc:
        return fail(f"cannot read {exc.filename}: {exc.strerror}")
    say(
        f"已导入 {result.policies} 条政策、{result.qa_pairs} 条问答、{result.aliases} 条别名"
        f"（库版本 {result.revision}）。"
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from policy_index.library import export_lines

    settings = load_settings()
    url = settings.database_url.get_secret_value()
    migrate_if_local(settings)
    lines = asyncio.run(export_lines(url))
    if args.output is None:
        for line in lines:
            sys.stdout.write(line + "\n")
        return 0
    tmp = args.output.with_suffix(args.output.suffix + ".tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tmp.replace(args.output)
    say(f"已导出 {len(lines)} 条记录到 {args.output}")
    return 0


def cmd_match(args: argparse.Namespace) -> int:
    from policy_index.batch import run
    from policy_index.errors import PolicyIndexError

    configure_logging(json_lines=False, level="WARNING")
    settings = load_settings()
    try:
        return run(
            args.library,
            args.queries,
            top=args.top,
            as_json_lines=args.json,
            embeddings=not args.no_embeddings,
            cache_file=settings.state_dir / "embeddings.npz",
            bands=settings.matcher.bands(),
            home_region=args.home_region or settings.home_region,
        )
    except PolicyIndexError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"cannot read {exc.filename}: {exc.strerror}")


def add_parser(sub: Any) -> None:
    imp = sub.add_parser(
        "import",
        help="import policy-library files into the database (all or nothing)",
        description="Upsert policies, Q&A pairs and aliases by id from JSON Lines or CSV files "
        "(docs/policy-library-format.md) in one transaction. A bad record is reported with "
        "its file, line and field, and then nothing is written.",
    )
    imp.add_argument("files", nargs="*", type=Path, help="library files (.jsonl or .csv)")
    imp.add_argument("--sample", action="store_true", help="also import the bundled sample library")
    imp.set_defaults(func=cmd_import)

    exp = sub.add_parser(
        "export",
        help="write the policy library back out in the interchange format",
        description="Write the whole library (policies with their Q&A, standalone Q&A, aliases) "
        "as JSON Lines, to a file or to standard output.",
    )
    exp.add_argument("output", nargs="?", type=Path, help="output file (default: standard output)")
    exp.set_defaults(func=cmd_export)

    matcher = sub.add_parser(
        "match",
        help="match questions from a file against a library file (no database needed)",
        description="Build an index from a library file (JSON Lines or CSV, see "
        "docs/policy-library-format.md) and match every question of a JSON Lines file (a "
        "`query` field per line), with exactly the code the bot uses. Prints one result per "
        "question, in order.",
    )
    matcher.add_argument("--library", type=Path, required=True, help="the library file")
    matcher.add_argument("--queries", type=Path, required=True, help="the questions file")
    matcher.add_argument("--top", type=int, default=5, help="candidates per question (default 5)")
    matcher.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per line: {"query", "decision", "results": [{"id", "score"}]}',
    )
    matcher.add_argument(
        "--no-embeddings", action="store_true", help="lexical matching only (no sentence vectors)"
    )
    matcher.add_argument(
        "--home-region",
        help="the place the library serves, e.g. 江屿省云州市青禾区 (default: GONGKAI_HOME_REGION)",
    )
    matcher.set_defaults(func=cmd_match)
