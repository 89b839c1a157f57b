#!/usr/bin/env bash
# Install Gongkai into .venv and start it. Without WeChat credentials it runs in local mode:
# SQLite in this folder, a generated callback token, outbound WeChat calls to a built-in fake.
# Extra arguments go to `gongkai serve` (e.g. --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/gongkai serve "$@"
