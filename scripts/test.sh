#!/usr/bin/env bash
# Run the whole test suite: ruff, mypy and import-linter, then pytest on SQLite, then pytest on
# PostgreSQL.
#
# PostgreSQL: uses GONGKAI_TEST_DATABASE_URL if set; otherwise starts a throwaway server from the
# machine's PostgreSQL binaries (Debian package `postgresql`) on a free loopback port and removes
# it afterwards. Without PostgreSQL binaries that pass is skipped with a notice, unless
# GONGKAI_TEST_REQUIRE_POSTGRES=1 (as in CI), which makes it an error.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh "[test]"

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy (strict)"
.venv/bin/mypy
echo "== import-linter (the layering contracts in pyproject.toml)"
.venv/bin/lint-imports --no-cache

echo "== pytest on SQLite"
env -u GONGKAI_TEST_DATABASE_URL .venv/bin/pytest "$@"

pg_dir=""
stop_postgres() {
    if [ -n "$pg_dir" ] && [ -d "$pg_dir" ]; then
        as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null 2>&1 || true
        rm -rf "$pg_dir"
    fi
}
as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ -z "${GONGKAI_TEST_DATABASE_URL:-}" ]; then
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$pg_bin" ]; then
        if [ "${GONGKAI_TEST_REQUIRE_POSTGRES:-0}" = 1 ]; then
            echo "PostgreSQL binaries not found (install the Debian package postgresql)" >&2
            exit 1
        fi
        echo "== PostgreSQL pass SKIPPED: no PostgreSQL binaries (apt-get install postgresql)"
        exit 0
    fi
    pg_dir=$(mktemp -d)
    trap stop_postgres EXIT
    port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if [ "$(id -u)" = 0 ]; then chown postgres "$pg_dir"; fi
    as_postgres "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U gongkai -E UTF8 --no-locale >/dev/null
    as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w \
        -o "-p $port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" start >/dev/null
    "$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U gongkai gongkai_test
    export GONGKAI_TEST_DATABASE_URL="postgresql+asyncpg://gongkai@127.0.0.1:$port/gongkai_test"
fi

echo "== pytest on PostgreSQL"
.venv/bin/pytest "$@"
