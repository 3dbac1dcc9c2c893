"""What the live-model tests share: a fresh tab per test."""

import pytest


@pytest.fixture
def page(browser):
    """A tab at 1280x900 that also takes touch; no script error may happen
    in it (checked when the test ends)."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, has_touch=True
    )
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    context.close()
    assert page.errors == []
