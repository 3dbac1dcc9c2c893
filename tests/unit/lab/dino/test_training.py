"""``vitlesson.lab.dino.training``: the config derives its schedule from the steps, a short run is seeded and recorded, and a training run writes its weights and record."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tests.support import ROOT
from tests.support.dino_inputs import SETTINGS, not_booleans, numbers
from tests.support.refusals import expect
from vitlesson.data.multicrop import (
    MultiCropConfig,
)
from vitlesson.lab import dino
from vitlesson.lab.dino import (
    DINOConfig,
    cosine_schedule,
    training,
    update_teacher,
)


def test_cosine_schedule_is_dinos():
    values = cosine_schedule(1.0, 0.0, 10, warmup_steps=4)
    assert len(values) == 10 and values[:4] == [0.0, 0.25, 0.5, 0.75]
    assert (
        values[4] == 1.0
        and values[-1] > 0
        and values == sorted(values[:4]) + sorted(values[4:], reverse=True)
    )
    momenta = cosine_schedule(0.99, 1.0, 100)
    assert momenta[0] == 0.99 and 0.9999 < momenta[-1] < 1


def test_config_derives_the_schedule_from_the_steps():
    assert (
        DINOConfig(steps=100).warmup_steps,
        DINOConfig(steps=100).freeze_last_layer_steps,
    ) == (10, 5)
    assert (
        DINOConfig().warmup_steps,
        DINOConfig().freeze_last_layer_steps,
    ) == (190, 95)
    with pytest.raises(
        ValueError, match="warmup_steps must be at most steps \\(3\\), got 4"
    ):
        cosine_schedule(1.0, 0.0, 3, warmup_steps=4)
    with pytest.raises(ValueError, match="steps must be positive, got 0"):
        cosine_schedule(1.0, 0.0, 0)


def test_update_teacher_refuses_another_architecture_and_bad_momenta():
    with pytest.raises(ValueError, match="same architecture"):
        update_teacher(torch.nn.Linear(3, 2), torch.nn.Linear(3, 4), 0.9)
    for momentum in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="momentum must be"):
            update_teacher(
                torch.nn.Linear(3, 2), torch.nn.Linear(3, 2), momentum
            )


def test_teacher_is_an_exponential_moving_average():
    student, teacher = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = teacher.weight.detach().clone()
    update_teacher(teacher, student, 0.9)
    torch.testing.assert_close(
        teacher.weight, 0.9 * before + 0.1 * student.weight.detach()
    )
    update_teacher(teacher, student, 0.0)
    assert torch.equal(teacher.weight, student.weight)


@pytest.mark.slow
def test_a_short_run_is_seeded_and_records_its_history():
    config = DINOConfig(
        steps=3,
        batch_size=4,
        out_dim=16,
        hidden_dim=8,
        bottleneck_dim=4,
        crops=MultiCropConfig(local_crops=2),
    )
    assert (config.warmup_steps, config.freeze_last_layer_steps) == (1, 0)
    first, history = dino.train(config, progress=False)
    second, _ = dino.train(config, progress=False)
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            first.state_dict().values(),
            second.state_dict().values(),
            strict=True,
        )
    )
    assert history["step"] == [1, 3] and len(history["teacher_entropy"]) == 2
    assert history["log_k"] == pytest.approx(math.log(16))
    untrained = dino.random_backbone(config.seed)
    assert not torch.equal(
        first.cls_token, untrained.cls_token
    )  # the teacher followed the student


def test_the_pages_table_of_changed_defaults_matches_the_code():
    """Part 8 lists where the miniature departs from DINO; each 'here' value is the code's."""
    page = (ROOT / "docs" / "lessons" / "dino-in-miniature.md").read_text()
    rows = {
        line.split("|")[1].strip(): line.split("|")[3].strip()
        for line in page.splitlines()
        if line.startswith("| ") and line.count("|") == 4
    }
    config, crops = DINOConfig(), MultiCropConfig()
    assert rows["head"] == (
        f"{config.hidden_dim} hidden, {config.bottleneck_dim} bottleneck, "
        f"K = {config.out_dim}"
    )
    assert rows["teacher temperature"].startswith(f"{config.teacher_temp:g} ")
    assert rows["teacher momentum"] == f"{config.momentum_teacher:g} → 1"
    assert rows["images, crops"].endswith(
        f"{crops.global_size} / {crops.local_size} px"
    )
    assert rows["batch, steps"].startswith(f"{config.batch_size},")
    assert rows["blur σ"].startswith(
        f"{crops.blur_sigma[0]:g}–{crops.blur_sigma[1]:g} px"
    )
    assert crops.hue == 0.5 and rows["colour jitter hue"].startswith("any hue")
    assert (
        "local crops" not in rows and crops.local_crops == 8
    )  # DINO's own number


