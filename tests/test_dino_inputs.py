"""Bad (and good) inputs for DINO's head, loss, teacher update, schedule,
probes and evaluation: every call returns a correct result or raises a
ValueError/TypeError that names the parameter, what was expected and what
was given. Never a raw torch error, never a silent nan or truncation.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.examples import examples, property_settings
from vitlesson import dino
from vitlesson.dino import (
    DINOHead,
    DINOLoss,
    MultiCropWrapper,
    cosine_schedule,
    update_teacher,
)
from vitlesson.probes import (
    attention_iou,
    attention_masks,
    cls_features,
    knn_accuracy,
    mask_iou,
)
from vitlesson.vit import VisionTransformer

SETTINGS = property_settings(60)

widths = st.one_of(
    st.integers(-3, 24),
    st.floats(-1, 8),
    st.sampled_from(["8", None, True, 8.0, [8]]),
)
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-3, 3),
    st.sampled_from(["0.1", None, True, [0.1]]),
)
not_booleans = st.one_of(
    st.booleans(),
    st.sampled_from(["False", "no", "", 0, 1, 1.0, None, [True]]),
)
dtypes = st.sampled_from(
    [
        torch.float32,
        torch.float64,
        torch.float16,
        torch.bfloat16,
        torch.int64,
        torch.bool,
        torch.complex64,
    ]
)
kinds = st.sampled_from(["dense", "dense", "dense", "sparse", "meta", "list"])


def tensor(shape, dtype=torch.float32, kind="dense", nan=False):
    """A tensor to feed a function: dense, sparse, on the meta device, or
    not a tensor at all (a nested list)."""
    if dtype.is_floating_point or dtype.is_complex:
        x = torch.randn(shape).to(dtype)
    else:
        x = torch.zeros(shape, dtype=dtype)
    if nan and dtype.is_floating_point and x.numel():
        x.view(-1)[0] = float("nan")
    if kind == "sparse" and x.dim() >= 1:
        return x.to_sparse()
    if kind == "meta":
        return x.to("meta")
    if kind == "list":
        return x.tolist()
    return x


def expect(build, check_result, *names):
    """A result passes ``check_result``; an error is a ValueError or
    TypeError whose message names one of ``names`` and a value."""
    try:
        result = build()
    except (ValueError, TypeError) as error:
        message = str(error)
        assert len(message.splitlines()) == 1, message
        assert any(name in message for name in names), (
            f"{type(error).__name__} names none of {names}: {message}"
        )
        gives = ("got", " is on ", " has ")  # what was given
        assert any(c.isdigit() for c in message) or any(
            g in message for g in gives
        ), message
        return None
    check_result(result)
    return result


def is_int(value, low=1):
    return type(value) is int and value >= low


def tiny_vit(**options):
    options = {
        "img_size": 16,
        "patch_size": 4,
        "embed_dim": 16,
        "depth": 1,
        "num_heads": 2,
        "dynamic_img_size": True,
        **options,
    }
    return VisionTransformer(**options)


# --- the head and the wrapper ----------------------------------------------


@SETTINGS
@given(
    in_dim=widths,
    out_dim=widths,
    hidden_dim=widths,
    bottleneck_dim=widths,
    nlayers=st.one_of(st.integers(-1, 4), st.just(2.0), st.just("3")),
    norm_last_layer=not_booleans,
)
def test_head_sizes_and_flag(
    in_dim, out_dim, hidden_dim, bottleneck_dim, nlayers, norm_last_layer
):
    def check(head):
        assert all(
            is_int(v) for v in (in_dim, out_dim, hidden_dim, bottleneck_dim)
        )
        assert is_int(nlayers) and isinstance(norm_last_layer, bool)
        assert head(torch.randn(3, in_dim)).shape == (3, out_dim)
        gain = head.last_layer.parametrizations.weight.original0
        assert gain.requires_grad is not norm_last_layer

    expect(
        lambda: DINOHead(
            in_dim,
            out_dim,
            hidden_dim,
            bottleneck_dim,
            nlayers,
            norm_last_layer,
        ),
        check,
        "in_dim",
        "out_dim",
        "hidden_dim",
        "bottleneck_dim",
        "nlayers",
        "norm_last_layer",
    )


def test_head_too_large_for_memory_is_refused_before_allocating():
    with pytest.raises(ValueError, match="GiB of memory"):
        DINOHead(64, 10**12)
    with pytest.raises(ValueError, match="GiB of memory"):
        DINOHead(64, 16, hidden_dim=2048, nlayers=10**6)


@pytest.mark.parametrize("nlayers", [1, 2, 3, 5])
def test_the_memory_guard_counts_the_heads_parameters(nlayers, monkeypatch):
    """The guard's count is the head's true number of parameters."""
    counted = []
    monkeypatch.setattr(
        dino.head.check, "fits_in_memory", lambda n, *_: counted.append(n)
    )
    head = DINOHead(7, 11, hidden_dim=5, bottleneck_dim=3, nlayers=nlayers)
    assert counted == [sum(p.numel() for p in head.parameters())]


@SETTINGS
@given(
    shape=st.lists(st.integers(0, 10), min_size=0, max_size=3),
    dtype=dtypes,
    kind=kinds,
    nan=st.booleans(),
)
def test_head_features(shape, dtype, kind, nan):
    head = DINOHead(8, 16, hidden_dim=8, bottleneck_dim=4)
    x = tensor(shape, dtype, kind, nan)

    def check(out):
        assert kind == "dense" and dtype == torch.float32
        assert len(shape) == 2 and shape[1] == 8
        assert out.shape == (shape[0], 16) and out.device == x.device
        assert nan or out.isfinite().all()

    expect(lambda: head(x), check, "features")


def test_head_messages():
    head = DINOHead(8, 16, hidden_dim=8, bottleneck_dim=4)
    with pytest.raises(
        ValueError,
        match=r"features must have shape \(batch, 8\), got \(2, 9\)",
    ):
        head(torch.randn(2, 9))
    with pytest.raises(TypeError, match="features has dtype torch.float64"):
        head(torch.randn(2, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="features is on meta but the"):
        head(torch.randn(2, 8, device="meta"))
    with pytest.raises(TypeError, match="dense tensor, got layout"):
        head(torch.randn(2, 8).to_sparse())
    with pytest.raises(TypeError, match="norm_last_layer must be True or"):
        DINOHead(8, 16, norm_last_layer="False")
    with pytest.raises(ValueError, match="out_dim must be positive, got 0"):
        DINOHead(8, 0)


@settings(SETTINGS, max_examples=examples(25))
@given(
    embed_dim=st.sampled_from([8, 16]),
    in_dim=st.sampled_from([8, 16]),
    num_classes=st.sampled_from([0, 0, 3]),
    backbone_kind=st.sampled_from(["vit", "vit", "linear", None]),
    head_kind=st.sampled_from(["head", "head", "linear", "str"]),
)
def test_wrapper_parts(
    embed_dim, in_dim, num_classes, backbone_kind, head_kind
):
    backbone = {
        "vit": lambda: tiny_vit(embed_dim=embed_dim, num_classes=num_classes),
        "linear": lambda: torch.nn.Linear(4, embed_dim),
        None: lambda: None,
    }[backbone_kind]()
    head = {
        "head": lambda: DINOHead(in_dim, 8, hidden_dim=8, bottleneck_dim=4),
        "linear": lambda: torch.nn.Linear(in_dim, 8),
        "str": lambda: "head",
    }[head_kind]()

    def check(model):
        assert backbone_kind == "vit" and head_kind == "head"
        assert num_classes == 0 and embed_dim == in_dim
        views = [torch.rand(2, 3, 16, 16)] * 2 + [torch.rand(2, 3, 8, 8)]
        assert model(views).shape == (6, 8)

    expect(
        lambda: MultiCropWrapper(backbone, head),
        check,
        "backbone",
        "head",
    )


view_specs = st.lists(
    st.tuples(
        st.integers(0, 3),  # batch
        st.sampled_from([1, 3]),  # channels
        st.sampled_from([8, 16, 6]),  # height
        st.sampled_from([8, 16]),  # width
        dtypes,
        kinds,
    ),
    min_size=0,
    max_size=4,
)


@SETTINGS
@given(specs=view_specs, container=st.sampled_from([list, tuple, "tensor"]))
def test_wrapper_views(specs, container):
    model = MultiCropWrapper(
        tiny_vit(), DINOHead(16, 8, hidden_dim=8, bottleneck_dim=4)
    )
    views = [
        tensor((b, c, h, w), dtype, kind) for b, c, h, w, dtype, kind in specs
    ]
    given_views = (
        torch.rand(2, 3, 16, 16) if container == "tensor" else container(views)
    )

    def check(out):
        assert container != "tensor" and specs
        assert all(
            kind == "dense" and dtype == torch.float32 and c == 3 and h != 6
            for _, c, h, _, dtype, kind in specs
        )
        batch = specs[0][0]
        assert all(s[0] == batch for s in specs)
        assert out.shape == (batch * len(specs), 8)

    expect(lambda: model(given_views), check, "views", "Image size")


@pytest.mark.slow
def test_wrapper_groups_views_by_height_and_width():
    """Views of one width but another height go through the backbone in
    their own batch (a raw torch.cat error before)."""
    torch.manual_seed(0)
    model = MultiCropWrapper(
        tiny_vit(), DINOHead(16, 8, hidden_dim=8, bottleneck_dim=4)
    ).eval()
    views = [torch.rand(2, 3, 16, 16), torch.rand(2, 3, 8, 16)]
    out = model(views)
    each = torch.cat([model.head(model.backbone(v)) for v in views])
    torch.testing.assert_close(out, each)
    with pytest.raises(ValueError, match="num_classes=0, got num_classes=3"):
        MultiCropWrapper(tiny_vit(num_classes=3), DINOHead(16, 8))


# --- the loss, the schedule and the teacher ------------------------------


@SETTINGS
@given(
    out_dim=widths,
    student_temp=numbers,
    center_momentum=numbers,
    centering=not_booleans,
    all_reduce_center=not_booleans,
)
def test_loss_settings(
    out_dim, student_temp, center_momentum, centering, all_reduce_center
):
    def check(loss_fn):
        assert is_int(out_dim)
        assert type(student_temp) in (int, float) and student_temp > 0
        assert math.isfinite(student_temp)
        assert type(center_momentum) in (int, float)
        assert 0 <= center_momentum <= 1
        assert isinstance(centering, bool)
        assert isinstance(all_reduce_center, bool)
        assert loss_fn.center.shape == (1, out_dim)

    expect(
        lambda: DINOLoss(
            out_dim,
            student_temp,
            center_momentum,
            centering,
            all_reduce_center,
        ),
        check,
        "out_dim",
        "student_temp",
        "center_momentum",
        "centering",
        "all_reduce_center",
    )


@SETTINGS
@given(
    student_rows=st.integers(0, 12),
    teacher_rows=st.integers(0, 6),
    student_width=st.sampled_from([8, 8, 5]),
    teacher_width=st.sampled_from([8, 8, 3]),
    teacher_temp=numbers,
    n_views=st.one_of(st.integers(-1, 6), st.sampled_from([2.0, "3", True])),
    dtype=dtypes,
    kind=kinds,
)
def test_loss_outputs(
    student_rows,
    teacher_rows,
    student_width,
    teacher_width,
    teacher_temp,
    n_views,
    dtype,
    kind,
):
    loss_fn = DINOLoss(8)
    student = tensor((student_rows, student_width), dtype, kind)
    teacher = tensor((teacher_rows, teacher_width))

    def check(result):
        loss, stats = result
        assert kind == "dense" and dtype.is_floating_point
        assert is_int(n_views, low=2)
        assert type(teacher_temp) in (int, float) and teacher_temp > 0
        assert student_width == teacher_width == 8
        assert teacher_rows and teacher_rows % 2 == 0
        assert student_rows == n_views * teacher_rows // 2
        assert loss.dim() == 0
        assert set(stats) == {"teacher_entropy", "kl"}
        assert loss_fn.center.isfinite().all()

    expect(
        lambda: loss_fn(student, teacher, teacher_temp, n_views),
        check,
        "student_out",
        "teacher_out",
        "teacher_temp",
        "n_views",
    )


@SETTINGS
@given(
    shape=st.lists(st.integers(0, 6), min_size=0, max_size=3),
    dtype=dtypes,
    kind=kinds,
)
def test_update_center(shape, dtype, kind):
    loss_fn = DINOLoss(6)
    teacher = tensor(shape, dtype, kind)

    def check(_):
        assert kind == "dense" and dtype.is_floating_point
        assert len(shape) == 2 and shape[0] > 0 and shape[1] == 6
        assert loss_fn.center.isfinite().all()  # no 0 / 0 from no rows

    expect(lambda: loss_fn.update_center(teacher), check, "teacher_out")


def test_loss_messages():
    with pytest.raises(
        ValueError, match=r"teacher_temp must be in \(0, inf\], got -0.04"
    ):
        DINOLoss(8)(torch.randn(4, 8), torch.randn(2, 8), -0.04, 2)
    with pytest.raises(ValueError, match="out_dim must be positive, got 0"):
        DINOLoss(0)
    with pytest.raises(ValueError, match=r"with at least one row, got \(0, 8"):
        DINOLoss(8).update_center(torch.zeros(0, 8))
    with pytest.raises(ValueError, match="teacher_out must hold values"):
        DINOLoss(8)(torch.randn(4, 8), torch.randn(2, 8, device="meta"), 1, 2)
    with pytest.raises(ValueError, match="student_out is on cpu but the"):
        DINOLoss(8).to("meta")(torch.randn(4, 8), torch.randn(2, 8), 1, 2)


def linear_stack(widths, dtype=torch.float32):
    return torch.nn.Sequential(
        *(
            torch.nn.Linear(a, b, dtype=dtype)
            for a, b in zip(widths, widths[1:], strict=False)
        )
    )


@SETTINGS
@given(
    teacher_widths=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    student_widths=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    student_dtype=st.sampled_from(
        [torch.float32, torch.float32, torch.float64]
    ),
    momentum=numbers,
    swap=st.sampled_from([None, "teacher", "student"]),
)
def test_update_teacher(
    teacher_widths, student_widths, student_dtype, momentum, swap
):
    teacher = linear_stack(teacher_widths)
    student = linear_stack(student_widths, student_dtype)
    before = [p.detach().clone() for p in teacher.parameters()]
    if swap == "teacher":
        teacher = "teacher"
    elif swap == "student":
        student = torch.randn(3)

    def check(_):
        same = teacher_widths == student_widths
        no_parameters = max(len(teacher_widths), len(student_widths)) < 2
        assert swap is None and (same or no_parameters)
        assert student_dtype == torch.float32 or no_parameters
        assert type(momentum) in (int, float) and 0 <= momentum <= 1
        for t, b, s in zip(
            teacher.parameters(), before, student.parameters(), strict=True
        ):
            torch.testing.assert_close(
                t, momentum * b + (1 - momentum) * s.detach()
            )

    expect(
        lambda: update_teacher(teacher, student, momentum),
        check,
        "teacher",
        "student",
        "momentum",
    )


def test_update_teacher_names_the_first_difference():
    with pytest.raises(
        ValueError,
        match=r"differ at '1.bias' \(teacher: \(2,\) torch.float32 on "
        r"cpu, student: no such parameter\) and at 1 more",
    ):
        update_teacher(linear_stack([4, 3, 2]), linear_stack([4, 3]), 0.9)
    with pytest.raises(ValueError, match="momentum must be in"):
        update_teacher(linear_stack([2, 2]), linear_stack([2, 2]), 1.5)


@SETTINGS
@given(
    start=numbers,
    end=numbers,
    steps=st.one_of(st.integers(-2, 12), st.sampled_from([3.0, "4", True])),
    warmup_steps=st.one_of(st.integers(-2, 14), st.sampled_from([1.0, None])),
    warmup_start=numbers,
)
def test_cosine_schedule(start, end, steps, warmup_steps, warmup_start):
    def check(values):
        assert is_int(steps) and is_int(warmup_steps, low=0)
        assert warmup_steps <= steps and len(values) == steps
        assert all(math.isfinite(v) for v in values)
        if warmup_steps < steps:  # to the float precision of the two ends
            scale = max(1.0, abs(start), abs(end))
            assert abs(values[warmup_steps] - start) <= 1e-12 * scale

    expect(
        lambda: cosine_schedule(start, end, steps, warmup_steps, warmup_start),
        check,
        "start",
        "end",
        "steps",
        "warmup_steps",
        "warmup_start",
    )


def test_cosine_schedule_too_long_for_memory():
    with pytest.raises(ValueError, match="GiB of memory"):
        cosine_schedule(1.0, 0.0, 10**13)


# --- the probes -------------------------------------------------------------


def unit(n, d, dtype=torch.float32):
    return F.normalize(torch.randn(n, d), dim=1).to(dtype)


@SETTINGS
@given(
    n_train=st.integers(0, 6),
    n_test=st.integers(0, 4),
    train_width=st.sampled_from([4, 4, 3]),
    test_width=st.sampled_from([4, 4, 0]),
    train_label_shape=st.sampled_from(["right", "right", "short", "2d"]),
    label_dtype=st.sampled_from(
        [torch.int64, torch.int64, torch.int32, torch.bool, torch.float32]
    ),
    negative=st.booleans(),
    normalised=st.sampled_from([True, True, False]),
    test_dtype=st.sampled_from([torch.float32, torch.float32, torch.float64]),
    kind=kinds,
    k=st.one_of(st.integers(-1, 8), st.sampled_from([2.0, "3", True])),
    temperature=numbers,
)
def test_knn_accuracy(
    n_train,
    n_test,
    train_width,
    test_width,
    train_label_shape,
    label_dtype,
    negative,
    normalised,
    test_dtype,
    kind,
    k,
    temperature,
):
    train = unit(n_train, train_width)
    test = unit(n_test, test_width, test_dtype)
    if kind != "dense":
        test = tensor(test.shape, test_dtype, kind)
    if not normalised:
        train = train * 3
    labels = torch.randint(0, 3, (n_train,)).to(label_dtype)
    if negative and n_train:
        labels[0] = -1
    train_labels = {
        "right": labels,
        "short": labels[:-1],
        "2d": labels[:, None],
    }[train_label_shape]
    test_labels = torch.randint(0, 3, (n_test,))

    def check(accuracy):
        assert n_train and n_test and normalised and kind == "dense"
        assert train_width == test_width and test_dtype == torch.float32
        assert train_label_shape == "right"
        assert label_dtype in (torch.int64, torch.int32) and not negative
        assert is_int(k) and k <= n_train
        assert type(temperature) in (int, float) and temperature > 0
        assert 0 <= accuracy <= 1 and math.isfinite(accuracy)

    expect(
        lambda: knn_accuracy(
            train, train_labels, test, test_labels, k, temperature
        ),
        check,
        "train_features",
        "test_features",
        "train_labels",
        "test_labels",
        "k",
        "temperature",
    )


def test_knn_with_a_tiny_temperature_is_the_nearest_neighbour():
    """exp(s / T) overflows for a small T; the vote is then the nearest
    neighbour's label, not a tie between infinities."""
    bank = F.normalize(
        torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8]]), dim=1
    )
    labels = torch.tensor([1, 0, 0])
    query = F.normalize(torch.tensor([[1.0, 0.1]]), dim=1)
    assert knn_accuracy(bank, labels, query, torch.tensor([1]), 3, 1e-4) == 1
    assert knn_accuracy(bank, labels, query, torch.tensor([0]), 3, 10.0) == 1


