"""What the exercise checks' tests share: the seeds a right answer must pass
on, and the message a check stops a wrong answer with."""

import contextlib
import io

import pytest

from vitlesson.exercises import ExerciseError

SEEDS = [0, 1, 2]


def caught(check, *answers, seed=0) -> str:
    """The message ``check`` stops ``answers`` with (it must stop them)."""
    with (
        pytest.raises(ExerciseError) as error,
        contextlib.redirect_stdout(io.StringIO()),
    ):
        check(*answers, seed=seed)
    return str(error.value)
