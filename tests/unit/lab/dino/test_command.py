"""``python -m vitlesson.lab.dino``: flags refused before any work, a help text for every flag, weights and a record written."""

import json

import pytest
import torch

from tests.support import faults
from vitlesson._io import output_lock
from vitlesson.lab import dino

# --- the command and the shipped run -------------------------------------------------------------


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--lr", "0"], "must be a number in (0, 1], got 0"),
        (["--steps", "0"], "must be a positive integer, got 0"),
        (["--no-centering", "--supervised"], "not allowed with argument"),
        (["--teacher-temp", "nan"], "must be a number in (0, 1], got nan"),
        (["--seed", "-3"], "must be 0 or more, got -3"),
        (["--control", "--no-sharpening"], "not allowed with argument"),
        (
            ["--control", "--teacher-temp", "0.04"],
            "--control trains the shipped settings: leave --teacher-temp "
            "at 0.02, got 0.04",
        ),
    ],
)
def test_command_refuses_bad_flags(capsys, argv, message):
    with pytest.raises(SystemExit) as stop:
        dino.main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit):
        dino.main(["--help"])
    text = capsys.readouterr().out
    for action in dino._parser()._actions:
        assert action.help and action.option_strings[0] in text


@pytest.mark.slow
def test_command_writes_weights_and_a_record(tmp_path, capsys, monkeypatch):
    tiny = [
        "--steps",
        "2",
        "--batch-size",
        "4",
        "--local-crops",
        "2",
        "--out-dim",
        "16",
        "--quiet",
        "--threads",
        "1",
    ]
    # evaluate() itself is tested in test_evaluation.py, and runs for real
    # in the torchrun test of test_distributed.py; here, its wiring
    evaluated = []

    def evaluate(backbone):
        evaluated.append(backbone.state_dict())
        return {"knn_accuracy": 0.5 + len(evaluated)}

    monkeypatch.setattr(dino.command, "evaluate", evaluate)
    dino.main([*tiny, "--output", str(tmp_path / "run.pt")])
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["command"].startswith(
        "python -m vitlesson.lab.dino --steps 2"
    )
    assert (
        record["config"]["steps"] == 2
        and record["config"]["crops"]["local_crops"] == 2
    )
    assert record["metrics"] == {"knn_accuracy": 1.5}
    assert (
        json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        == record["metrics"]
    )
    written = torch.load(tmp_path / "run.pt", weights_only=True)
    backbone = dino.tiny_backbone()
    backbone.load_state_dict(written)  # the tiny backbone's weights
    assert all(torch.equal(written[k], evaluated[0][k]) for k in written)
    dino.main(
        [*tiny, "--no-centering", "--output", str(tmp_path / "ablation.json")]
    )
    ablation = json.loads((tmp_path / "ablation.json").read_text())
    assert (
        list(ablation) == ["no-centering"]
        and ablation["no-centering"]["config"]["centering"] is False
        and ablation["no-centering"]["metrics"] == {"knn_accuracy": 2.5}
    )


@pytest.mark.parametrize(
    ("flags", "all_reduce_center"),
    [([], True), (["--no-center-all-reduce"], False)],
)
def test_the_center_all_reduce_flag_reaches_training(
    tmp_path, monkeypatch, flags, all_reduce_center
):
    """--no-center-all-reduce turns off the center's all-reduce, and only
    it (tests/unit/lab/dino/test_distributed.py shows what that changes)."""
    asked = {}

    def train(config, progress, device, all_reduce_center):
        asked["all_reduce_center"] = all_reduce_center
        return dino.tiny_backbone(), {"train_seconds": 0.0}

    monkeypatch.setattr(dino.command, "train", train)
    monkeypatch.setattr(dino.command, "evaluate", lambda backbone: {})
    dino.main([*flags, "--quiet", "--output", str(tmp_path / "run.pt")])
    assert asked == {"all_reduce_center": all_reduce_center}


