"""``vitlesson.lab.dino.evaluation``: the shipped weights and their records, metrics recomputed from them, and broken files named in one line."""

from __future__ import annotations

import json

import pytest
import torch

from tests.support.dino_inputs import tiny_vit
from vitlesson.lab import dino
from vitlesson.lab.dino import command


def test_shipped_weights_are_small_and_say_how_they_were_made():
    for weights in (dino.DINO_WEIGHTS, dino.SUPERVISED_WEIGHTS):
        assert weights.stat().st_size <= 2_000_000
        record = dino.load_record(weights)
        # the name the command had when the weights were made still runs it
        assert record["command"].startswith(
            ("python -m vitlesson.lab.dino", "python -m vitlesson.dino")
        )
        assert record["threads"] == 2 and record["train_seconds"] <= 600
        assert record["config"]["seed"] == record["seed"]
    ablations = json.loads(dino.ABLATIONS.read_text())
    assert set(ablations) == {
        "no-centering",
        "no-sharpening",
        "teacher-temp-0.04",
        command.CONTROL,
    }

    # the control is the shipped recipe at the ablations' length, and each
    # ablation differs from it in the one setting it is named after
    def settings(run):  # older records give only the steps the
        return {  # fractions come to, newer ones both
            k: v for k, v in run["config"].items() if "fraction" not in k
        }

    control = settings(ablations[command.CONTROL])
    shipped = settings(dino.load_record())
    assert control == shipped | {
        "steps": 600,
        "warmup_steps": 60,
        "freeze_last_layer_steps": 30,
    }
    ablated = {
        "no-centering": {"centering": False},
        "no-sharpening": {"sharpening": False},
        "teacher-temp-0.04": {"teacher_temp": 0.04},
    }
    for name, change in ablated.items():
        assert settings(ablations[name]) == control | change
    assert (
        ablations["no-centering"]["history"]["teacher_entropy"][-1] < 0.05
    )  # one dimension wins
    log_k = ablations["no-sharpening"]["history"]["log_k"]
    assert (
        ablations["no-sharpening"]["history"]["teacher_entropy"][-1]
        > 0.99 * log_k
    )  # uniform


def test_evaluate_prints_each_metric_then_the_json(monkeypatch, capsys):
    """``--evaluate`` prints what :func:`evaluate_shipped` computes: a line
    per network on stderr, the JSON on stdout. (The recomputation itself,
    checked against both records, runs on the page "What DINO learned".)"""
    metrics = {
        name: {"knn_accuracy": 0.5, "iou_best_head": 0.25, "iou_mean": 0.125}
        for name in ("dino", "random_init", "supervised")
    }
    devices = []

    def evaluate_shipped(device):
        devices.append(device)
        return metrics

    monkeypatch.setattr(command, "evaluate_shipped", evaluate_shipped)
    threads = str(torch.get_num_threads())  # as they are: the test's own
    dino.main(["--evaluate", "--device", "cpu", "--threads", threads])
    out, err = capsys.readouterr()
    assert json.loads(out) == metrics
    assert devices == [torch.device("cpu")]
    assert err.splitlines() == [
        f"{name:>12}: k-NN 0.500, IoU best head 0.250, mean 0.125"
        for name in metrics
    ]


# --- evaluation and the shipped weights ------------------------------------


def test_evaluation_arguments():
    with pytest.raises(
        TypeError, match="backbone must be a VisionTransformer"
    ):
        dino.evaluate(torch.nn.Linear(2, 2))
    with pytest.raises(
        ValueError, match=r"in_channels=3\), got in_channels=1"
    ):
        dino.evaluate(tiny_vit(in_channels=1))
    for seed in (-1, 2.5, "0", True):
        with pytest.raises((TypeError, ValueError), match="seed must be"):
            dino.random_backbone(seed)
    for device, error in [
        ("nope", "device must be one this machine has"),
        ("meta", "device must hold real numbers"),
        (3, "device must be a str or torch.device, got int"),
    ]:
        with pytest.raises((TypeError, ValueError), match=error):
            dino.evaluate_shipped(device)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="got 'cuda'"):
            dino.evaluate_shipped("cuda")


def test_random_backbone_leaves_the_callers_random_state():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = dino.random_backbone(5)
    assert torch.equal(torch.rand(3), expected)
    assert torch.equal(first.pos_embed, dino.random_backbone(5).pos_embed)
    assert not torch.equal(first.pos_embed, dino.random_backbone(6).pos_embed)


def test_broken_weights_and_records_are_named_in_one_line(tmp_path):
    text = tmp_path / "text.pt"
    text.write_text("hello")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    other = tmp_path / "other.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), other)
    for path in (text, empty, other):
        with pytest.raises(ValueError) as error:
            dino.load_backbone(path)
        message = str(error.value)
        assert str(path) in message and "tiny DINO backbone" in message
        assert len(message.splitlines()) == 1
    with pytest.raises(FileNotFoundError, match="No weights file at"):
        dino.load_backbone(tmp_path / "missing.pt")
    for path, error in [(None, TypeError), ("", ValueError), (3, TypeError)]:
        with pytest.raises(error, match="path"):
            dino.load_backbone(path)
    (tmp_path / "text.json").write_text("{broken")
    with pytest.raises(ValueError, match="text.json is not valid JSON"):
        dino.load_record(text)
    (tmp_path / "empty.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="holds a list, expected a JSON"):
        dino.load_record(empty)
    with pytest.raises(FileNotFoundError, match="No record at"):
        dino.load_record(tmp_path / "missing.pt")
