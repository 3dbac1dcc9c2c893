"""DINO's loss, its schedules and the teacher's update (DINO's
``main_dino.py``: ``DINOLoss``; ``utils.py``: ``cosine_scheduler``)."""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn as nn

from vitlesson import _validation as check


def _outputs(student_out, teacher_out, teacher_temp, n_views, center):
    """Check the two outputs against each other and the center."""
    n_views = check.positive_int(n_views, "n_views")
    if n_views < 2:
        raise ValueError(
            f"n_views must be at least 2 (the two global views), got {n_views}"
        )
    check.finite_number(teacher_temp, "teacher_temp", low=0, low_open=True)
    _rows(student_out, "student_out", center)
    _rows(teacher_out, "teacher_out", center)
    _finite(teacher_out, "teacher_out")
    if len(teacher_out) % 2:
        raise ValueError(
            f"teacher_out must hold the 2 global views of a "
            f"batch (an even, positive number of rows), got "
            f"{len(teacher_out)}"
        )
    batch = len(teacher_out) // 2
    if len(student_out) != n_views * batch:
        raise ValueError(
            f"student_out must have n_views·B = {n_views}·"
            f"{batch} = {n_views * batch} rows, got "
            f"{len(student_out)}"
        )


def _rows(x, name: str, center: torch.Tensor) -> None:
    """At least one row of K outputs, on the center's device."""
    check.float_tensor(x, name)
    if x.layout != torch.strided:
        raise TypeError(
            f"{name} must be a dense tensor, got layout {x.layout}: "
            f"call {name}.to_dense()"
        )
    if x.dim() != 2 or len(x) == 0 or x.shape[-1] != center.shape[-1]:
        raise ValueError(
            f"{name} must have shape (rows, {center.shape[-1]}) with at "
            f"least one row, got {tuple(x.shape)}"
        )
    if x.device.type == "meta":
        raise ValueError(
            f"{name} must hold values (the loss returns its statistics), "
            f"got a tensor on the meta device"
        )
    if x.device != center.device:
        raise ValueError(
            f"{name} is on {x.device} but the loss's center is on "
            f"{center.device}: call {name}.to({str(center.device)!r}) or "
            f"move the loss"
        )


def _finite(x: torch.Tensor, name: str) -> None:
    """Every value finite: one NaN in the teacher's output would enter the
    running center and stay there for every step after."""
    bad = ~torch.isfinite(x)
    if bad.any():
        row, column = (int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"{name} must be finite, got {x[row, column].item()} at "
            f"[{row}, {column}] ({int(bad.sum())} of {x.numel()} values "
            f"are inf or NaN): the center is left as it was"
        )


# --8<-- [start:loss]
class DINOLoss(nn.Module):
    """Cross-entropy between the teacher's centred, sharpened distribution
    for each global view and the student's distribution for every *other*
    view, averaged over the pairs.

    ``centering=False`` or a teacher temperature equal to the student's
    turn off one of the two operations (the collapse ablations).
    """

    center: torch.Tensor  # (1, K): the running mean of the teacher's outputs

    def __init__(
        self,
        out_dim: int,
        student_temp: float = 0.1,
        center_momentum: float = 0.9,
        centering: bool = True,
        all_reduce_center: bool = True,
    ):
        super().__init__()
        check.positive_int(out_dim, "out_dim")
        check.fits_in_memory(out_dim, f"A center of {out_dim} outputs")
        self.student_temp = check.finite_number(
            student_temp, "student_temp", low=0, low_open=True
        )
        self.center_momentum = check.finite_number(
            center_momentum, "center_momentum", low=0, high=1
        )
        self.centering = check.boolean(centering, "centering")
        # False only to show what the all-reduce is for (tests): not DINO
        self.all_reduce_center = check.boolean(
            all_reduce_center, "all_reduce_center"
        )
        self.register_buffer("center", torch.zeros(1, out_dim))

    def forward(
        self,
        student_out: torch.Tensor,
        teacher_out: torch.Tensor,
        teacher_temp: float,
        n_views: int,
    ) -> tuple[torch.Tensor, dict]:
        """``student_out`` (views·B, K), ``teacher_out`` (2·B, K), in the
        order of :func:`~vitlesson.data.multicrop.multi_crop`."""
        _outputs(student_out, teacher_out, teacher_temp, n_views, self.center)
        student = (student_out / self.student_temp).log_softmax(dim=-1)
        teacher = ((teacher_out - self.center) / teacher_temp).softmax(-1)
        teacher = teacher.detach()  # the loss trains the student only
        total, pairs = student.new_zeros(()), 0
        for i, q in enumerate(teacher.chunk(2)):  # global views: (B, K) each
            for v, log_p in enumerate(student.chunk(n_views)):  # every view
                if v == i:  # skip the student's view of the same crop
                    continue
                total = total + (-q * log_p).sum(dim=-1).mean()
                pairs += 1
        loss = total / pairs
        with torch.no_grad():  # what the curves show
            log_q = teacher.clamp_min(1e-12).log()  # (2·B, K)
            entropy = -(teacher * log_q).sum(dim=-1).mean()
            stats = {
                "teacher_entropy": entropy.item(),
                "kl": loss.item() - entropy.item(),
            }
        if self.centering:
            self.update_center(teacher_out)
        return loss, stats

    @torch.no_grad()
    def update_center(self, teacher_out: torch.Tensor) -> None:
        """Running mean of the teacher's outputs over batches, and over
        every process when there are several (as DINO does)."""
        _rows(teacher_out, "teacher_out", self.center)
        _finite(teacher_out, "teacher_out")
        batch_center = teacher_out.sum(dim=0, keepdim=True)  # (1, K)
        rows = len(teacher_out)
        if (
            self.all_reduce_center
            and dist.is_available()
            and dist.is_initialized()
        ):
            dist.all_reduce(batch_center)  # sum over the processes
            rows *= dist.get_world_size()
        batch_center = batch_center / rows
        self.center = self.center * self.center_momentum + batch_center * (
            1 - self.center_momentum
        )


