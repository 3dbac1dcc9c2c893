"""``python -m vitlesson.lab.dino``: flags refused before any work, a help text for every flag, weights and a record written."""

import json

import pytest
import torch

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
