"""DINO in miniature: the data, the crops, the head, the loss, the teacher, the probes and the command."""

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from vitlesson import dino
from vitlesson.data.multicrop import (
    MultiCropConfig,
    _grey,
    _rotate_hue,
    colour_jitter,
    gaussian_blur,
    multi_crop,
    random_greyscale,
    random_resized_crop,
    random_solarize,
)
from vitlesson.data.objects import CLASSES, make_objects
from vitlesson.dino import (
    DINOConfig,
    DINOHead,
    DINOLoss,
    cosine_schedule,
    update_teacher,
)
from vitlesson.probes import attention_masks, knn_accuracy, mask_iou


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


# --- the data ------------------------------------------------------------------------------


def test_objects_are_seeded_and_shaped():
    images, masks, labels = make_objects(64, seed=5)
    again = make_objects(64, seed=5)
    assert (
        images.shape == (64, 3, 32, 32)
        and masks.shape == (64, 32, 32)
        and masks.dtype == torch.bool
    )
    assert (
        torch.equal(images, again[0])
        and torch.equal(masks, again[1])
        and torch.equal(labels, again[2])
    )
    assert not torch.equal(images, make_objects(64, seed=6)[0])
    assert images.min() >= 0 and images.max() <= 1
    assert set(labels.tolist()) == set(range(len(CLASSES)))


