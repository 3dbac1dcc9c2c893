"""The writing helpers every command uses (``vitlesson._io``,
``vitlesson._runs``): whole files or none, outputs checked before work,
weights and record as a pair."""

import hashlib
import json
import os

import pytest
import torch

from tests.support import faults
from vitlesson._io import (
    atomic_write,
    output_lock,
    remove_leftovers,
    writable_output,
    write_text,
)
from vitlesson._runs import outputs, state_bytes, write_pair


def test_a_failure_mid_write_leaves_the_previous_file(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("previous")
    with pytest.raises(RuntimeError, match="half way"):
        with atomic_write(target, "w") as handle:
            handle.write("new and half")
            raise RuntimeError("half way")
    assert target.read_text() == "previous"
    assert os.listdir(tmp_path) == ["out.json"]  # no temporary file left
    write_text(target, "new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["out.json"]


def test_a_new_file_has_the_permissions_open_gives(tmp_path):
    umask = os.umask(0o027)
    try:
        write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640


def test_atomic_write_takes_only_write_modes(tmp_path):
    with pytest.raises(ValueError, match="mode must be 'wb' or 'w', got 'a'"):
        with atomic_write(tmp_path / "x", "a"):
            pass


@pytest.mark.parametrize(
    "path,message",
    [
        ("", "output path is empty: name a file"),
        (".", "output . is a directory: name a file"),
        ("file.txt/x.json", "cannot be written: file.txt is not a folder"),
        ("file.txt/a/b.json", "cannot be written: file.txt is not a folder"),
        ("no/x.json", "cannot be written: no does not exist"),
    ],
)
def test_unwritable_outputs_are_named(tmp_path, monkeypatch, path, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file.txt").write_text("mine")
    with pytest.raises(ValueError) as caught:
        writable_output(path)
    assert message in str(caught.value)
    assert writable_output("fine.json").name == "fine.json"


def test_weights_and_record_must_be_two_files(tmp_path):
    with pytest.raises(ValueError, match="would be the same file"):
        outputs(tmp_path / "w.json", tmp_path / "sub" / ".." / "w.json")
    assert outputs(None, tmp_path / "r.json") == (None, tmp_path / "r.json")


def test_the_record_names_the_weights_it_was_written_with(tmp_path):
    data = state_bytes(torch.nn.Linear(2, 2))
    record = write_pair(
        tmp_path / "w.pt", data, tmp_path / "w.json", {"steps": 1}
    )
    on_disk = json.loads((tmp_path / "w.json").read_text())
    assert on_disk == record and record["steps"] == 1
    assert record["weights"] == "w.pt"
    assert record["weights_sha256"] == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "w.pt").read_bytes() == data


def test_a_pair_that_cannot_be_placed_leaves_the_previous_pair(tmp_path):
    (tmp_path / "w.json").write_text("previous record")
    (tmp_path / "w.pt").mkdir()  # appeared after the check: cannot replace
    with pytest.raises(OSError):
        write_pair(tmp_path / "w.pt", b"weights", tmp_path / "w.json", {})
    assert (tmp_path / "w.json").read_text() == "previous record"
    assert sorted(os.listdir(tmp_path)) == ["w.json", "w.pt"]


def test_only_an_earlier_run_of_the_command_is_replaced(tmp_path):
    weights, record = tmp_path / "w.pt", tmp_path / "w.json"
    assert outputs(weights, record, "python -m x") == (weights, record)
    weights.write_bytes(b"weights")
    with pytest.raises(ValueError, match="weights .*w.pt exists and is not"):
        outputs(weights, record, "python -m x")
    record.write_text('{"command": "python -m x --steps 2"}')
    assert outputs(weights, record, "python -m x") == (weights, record)
    with pytest.raises(ValueError, match="record .*w.json exists and is not"):
        outputs(weights, record, "python -m y")


def a_finished_process() -> int:
    """The id of a process that has ended (and been waited for)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_a_write_removes_the_drafts_killed_writers_left(tmp_path):
    dead, alive = a_finished_process(), os.getppid()
    names = {
        f".out.json.{dead}.abcd_123.tmp": "removed: its writer is gone",
        f".out.json.{alive}.abcd_123.tmp": "kept: its writer runs",
        f".out.json.{os.getpid()}.abcd_123.tmp": "kept: this process",
        f".out.json.{dead}.abc.tmp": "kept: not a draft's name",
        f".out.jsonx.{dead}.abcd_123.tmp": "kept: another file's",
        f".other.json.{dead}.abcd_123.tmp": "kept: another file's",
        f"out.json.{dead}.abcd_123.tmp": "kept: not hidden",
    }
    for name in names:
        (tmp_path / name).write_text("x")
    write_text(tmp_path / "out.json", "{}")
    kept = {n for n, why in names.items() if why.startswith("kept")}
    assert set(os.listdir(tmp_path)) == kept | {"out.json"}
    assert remove_leftovers(tmp_path / "out.json") == []


# --- the lock a command holds on its output while it runs ---------------


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
        "from vitlesson._io import output_lock\n"
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
        "from vitlesson._io import output_lock\n"
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