def test_knn_messages():
    bank, labels = unit(4, 2), torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError, match="test_features must have shape"):
        knn_accuracy(bank, labels, unit(0, 2), torch.zeros(0, dtype=int))
    with pytest.raises(ValueError, match=r"temperature must be in \(0, inf"):
        knn_accuracy(bank, labels, bank, labels, 2, 0)
    with pytest.raises(ValueError, match=r"shape \(4,\), one label per"):
        knn_accuracy(bank, labels[:3], bank, labels, 2)
    with pytest.raises(ValueError, match="must be finite and ℓ2-normalised"):
        knn_accuracy(bank * 2, labels, bank, labels, 2)


@SETTINGS
@given(
    shape=st.lists(st.integers(0, 5), min_size=2, max_size=5),
    dtype=dtypes,
    kind=kinds,
    values=st.sampled_from(["softmax", "zeros", "negative", "nan"]),
    mass=numbers,
)
def test_attention_masks(shape, dtype, kind, values, mass):
    x = torch.rand(shape)
    x = {
        "softmax": x.softmax(dim=-1) if x.numel() else x,
        "zeros": torch.zeros(shape),
        "negative": -x - 0.1,
        "nan": x * float("nan"),
    }[values]
    attention = tensor(shape, dtype, kind)
    if kind == "dense" and dtype.is_floating_point:
        attention = x.to(dtype)

    def check(masks):
        assert kind == "dense" and dtype.is_floating_point
        assert len(shape) == 4 and shape[-1] == shape[-2] >= 2
        assert values == "softmax" or 0 in shape[:2]
        assert type(mass) in (int, float) and 0 < mass <= 1
        assert masks.dtype == torch.bool
        assert masks.shape == (*shape[:2], shape[-1] - 1)
        if masks.numel():
            assert masks.any(dim=-1).all()  # some patch holds the mass

    expect(
        lambda: attention_masks(attention, mass), check, "attention", "mass"
    )


