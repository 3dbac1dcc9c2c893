"""What every exercise check shares, so that no wrong answer passes.

A check runs the learner's code and compares what it returns with a
reference the check computes itself, with plain tensor operations, never
with the learner's own layers. Four habits keep it honest:

* the settings are drawn when the check runs (:func:`seeded` gives each run
  its own seed), so numbers written into an answer do not fit them;
* the package's own solution refuses to run while the check does
  (:func:`refusing_the_solution`), so it cannot stand in for the learner's;
* every exception the learner's code raises becomes an
  :class:`ExerciseError` that names the call and what was expected
  (:func:`learner_call`), never a traceback from inside the check;
* a wrong result is named by its first wrong number
  (:func:`first_difference`).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import random
import secrets
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch


class ExerciseError(AssertionError):
    """An exercise check failed; the message says what was expected and
    what was found."""


class SolutionRefused(RuntimeError):
    """Raised by the package's solution while a check runs."""

    def __init__(self, name: str):
        super().__init__(f"{name} is the package's solution")
        self.name = name


def _refused(*args, **kwargs):
    from vitlesson.exercises._harness import SolutionRefused

    raise SolutionRefused("SOLUTION")


def _refusing_code(name: str, own: types.CodeType) -> types.CodeType:
    """The code of :func:`_refused`, raising for ``name``: it runs in place
    of a function's own code ``own``, so every reference to that function
    refuses, even one imported into the learner's notebook before the
    check. It keeps ``own``'s free variables, which a decorated function
    (a wrapper closing over the original) has and Python requires; and it
    is :func:`_refused`'s own code even where a decorator wraps it (as
    mutation testing does), not the wrapper's."""
    code = inspect.unwrap(_refused).__code__
    constants = tuple(
        name if value == "SOLUTION" else value for value in code.co_consts
    )
    return code.replace(co_consts=constants, co_freevars=own.co_freevars)


def _refusing_method(name: str):
    def refused(*args, **kwargs):
        raise SolutionRefused(name)

    return refused


@contextlib.contextmanager
def refusing_the_solution(solutions: dict[str, Any]) -> Iterator[None]:
    """While the block runs, each of ``solutions`` (a shown name, such as
    ``"vitlesson.patchify"``, for a function or a class) raises
    :class:`SolutionRefused` when called. A function's code is swapped, so
    that names imported before the check refuse as well; a class's
    ``__init__`` and ``forward`` are replaced, so that instances and
    subclasses refuse. Everything is put back afterwards, also after an
    error."""
    undo: list[Callable[[], None]] = []
    try:
        for name, solution in solutions.items():
            if inspect.isclass(solution):
                for method in ("__init__", "forward"):
                    own = solution.__dict__.get(method)
                    if own is None:
                        continue
                    setattr(solution, method, _refusing_method(name))
                    undo.append(
                        functools.partial(setattr, solution, method, own)
                    )
            else:
                code = solution.__code__
                solution.__code__ = _refusing_code(name, code)
                undo.append(
                    functools.partial(setattr, solution, "__code__", code)
                )
        yield
    finally:
        for step in reversed(undo):
            step()


