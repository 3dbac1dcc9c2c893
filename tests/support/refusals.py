"""The one rule every property test applies to a refusal: ``expect`` runs
a call that may succeed or refuse. A result must pass the test's check; a
refusal must be a ValueError or TypeError whose message is one line, names
the parameter (one of ``names``, as a whole word) and shows the value given
(one of ``values``, as Python prints it: ``(2, 3)``, ``torch.int64``,
``'16'``, ``got list`` for a value of the wrong type).

A message that merely contains a digit, or names the parameter without what
was passed, fails: "img_size must be positive" does not tell a learner which
of their numbers was wrong; "img_size must be positive, got -2" does."""

from __future__ import annotations

import re
from collections.abc import Iterable

import torch

# Calls judged, for the summary at the end of a run (tests/conftest.py).
CASES = {"count": 0}


def shown(value) -> set[str]:
    """The ways a message may print ``value``: its str and repr, ``got``
    and its type's name, a tensor's shape (or its last two sizes), dtype,
    layout and device, a shape as a tuple, a list, a torch.Size or a
    height*width size, a list's length ("a list of 3") and either half of
    a pair (a height and width, a low and high)."""
    if isinstance(value, torch.Tensor):
        return (
            shown(tuple(value.shape))
            | shown(tuple(value.shape[-2:]))  # an image's height and width
            | {str(value.dtype), str(value.layout), f"{value.device.type}"}
            | {"got Tensor"}
        )
    forms = {str(value), repr(value), f"got {type(value).__name__}"}
    if isinstance(value, tuple | list):
        forms.add(f"{type(value).__name__} of {len(value)}")
    if type(value) is int:
        forms.add(f"{value:,}")  # 10,000 as a message prints it
    if isinstance(value, torch.dtype):
        forms.add(str(value).removeprefix("torch."))
    if isinstance(value, tuple | list | torch.Size) and all(
        type(v) is int for v in value
    ):
        items = ", ".join(map(str, value))
        forms |= {f"({items})", f"[{items}]", f"torch.Size([{items}])"}
        if len(value) == 1:
            forms.add(f"({items},)")
        if len(value) >= 2:
            forms.add(f"{value[-2]}*{value[-1]}")
    if isinstance(value, tuple | list) and len(value) <= 2:
        for item in value:  # a pair: a message may name the bad half
            forms |= shown(item) - {f"got {type(item).__name__}"}
    return {form for form in forms if form}


def _appears(form: str, message: str) -> bool:
    """``form`` occurs in ``message``; a number only as a whole number
    (``3`` is not found in ``32`` or ``0.3``)."""
    if re.fullmatch(r"[-+]?[\w.]+", form):
        return bool(
            re.search(rf"(?<![\w.]){re.escape(form)}(?![\w]|\.\d)", message)
        )
    return form in message


def names_the_value(message: str, values: Iterable) -> bool:
    return any(
        _appears(form, message) for value in values for form in shown(value)
    )


def names_the_parameter(message: str, names: Iterable[str]) -> bool:
    return any(
        re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", message)
        for name in names
    )


def expect(build, check_result, *, names, values):
    """Run ``build``: a result passes ``check_result``; a ValueError or
    TypeError has a one-line message that names one of ``names`` and shows
    one of ``values``. Returns the result (None after a refusal)."""
    names = (names,) if isinstance(names, str) else tuple(names)
    CASES["count"] += 1
    try:
        result = build()
    except (ValueError, TypeError) as error:
        message = str(error)
        kind = type(error).__name__
        assert message and len(message.splitlines()) == 1, (
            f"{kind} is not one line: {message!r}"
        )
        assert names_the_parameter(message, names), (
            f"{kind} names none of {names}: {message}"
        )
        assert names_the_value(message, values), (
            f"{kind} shows none of the values given "
            f"{[repr(v)[:60] for v in values]}: {message}"
        )
        return None
    check_result(result)
    return result
