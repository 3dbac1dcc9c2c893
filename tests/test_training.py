"""The shapes task and the shipped tiny ViT (the short training run is a code block of
docs/lessons/learned-positions.md, executed like every other)."""

import pytest
import torch

from vitlesson.data.shapes import make_shapes
from vitlesson.position import neighbour_similarity
from vitlesson.train import (
    TEST_SEED,
    TEST_SIZE,
    WEIGHTS,
    evaluate,
    load_trained,
    tiny_vit,
)


def test_shapes_are_deterministic_and_balanced():
    images, labels = make_shapes(400, seed=3)
    again, again_labels = make_shapes(400, seed=3)
    assert torch.equal(images, again) and torch.equal(labels, again_labels)
    assert not torch.equal(images, make_shapes(400, seed=4)[0])
    assert (
        images.shape == (400, 3, 32, 32)
        and 0 <= images.min()
        and images.max() <= 1
    )
    assert 0.4 < labels.float().mean() < 0.6


def test_labels_say_where_the_square_is():
    images, labels = make_shapes(50, seed=5)
    red = (images[:, 0] > 0.79) & (
        images[:, 2] < 0.31
    )  # the square's warm shades
    blue = (images[:, 2] > 0.79) & (
        images[:, 0] < 0.31
    )  # the circle's cool shades
    columns = torch.arange(32).float()
    square_x = (red.float().sum(dim=1) * columns).sum(dim=1) / red.float().sum(
        dim=(1, 2)
    )
    circle_x = (blue.float().sum(dim=1) * columns).sum(
        dim=1
    ) / blue.float().sum(dim=(1, 2))
    assert torch.equal((square_x < circle_x).long(), labels)


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"n": -1, "seed": 0}, ValueError, "n must be 0 or more, got -1"),
        (
            {"n": 2, "seed": 0, "image_size": 8},
            ValueError,
            "image_size must be at least 24 to place both shapes apart, got 8",
        ),
        ({"n": 2.5, "seed": 0}, TypeError, "n must be an int, got float"),
    ],
)
def test_shapes_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        make_shapes(**kwargs)


@pytest.mark.slow
def test_shipped_weights_reach_the_recorded_accuracy():
    assert WEIGHTS.stat().st_size <= 1024 * 1024
    model, record = load_trained()
    images, labels = make_shapes(TEST_SIZE, seed=TEST_SEED)
    accuracy = evaluate(model, images, labels)
    print(
        f"test accuracy {accuracy:.3f} (recorded {record['test_accuracy']:.3f}), trained in {record['train_seconds']} s"
    )
    assert accuracy == pytest.approx(record["test_accuracy"], abs=1e-9)
    assert accuracy > 0.9


def test_learned_position_embeddings_know_the_grid():
    model, record = load_trained()
    near, far = neighbour_similarity(
        model.pos_embed.detach()[0, 1:], model.patch_embed.grid_size
    )
    print(f"neighbours {near:+.2f}, 4+ cells away {far:+.2f}")
    assert (near, far) == pytest.approx(
        (record["neighbour_similarity"], record["distant_similarity"])
    )
    assert near > far + 0.3
    torch.manual_seed(0)
    random_near, random_far = neighbour_similarity(
        tiny_vit().pos_embed.detach()[0, 1:], 8
    )
    assert abs(random_near - random_far) < 0.1  # no structure before training


@pytest.mark.parametrize(
    "flags,message",
    [
        (
            ["--steps", "-5"],
            "argument --steps: must be a positive integer, got -5",
        ),
        (
            ["--threads", "0"],
            "argument --threads: must be a positive integer, got 0",
        ),
        (
            ["--batch-size", "0"],
            "argument --batch-size: must be a positive integer, got 0",
        ),
        (
            ["--lr", "nan"],
            "argument --lr: must be a number in (0, 1], got nan",
        ),
        (
            ["--lr", "1e6"],
            "argument --lr: must be a number in (0, 1], got 1e6",
        ),
        (
            ["--record", "--output", "x.pt"],
            "argument --output: not allowed with argument --record",
        ),
    ],
)
def test_bad_training_flags_are_usage_errors(flags, message, capsys):
    from vitlesson.train import main

    with pytest.raises(SystemExit) as exit_:
        main(flags)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.slow
def test_training_writes_to_the_working_directory_not_the_package(
    tmp_path, monkeypatch, capsys
):
    from vitlesson.train import main

    shipped = WEIGHTS.read_bytes()
    monkeypatch.chdir(tmp_path)
    main(["--steps", "2", "--batch-size", "4"])
    assert (tmp_path / "tiny-shapes.pt").is_file() and (
        tmp_path / "tiny-shapes.json"
    ).is_file()
    assert WEIGHTS.read_bytes() == shipped


@pytest.mark.slow
def test_a_diverging_run_stops_with_a_message(monkeypatch, capsys):
    import vitlesson.train as train_module

    monkeypatch.setattr(
        train_module.F,
        "cross_entropy",
        lambda logits, y: logits.sum() * float("nan"),
    )
    with pytest.raises(SystemExit) as exit_:
        train_module.main(
            ["--steps", "3", "--batch-size", "4", "--output", "unused.pt"]
        )
    assert exit_.value.code == 1
    assert (
        "the loss became nan at step 1: training diverged; use a smaller learning rate"
        in capsys.readouterr().err
    )