def test_every_masked_pixel_has_the_object_colour():
    images, masks, _ = make_objects(32, seed=1)
    for image, mask in zip(images, masks, strict=True):
        inside = image[:, mask]  # (3, pixels)
        assert torch.allclose(inside, inside[:, :1].expand_as(inside))
        assert (
            40 < mask.sum() < 32 * 32 / 2
        )  # an object, well inside the image


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,check",
    [
        (
            "square",
            lambda box, m: m.all(),
        ),  # an axis-aligned square fills its bounding box
        ("disc", lambda box, m: abs(m.float().mean() - math.pi / 4) < 0.1),
        (
            "cross",
            lambda box, m: (
                m[m.shape[0] // 2].all()
                and m[:, m.shape[1] // 2].all()
                and not m[0, 0]
            ),
        ),
        (
            "triangle",
            lambda box, m: (
                m[-1].sum() > 2 * m[0].sum()
                and abs(m.float().mean() - 0.5) < 0.12
            ),
        ),
    ],
)
def test_each_class_draws_its_shape(name, check):
    _, masks, labels = make_objects(200, seed=2)
    for mask in masks[labels == CLASSES.index(name)][:10]:
        rows, cols = mask.any(dim=1).nonzero(), mask.any(dim=0).nonzero()
        box = mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        assert check(None, box), name


def test_objects_refuse_bad_arguments():
    with pytest.raises(
        ValueError,
        match="image_size must be at least 22 to fit the largest object, got 16",
    ):
        make_objects(4, seed=0, image_size=16)
    with pytest.raises(ValueError, match="n must be 0 or more, got -1"):
        make_objects(-1, seed=0)


# --- multi-crop --------------------------------------------------------------------------


@pytest.mark.slow
def test_multi_crop_makes_dinos_views():
    images, _, _ = make_objects(8, seed=0)
    views = multi_crop(images, generator(), MultiCropConfig(local_crops=5))
    assert [tuple(v.shape) for v in views] == [(8, 3, 32, 32)] * 2 + [
        (8, 3, 16, 16)
    ] * 5
    assert all(v.min() >= 0 and v.max() <= 1 for v in views)
    again = multi_crop(images, generator(), MultiCropConfig(local_crops=5))
    assert all(torch.equal(a, b) for a, b in zip(views, again, strict=True))
    with pytest.raises(ValueError, match="add a batch dimension"):
        multi_crop(images[0], generator())


def test_crops_are_flipped_half_the_time():
    x = torch.linspace(0, 1, 32)
    ramp = torch.stack(
        [x[None].expand(32, 32)] * 3
    )  # brightness grows to the right
    crops = random_resized_crop(
        ramp[None].expand(200, -1, -1, -1), 16, (0.3, 0.3), generator()
    )
    rising = crops[:, 0, 0, -1] > crops[:, 0, 0, 0]
    assert 0.35 < rising.float().mean() < 0.65
    steps = crops[:, 0, 0].diff(
        dim=-1
    )  # each crop is one way or the other, never mixed
    assert ((steps > 0).all(dim=1) | (steps < 0).all(dim=1)).all()


def test_crops_cover_the_areas_asked_for():
    x = torch.linspace(0, 1, 256)
    ramp = torch.stack(
        [
            x[None].expand(256, 256),
            x[:, None].expand(256, 256),
            torch.zeros(256, 256),
        ]
    )
    crops = random_resized_crop(
        ramp[None].expand(400, -1, -1, -1), 16, (0.05, 0.4), generator()
    )
    width = crops[:, 0, 0].amax(dim=-1) - crops[:, 0, 0].amin(
        dim=-1
    )  # share of the image's width
    height = crops[:, 1, :, 0].amax(dim=-1) - crops[:, 1, :, 0].amin(dim=-1)
    area = (width * height) * (
        16 / 15
    ) ** 2  # pixel centres span 15/16 of the crop
    assert area.min() > 0.05 * 0.9 and area.max() < 0.4 * 1.1
    ratio = width / height
    assert ratio.min() > 3 / 4 * 0.9 and ratio.max() < 4 / 3 * 1.1


def test_colour_operations():
    images = torch.rand(8, 3, 16, 16)
    assert torch.equal(colour_jitter(images, generator(), p=0.0), images)
    grey = random_greyscale(images, generator(), p=1.0)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(
        grey[:, 0], _grey(images)[:, 0]
    )
    solar = random_solarize(images, generator(), p=1.0)
    assert torch.equal(solar, torch.where(images >= 0.5, 1 - images, images))
    assert torch.equal(
        gaussian_blur(images, generator(), 0.0, (0.1, 1.0)), images
    )
    blurred = gaussian_blur(images, generator(), 1.0, (1.0, 1.0))
    assert blurred.var() < 0.5 * images.var()
    flat = torch.full((2, 3, 8, 8), 0.3)
    assert torch.allclose(
        gaussian_blur(flat, generator(), 1.0, (0.5, 1.0)), flat
    )


def test_hue_rotation_keeps_luma_and_a_full_turn():
    images = torch.rand(4, 3, 8, 8)
    turned = _rotate_hue(images, torch.tensor([0.1, 0.25, -0.3, 1.0]))
    assert torch.allclose(_grey(turned), _grey(images), atol=1e-5)
    assert torch.allclose(turned[3], images[3], atol=1e-5)
    assert not torch.allclose(turned[1], images[1], atol=1e-2)


# --- head, loss, schedules, teacher ----------------------------------------------------------


def test_head_outputs_are_cosines_with_unit_prototypes():
    torch.manual_seed(0)
    head = DINOHead(64, 100, hidden_dim=32, bottleneck_dim=16)
    out = head(torch.randn(5, 64) * 10)
    assert out.shape == (5, 100) and out.abs().max() <= 1 + 1e-6
    weight = head.last_layer.weight  # (K, bottleneck), normalised per output
    assert torch.allclose(weight.norm(dim=1), torch.ones(100))
    gain = head.last_layer.parametrizations.weight.original0
    assert not gain.requires_grad
    assert DINOHead(
        64, 100, norm_last_layer=False
    ).last_layer.parametrizations.weight.original0.requires_grad
    assert [type(m).__name__ for m in head.mlp] == [
        "Linear",
        "GELU",
        "Linear",
        "GELU",
        "Linear",
    ]
    assert [
        m.out_features for m in head.mlp if isinstance(m, torch.nn.Linear)
    ] == [32, 32, 16]
    with pytest.raises(ValueError, match="out_dim must be positive, got 0"):
        DINOHead(64, 0)


def dino_reference_loss(
    student_output,
    teacher_output,
    center,
    ncrops,
    teacher_temp,
    student_temp=0.1,
):
    """DINO's DINOLoss.forward, as main_dino.py writes it."""
    student_out = (student_output / student_temp).chunk(ncrops)
    teacher_out = F.softmax(
        (teacher_output - center) / teacher_temp, dim=-1
    ).chunk(2)
    total, n = 0, 0
    for iq, q in enumerate(teacher_out):
        for v in range(ncrops):
            if v == iq:
                continue
            total += torch.sum(
                -q * F.log_softmax(student_out[v], dim=-1), dim=-1
            ).mean()
            n += 1
    return total / n


def test_loss_matches_dinos_and_updates_the_center():
    torch.manual_seed(0)
    student, teacher = torch.randn(6 * 4, 32), torch.randn(2 * 4, 32)
    loss_fn = DINOLoss(32)
    loss_fn.center.copy_(torch.randn(1, 32))
    center = loss_fn.center.clone()
    loss, stats = loss_fn(student, teacher, 0.04, n_views=6)
    torch.testing.assert_close(
        loss, dino_reference_loss(student, teacher, center, 6, 0.04)
    )
    torch.testing.assert_close(
        loss_fn.center, 0.9 * center + 0.1 * teacher.mean(dim=0, keepdim=True)
    )
    p = F.softmax((teacher - center) / 0.04, dim=-1)
    entropy = torch.special.entr(p).sum(dim=-1).mean().item()
    assert stats["teacher_entropy"] == pytest.approx(entropy, rel=1e-5)
    assert (
        stats["kl"] == pytest.approx(loss.item() - entropy, rel=1e-5)
        and stats["kl"] > 0
    )


def test_loss_skips_a_view_paired_with_itself():
    teacher = torch.randn(2 * 3, 8)
    student = torch.cat(
        [torch.randn(2 * 3, 8), teacher[:3] * 0 + 100]
    )  # view 3 differs wildly
    loss_fn = DINOLoss(8, centering=False)
    loss, _ = loss_fn(student, teacher, 0.04, n_views=3)
    assert torch.equal(
        loss_fn.center, torch.zeros(1, 8)
    )  # no centering: the center never moves
    views = [student[:3], student[3:6], student[6:]]
    q = F.softmax(teacher / 0.04, dim=-1).chunk(2)
    pairs = [(0, 1), (0, 2), (1, 0), (1, 2)]
    expected = (
        sum(
            -(q[i] * F.log_softmax(views[v] / 0.1, dim=-1)).sum(-1).mean()
            for i, v in pairs
        )
        / 4
    )
    torch.testing.assert_close(loss, expected)


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


# --- probes ------------------------------------------------------------------------------


def test_knn_votes_by_weighted_cosine_neighbours():
    bank = F.normalize(
        torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]]), dim=1
    )
    labels = torch.tensor([0, 0, 1, 1])
    queries = F.normalize(torch.tensor([[1.0, 0.05], [0.05, 1.0]]), dim=1)
    assert (
        knn_accuracy(bank, labels, queries, torch.tensor([0, 1]), k=3) == 1.0
    )
    assert (
        knn_accuracy(bank, labels, queries, torch.tensor([1, 1]), k=3) == 0.5
    )
    with pytest.raises(
        ValueError,
        match="k must be at most the number of training features \\(4\\), got 20",
    ):
        knn_accuracy(bank, labels, queries, labels[:2])


