import functools
import http.server
import threading
from pathlib import Path

import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.support.site_build import Build


@pytest.fixture(scope="session")
def builds(tmp_path_factory):
    """Two builds of the site: the first as ``make build`` makes it (figures from the cache
    when their inputs are unchanged), the second with every figure rendered afresh.

    The second starts when the first is done (so it finds the executed notebooks cached,
    as any rebuild does) and runs in the background while the browser tests, which wait
    mostly on Chromium, use the first; only the reproducibility test waits for it."""
    folder = tmp_path_factory.mktemp("builds")
    first = Build(folder / "site").result()
    rebuild = Build(folder / "site-again", VITLESSON_FIGURE_CACHE="off")
    yield first, rebuild
    rebuild.stop()


@pytest.fixture(scope="session")
def site(builds) -> Path:
    return builds[0]


@pytest.fixture(scope="session")
def second_site(builds) -> Path:
    return builds[1].result()


@pytest.fixture(scope="session")
def offline_site(tmp_path_factory, site) -> Path:
    """The copy of the site built to be opened from disk, as `make build-offline` builds it
    (after the first build, so the figures and outputs come from the cache)."""
    destination = tmp_path_factory.mktemp("offline") / "site"
    return Build(destination, OFFLINE="true", DIRECTORY_URLS="false").result()


@pytest.fixture(scope="module")
def base_url(site):
    """The built site served on 127.0.0.1, as a reader's browser sees it."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium (skipped, with the reason, where it is missing)."""
    require_chromium()
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


SITE_FIXTURES = {
    "builds",
    "site",
    "second_site",
    "offline_site",
    "published_site",
}


def pytest_collection_modifyitems(items):
    """Mark what a test needs from the fixtures it uses: a built site
    (``site``), Chromium (``browser``), so that ``make test-fast`` (``-m "not
    browser and not site and not slow"``) never builds the site by accident."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if "browser" in used:
            item.add_marker(pytest.mark.browser)
        if used & SITE_FIXTURES:
            item.add_marker(pytest.mark.site)


def pytest_terminal_summary(terminalreporter):
    """The number of inputs the core layers' property tests tried (about
    2,500 under make test, a tenth of that under make test-fast)."""
    from tests.support.layer_inputs import CASES

    if CASES["count"]:
        terminalreporter.write_line(
            f"{CASES['count']:,} property-based cases tried on the core layers"
        )
