"""``vitlesson.lab.dino.training``: the config derives its schedule from the steps, a short run is seeded and recorded, and a training run writes its weights and record."""

import math

import pytest
import torch

from tests.support import ROOT
from vitlesson.data.multicrop import (
    MultiCropConfig,
)
from vitlesson.lab import dino
from vitlesson.lab.dino import (
    DINOConfig,
    cosine_schedule,
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
