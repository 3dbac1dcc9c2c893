"""``vitlesson._runs``: the weights and their record written as a pair that
cannot disagree unnoticed, with real signals at the moments that matter
(Ctrl-C and SIGKILL between the two renames and during a flush), and every
reader refusing a record that does not name its weights."""

import hashlib
import json
import os
import shutil
import signal

import pytest
import torch

from tests.support import faults
from vitlesson._io import draft
from vitlesson._runs import (
    _interrupt_held,
    check_pair,
    read_pair,
    state_bytes,
    write_pair,
)
from vitlesson.lab import dino
from vitlesson.lab import train as train_module
from vitlesson.lab.dino import command as dino_command
from vitlesson.lab.dino import evaluation

PROG = "python -m vitlesson.lab.train"
DONE = f"{PROG}: interrupted after its files were written in full"


def train_command(moment=None, name="run.json", signum=signal.SIGINT):
    """``python -m vitlesson.lab.train`` for one step on a 16-image test
    split, writing run.pt and run.json; with ``moment``, a signal at that
    moment of writing ``name`` (:func:`faults.signal_at`)."""
    at = (
        f"from tests.support import faults; "
        f"faults.signal_at({moment!r}, {name!r}, {int(signum)}); "
        if moment
        else ""
    )
    return [
        "-c",
        at + "import sys, vitlesson.lab.train as t; t.TEST_SIZE = 16; "
        "t.main(sys.argv[1:])",
        *["--steps", "1", "--batch-size", "4", "--device", "cpu"],
        *["--output", "run.pt"],
    ]


@pytest.fixture(scope="module")
def warm():
    """One training step in this process first: what torch sets up on its
    first step (3.8 s here) is then inherited by every forked command
    (0.2 s a run) instead of set up again in each."""
    train_module.train(steps=1, batch_size=2, progress=False)


def previous_pair(work):
    """The pair of an earlier run, which a new run may replace."""
    (work / "run.pt").write_bytes(b"previous weights")
    record = {
        "command": f"{PROG} --steps 5",
        "weights": "run.pt",
        "weights_sha256": hashlib.sha256(b"previous weights").hexdigest(),
    }
    (work / "run.json").write_text(json.dumps(record))
    return {n: (work / n).read_bytes() for n in ("run.pt", "run.json")}


def drafts(folder) -> list[str]:
    """The drafts a run left in ``folder`` (hidden, ending .tmp); a killed
    run may leave its lock file too, which the next run takes over."""
    return sorted(n for n in os.listdir(folder) if n.endswith(".tmp"))


def refusal(call) -> str:
    with pytest.raises(ValueError) as refused:
        call()
    message = str(refused.value)
    assert len(message.splitlines()) == 1, message
    return message


# --- real signals while the command writes the pair --------------------------


@pytest.mark.slow  # a training step in a fork: seconds
@pytest.mark.parametrize(
    "moment,name",
    [
        ("replaced", "run.json"),  # between the two renames
        ("replaced", "run.pt"),  # after both (before: weights went first)
        ("fsync", "run.json"),  # while the record's draft is flushed
        ("fsync", "run.pt"),  # while the weights' draft is flushed
    ],
)
def test_ctrl_c_while_the_pair_is_written_comes_after_both_files(
    warm, tmp_path, moment, name
):
    previous_pair(tmp_path)
    result = faults.run_forked(train_command(moment, name), tmp_path)
    assert result.returncode == 130, result.stderr
    assert faults.last_line(result.stderr) == DONE
    assert "Traceback" not in result.stderr
    data, record = read_pair(tmp_path / "run.pt")  # they belong together
    assert data != b"previous weights"
    assert record["command"].startswith(f"{PROG} --steps 1")
    assert sorted(os.listdir(tmp_path)) == ["run.json", "run.pt"]


@pytest.mark.slow
def test_sigkill_between_the_renames_leaves_a_pair_readers_refuse(
    warm, tmp_path, monkeypatch
):
    before = previous_pair(tmp_path)
    killed = faults.run_forked(
        train_command("replaced", "run.json", signal.SIGKILL), tmp_path
    )
    assert killed.returncode == -signal.SIGKILL
    # the new record beside the previous weights: the moment is the right one
    assert (tmp_path / "run.pt").read_bytes() == before["run.pt"]
    assert (tmp_path / "run.json").read_bytes() != before["run.json"]
    [left] = drafts(tmp_path)
    assert left.startswith(".run.pt.") and left.endswith(".tmp")

    monkeypatch.setattr(train_module, "WEIGHTS", tmp_path / "run.pt")
    for reader in (
        lambda: read_pair(tmp_path / "run.pt"),
        train_module.load_trained,
    ):
        message = refusal(reader)
        assert message.startswith(
            f"weights {tmp_path / 'run.pt'} are not the ones their record "
            f"{tmp_path / 'run.json'} names (SHA-256 "
        )
        assert message.endswith(
            f"run {PROG} --steps 1 --batch-size 4 "
            "--device cpu --output run.pt again"
        )

    # what the killed run left is its own: the next run replaces both
    again = faults.run_forked(train_command(), tmp_path)
    assert again.returncode == 0, again.stderr
    model, record = train_module.load_trained()
    assert (
        record["weights_sha256"]
        == hashlib.sha256((tmp_path / "run.pt").read_bytes()).hexdigest()
    )


