"""The helpers every exercise check uses: the solution refused, the
learner's exceptions as messages, shapes and first wrong numbers named,
settings seeded per run."""

import functools
import random

import pytest
import torch

from vitlesson.exercises._harness import (
    ExerciseError,
    SolutionRefused,
    describe,
    first_difference,
    learner_call,
    refusing_the_solution,
    returned_tensor,
    seeded,
    shape_mistake,
)


def solution(x):
    return x + 1


class Solution(torch.nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return x


def test_the_solution_refuses_by_every_name_and_works_again_afterwards():
    imported = solution  # as `from package import solution` would bind it

    class Subclass(Solution):
        pass

    built = Solution()
    with refusing_the_solution(
        {"package.solution": solution, "package.Solution": Solution}
    ):
        with pytest.raises(SolutionRefused, match="package.solution"):
            imported(1)
        with pytest.raises(SolutionRefused, match="package.Solution"):
            Subclass()
        with pytest.raises(SolutionRefused, match="package.Solution"):
            built(torch.zeros(1))
    assert solution(1) == imported(1) == 2
    assert torch.equal(Subclass()(torch.ones(1)), torch.ones(1))


def test_a_decorated_solution_refuses_too():
    """A wrapper closing over the function it decorates (functools.wraps,
    or mutmut's trampolines) has free variables its swapped code keeps."""

    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            return function(*args, **kwargs)

        return wrapper

    decorated = decorate(solution)
    with refusing_the_solution({"package.decorated": decorated}):
        with pytest.raises(SolutionRefused, match="package.decorated"):
            decorated(1)
    assert decorated(1) == 2


def test_the_solution_is_given_back_after_an_error():
    with pytest.raises(ValueError), refusing_the_solution({"s": solution}):
        raise ValueError
    assert solution(1) == 2


def test_a_refused_solution_is_said_in_one_line():
    with (
        refusing_the_solution({"package.solution": solution}),
        pytest.raises(ExerciseError) as error,
    ):
        learner_call("answer", lambda x: solution(x), 1, expected="2")
    assert str(error.value) == (
        "your code called package.solution, the package's solution: write "
        "it yourself (in answer(1))"
    )
    assert isinstance(error.value.__cause__, SolutionRefused)


@pytest.mark.parametrize(
    "function,message",
    [
        (
            lambda x, y: x.view(3),
            r"^answer\(a tensor of shape \(2, 2\), 5\) raised RuntimeError: "
            r".*; expected a number\. the hint$",
        ),
        (
            lambda x, y: [][1],
            r"^answer\(.*\) raised IndexError: list index out of range",
        ),
        (None, "^answer should be your function or class, got None"),
        (
            lambda *a: (_ for _ in ()).throw(NotImplementedError),
            "^answer is not written yet",
        ),
    ],
)
def test_every_exception_of_the_learner_becomes_a_message(function, message):
    with pytest.raises(ExerciseError, match=message):
        learner_call(
            "answer",
            function,
            torch.zeros(2, 2),
            5,
            expected="a number",
            hint="the hint",
        )


def test_keyboard_interrupt_is_not_a_learners_mistake():
    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        learner_call("answer", interrupted, expected="")


@pytest.mark.parametrize(
    "value,found",
    [
        (None, "None: did you forget the `return`?"),
        ((x for x in []), "a generator: did you write `yield`"),
        (torch.zeros(2, dtype=torch.long), "a tensor of dtype torch.int64"),
        ([1.0], "a list object, not a torch.Tensor"),
    ],
)
def test_what_is_not_a_float_tensor_is_named(value, found):
    with pytest.raises(ExerciseError, match=f"^f\\(\\) returned {found}"):
        returned_tensor("f()", value, "a (2,) tensor")


def test_a_float_tensor_comes_back_detached():
    x = torch.ones(2, requires_grad=True)
    assert not returned_tensor("f()", x * 2, "").requires_grad


def test_shapes_are_compared_by_named_dimension():
    names = ("B", "N", "D")
    assert shape_mistake((2, 3, 4), (2, 3, 4), names) is None
    assert shape_mistake((2, 4, 3), (2, 3, 4), names) == (
        "shape (2, 4, 3): dimensions 1 (N) and 2 (D) are swapped, expected "
        "(2, 3, 4)"
    )
    assert shape_mistake((2, 5, 4), (2, 3, 4), names) == (
        "shape (2, 5, 4): dimension 1 (N) should be 3, got 5; expected "
        "shape (2, 3, 4)"
    )
    assert shape_mistake((2, 12), (2, 3, 4), names) == (
        "shape (2, 12) has 2 dimensions, expected 3: (2, 3, 4)"
    )


def test_the_first_wrong_number_is_named():
    expected = torch.arange(6.0).reshape(2, 3)
    got = expected.clone()
    assert first_difference(got, expected, str) is None
    got[1, 0], got[1, 2] = 9.0, float("nan")
    assert first_difference(got, expected, lambda i: f"row {i[0]}") == (
        "row 1 should be 3, got 9"
    )


def test_values_are_described_briefly():
    assert describe(torch.zeros(2, 3)) == "a tensor of shape (2, 3)"
    assert describe(solution) == "solution" and describe(Solution) == (
        "Solution"
    )
    assert describe((224, 8)) == "(224, 8)"
    assert describe(Solution()) == "a Solution object"
    assert describe(list(range(100))) == "a list object"


def test_a_seeded_check_draws_anew_unless_given_a_seed():
    @seeded
    def check(answer, *, draw: random.Random):
        return draw.random(), torch.rand(1).item()

    assert check(None, seed=3) == check(None, seed=3)
    assert len({check(None)[0] for _ in range(5)}) > 1
