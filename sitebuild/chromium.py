"""Debian's Chromium, started headless: by the browser tests and by the
live models' benchmark (:func:`sitebuild.live_model.bench`). Never a
downloaded browser."""

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