@pytest.mark.slow
def test_the_drafts_of_a_killed_run_are_removed_by_the_next(warm, tmp_path):
    before = previous_pair(tmp_path)
    mine = tmp_path / ".run.pt.notes"  # a file the command did not make
    mine.write_text("mine")
    killed = faults.run_forked(
        train_command("fsync", "run.pt", signal.SIGKILL), tmp_path
    )
    assert killed.returncode == -signal.SIGKILL
    assert [name.split(".")[1:3] for name in drafts(tmp_path)] == [
        ["run", "json"],
        ["run", "pt"],
    ]  # both drafts, hidden, under names no output has
    assert {n: (tmp_path / n).read_bytes() for n in before} == before
    assert read_pair(tmp_path / "run.pt")[0] == b"previous weights"

    again = faults.run_forked(train_command(), tmp_path)
    assert again.returncode == 0, again.stderr
    assert sorted(os.listdir(tmp_path)) == [mine.name, "run.json", "run.pt"]
    assert mine.read_text() == "mine"
    assert read_pair(tmp_path / "run.pt")[1]["command"].startswith(PROG)


def test_ctrl_c_is_held_until_the_block_ends():
    handler, done = signal.getsignal(signal.SIGINT), []
    with pytest.raises(KeyboardInterrupt):
        with _interrupt_held():
            os.kill(os.getpid(), signal.SIGINT)  # a real signal
            done.append("the rest of the block ran")
    assert done == ["the rest of the block ran"]
    assert signal.getsignal(signal.SIGINT) is handler  # as it was


# --- the pair on disk --------------------------------------------------------


def test_shipped_records_name_their_weights():
    for weights in (
        train_module.WEIGHTS,
        dino.DINO_WEIGHTS,
        dino.SUPERVISED_WEIGHTS,
    ):
        data, record = read_pair(weights)
        assert record["weights"] == weights.name
        assert record["weights_sha256"] == hashlib.sha256(data).hexdigest()


def test_a_weights_file_that_cannot_be_placed_puts_the_record_back(
    tmp_path, monkeypatch
):
    """A failure after the record was replaced (another user's weights in
    a sticky folder, say) leaves the previous pair, and no draft."""
    weights, record = tmp_path / "w.pt", tmp_path / "w.json"
    replace = os.replace

    def refuse_weights(source, target):
        if os.fspath(target) == os.fspath(weights):
            raise PermissionError(1, "Operation not permitted", target)
        replace(source, target)

    monkeypatch.setattr(os, "replace", refuse_weights)
    with pytest.raises(PermissionError):
        write_pair(weights, b"new", record, {})
    assert os.listdir(tmp_path) == []  # no previous pair: none now
    before = {"w.pt": b"old", "w.json": b'{"old": 1}'}
    for name, data in before.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(PermissionError):
        write_pair(weights, b"new", record, {})
    assert {n: (tmp_path / n).read_bytes() for n in before} == before
    assert sorted(os.listdir(tmp_path)) == ["w.json", "w.pt"]


def test_a_record_that_does_not_name_its_weights_is_refused(tmp_path):
    weights, record = tmp_path / "w.pt", tmp_path / "w.json"
    content = write_pair(weights, b"weights", record, {"command": "cmd"})
    assert read_pair(weights) == (b"weights", content)
    checks = {
        "are not the ones their record": (b"other", content),
        "which are not there": (None, content),
        "does not name the SHA-256": (b"weights", {"command": "cmd"}),
    }
    for reason, (data, named) in checks.items():
        message = refusal(
            lambda d=data, n=named: check_pair(weights, d, record, n)
        )
        assert reason in message and message.endswith("run cmd again")
        assert str(weights) in message and str(record) in message


def dino_pair(tmp_path, weights_from):
    """The shipped DINO record beside the weights of ``weights_from``."""
    weights = tmp_path / "dino-tiny.pt"
    shutil.copy(dino.DINO_WEIGHTS.with_suffix(".json"), tmp_path)
    shutil.copy(weights_from, weights)
    return weights


def test_the_dino_readers_refuse_a_record_of_other_weights(
    tmp_path, monkeypatch, capsys
):
    weights = dino_pair(tmp_path, dino.SUPERVISED_WEIGHTS)
    for reader in (dino.load_backbone, dino.load_record):
        message = refusal(lambda read=reader: read(weights))
        assert message.startswith(f"weights {weights} are not the ones")
    monkeypatch.setattr(evaluation, "DINO_WEIGHTS", weights)
    with pytest.raises(SystemExit) as stop:
        dino_command.main(  # on the threads this process has
            ["--evaluate", "--device", "cpu"]
            + ["--threads", str(torch.get_num_threads())]
        )
    err = capsys.readouterr().err
    assert stop.value.code == 1
    assert err.startswith(f"{dino_command.PROG}: weights {weights} are not")
    assert err.count("\n") == 1

    weights.unlink()  # a record whose weights never came
    assert "which are not there" in refusal(lambda: dino.load_record(weights))


def test_weights_without_a_record_still_load(tmp_path):
    weights = tmp_path / "mine.pt"
    weights.write_bytes(state_bytes(dino.load_backbone()))
    assert torch.equal(
        dino.load_backbone(weights).pos_embed, dino.load_backbone().pos_embed
    )


def test_a_draft_names_its_writer(tmp_path):
    temporary = draft(tmp_path / "out.json", b"{}")
    assert temporary.parent == tmp_path and temporary.read_bytes() == b"{}"
    assert temporary.name.startswith(f".out.json.{os.getpid()}.")
