"""Debian's Chromium for the browser tests, driven by Playwright: never a
downloaded browser. CI must have it (``.ci/run`` installs it); a learner's
machine without it skips those tests with the reason printed."""

from __future__ import annotations

import os

import pytest

from sitebuild.chromium import CHROMIUM


def require_chromium() -> None:
    """Skip (with the reason) where Chromium or Playwright is missing;
    in CI a missing Chromium is an error, never a skip."""
    if not CHROMIUM.exists() and os.environ.get("CI"):
        raise RuntimeError(
            "CI must run the browser tests: /usr/bin/chromium is missing "
            "(.ci/run installs it)"
        )
    if not CHROMIUM.exists():
        pytest.skip(
            "Chromium is not installed at /usr/bin/chromium (apt-get install "
            "chromium; .ci/run does this)",
            allow_module_level=True,
        )
    pytest.importorskip(
        "playwright.sync_api",
        reason="playwright is not installed (pip install -r requirements.txt)",
    )


def files_only(context) -> list[str]:
    """Let ``context`` load only what a copy opened from disk has (file:,
    data: and blob: addresses); every other request is refused and its
    address added to the returned list."""
    elsewhere: list[str] = []
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(("file:", "data:", "blob:"))
            else (elsewhere.append(route.request.url), route.abort())
        ),
    )
    return elsewhere
