"""Browser tests: Playwright for Python driving Debian's Chromium (``/usr/bin/chromium``, no
browser download), against the real app on a loopback port.

Without ``/usr/bin/chromium`` these tests are skipped with the reason, unless
``GONGKAI_TEST_REQUIRE_BROWSER=1`` (set by ``.ci/run``, which installs Chromium), which makes the
missing browser a failure. ``GONGKAI_TEST_SCREENSHOTS=DIR`` keeps the screenshots there.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Read at import: the autouse fixture in tests/conftest.py clears GONGKAI_* for each test.
REQUIRE = os.environ.get("GONGKAI_TEST_REQUIRE_BROWSER") == "1"
SCREENSHOTS = os.environ.get("GONGKAI_TEST_SCREENSHOTS")
HAVE_CHROMIUM = CHROMIUM.exists()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not HAVE_CHROMIUM:
        reason = f"{CHROMIUM} not found (apt-get install chromium fonts-wqy-microhei)"
        if REQUIRE:
            pytest.fail(f"GONGKAI_TEST_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium's sandbox refuses root
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield chromium
        await chromium.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    where = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path / "screenshots"
    where.mkdir(parents=True, exist_ok=True)
    return where
