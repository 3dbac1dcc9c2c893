"""``python -m vitlesson.lab.train`` and the shipped tiny ViT: usage errors, outputs written whole and only where asked, Ctrl-C and a full disk, and the recorded accuracy."""

import hashlib
import json
import os

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tests.support import faults
from tests.support.dino_inputs import SETTINGS
from tests.support.refusals import expect
from vitlesson._io import output_lock
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
    monkeypatch.setattr(train_module, "TEST_SIZE", 16)
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


# --- bad input refused in one line (issue 36) -------------------------------


@SETTINGS
@given(
    lr=st.one_of(
        st.sampled_from(
            [float("inf"), float("nan"), 0, -1e-3, "1e-3", None, 1e-3]
        ),
        st.sampled_from([np.float32(1e-3), torch.tensor(1e-3)]),
    ),
    seed=st.one_of(
        st.integers(-3, 3),
        st.sampled_from([10**19, 2**64, 18_446_688_733_643, 1.0, "0"]),
    ),
)
def test_train_checks_its_settings_before_training(lr, seed):
    """lr must be finite and positive (an inf one trained a model of NaN),
    and a seed is shown as given ("got -1", not the chunk's seed)."""

    def first_data(*args, **kwargs):
        raise KeyboardInterrupt  # accepted: stop before any training

    def run():
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(train_module, "make_shapes", first_data)
            try:
                train_module.train(steps=1, batch_size=2, lr=lr, seed=seed)
            except KeyboardInterrupt:
                return "reached the data"

    def check(result):
        assert float(lr) == pytest.approx(1e-3) and type(seed) is int
        assert 0 <= seed <= 18_446_688_733_643
        assert result == "reached the data"

    expect(run, check, names=("lr", "seed"), values=(lr, seed))


def test_the_largest_seed_makes_its_data_and_the_next_is_refused():
    last = (2**64 - 800) // train_module.SEEDS_APART
    train_module.settings(800, 64, 1e-3, last)
    make_shapes(1, seed=last * train_module.SEEDS_APART + 799)
    with pytest.raises(ValueError, match=rf"got {last + 1}$"):
        train_module.settings(800, 64, 1e-3, last + 1)


def test_an_update_that_makes_a_weight_inf_stops_the_run(monkeypatch):
    def step(self, closure=None):
        with torch.no_grad():
            self.param_groups[0]["params"][0].fill_(float("nan"))

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    with pytest.raises(
        FloatingPointError,
        match=r"^the weight \S+ became inf or NaN at step 1: training "
        r"diverged; use a smaller learning rate than 0.001$",
    ):
        train_module.train(steps=1, batch_size=2, progress=False)