# --8<-- [end:loss]


def cosine_schedule(
    start: float,
    end: float,
    steps: int,
    warmup_steps: int = 0,
    warmup_start: float = 0.0,
) -> list[float]:
    """DINO's ``cosine_scheduler``: a linear warm-up from ``warmup_start``
    to ``start``, then half a cosine from ``start`` to ``end``; one value
    per step (its length checked, as DINO asserts it)."""
    start, end, warmup_start = (
        check.finite_number(value, name)
        for name, value in [
            ("start", start),
            ("end", end),
            ("warmup_start", warmup_start),
        ]
    )
    if not math.isfinite(start - end) or not math.isfinite(
        start - warmup_start
    ):
        raise ValueError(
            f"start, end and warmup_start must be within the float range of "
            f"each other, got {start}, {end} and {warmup_start}"
        )
    steps = check.positive_int(steps, "steps")
    warmup_steps = check.non_negative_int(warmup_steps, "warmup_steps")
    if warmup_steps > steps:
        raise ValueError(
            f"warmup_steps must be at most steps ({steps}), got {warmup_steps}"
        )
    check.fits_in_memory(  # a Python float in a list takes 32 bytes
        steps, f"A schedule of {steps:,} steps", bytes_per_number=32
    )
    warmup = [
        warmup_start + (start - warmup_start) * i / warmup_steps
        for i in range(warmup_steps)
    ]
    rest = steps - warmup_steps
    schedule = warmup + [
        end + 0.5 * (start - end) * (1 + math.cos(math.pi * i / rest))
        for i in range(rest)
    ]
    return schedule


def _same_architecture(teacher: nn.Module, student: nn.Module) -> None:
    """Both modules have the same parameters: names, shapes, dtypes and
    devices."""
    for name, module in [("teacher", teacher), ("student", student)]:
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"{name} must be a torch.nn.Module, got "
                f"{type(module).__name__}"
            )
    teacher_params, student_params = (
        {
            n: f"{tuple(p.shape)} {p.dtype} on {p.device}"
            for n, p in module.named_parameters()
        }
        for module in (teacher, student)
    )
    differ = sorted(
        n
        for n in teacher_params.keys() | student_params.keys()
        if teacher_params.get(n) != student_params.get(n)
    )
    if differ:
        first = differ[0]
        raise ValueError(
            f"teacher and student must have the same architecture; they "
            f"differ at {first!r} (teacher: "
            f"{teacher_params.get(first, 'no such parameter')}, student: "
            f"{student_params.get(first, 'no such parameter')}) and at "
            f"{len(differ) - 1} more"
        )


@torch.no_grad()
def update_teacher(
    teacher: nn.Module, student: nn.Module, momentum: float
) -> None:
    """θ_teacher ← m·θ_teacher + (1 − m)·θ_student, parameter by parameter."""
    _same_architecture(teacher, student)
    momentum = check.finite_number(momentum, "momentum", low=0, high=1)
    student_params = dict(student.named_parameters())
    for name, t in teacher.named_parameters():
        t.mul_(momentum).add_(
            student_params[name].detach(), alpha=1 - momentum
        )