def describe(value: Any) -> str:
    """A value as a message shows it: tensors by their shape."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if inspect.isclass(value) or inspect.isroutine(value):
        return value.__name__
    shown = repr(value)
    if isinstance(value, (int, float, str, tuple, list, dict, type(None))):
        if len(shown) <= 60:
            return shown
    return f"a {type(value).__name__} object"


def learner_call(
    name: str,
    function: Any,
    *args: Any,
    expected: str,
    hint: str = "",
    **kwargs: Any,
) -> Any:
    """``function(*args, **kwargs)``, the learner's ``name``; whatever it
    raises becomes an :class:`ExerciseError` naming the call and what was
    ``expected`` (``hint`` is added where the check knows more)."""
    shown = ", ".join(
        [describe(arg) for arg in args]
        + [f"{key}={describe(value)}" for key, value in kwargs.items()]
    )
    call = f"{name}({shown})"
    if not callable(function):
        raise ExerciseError(
            f"{name} should be your function or class, got "
            f"{describe(function)}: run the cell that defines it, then "
            "pass it to the check"
        )
    try:
        return function(*args, **kwargs)
    except SolutionRefused as error:
        raise ExerciseError(
            f"your code called {error.name}, the package's solution: "
            f"write it yourself (in {call})"
        ) from error
    except NotImplementedError as error:
        raise ExerciseError(
            f"{name} is not written yet (it still raises "
            "NotImplementedError): write it in its TODO cell, run that "
            "cell, then run this check again"
        ) from error
    except Exception as error:  # the learner's own mistake, named
        raise ExerciseError(
            f"{call} raised {type(error).__name__}: {error}; expected "
            f"{expected}" + (f". {hint}" if hint else "")
        ) from error


def returned_tensor(call: str, value: Any, expected: str) -> torch.Tensor:
    """``value`` if it is a floating-point tensor, else an
    :class:`ExerciseError` saying what ``call`` returned instead."""
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.detach()
    if value is None:
        found = "None: did you forget the `return`?"
    elif inspect.isgenerator(value):
        found = "a generator: did you write `yield` instead of `return`?"
    elif isinstance(value, torch.Tensor):
        found = f"a tensor of dtype {value.dtype}, not a floating-point one"
    else:
        found = f"a {type(value).__name__} object, not a torch.Tensor"
    raise ExerciseError(f"{call} returned {found}; expected {expected}")


def shape_mistake(
    got: Sequence[int], expected: Sequence[int], names: Sequence[str]
) -> str | None:
    """What is wrong with shape ``got`` (None if nothing): the first
    dimension that differs, by its ``names``; swapped dimensions are said
    so."""
    got, expected = tuple(got), tuple(expected)
    if got == expected:
        return None
    if len(got) != len(expected):
        return (
            f"shape {got} has {len(got)} dimensions, expected "
            f"{len(expected)}: {expected}"
        )
    wrong = [i for i in range(len(got)) if got[i] != expected[i]]
    if len(wrong) == 2:
        i, j = wrong
        if (got[i], got[j]) == (expected[j], expected[i]):
            return (
                f"shape {got}: dimensions {i} ({names[i]}) and {j} "
                f"({names[j]}) are swapped, expected {expected}"
            )
    i = wrong[0]
    return (
        f"shape {got}: dimension {i} ({names[i]}) should be {expected[i]}, "
        f"got {got[i]}; expected shape {expected}"
    )


def first_difference(
    got: torch.Tensor,
    expected: torch.Tensor,
    where: Callable[[tuple[int, ...]], str],
    atol: float = 1e-4,
    rtol: float = 1e-4,
) -> str | None:
    """The first element where ``got`` and ``expected`` (same shape)
    differ, as ``where(index)``, then both values; None if they agree."""
    close = torch.isclose(got, expected.to(got.dtype), atol=atol, rtol=rtol)
    if bool(close.all()):
        return None
    flat = int((~close).flatten().nonzero()[0])
    index = tuple(
        int(i) for i in torch.unravel_index(torch.tensor(flat), got.shape)
    )
    return (
        f"{where(index)} should be {float(expected[index]):.4g}, "
        f"got {float(got[index]):.4g}"
    )


def seeded(check):
    """Give ``check`` its settings' random generator, seeded anew at every
    call (``seed=`` repeats a run), and run it in a forked torch random
    state seeded the same way: the learner's layers start from weights
    that only this run has, and the learner's own random state is left as
    it was."""

    @functools.wraps(check)
    def run(answer, *args, seed: int | None = None, **kwargs):
        seed = secrets.randbits(32) if seed is None else seed
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return check(answer, *args, draw=random.Random(seed), **kwargs)

    return run
