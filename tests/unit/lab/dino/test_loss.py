"""``vitlesson.lab.dino.loss``: the cross-entropy between sharpened teacher and student outputs, the center, the teacher's moving average and the cosine schedule, compared with DINO's own code."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from tests.support.dino_inputs import (
    SETTINGS,
    dtypes,
    is_int,
    kinds,
    not_booleans,
    numbers,
    tensor,
    widths,
)
from tests.support.refusals import expect
from vitlesson.lab.dino import (
    DINOLoss,
    cosine_schedule,
    update_teacher,
)


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
        names=(
            "out_dim",
            "student_temp",
            "center_momentum",
            "centering",
            "all_reduce_center",
        ),
        values=(
            out_dim,
            student_temp,
            center_momentum,
            centering,
            all_reduce_center,
        ),
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
        names=("student_out", "teacher_out", "teacher_temp", "n_views"),
        values=(student, teacher, teacher_temp, n_views),
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

    expect(
        lambda: loss_fn.update_center(teacher),
        check,
        names="teacher_out",
        values=(teacher,),
    )


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


def shapes_of(model) -> list[tuple[int, ...]]:
    """The shapes of a model's parameters (none for a stand-in)."""
    if not isinstance(model, torch.nn.Module):
        return []
    return [tuple(p.shape) for p in model.parameters()]


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
        names=("teacher", "student", "momentum"),
        values=(
            teacher,
            student,
            momentum,
            student_dtype,
            *shapes_of(teacher),
            *shapes_of(student),
        ),
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
        names=("start", "end", "steps", "warmup_steps", "warmup_start"),
        values=(start, end, steps, warmup_steps, warmup_start),
    )


def test_cosine_schedule_too_long_for_memory():
    with pytest.raises(ValueError, match="GiB of memory"):
        cosine_schedule(1.0, 0.0, 10**13)


# --- each refusal and edge, word for word -------------------------------------


@pytest.mark.parametrize(
    "call,message",
    [
        (
            lambda: DINOLoss(8)(torch.randn(4, 8), torch.randn(3, 8), 0.04, 2),
            "teacher_out must hold the 2 global views of a batch (an even, "
            "positive number of rows), got 3",
        ),
        (
            lambda: DINOLoss(8)(torch.randn(5, 8), torch.randn(2, 8), 0.04, 2),
            "student_out must have n_views·B = 2·1 = 2 rows, got 5",
        ),
        (
            lambda: DINOLoss(8)(torch.randn(4, 7), torch.randn(2, 8), 0.04, 2),
            "student_out must have shape (rows, 8) with at least one row, "
            "got (4, 7)",
        ),
        (
            lambda: cosine_schedule(1e308, -1e308, 3),
            "start, end and warmup_start must be within the float range of "
            "each other, got 1e+308, -1e+308 and 0.0",
        ),
        (
            lambda: cosine_schedule(1e308, 1e308, 3, 1, -1e308),
            "start, end and warmup_start must be within the float range of "
            "each other, got 1e+308, 1e+308 and -1e+308",
        ),
        (
            lambda: cosine_schedule(1.0, 0.0, 10**12),
            "A schedule of 1,000,000,000,000 steps would need 29,802.3 GiB "
            "of memory (1,000,000,000,000 numbers)",  # 32 bytes a step
        ),
        (
            lambda: update_teacher(
                linear_stack([4, 3]), linear_stack([4, 3, 2]), 0.9
            ),
            "teacher and student must have the same architecture; they "
            "differ at '1.bias' (teacher: no such parameter, student: (2,) "
            "torch.float32 on cpu) and at 1 more",
        ),
    ],
)
def test_loss_schedule_and_teacher_refusals_word_for_word(call, message):
    with pytest.raises(ValueError) as refused:
        call()
    assert str(refused.value).startswith(message), str(refused.value)


def test_a_schedule_may_be_all_warmup_from_its_own_start():
    """warmup_steps == steps: a warmup only; the warmup climbs from
    warmup_start to start in equal steps."""
    assert cosine_schedule(1.0, 0.0, 3, 3) == pytest.approx([0, 1 / 3, 2 / 3])
    assert cosine_schedule(1.0, 0.0, 4, 2, warmup_start=0.5) == pytest.approx(
        [0.5, 0.75, 1.0, 0.5]
    )


@pytest.mark.parametrize(
    "options,error,message",
    [
        (
            {"centering": "no"},
            TypeError,
            "centering must be True or False, got str ('no')",
        ),
        (
            {"all_reduce_center": "no"},
            TypeError,
            "all_reduce_center must be True or False, got str ('no')",
        ),
        (
            {"center_momentum": 1.5},
            ValueError,
            "center_momentum must be in [0, 1], got 1.5",
        ),
        (
            {"out_dim": 10**12},
            ValueError,
            "A center of 1000000000000 outputs would need 3,725.3 GiB",
        ),
    ],
)
def test_loss_settings_refused_word_for_word(options, error, message):
    with pytest.raises(error) as refused:
        DINOLoss(**({"out_dim": 8} | options))
    assert str(refused.value).startswith(message), str(refused.value)
    assert DINOLoss(8).all_reduce_center is True  # DINO's: every process


@SETTINGS
@given(
    bad=st.sampled_from([float("nan"), float("inf"), -float("inf")]),
    row=st.integers(0, 3),
    column=st.integers(0, 4),
    through=st.sampled_from(["forward", "update_center"]),
)
def test_a_non_finite_teacher_output_leaves_the_center_as_it_was(
    bad, row, column, through
):
    """One NaN in the teacher's output would stay in the running center
    for good: it is refused before the center moves."""
    loss = DINOLoss(5)
    loss(torch.randn(6, 5), torch.randn(4, 5), 0.04, 3)  # a center to keep
    center = loss.center.clone()
    teacher_out = torch.randn(4, 5)
    teacher_out[row, column] = bad
    call = (
        (lambda: loss(torch.randn(6, 5), teacher_out, 0.04, 3))
        if through == "forward"
        else (lambda: loss.update_center(teacher_out))
    )
    expect(
        call,
        lambda result: pytest.fail("a non-finite teacher output was taken"),
        names=("teacher_out",),
        values=(bad, [row, column]),
    )
    assert torch.equal(loss.center, center)


@pytest.mark.parametrize(
    "momentum",
    [np.float32(0.25), np.float64(0.25), torch.tensor(0.25), np.array(0.25)],
)
def test_update_teacher_takes_numpy_and_0d_tensor_momenta(momentum):
    torch.manual_seed(0)
    student = torch.nn.Linear(3, 2)
    teacher, reference = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    reference.load_state_dict(teacher.state_dict())
    update_teacher(teacher, student, momentum)
    update_teacher(reference, student, 0.25)
    for t, r in zip(teacher.parameters(), reference.parameters(), strict=True):
        assert torch.equal(t, r)