@SETTINGS
@given(
    batch=st.integers(0, 3),
    mask_batch=st.integers(0, 3),
    heads=st.integers(1, 2),
    patches=st.sampled_from([4, 4, 3]),
    size=st.sampled_from([(4, 4), (4, 4), (3, 4), (1, 1)]),
    grid=st.sampled_from([(2, 2), (2, 2), 2, (0, 2), "2", (2, 2, 2)]),
    patch_dtype=st.sampled_from([torch.bool, torch.bool, torch.float32]),
    object_dtype=st.sampled_from([torch.bool, torch.bool, torch.int64]),
    empty_object=st.booleans(),
)
def test_mask_iou(
    batch,
    mask_batch,
    heads,
    patches,
    size,
    grid,
    patch_dtype,
    object_dtype,
    empty_object,
):
    patch_masks = (torch.rand(batch, heads, patches) > 0.5).to(patch_dtype)
    object_masks = torch.rand(mask_batch, *size) > 0.3
    object_masks[..., 0, 0] = True
    if empty_object and mask_batch:
        object_masks[0] = False
    object_masks = object_masks.to(object_dtype)

    def check(iou):
        assert patch_dtype == object_dtype == torch.bool
        assert grid in ((2, 2), 2) and patches == 4
        assert size == (4, 4) and batch == mask_batch
        assert not (empty_object and mask_batch)
        assert iou.shape == (batch, heads)
        assert ((0 <= iou) & (iou <= 1)).all()  # never nan

    expect(
        lambda: mask_iou(patch_masks, object_masks, grid),
        check,
        "patch_masks",
        "object_masks",
        "grid",
    )