def test_the_control_is_recorded_beside_the_ablations(tmp_path, monkeypatch):
    """--control trains the shipped settings (centering and sharpening,
    the default teacher temperature) and records them as an ablation
    does: curves and metrics, no weights."""
    configs = []

    def train(config, progress, device, all_reduce_center):
        configs.append(config)
        return dino.tiny_backbone(), {"train_seconds": 0.0, "step": [1]}

    monkeypatch.setattr(dino.command, "train", train)
    monkeypatch.setattr(dino.command, "evaluate", lambda backbone: {})
    record = tmp_path / "control.json"
    dino.main(
        ["--control", "--steps", "60", "--quiet", "--output", str(record)]
    )
    assert configs == [dino.DINOConfig(steps=60)]
    runs = json.loads(record.read_text())
    assert list(runs) == [dino.command.CONTROL]
    assert runs[dino.command.CONTROL]["history"] == {"step": [1]}
    assert runs[dino.command.CONTROL]["config"]["warmup_steps"] == 6
    assert list(tmp_path.iterdir()) == [record]  # no weights


# --- user errors: one line, exit 2, before any work ------------------------

# the command in a fork of this process, with its training and evaluation
# replaced by functions that fail loudly: a refusal must come before them
FORKED = [
    "-c",
    "import sys\n"
    "from vitlesson.lab.dino import command\n"
    "def work(*args, **kwargs):\n"
    "    raise AssertionError('work started before the refusal')\n"
    "command.train = command.train_supervised = work\n"
    "command.evaluate_shipped = command.evaluate = work\n"
    "command.main(sys.argv[1:])\n",
]


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["--seed", "100000000"], "seed must be at most 17592185"),
        (["--seed", "17592186"], "got 17592186"),
        (["--steps", "50000", "--seed", "17592185"], "with steps=50000"),
        (["--batch-size", "2000000"], "batch_size must be at most 1048576"),
        (["--batch-size", "100000"], "batch_size=100000"),
        (["--out-dim", "1000000000000"], "out_dim=1000000000000"),
        (["--steps", "10000000000"], "schedules of steps=10000000000"),
        (["--steps", "1" + "0" * 14], "steps must be at most 17592185044416"),
        (["--local-crops", "100000"], "and 100000 local crops"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--steps"], "argument --steps: expected one argument"),
        (["--output", ""], "argument --output: must name a file"),
        (["--evaluate", "--output", "x.pt"], "drop --output x.pt"),
        (["--evaluate", "--record"], "drop --record"),
        (["--device", "gpu"], "argument --device: invalid choice: 'gpu'"),
    ],
)
def test_each_user_error_is_one_line_and_exit_2_before_any_work(
    tmp_path, argv, shown
):
    result = faults.run_forked([*FORKED, *argv, "--quiet"], tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(dino.command.PROG) and shown in (
        result.stderr
    ), result.stderr
    assert result.stdout == "" and list(tmp_path.iterdir()) == []


def test_a_second_run_on_the_same_output_is_refused_while_the_first_runs(
    tmp_path,
):
    """The first run holds a lock beside its record until it has written
    both files; a second run naming the same output refuses in one line
    (here the test process holds the lock, as a first run would)."""
    record = tmp_path / "run.json"
    with output_lock(record):
        result = faults.run_forked(
            [*FORKED, "--output", "run.pt", "--quiet"], tmp_path
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1
        # the output as the user named it
        assert "--output run.pt is being written by another run" in (
            result.stderr
        )
    assert list(tmp_path.iterdir()) == []  # the lock file went with it


def test_the_lock_is_released_and_removed_when_the_run_ends(
    tmp_path, monkeypatch
):
    def train(config, progress, device, all_reduce_center):
        # while training, the lock is held: another holder is refused
        with pytest.raises(ValueError, match="being written by another"):
            with output_lock(tmp_path / "run.json"):
                pass
        return dino.tiny_backbone(), {"train_seconds": 0.0}

    monkeypatch.setattr(dino.command, "train", train)
    monkeypatch.setattr(dino.command, "evaluate", lambda backbone: {})
    dino.main(["--quiet", "--output", str(tmp_path / "run.pt")])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "run.json",
        "run.pt",
    ]
