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