@settings(SETTINGS, max_examples=examples(25))
@given(
    n=st.integers(0, 3),
    size=st.sampled_from([16, 16, 8, 6]),
    channels=st.sampled_from([3, 3, 1]),
    dtype=st.sampled_from([torch.float32, torch.float32, torch.float64]),
    batch=st.one_of(st.integers(-1, 3), st.sampled_from([2.0, None])),
    mask_size=st.sampled_from(["same", "same", "other"]),
    mass=st.sampled_from([0.6, 0.6, 0.0, 1.5]),
    model_kind=st.sampled_from(["vit", "vit", "vit", "linear"]),
)
def test_probes_of_a_backbone(
    n, size, channels, dtype, batch, mask_size, mass, model_kind
):
    model = tiny_vit() if model_kind == "vit" else torch.nn.Linear(3, 3)
    images = torch.rand(n, channels, size, size, dtype=dtype)
    side = size if mask_size == "same" else 2 * size
    masks = torch.ones(n, side, side, dtype=torch.bool)

    def features_ok(features):
        assert model_kind == "vit" and n and size != 6 and channels == 3
        assert dtype == torch.float32 and is_int(batch)
        assert features.shape == (n, 16)

    def iou_ok(iou):
        features_ok(torch.zeros(n, 16))
        assert mask_size == "same" and 0 < mass <= 1
        assert iou.shape == (2,) and ((0 <= iou) & (iou <= 1)).all()

    names = ("model", "images", "batch", "object_masks", "mass")
    names += ("Input image size", "channels", "patch")
    model.train()
    expect(lambda: cls_features(model, images, batch), features_ok, *names)
    expect(
        lambda: attention_iou(model, images, masks, mass, batch),
        iou_ok,
        *names,
    )
    assert model.training  # the probes leave the model's mode as it was


def test_attention_iou_uses_the_grid_of_the_images():
    """A dynamic-size model measured on images of another size: the
    patch grid is the images' (the model's grid_size raised a raw
    reshape error before)."""
    model = tiny_vit(img_size=32)
    images = torch.rand(2, 3, 16, 16)
    masks = torch.zeros(2, 16, 16, dtype=torch.bool)
    masks[:, :8, :8] = True
    iou = attention_iou(model, images, masks)
    assert iou.shape == (2,) and ((0 < iou) & (iou <= 1)).all()


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
