"""DINO's loss, its schedules and the teacher's update (DINO's
``main_dino.py``: ``DINOLoss``; ``utils.py``: ``cosine_scheduler``)."""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn as nn

from vitlesson import _validation as check


def _outputs(student_out, teacher_out, n_views, out_dim) -> int:
    """Check the two outputs against each other; return the batch size."""
    n_views = check.positive_int(n_views, "n_views")
    if n_views < 2:
        raise ValueError(
            f"n_views must be at least 2 (the two global views), got {n_views}"
        )
    for name, x in [
        ("student_out", student_out),
        ("teacher_out", teacher_out),
    ]:
        check.float_tensor(x, name)
        if x.dim() != 2 or x.shape[-1] != out_dim:
            raise ValueError(
                f"{name} must have shape (rows, {out_dim}), "
                f"got {tuple(x.shape)}"
            )
    if len(teacher_out) == 0 or len(teacher_out) % 2:
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
    return batch


# --8<-- [start:loss]
class DINOLoss(nn.Module):
    """Cross-entropy between the teacher's centred, sharpened distribution
    for each global view and the student's distribution for every *other*
    view, averaged over the pairs.

    ``centering=False`` or a teacher temperature equal to the student's
    turn off one of the two operations (the collapse ablations).
    """

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
        order of :func:`~vitlesson.multicrop.multi_crop`."""
        _outputs(student_out, teacher_out, n_views, self.center.shape[-1])
        check.finite_number(teacher_temp, "teacher_temp", low=0, low_open=True)
        student = (student_out / self.student_temp).log_softmax(dim=-1)
        student = student.chunk(n_views)  # views x (B, K)
        teacher = ((teacher_out - self.center) / teacher_temp).softmax(-1)
        teacher = teacher.detach().chunk(2)  # 2 x (B, K)
        total, pairs = 0.0, 0
        for i, q in enumerate(teacher):
            for v in range(n_views):
                if v == i:  # skip the student's view of the same crop
                    continue
                total = total + (-q * student[v]).sum(dim=-1).mean()
                pairs += 1
        loss = total / pairs
        with torch.no_grad():
            p = torch.cat(teacher)  # (2·B, K)
            entropy = -(p * p.clamp_min(1e-12).log()).sum(dim=-1).mean()
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
    for name, value in [
        ("start", start),
        ("end", end),
        ("warmup_start", warmup_start),
    ]:
        check.finite_number(value, name)
    steps = check.positive_int(steps, "steps")
    warmup_steps = check.non_negative_int(warmup_steps, "warmup_steps")
    if warmup_steps > steps:
        raise ValueError(
            f"warmup_steps must be at most steps ({steps}), got {warmup_steps}"
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
    """Both modules have the same parameter names and shapes."""
    for name, module in [("teacher", teacher), ("student", student)]:
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"{name} must be a torch.nn.Module, got "
                f"{type(module).__name__}"
            )
    shapes = [
        {n: tuple(p.shape) for n, p in m.named_parameters()}
        for m in (teacher, student)
    ]
    if shapes[0] != shapes[1]:
        differ = sorted(set(shapes[0].items()) ^ set(shapes[1].items()))
        raise ValueError(
            f"teacher and student must have the same "
            f"architecture; they differ at {differ[0][0]} "
            f"(and {len(differ) - 1} more)"
        )


@torch.no_grad()
def update_teacher(
    teacher: nn.Module, student: nn.Module, momentum: float
) -> None:
    """θ_teacher ← m·θ_teacher + (1 − m)·θ_student, parameter by parameter."""
    _same_architecture(teacher, student)
    momentum = check.finite_number(momentum, "momentum", low=0, high=1)
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.mul_(momentum).add_(s.detach(), alpha=1 - momentum)
