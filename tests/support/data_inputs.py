"""Inputs for property tests of multi-crop and the data sets: ``expect`` accepts a correct result or a one-line ValueError/TypeError naming the parameter."""

from __future__ import annotations

from tests.support.examples import property_settings

SETTINGS = property_settings(60)


def expect(build, check_result, *names):
    """A result passes ``check_result``; an error is a ValueError or
    TypeError whose message names one of ``names`` and a value."""
    try:
        result = build()
    except (ValueError, TypeError) as error:
        message = str(error)
        assert len(message.splitlines()) == 1, message
        assert any(name in message for name in names), (
            f"{type(error).__name__} names none of {names}: {message}"
        )
        assert any(c.isdigit() for c in message) or "got" in message, message
        return None
    check_result(result)
    return result
