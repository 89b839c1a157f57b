#!/usr/bin/env bash
# Install Gongkai into .venv and start it. Without WeChat credentials it runs in local mode:
# SQLite in this folder, a generated callback token, outbound WeChat calls to a built-in fake.
# Extra arguments go to `gongkai serve` (e.g. --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh ""
exec .venv/bin/gongkai serve "$@"
