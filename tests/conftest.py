import functools
import http.server
import os
import threading
from collections import Counter
from pathlib import Path

import pytest

from sitebuild.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.browser import require_chromium
from tests.support.examples import FAST
from tests.support.site_build import shared_build


@pytest.fixture(scope="session")
def builds_folder(tmp_path_factory) -> Path:
    """Where the site builds go: one folder for the whole run, shared by
    the worker processes of ``pytest -n 2`` (``make test``)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder, above each worker's own
    return base / "builds"


@pytest.fixture(scope="session")
def site(builds_folder) -> Path:
    """The site as ``make build`` makes it (figures from the cache when
    their inputs are unchanged)."""
    return shared_build(builds_folder, "site")


@pytest.fixture(scope="session")
def offline_site(builds_folder, site) -> Path:
    """The copy of the site built to be opened from disk, as `make
    build-offline` builds it (after the first build, so the figures and
    outputs come from the cache)."""
    return shared_build(builds_folder, "offline")


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
    "site",
    "offline_site",
    "published_site",
}


# The files that take longest under `make test`, longest first (measured
# with two workers): they start first, so that no worker is left running
# one of them alone at the end. Every other file follows in its usual order.
LONGEST_FIRST = [
    "tests/browser/test_pages.py",
    "tests/unit/lab/dino/test_distributed.py",
    "tests/unit/lab/test_train.py",
    "docs/lessons/what-dino-learned.md",
    "tests/notebooks/test_notebooks.py",
    "tests/browser/test_explorers.py",
    "tests/unit/lab/dino/test_throughput.py",
    "tests/unit/test_vit.py",
    "tests/site/test_build_mistakes.py",
    "tests/unit/tools/test_attention.py",
]


# Under make test-fast, each exercise test that runs over a corpus (of wrong
# answers, right alternatives or seeds) runs one case in CORPUS_SHARE; make
# test runs every case.
CORPUS_SHARE = 4


def fast_corpus(config, items) -> None:
    """Deselect, under make test-fast, all but one case in
    :data:`CORPUS_SHARE` of each parametrized test of tests/unit/exercises."""
    kept, dropped, seen = [], [], Counter()
    for item in items:
        if "exercises" in item.path.parts and hasattr(item, "callspec"):
            function = (item.path, item.originalname)
            keep = seen[function] % CORPUS_SHARE == 0
            seen[function] += 1
            (kept if keep else dropped).append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_collection_modifyitems(config, items):
    """Mark what a test needs from the fixtures it uses: a built site
    (``site``), Chromium (``browser``), so that ``make test-fast`` (``-m "not
    browser and not site and not slow"``) never builds the site by accident,
    and run a share of each exercise corpus there (:func:`fast_corpus`).
    Then put the files of :data:`LONGEST_FIRST` first."""
    if FAST:
        fast_corpus(config, items)

    def rank(item) -> int:
        path = item.nodeid.split("::")[0]
        if path in LONGEST_FIRST:
            return LONGEST_FIRST.index(path)
        return len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within a file stays
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if "browser" in used:
            item.add_marker(pytest.mark.browser)
        if used & SITE_FIXTURES:
            item.add_marker(pytest.mark.site)


def pytest_terminal_summary(terminalreporter):
    """The number of inputs the property tests tried (a tenth as many
    under make test-fast), and the recorded results measured before a
    change to their code."""
    from sitebuild.records import report, stale
    from tests.support.layer_inputs import CASES

    if CASES["count"]:
        terminalreporter.write_line(
            f"{CASES['count']:,} property-based cases tried on the API"
        )
    for line in report(stale()):  # information: the run does not fail
        terminalreporter.write_line(line)
