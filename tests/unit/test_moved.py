"""The names modules had before the tree was grouped still work: for
imports (the same module object, with a warning naming the new name) and
for ``python -m`` (the command runs)."""

import subprocess
import sys

import pytest

import vitlesson
from vitlesson import _moved


@pytest.mark.parametrize("old", sorted(_moved.MOVED))
def test_an_old_name_gives_the_new_module_itself(old):
    new = _moved.MOVED[old]
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} is now {new}"):
        module = __import__(old, fromlist=["_"])
    assert module is sys.modules[new]
    assert module.__spec__.name == new
    sys.modules.pop(old, None)


def test_a_submodule_of_a_moved_package_is_not_loaded_twice():
    from vitlesson.lab.dino import loss

    with pytest.warns(DeprecationWarning):
        import vitlesson.dino.loss as old_loss  # noqa: F401

    assert sys.modules["vitlesson.dino.loss"] is loss
    assert old_loss.DINOLoss is loss.DINOLoss


def test_names_that_did_not_move_are_left_to_python():
    assert _moved.new_name("vitlesson.vit") is None
    assert _moved.new_name("vitlesson.trainer") is None
    assert _moved.new_name("vitlesson.dino.head") == "vitlesson.lab.dino.head"
    with pytest.raises(ModuleNotFoundError):
        __import__("vitlesson.nothing_here")


def test_an_old_command_name_still_runs_the_command():
    """``python -m vitlesson.train`` runs ``vitlesson.lab.train``: a bad
    flag gets that command's one-line usage error (exit 2)."""
    result = subprocess.run(
        [sys.executable, "-m", "vitlesson.train", "--no-such-flag"],
        capture_output=True,
        text=True,
        cwd=vitlesson.__path__[0],
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "python -m vitlesson.lab.train: error: unrecognized arguments: "
        "--no-such-flag (see --help)"
    ]
