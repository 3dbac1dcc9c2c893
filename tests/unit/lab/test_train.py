"""``python -m vitlesson.lab.train`` and the shipped tiny ViT: usage errors, outputs written whole and only where asked, Ctrl-C and a full disk, and the recorded accuracy."""

import hashlib
import json
import os

import pytest
import torch

from tests.support import faults
from vitlesson.data.shapes import make_shapes
from vitlesson.lab import train as train_module
from vitlesson.lab.train import (
    TEST_SEED,
    TEST_SIZE,
    WEIGHTS,
    evaluate,
    load_trained,
    main,
    tiny_vit,
)
from vitlesson.position import neighbour_similarity

PROG = "python -m vitlesson.lab.train"


QUICK = ["--steps", "1", "--batch-size", "4", "--device", "cpu"]


# the command, with a 16-image test split instead of 2000 (seconds saved)
COMMAND = [
    "-c",
    "import sys, vitlesson.lab.train as t; t.TEST_SIZE = 16; t.main(sys.argv[1:])",
]


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train_module, "TEST_SIZE", 16)
    return tmp_path


@pytest.fixture
def never_trains(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("trained although an output was unusable")

    monkeypatch.setattr(train_module, "train", fail)


def refused(capsys, argv) -> str:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2, err
    assert err.count("\n") == 1 and err.startswith(PROG), err
    return err


def test_weights_and_record_never_share_a_path(work, capsys, never_trains):
    err = refused(capsys, ["--output", "run.json"])
    assert "weights run.json and its record would be the same file" in err
    assert os.listdir(work) == []


@pytest.mark.parametrize(
    "output,message",
    [
        ("folder", "weights folder is a directory: name a file"),
        ("notes.txt/w.pt", "cannot be written: notes.txt is not a folder"),
        ("missing/w.pt", "cannot be written: missing does not exist"),
        ("", "must name a file or folder, got an empty string"),
    ],
)
def test_unwritable_outputs_are_refused_before_training(
    work, capsys, never_trains, output, message
):
    (work / "folder").mkdir()
    (work / "notes.txt").write_text("mine")
    assert message in refused(capsys, ["--output", output])
    assert sorted(os.listdir(work)) == ["folder", "notes.txt"]


OTHER = '{"command": "python -m vitlesson.lab.dino"}'  # another command's


@pytest.mark.parametrize(
    "mine,message",
    [
        ({"notes.txt": "mine"}, "weights notes.txt exists and is not from"),
        ({"notes.json": "mine"}, "record notes.json exists and is not from"),
        ({"notes.json": OTHER}, "record notes.json exists and is not from"),
        (
            {"notes.txt": "mine", "notes.json": OTHER},
            "record notes.json exists and is not from an earlier run",
        ),
    ],
)
def test_a_file_the_command_did_not_make_is_never_replaced(
    work, capsys, never_trains, mine, message
):
    for name, text in mine.items():
        (work / name).write_text(text)
    assert message in refused(capsys, ["--output", "notes.txt"])
    for name, text in mine.items():
        assert (work / name).read_text() == text


def test_a_record_path_that_is_a_folder_is_refused(work, capsys, never_trains):
    (work / "run.json").mkdir()
    err = refused(capsys, ["--output", "run.pt"])
    assert "record run.json is a directory" in err


def test_a_device_that_is_not_there(work, capsys, never_trains):
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU: --device cuda is there")
    err = refused(capsys, ["--device", "cuda"])
    assert "--device cuda: this machine has no CUDA GPU" in err
    assert "invalid choice: 'tpu'" in refused(capsys, ["--device", "tpu"])


@pytest.mark.slow  # a training step: seconds
def test_the_pair_names_the_weights_it_was_written_with(work, capsys):
    main([*QUICK, "--output", "run.pt"])
    out, err = capsys.readouterr()
    assert "written to run.pt and run.json" in err
    record = json.loads((work / "run.json").read_text())
    assert json.loads(out) == record
    data = (work / "run.pt").read_bytes()
    assert record["weights"] == "run.pt"
    assert record["weights_sha256"] == hashlib.sha256(data).hexdigest()
    assert record["device"] == "cpu" and record["threads"] == 2
    model = tiny_vit()
    model.load_state_dict(torch.load(work / "run.pt", weights_only=True))
    assert sorted(os.listdir(work)) == ["run.json", "run.pt"]  # no temp
    umask = os.umask(0)
    os.umask(umask)
    for name in ("run.pt", "run.json"):  # as open() would make them
        assert (work / name).stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.slow  # a training step: seconds
def test_the_library_function_leaves_the_callers_state_alone():
    torch.manual_seed(123)
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    model, run = train_module.train(steps=1, batch_size=2, progress=False)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.get_num_threads() == threads
    again, _ = train_module.train(steps=1, batch_size=2, progress=False)
    assert torch.equal(model.pos_embed, again.pos_embed)  # the seed decides
    assert model.pos_embed.device.type == "cpu"


def previous_pair(work):
    """The pair of an earlier run, which a new run may replace."""
    (work / "run.pt").write_bytes(b"previous weights")
    (work / "run.json").write_text(json.dumps({"command": f"{PROG} ..."}))
    return {
        name: (work / name).read_bytes() for name in ("run.pt", "run.json")
    }


@pytest.mark.slow
@pytest.mark.parametrize("limit", [300, 100_000])
def test_a_full_disk_leaves_the_previous_pair(work, limit):
    """300 bytes: the record fails; 100 kB: the record fits, the weights
    (about 850 kB) do not."""
    before = previous_pair(work)
    result = faults.run_forked(
        [*COMMAND, *QUICK, "--output", "run.pt"], work, limit=limit
    )
    assert result.returncode == 1, result.stderr
    assert faults.last_line(result.stderr) == (
        f"{PROG}: could not write run.pt and run.json (File too large): "
        "the previous files are unchanged"
    )
    assert "Traceback" not in result.stderr
    assert {n: (work / n).read_bytes() for n in before} == before
    assert sorted(os.listdir(work)) == ["run.json", "run.pt"]


@pytest.mark.slow
def test_ctrl_c_while_training_writes_nothing(work):
    before = previous_pair(work)
    code, _, err = faults.interrupt(
        [*COMMAND, "--steps", "100000", "--batch-size", "4"]
        + ["--device", "cpu", "--output", "run.pt"],
        work,
        when="1/100000",
    )
    assert code == 130, err
    assert faults.last_line(err) == f"{PROG}: interrupted; nothing was written"
    assert "Traceback" not in err
    assert {n: (work / n).read_bytes() for n in before} == before
    assert sorted(os.listdir(work)) == ["run.json", "run.pt"]


def test_a_negative_seed_is_a_usage_error(work, capsys, never_trains):
    err = refused(capsys, ["--seed", "-1"])
    assert "argument --seed: must be 0 or more, got -1" in err


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
    from vitlesson.lab.train import main

    with pytest.raises(SystemExit) as exit_:
        main(flags)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.slow
def test_training_writes_to_the_working_directory_not_the_package(
    tmp_path, monkeypatch, capsys
):
    from vitlesson.lab.train import main

    shipped = WEIGHTS.read_bytes()
    monkeypatch.chdir(tmp_path)
    main(["--steps", "2", "--batch-size", "4"])
    assert (tmp_path / "tiny-shapes.pt").is_file() and (
        tmp_path / "tiny-shapes.json"
    ).is_file()
    assert WEIGHTS.read_bytes() == shipped


@pytest.mark.slow
def test_a_diverging_run_stops_with_a_message(monkeypatch, capsys):
    import vitlesson.lab.train as train_module

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