def dino_threshold(attentions, threshold):
    """visualize_attention.py: the patches that keep ``threshold`` of each head's mass."""
    val, idx = torch.sort(attentions)
    val /= torch.sum(val, dim=1, keepdim=True)
    cumval = torch.cumsum(val, dim=1)
    th_attn = cumval > (1 - threshold)
    idx2 = torch.argsort(idx)
    return torch.stack([th_attn[h][idx2[h]] for h in range(len(attentions))])


def test_attention_masks_are_dinos_threshold():
    torch.manual_seed(0)
    attention = torch.rand(2, 3, 10, 10).softmax(dim=-1) ** 3
    masks = attention_masks(attention, 0.6)
    for b in range(2):
        assert torch.equal(
            masks[b], dino_threshold(attention[b, :, 0, 1:].clone(), 0.6)
        )
    example = torch.zeros(1, 1, 5, 5)
    example[0, 0, 0, 1:] = torch.tensor([0.1, 0.5, 0.1, 0.3])
    assert attention_masks(example, 0.6).tolist() == [
        [[False, True, False, True]]
    ]


def test_mask_iou_counts_pixels():
    truth = torch.zeros(1, 4, 4, dtype=torch.bool)
    truth[0, :2, :2] = True  # the top-left patch of a 2x2 grid
    patches = torch.tensor(
        [[[True, False, False, False], [True, True, False, False]]]
    )
    assert mask_iou(patches, truth, (2, 2)).tolist() == [[1.0, 0.5]]


