"""A real browser for the page's tests: Debian's Chromium driven by Playwright.

No browser download (never `playwright install`): .ci/run installs Debian's `chromium`
when it is missing. This machine's network is closed, so Chromium's background
connections are switched off, and each test gets a fresh profile directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-default-apps", "--disable-extensions"]


@contextmanager
def chromium(profile: Path, **options: object) -> Iterator[BrowserContext]:
    """A headless Chromium with a fresh profile in `profile`; closed at the end."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (Debian's package; "
                    ".ci/run installs it)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=ARGS,
            **options)  # type: ignore[arg-type]
        try:
            yield context
        finally:
            context.close()