def test_the_backbones_drop_path_rate_acts_in_training_only():
    """tiny_backbone(drop_path_rate): the same weights give the same CLS
    features in eval mode, and other ones in training (whole residual
    branches dropped per image, afresh each call)."""
    from vitlesson.lab.dino.training import tiny_backbone

    torch.manual_seed(0)
    plain, model = tiny_backbone(), tiny_backbone(drop_path_rate=0.5)
    assert model.blocks[-1].drop_path.p == 0.5
    model.load_state_dict(plain.state_dict(), strict=True)
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), plain.eval()(x))
        model.train()
        first, second = model(x), model(x)
        assert not torch.allclose(first, plain(x))
        assert not torch.allclose(first, second)


# --- bad input refused in one line (issue 36) -------------------------------

TINY = DINOConfig(
    steps=1,
    batch_size=2,
    out_dim=16,
    hidden_dim=16,
    bottleneck_dim=8,
    crops=MultiCropConfig(local_crops=1),
)


def last_seed(steps):
    """The largest seed whose every step's crops can be seeded."""
    return (training.MAX_BATCH_SEED - steps) // training.STEPS_PER_SEED - 1


@SETTINGS
@given(
    seed=st.one_of(
        st.integers(-3, 2**66),
        st.sampled_from([17_592_185, 17_592_186, 10**8, 2**44, 2**64]),
    ),
    steps=st.one_of(st.integers(1, 3000), st.integers(1, 2**45)),
)
def test_every_accepted_seed_seeds_the_crops_of_every_step(seed, steps):
    def check(config):
        # the last image of the last step's batch: batch_views's seed
        batch_seed = training.STEPS_PER_SEED * (seed + 1) + steps - 1
        torch.Generator().manual_seed(
            batch_seed * training.MAX_BATCH + training.MAX_BATCH - 1
        )  # raises "Overflow when unpacking long long" past 2**64

    expect(
        lambda: DINOConfig(seed=seed, steps=steps),
        check,
        names=("seed", "steps"),
        values=(seed, steps),
    )


def test_the_largest_seed_draws_its_crops_and_the_next_is_refused():
    assert last_seed(1900) == 17_592_185  # what issue 36 measured
    config = replace(TINY, seed=last_seed(1))
    views = dino.batch_views(config, 0, config.crops, torch.device("cpu"))
    assert [tuple(v.shape) for v in views] == [
        (2, 3, 32, 32),
        (2, 3, 32, 32),
        (2, 3, 16, 16),
    ]
    with pytest.raises(
        ValueError, match=r"seed must be at most 17592185 .* got 17592186$"
    ):
        replace(TINY, seed=last_seed(1) + 1)


@pytest.mark.parametrize("loop", ["train", "train_supervised"])
@pytest.mark.parametrize(
    "config", [{}, 0, "", [], (), 0.5, "DINOConfig()", MultiCropConfig()]
)
def test_a_config_that_is_not_a_dinoconfig_is_refused(loop, config):
    expect(
        lambda: getattr(dino, loop)(config, progress=False),
        lambda result: pytest.fail(f"trained with config={config!r}"),
        names=("config",),
        values=(config,),
    )


@pytest.mark.parametrize("loop", ["train", "train_supervised"])
@pytest.mark.parametrize(
    "device",
    [
        "gpu",
        "meta",
        torch.device("meta"),
        "cuda:99",
        "",
        3,
        1.5,
        *(() if torch.cuda.is_available() else ("cuda",)),
        *(() if torch.backends.mps.is_available() else ("mps",)),
    ],
)
def test_a_device_this_machine_lacks_is_refused_as_evaluation_does(
    loop, device
):
    expect(
        lambda: getattr(dino, loop)(TINY, progress=False, device=device),
        lambda result: pytest.fail(f"trained on device={device!r}"),
        names=("device",),
        values=(device, str(device)),
    )
    with pytest.raises((ValueError, TypeError)) as refused:
        dino.evaluate_shipped(device)
    with pytest.raises(type(refused.value), match="^device must"):
        getattr(dino, loop)(TINY, progress=False, device=device)


