"""``vitlesson._arguments``: every command's usage error is one line (exit
2), and the lock a command holds on its output while it runs."""

from __future__ import annotations

import pytest

from tests.support import faults
from vitlesson._arguments import output_lock

COMMANDS = [
    "vitlesson.lab.train",
    "vitlesson.lab.dino",
    "vitlesson.lab.dino.throughput",
    "vitlesson.tools.attention",
    "vitlesson.tools.bench",
]


@pytest.mark.parametrize("module", COMMANDS)
@pytest.mark.parametrize("argv", [["--bogus"], ["--help-me"], ["-x", "1"]])
def test_every_command_says_a_usage_error_in_one_line(tmp_path, module, argv):
    result = faults.run_forked(["-m", module, *argv], tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"python -m {module}: error: ")
    assert result.stderr.endswith("(see --help)\n")
    assert result.stdout == "" and list(tmp_path.iterdir()) == []


def test_a_second_holder_is_refused_and_the_lock_file_goes_at_the_end(
    tmp_path,
):
    output = tmp_path / "run.json"
    with output_lock(output):
        assert [p.name for p in tmp_path.iterdir()] == [".run.json.lock"]
        with pytest.raises(ValueError) as refused:
            with output_lock(output):
                pytest.fail("two holders of one lock")
        message = str(refused.value)
        assert message == (
            f"--output {output} is being written by another run (it holds "
            f"{tmp_path / '.run.json.lock'}): wait for it to end or name "
            "another file"
        )
        with output_lock(tmp_path / "other.json"):  # other outputs: free
            pass
    assert list(tmp_path.iterdir()) == []
    with output_lock(output):  # free again
        pass


def test_the_lock_is_released_when_the_block_raises(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with output_lock(tmp_path / "run.json"):
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with output_lock(tmp_path / "run.json"):
        pass


def test_a_lock_file_left_by_a_killed_run_blocks_nothing(tmp_path):
    """The operating system drops a process's flock when it dies: a lock
    file left by a run killed with SIGKILL is taken by the next run and
    removed."""
    code = (
        "import os, sys\n"
        "from vitlesson._arguments import output_lock\n"
        "with output_lock('run.json'):\n"
        "    print('held', flush=True)\n"
        "    os.kill(os.getpid(), 9)\n"
    )
    result = faults.run_forked(["-c", code], tmp_path)
    assert result.returncode == -9 and result.stdout == "held\n"
    assert [p.name for p in tmp_path.iterdir()] == [".run.json.lock"]
    with output_lock(tmp_path / "run.json"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_a_folder_it_cannot_write_is_one_line(tmp_path):
    """Even as root (as CI runs): the fork drops root's right to write
    anywhere (faults.obey_file_permissions)."""
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o500)
    code = (
        "from tests.support.faults import obey_file_permissions\n"
        "from vitlesson._arguments import output_lock\n"
        "obey_file_permissions()\n"
        "with output_lock('read-only/run.json'):\n"
        "    print('locked')\n"
    )
    result = faults.run_forked(["-c", code], tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == (
        "ValueError: --output read-only/run.json: cannot make its lock "
        "file read-only/.run.json.lock (Permission denied)"
    )
    assert list(folder.iterdir()) == []