@SETTINGS
@given(
    batch=st.one_of(st.integers(-2, 5), st.sampled_from([np.int64(2), 1.0])),
    images=st.integers(0, 3),
    labels=st.sampled_from(["same", "short", "list"]),
)
def test_evaluate_names_what_is_wrong(batch, images, labels):
    model = tiny_vit()
    x = torch.rand(images, 3, 32, 32)
    y = torch.zeros(images, dtype=torch.long)
    y = {"same": y, "short": y[:-1], "list": y.tolist()}[labels]

    def check(result):
        assert images >= 1 and labels == "same" and int(batch) >= 1
        assert 0 <= result <= 1

    expect(
        lambda: evaluate(model, x, y, batch=batch),
        check,
        names=("batch", "images", "labels"),
        values=(batch, x, y, len(y)),
    )


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["--seed", "10000000000000000000"], "seed must be at most"),
        (["--batch-size", "100000000"], "batch_size=100000000"),
        (["--steps", "1" + "0" * 20], "steps must be at most 2**64"),
        (["--steps", "10000000000"], "The losses of steps=10000000000"),
        (["--steps", "x"], "argument --steps: invalid positive_int value"),
        (["--output", ""], "argument --output: must name a file"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_each_user_error_is_one_line_and_exit_2_before_any_work(
    tmp_path, argv, shown
):
    forked = [
        "-c",
        "import sys, vitlesson.lab.train as t\n"
        "def work(*args, **kwargs):\n"
        "    raise AssertionError('work started before the refusal')\n"
        "t.train = work\n"
        "t.main(sys.argv[1:])\n",
    ]
    result = faults.run_forked([*forked, *argv], tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(PROG) and shown in result.stderr
    assert result.stdout == "" and list(tmp_path.iterdir()) == []


def test_a_second_run_on_the_same_output_is_refused(work, capsys):
    with output_lock(work / "tiny-shapes.json"):
        err = refused(capsys, QUICK)
    assert "--output tiny-shapes.pt is being written by another run" in err
    assert list(work.iterdir()) == []


def test_ctrl_c_while_the_command_reports_says_the_files_are_written(
    tmp_path, monkeypatch, capsys
):
    """A Ctrl-C after the pair is in place, while the command prints its
    record, must not claim that nothing was written (training and
    evaluation are left out: the model is an untrained tiny ViT)."""
    monkeypatch.setattr(
        train_module,
        "train",
        lambda **options: (train_module.tiny_vit(), {"steps": 0}),
    )
    monkeypatch.setattr(
        train_module, "results", lambda model, colours="families": {}
    )
    monkeypatch.chdir(tmp_path)

    def interrupted_print(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("builtins.print", interrupted_print)
    with pytest.raises(SystemExit) as stop:
        train_module.main(["--output", "run.pt"])
    assert stop.value.code == 130
    assert capsys.readouterr().err.strip() == (
        "python -m vitlesson.lab.train: interrupted after its files were "
        "written in full"
    )
    assert (tmp_path / "run.pt").exists() and (tmp_path / "run.json").exists()


# --- colours and the learning curve (issue 35 §3) ---------------------------


def test_a_run_on_random_colours_trains_on_them_and_records_its_curve(
    monkeypatch,
):
    seen = []

    def spy(n, seed, image_size=32, colours="families"):
        seen.append((n, colours))
        return make_shapes(n, seed, image_size, colours=colours)

    monkeypatch.setattr(train_module, "make_shapes", spy)
    monkeypatch.setattr(train_module, "CURVE_SIZE", 8)
    _, record = train_module.train(
        steps=5,
        batch_size=2,
        colours="random",
        curve_every=2,
        progress=False,
    )
    training = [colours for n, colours in seen if n != 8]
    assert training == ["random"]  # one chunk of 50 batches
    assert record["colours"] == "random"
    curve = record["curve"]
    assert curve["step"] == [2, 4, 5] and curve["test_size"] == 8
    for name in ("families", "swapped", "grey", "random"):
        assert len(curve[name]) == 3
        assert all(0 <= a <= 1 and a * 8 == int(a * 8) for a in curve[name])
    assert record["train_cpu_seconds"] > 0


def test_measuring_the_curve_changes_no_weight(monkeypatch):
    monkeypatch.setattr(train_module, "CURVE_SIZE", 8)
    runs = [
        train_module.train(
            steps=3, batch_size=2, curve_every=every, progress=False
        )
        for every in (None, 1)
    ]
    (plain, plain_record), (measured, measured_record) = runs
    assert "curve" not in plain_record and "curve" in measured_record
    for key, value in plain.state_dict().items():
        assert torch.equal(value, measured.state_dict()[key]), key


@pytest.mark.parametrize(
    "options,error,message",
    [
        ({"colours": "gray"}, ValueError, "one of 'families', 'swapped'"),
        ({"curve_every": 0}, ValueError, "curve_every must be"),
        ({"curve_every": 1.5}, TypeError, "curve_every must be an int"),
    ],
)
def test_train_refuses_bad_colours_and_curves(options, error, message):
    with pytest.raises(error, match=message):
        train_module.train(steps=1, batch_size=2, progress=False, **options)


def test_accuracy_by_colours_tests_the_same_drawings_in_each_colouring():
    torch.manual_seed(0)
    model = tiny_vit()
    found = train_module.accuracy_by_colours(model, size=40, seed=3)
    assert list(found) == ["families", "swapped", "grey"]
    for name, accuracy in found.items():
        images, labels = make_shapes(40, seed=3, colours=name)
        assert accuracy == evaluate(model, images, labels)
    with pytest.raises(TypeError, match="colours must be a tuple"):
        train_module.accuracy_by_colours(model, "grey")
    with pytest.raises(ValueError, match="got 'gray'"):
        train_module.accuracy_by_colours(model, ("gray",), size=4)
    with pytest.raises(ValueError, match="at least one"):
        train_module.accuracy_by_colours(model, ())


def test_the_shipped_model_answers_by_colour():
    """The finding of Lab part 1: trained on warm squares and cool
    circles, the model fails when the colours are swapped and guesses
    when both shapes are grey (400 drawings: 2.5 standard errors of
    chance are 0.06)."""
    model, _ = load_trained()
    found = train_module.accuracy_by_colours(model, size=400)
    print(found)
    assert found["families"] > 0.9
    assert found["swapped"] < 0.1
    assert abs(found["grey"] - 0.5) < 0.1


def test_load_trained_names_the_shipped_models():
    with pytest.raises(ValueError, match="'families', 'random', got 'grey'"):
        load_trained("grey")
    with pytest.raises(ValueError) as refused:
        load_trained("random")
    assert str(refused.value) == (
        "the run on random colours ships its record only, "
        "tiny-shapes-random-colours.json, not a model (it stayed at "
        "chance); train one with python -m vitlesson.lab.train --colours "
        "random"
    )


@pytest.mark.parametrize(
    "argv,shown",
    [
        (["--colours", "purple"], "argument --colours: invalid choice"),
        (
            ["--record", "--colours", "grey"],
            "--record replaces a shipped model, trained with --colours "
            "families or random, got --colours grey",
        ),
        (["--curve-every", "0"], "argument --curve-every: must be a positive"),
    ],
)
def test_bad_colour_flags_are_usage_errors(
    work, capsys, never_trains, argv, shown
):
    assert shown in refused(capsys, [*QUICK, *argv])
    assert list(work.iterdir()) == []


def test_random_colours_write_their_own_pair_with_curve_and_stamp(
    work, capsys, monkeypatch
):
    monkeypatch.setattr(train_module, "CURVE_SIZE", 8)
    main([*QUICK, "--colours", "random", "--curve-every", "1"])
    weights = work / "tiny-shapes-random-colours.pt"
    record = json.loads(weights.with_suffix(".json").read_text())
    assert sorted(path.name for path in work.iterdir()) == [
        "tiny-shapes-random-colours.json",
        "tiny-shapes-random-colours.pt",
    ]
    assert record["colours"] == "random"
    assert record["command"].endswith("--colours random --curve-every 1")
    assert record["curve"]["step"] == [1]
    assert list(record["accuracy_by_colours"]) == [
        "families",
        "swapped",
        "grey",
        "random",
    ]
    assert record["test_accuracy"] == record["accuracy_by_colours"]["random"]
    assert record["code"]["entry"] == "vitlesson.lab.train"
    assert "vitlesson/data/shapes.py" in record["code"]["modules"]
    assert (
        hashlib.sha256(weights.read_bytes()).hexdigest()
        == record["weights_sha256"]
    )


def test_the_record_names_the_test_split_it_was_measured_on(work, monkeypatch):
    """results() evaluates on TEST_SIZE drawings as it reads it when
    called (16 under the work fixture), the number its record names."""
    drawn = []

    def counted(n, **kwargs):
        drawn.append(n)
        return make_shapes(n, **kwargs)

    monkeypatch.setattr(train_module, "make_shapes", counted)
    record = train_module.results(tiny_vit())
    assert record["test_size"] == 16 and drawn == [16] * len(drawn) != []