@pytest.mark.parametrize("loop", ["train", "train_supervised"])
def test_an_update_that_makes_a_weight_inf_stops_the_run(loop, monkeypatch):
    """The loss of a step is computed before its update: a step whose
    update breaks the weights must be caught after it."""

    def step(self, closure=None):
        with torch.no_grad():
            self.param_groups[0]["params"][0].fill_(float("inf"))

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    with pytest.raises(
        FloatingPointError,
        match=r"^the weight \S+ became inf or NaN at step 1: training "
        r"diverged; use a smaller learning rate than 0.001$",
    ):
        getattr(dino, loop)(TINY, progress=False)


@SETTINGS
@given(
    clip=st.one_of(
        numbers, st.sampled_from([np.float32(0.5), torch.tensor(2.0)])
    ),
    scale=st.floats(0.01, 100),
)
def test_clip_gradients(clip, scale):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    for p in model.parameters():
        p.grad = torch.randn_like(p) * scale
    before = [p.grad.clone() for p in model.parameters()]

    def check(_):
        limit = float(clip)
        assert math.isfinite(limit) and limit > 0
        for p, g in zip(model.parameters(), before, strict=True):
            # the same direction, a norm of at most the clip
            assert p.grad.norm() <= limit * (1 + 1e-5)
            # (a clip below float32's range leaves nothing: zeros; near
            # it, subnormal numbers carry too few digits to keep the
            # direction, measured at clip 1.4e-45: cosine 0.993)
            if p.grad.any() and limit >= torch.finfo(torch.float32).tiny:
                clipped, given = p.grad.double(), g.double()
                cosine = (
                    clipped / clipped.norm() * given / given.norm()
                ).sum()
                assert cosine > 0.9999
            if g.norm() <= limit:
                assert torch.equal(p.grad, g)

    expect(
        lambda: dino.clip_gradients(model, clip),
        check,
        names=("clip",),
        values=(clip,),
    )


def test_clip_gradients_needs_a_module():
    expect(
        lambda: dino.clip_gradients([torch.zeros(2)], 1.0),
        lambda result: pytest.fail("clipped a list"),
        names=("model",),
        values=([torch.zeros(2)],),
    )


@SETTINGS
@given(
    config=st.sampled_from(["tiny", None, {}, "config"]),
    crops=st.sampled_from(["tiny", None, (2, 1)]),
    step=st.one_of(st.integers(-2, 2), st.sampled_from([0.0, "0", None])),
    device=st.sampled_from(["cpu", torch.device("cpu"), "gpu", "meta", 0.5]),
    labels=not_booleans,
)
def test_batch_views_names_the_parameter_that_is_wrong(
    config, crops, step, device, labels
):
    config = TINY if config == "tiny" else config
    crops = TINY.crops if crops == "tiny" else crops

    def check(result):
        assert config is TINY and crops is TINY.crops
        views, classes = result if labels else (result, None)
        assert [tuple(v.shape[-2:]) for v in views] == [(32, 32)] * 2 + [
            (16, 16)
        ]
        assert labels is False or tuple(classes.shape) == (2,)

    expect(
        lambda: dino.batch_views(config, step, crops, device, labels),
        check,
        names=("config", "crops", "step", "device", "labels"),
        values=(config, crops, step, device, labels),
    )


def test_numpy_and_0d_tensor_settings_are_the_numbers_they_hold():
    import json
    from dataclasses import asdict

    given_as_numpy = DINOConfig(
        steps=np.int64(3),
        batch_size=torch.tensor(2),
        lr=np.float64(1e-3),
        weight_decay=(
            np.float64(0.04),
            torch.tensor(0.5, dtype=torch.float64),
        ),
        crops=MultiCropConfig(local_crops=np.int32(2), hue=np.float64(0.25)),
    )
    plain = DINOConfig(
        steps=3,
        batch_size=2,
        lr=1e-3,
        weight_decay=(0.04, 0.5),
        crops=MultiCropConfig(local_crops=2, hue=0.25),
    )
    assert given_as_numpy == plain and repr(given_as_numpy) == repr(plain)
    assert json.dumps(asdict(given_as_numpy)) == json.dumps(asdict(plain))
    assert cosine_schedule(np.float32(1.0), 0, np.int64(3)) == (
        cosine_schedule(1.0, 0, 3)
    )


@pytest.mark.parametrize("loop", ["train", "train_supervised"])
@pytest.mark.parametrize("progress", ["no", 0, None])
def test_progress_must_be_a_bool(loop, progress):
    expect(
        lambda: getattr(dino, loop)(TINY, progress=progress),
        lambda result: pytest.fail(f"trained with progress={progress!r}"),
        names=("progress",),
        values=(progress,),
    )