# --- the command and the shipped run -------------------------------------------------------------


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--lr", "0"], "must be a number in (0, 1], got 0"),
        (["--steps", "0"], "must be a positive integer, got 0"),
        (["--no-centering", "--supervised"], "not allowed with argument"),
        (["--teacher-temp", "nan"], "must be a number in (0, 1], got nan"),
        (["--seed", "-3"], "must be 0 or more, got -3"),
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
def test_command_writes_weights_and_a_record(tmp_path, capsys):
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
    dino.main([*tiny, "--output", str(tmp_path / "run.pt")])
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["command"].startswith("python -m vitlesson.dino --steps 2")
    assert (
        record["config"]["steps"] == 2
        and record["config"]["crops"]["local_crops"] == 2
    )
    assert set(record["metrics"]) == {
        "knn_accuracy",
        "iou_per_head",
        "iou_best_head",
        "iou_mean",
    }
    assert (
        json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        == record["metrics"]
    )
    backbone = dino.tiny_backbone()
    backbone.load_state_dict(
        torch.load(tmp_path / "run.pt", weights_only=True)
    )
    dino.main(
        [*tiny, "--no-centering", "--output", str(tmp_path / "ablation.json")]
    )
    ablation = json.loads((tmp_path / "ablation.json").read_text())
    assert (
        list(ablation) == ["no-centering"]
        and ablation["no-centering"]["config"]["centering"] is False
    )


def test_shipped_weights_are_small_and_say_how_they_were_made():
    for weights in (dino.DINO_WEIGHTS, dino.SUPERVISED_WEIGHTS):
        assert weights.stat().st_size <= 2_000_000
        record = dino.load_record(weights)
        assert record["command"].startswith("python -m vitlesson.dino")
        assert record["threads"] == 2 and record["train_seconds"] <= 600
        assert record["config"]["seed"] == record["seed"]
    ablations = json.loads(dino.ABLATIONS.read_text())
    assert set(ablations) == {
        "no-centering",
        "no-sharpening",
        "teacher-temp-0.04",
    }
    assert (
        ablations["no-centering"]["history"]["teacher_entropy"][-1] < 0.05
    )  # one dimension wins
    log_k = ablations["no-sharpening"]["history"]["log_k"]
    assert (
        ablations["no-sharpening"]["history"]["teacher_entropy"][-1]
        > 0.99 * log_k
    )  # uniform


@pytest.mark.slow
def test_evaluate_recomputes_the_recorded_metrics(capsys):
    dino.main(["--evaluate"])
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(metrics) == {"dino", "random_init", "supervised"}
    assert metrics["dino"] == dino.load_record()["metrics"]
    assert (
        metrics["supervised"]
        == dino.load_record(dino.SUPERVISED_WEIGHTS)["metrics"]
    )


def test_the_pages_table_of_changed_defaults_matches_the_code():
    """Part 8 lists where the miniature departs from DINO; each 'here' value is the code's."""
    page = (
        Path(__file__).resolve().parent.parent
        / "docs"
        / "lessons"
        / "dino-in-miniature.md"
    ).read_text()
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
