"""The checks of part 6's exercise: DINO's loss and the teacher's update.

The learner writes the two pieces of a DINO step that the page describes:
the loss, a cross-entropy between the teacher's centred and sharpened
distribution (no gradient flows back to the teacher) and the student's
softened one, and the teacher's exponential moving average (EMA) of the
student's weights. Each check runs the learner's code on the lesson's
settings (DINO's temperatures 0.1 and 0.04, its momentum 0.996), then on
settings drawn for this run (other batches, output counts, temperatures,
momenta and layer widths), and compares with its own reference computed
with plain tensor operations: the loss's value and the student's gradient
from their formulas, the teacher's new weights from copies taken before
the call. A wrong result is matched against the typical mistakes and
named; the check prints one line per passed case and raises
:class:`ExerciseError` otherwise.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable

import torch
import torch.nn as nn

from vitlesson.exercises._harness import (
    ExerciseError,
    describe,
    first_difference,
    learner_call,
    refusing_the_solution,
    returned_tensor,
    seeded,
)
from vitlesson.lab.dino import loss as dino

# The package's answers to this exercise, refused while a check runs
# (``update_teacher`` is wrapped by ``torch.no_grad``: its own function is
# the one refused, so the wrapper refuses too).
SOLUTIONS = {
    "vitlesson.lab.dino.DINOLoss": dino.DINOLoss,
    "vitlesson.lab.dino.update_teacher": inspect.unwrap(dino.update_teacher),
}

# The lesson's settings: DINO's default temperatures and first momentum.
STUDENT_TEMP, TEACHER_TEMP, MOMENTUM = 0.1, 0.04, 0.996
BATCH, OUTPUTS = 8, 16


def _drawn_note(settings: str) -> str:
    return (
        f"It passed with the lesson's settings; this run drew {settings}: "
        "read every size and number from the arguments instead of "
        "writing it"
    )


def _close(
    got: torch.Tensor, expected: torch.Tensor, atol=1e-6, rtol=2e-5
) -> bool:
    """Equal up to float32 rounding (the loss is a few tens at most)."""
    return got.shape == expected.shape and bool(
        torch.allclose(got, expected.to(got.dtype), atol=atol, rtol=rtol)
    )


# --- Task 1: the loss -----------------------------------------------------


def cross_entropy(q: torch.Tensor, log_p: torch.Tensor) -> torch.Tensor:
    """Σ_k −q_k·log p_k for each image, averaged over the images."""
    return -(q * log_p).sum(dim=-1).mean()


def reference_loss(student, teacher, center, student_temp, teacher_temp):
    """The check's own DINO loss for one pair of views per image, and the
    gradient it sends to the student's outputs, from their formulas."""
    q = ((teacher - center) / teacher_temp).softmax(dim=-1)  # (B, K)
    log_p = (student / student_temp).log_softmax(dim=-1)  # (B, K)
    # d/ds of −Σ q·log softmax(s/τ), averaged over B: (p − q) / (τ·B)
    gradient = (log_p.exp() - q) / (student_temp * len(student))
    return cross_entropy(q, log_p), gradient


def wrong_losses(
    student, teacher, center, student_temp, teacher_temp
) -> list[tuple[str, torch.Tensor]]:
    """What the typical wrong losses return, to name them."""
    s, t, c = student, teacher, center
    ts, tt = student_temp, teacher_temp
    q = ((t - c) / tt).softmax(dim=-1)
    log_p = (s / ts).log_softmax(dim=-1)
    right = cross_entropy(q, log_p)
    over_batch = (
        "a softmax is taken over the batch (dim 0): each image's "
        "distribution is over its K outputs, softmax(dim=-1)"
    )
    centring = "centering is the teacher's alone"
    teacher_entropy = -(q * q.clamp_min(1e-30).log()).sum(dim=-1).mean()
    written = []
    if (ts, tt) != (STUDENT_TEMP, TEACHER_TEMP):
        written.append(
            (
                f"the lesson's temperatures {STUDENT_TEMP} and "
                f"{TEACHER_TEMP} are written in: use the arguments "
                "student_temp and teacher_temp",
                cross_entropy(
                    ((t - c) / TEACHER_TEMP).softmax(-1),
                    (s / STUDENT_TEMP).log_softmax(-1),
                ),
            )
        )
    return written + [
        (
            "the center is added to the teacher's outputs: subtract it, "
            "softmax((teacher_out - center) / teacher_temp)",
            cross_entropy(((t + c) / tt).softmax(-1), log_p),
        ),
        (
            "the center is subtracted from the student's outputs too: "
            + centring,
            cross_entropy(q, ((s - c) / ts).log_softmax(-1)),
        ),
        (
            "the center is subtracted from the student's outputs instead "
            "of the teacher's: " + centring,
            cross_entropy(
                (t / tt).softmax(-1), ((s - c) / ts).log_softmax(-1)
            ),
        ),
        (
            "the teacher's outputs are not centred: subtract center before "
            "the teacher's softmax",
            cross_entropy((t / tt).softmax(-1), log_p),
        ),
        (
            "the temperatures are swapped: the teacher's outputs are "
            "divided by teacher_temp (the lower one, which sharpens), the "
            "student's by student_temp",
            cross_entropy(
                ((t - c) / ts).softmax(-1), (s / tt).log_softmax(-1)
            ),
        ),
        (
            "the teacher is not sharpened: divide (teacher_out - center) by "
            "teacher_temp before its softmax",
            cross_entropy((t - c).softmax(-1), log_p),
        ),
        (
            "the teacher is divided by the student's temperature: its own, "
            "teacher_temp, is lower, and that sharpens it",
            cross_entropy(((t - c) / ts).softmax(-1), log_p),
        ),
        (
            "the student's outputs are not divided by student_temp",
            cross_entropy(q, s.log_softmax(-1)),
        ),
        (over_batch, cross_entropy(((t - c) / tt).softmax(0), log_p)),
        (over_batch, cross_entropy(q, (s / ts).log_softmax(0))),
        (
            over_batch,
            cross_entropy(((t - c) / tt).softmax(0), (s / ts).log_softmax(0)),
        ),
        (
            "the sign is flipped: the cross-entropy is −Σ q·log p, a "
            "positive number",
            -right,
        ),
        (
            "the loss is summed over the images: average it with .mean() "
            "(DINO's loss does not grow with the batch)",
            right * len(s),
        ),
        (
            "the loss is averaged over the K outputs too: sum −q·log p over "
            "the outputs (dim -1), then average over the images",
            right / s.shape[-1],
        ),
        (
            "the student's probabilities are used where their logarithm "
            "belongs: use log_softmax for the student",
            cross_entropy(q, (s / ts).softmax(-1)),
        ),
        (
            "that is the KL divergence (the cross-entropy minus the "
            "teacher's entropy); DINO's loss is the cross-entropy "
            "−Σ q·log p",
            right - teacher_entropy,
        ),
        (
            "the teacher and the student are swapped: the teacher's "
            "centred, sharpened softmax is the target q, the student's "
            "log_softmax the log p",
            cross_entropy(
                (s / ts).softmax(-1), ((t - c) / tt).log_softmax(-1)
            ),
        ),
    ]


def _per_image_shape(got, B: int, K: int) -> str | None:
    """What is wrong with the shape of a loss (None if it is one number)."""
    shape = tuple(got.shape)
    if shape == ():
        return None
    if shape == (B,):
        return (
            f"one loss per image, shape {shape}: average them over the "
            "batch with .mean() to get one number"
        )
    if shape == (B, K):
        return (
            f"shape {shape}, one number per image and output: sum −q·log p "
            "over the K outputs (dim -1), then average over the images"
        )
    return (
        f"shape {shape}; expected one number, a tensor of shape () "
        "(sum over the outputs, then .mean() over the images)"
    )


def _check_loss(dino_loss, B, K, student_temp, teacher_temp, hint) -> None:
    end = f". {hint}" if hint else ""
    student = torch.randn(B, K)
    teacher = torch.randn(B, K)
    center = 0.5 * torch.randn(1, K)
    student_in = student.clone().requires_grad_(True)
    teacher_in = teacher.clone().requires_grad_(True)
    center_in = center.clone()
    call = (
        f"dino_loss(student_out of shape {(B, K)}, teacher_out of shape "
        f"{(B, K)}, center of shape {(1, K)}, {student_temp}, "
        f"{teacher_temp})"
    )
    wanted = "the loss, one number: a tensor of shape ()"
    got = learner_call(
        "dino_loss",
        dino_loss,
        student_in,
        teacher_in,
        center_in,
        student_temp,
        teacher_temp,
        expected=wanted,
        hint=hint,
    )
    value = returned_tensor(call, got, wanted)
    if not torch.equal(center_in, center):
        raise ExerciseError(
            f"{call} changed center in place: the running center belongs "
            "to the training loop; compute teacher_out - center as a new "
            f"tensor{end}"
        )
    mistake = _per_image_shape(value, B, K)
    if mistake:
        raise ExerciseError(f"{call} returned {mistake}{end}")
    expected, gradient = reference_loss(
        student, teacher, center, student_temp, teacher_temp
    )
    if not _close(value, expected):
        for name, wrong in wrong_losses(
            student, teacher, center, student_temp, teacher_temp
        ):
            if not _close(wrong, expected) and _close(value, wrong):
                raise ExerciseError(
                    f"{call} returned {float(value):.4g}, expected "
                    f"{float(expected):.4g}: {name}{end}"
                )
        raise ExerciseError(
            f"{call} returned {float(value):.4g}, expected "
            f"{float(expected):.4g}: the cross-entropy between softmax("
            "(teacher_out - center) / teacher_temp) and log_softmax("
            "student_out / student_temp), summed over the outputs and "
            f"averaged over the images{end}"
        )
    inputs = (student, teacher, center, student_temp, teacher_temp)
    _check_gradients(call, got, student_in, teacher_in, inputs, end)


def _check_gradients(call, loss, student_in, teacher_in, inputs, end):
    """The loss trains the student and nothing else."""
    no_gradient = (
        f"{call} gives the right number but no gradient reaches the "
        "student: the loss must train the student, so compute the "
        "student's part without .detach(), torch.no_grad() or .item()"
    )
    if not loss.requires_grad:
        raise ExerciseError(no_gradient + end)
    try:
        loss.backward()
    except Exception as error:  # the learner's graph, named
        raise ExerciseError(
            f"loss.backward() on the loss of {call} raised "
            f"{type(error).__name__}: {error}; expected it to send "
            f"gradients to the student's outputs{end}"
        ) from error
    leak = teacher_in.grad
    if leak is not None and bool(leak.abs().max() > 0):
        raise ExerciseError(
            f"{call} sends gradients to the teacher (teacher_out.grad is "
            "not zero after loss.backward()): the stop-gradient is missing; "
            "detach the teacher's distribution (.detach(), or compute it "
            "under torch.no_grad()): the teacher learns only by its EMA" + end
        )
    if student_in.grad is None:
        raise ExerciseError(no_gradient + end)
    _, gradient = reference_loss(*inputs)
    got = student_in.grad
    if _close(got, gradient, rtol=1e-4):
        return
    student, *rest = inputs
    student = student.clone().requires_grad_(True)
    for name, wrong in wrong_losses(student, *rest):
        if not wrong.requires_grad:
            continue
        (wrong_gradient,) = torch.autograd.grad(
            wrong, student, retain_graph=True
        )
        if not _close(wrong_gradient, gradient, rtol=1e-4) and _close(
            got, wrong_gradient, rtol=1e-4
        ):
            raise ExerciseError(
                f"{call} gives nearly the right number, but not the right "
                f"gradient to the student: {name}{end}"
            )
    index = tuple(
        int(i)
        for i in (~torch.isclose(got, gradient, atol=1e-6, rtol=1e-4))
        .nonzero()[0]
        .tolist()
    )
    raise ExerciseError(
        f"{call} gives the right number but a wrong gradient to the "
        f"student: d loss / d student_out{list(index)} should be "
        f"{float(gradient[index]):.6g}, got {float(got[index]):.6g} (it is "
        f"(p − q) / (student_temp·B), p the student's softmax, q the "
        f"teacher's){end}"
    )


@seeded
def check_dino_loss(dino_loss: Callable, *, draw: random.Random) -> None:
    """Check ``dino_loss(student_out, teacher_out, center, student_temp,
    teacher_temp)`` (one number): its value and the gradients it sends, on
    the lesson's settings, then on three settings drawn for this run."""
    with refusing_the_solution(SOLUTIONS), torch.enable_grad():
        _check_loss(dino_loss, BATCH, OUTPUTS, STUDENT_TEMP, TEACHER_TEMP, "")
        print(
            f"✓ dino_loss: B={BATCH}, K={OUTPUTS}, temperatures "
            f"{STUDENT_TEMP} and {TEACHER_TEMP}: the right loss, gradients "
            "to the student only"
        )
        for _ in range(3):
            B = draw.choice([2, 3, 5, 6, 7])
            K = draw.choice([5, 7, 9, 10, 12, 20])
            student_temp = draw.choice([0.05, 0.2, 0.3, 0.5])
            teacher_temp = draw.choice(  # lower: the teacher sharpens
                [t for t in (0.01, 0.02, 0.03, 0.07) if t < student_temp]
            )
            settings = (
                f"B={B}, K={K}, student_temp={student_temp}, "
                f"teacher_temp={teacher_temp}"
            )
            _check_loss(
                dino_loss,
                B,
                K,
                student_temp,
                teacher_temp,
                _drawn_note(settings),
            )
    print(
        "✓ dino_loss: also right on 3 settings drawn for this run (other "
        "batches, output counts and temperatures)"
    )


# --- Task 2: the teacher's EMA --------------------------------------------


def small_network(widths: list[int]) -> nn.Sequential:
    """Linear layers of ``widths`` with a GELU between them and a
    LayerNorm at the end: weights and biases of several shapes, all drawn
    at random (a LayerNorm starts at ones and zeros, the same in every
    network, which would hide a parameter the update forgets)."""
    layers: list[nn.Module] = []
    for i in range(len(widths) - 1):
        if i:
            layers.append(nn.GELU())
        layers.append(nn.Linear(widths[i], widths[i + 1]))
    norm = nn.LayerNorm(widths[-1])
    with torch.no_grad():
        norm.weight.normal_(1.0, 0.5)
        norm.bias.normal_(0.0, 0.5)
    return nn.Sequential(*layers, norm)


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def _all_close(got: dict, expected: dict) -> bool:
    return all(
        torch.allclose(got[name], expected[name], atol=1e-6, rtol=1e-5)
        for name in expected
    )


def _ema_mistake(got, teacher, student, m) -> str | None:
    """The name of a typical wrong teacher update that gave ``got``."""
    names = list(teacher)
    candidates = [
        (
            "the teacher was left as it was: update its parameters in "
            "place (`t = m * t + ...` only rebinds the loop's name t; "
            "write t.mul_(m).add_(s, alpha=1 - m) or t.copy_(...))",
            {n: teacher[n] for n in names},
        ),
        (
            "the teacher became a copy of the student: it should keep "
            "the fraction m of its own weights",
            {n: student[n] for n in names},
        ),
        (
            "momentum and 1 − momentum are swapped: the teacher keeps m "
            "(close to 1) of its own weights and takes 1 − m of the "
            "student's",
            {n: (1 - m) * teacher[n] + m * student[n] for n in names},
        ),
        (
            "the student's term lacks its factor 1 − m",
            {n: m * teacher[n] + student[n] for n in names},
        ),
        (
            "the teacher's term lacks its factor m",
            {n: teacher[n] + (1 - m) * student[n] for n in names},
        ),
        (
            "that is the plain average of the two: weigh the teacher by m "
            "and the student by 1 − m",
            {n: (teacher[n] + student[n]) / 2 for n in names},
        ),
    ]
    if m != MOMENTUM:
        candidates.append(
            (
                f"the teacher moved by the lesson's momentum {MOMENTUM}, "
                f"not by the momentum argument ({m})",
                {
                    n: MOMENTUM * teacher[n] + (1 - MOMENTUM) * student[n]
                    for n in names
                },
            )
        )
    for name, wrong in candidates:
        if _all_close(got, wrong):
            return name
    return None


def _check_ema(ema_update, widths, m, hint) -> None:
    end = f". {hint}" if hint else ""
    student = small_network(widths)
    teacher = small_network(widths).requires_grad_(False)
    student_before, teacher_before = _snapshot(student), _snapshot(teacher)
    parameters = dict(teacher.named_parameters())
    shown = " -> ".join(map(str, widths))
    call = f"ema_update(teacher, student, {m}) (Linear {shown}, LayerNorm)"
    returned = learner_call(
        "ema_update",
        ema_update,
        teacher,
        student,
        m,
        expected="the teacher's parameters changed in place, None returned",
        hint=hint,
    )
    after = dict(teacher.named_parameters())
    for name, p in parameters.items():
        if after.get(name) is not p:
            raise ExerciseError(
                f"{call} replaced the teacher's parameter {name!r} by a "
                f"new object ({describe(after.get(name))}): change the "
                "existing parameters in place (t.mul_(m).add_(...) or "
                "t.copy_(...) under torch.no_grad()); whatever holds the "
                f"teacher keeps the old ones{end}"
            )
    for name, p in after.items():
        if p.requires_grad or p.grad_fn is not None:
            raise ExerciseError(
                f"{call} recorded the update for autograd (the teacher's "
                f"{name!r} now has requires_grad={p.requires_grad}, "
                f"grad_fn={type(p.grad_fn).__name__}): the teacher gets no "
                "gradients; do the update under torch.no_grad() or with "
                f"the student's parameters .detach()ed{end}"
            )
    for name, moved in _snapshot(student).items():
        if not torch.equal(moved, student_before[name]):
            # the teacher's update, made to the student (arguments swapped)
            swapped = m * student_before[name] + (1 - m) * teacher_before[name]
            why = (
                ": are teacher and student swapped in your arguments? The "
                "first is the teacher"
                if torch.allclose(moved, swapped, atol=1e-6, rtol=1e-5)
                else ""
            )
            raise ExerciseError(
                f"{call} changed the student's {name!r}: only the teacher "
                f"moves; the student is changed by its optimiser{why}{end}"
            )
    got = {name: p.detach() for name, p in after.items()}
    expected = {
        name: m * teacher_before[name] + (1 - m) * student_before[name]
        for name in got
    }
    if _all_close(got, expected):
        return
    mistake = _ema_mistake(got, teacher_before, student_before, m)
    if mistake:
        if returned is not None and mistake.startswith("the teacher was"):
            mistake += (
                f"; your function returned {describe(returned)}, but the "
                "training loop keeps using the same teacher"
            )
        raise ExerciseError(f"{call}: {mistake}{end}")
    right = [n for n in got if _all_close({n: got[n]}, {n: expected[n]})]
    wrong = next(n for n in got if n not in right)
    if right and torch.equal(got[wrong], teacher_before[wrong]):
        raise ExerciseError(
            f"{call} updated {len(right)} of the teacher's {len(got)} "
            f"parameters but left {wrong!r} as it was: loop over every "
            "parameter (teacher.parameters(), weights and biases)" + end
        )
    difference = first_difference(
        got[wrong],
        expected[wrong],
        lambda index: f"the teacher's {wrong}{list(index)}",
        atol=1e-6,
        rtol=1e-5,
    )
    raise ExerciseError(
        f"{call}: {difference}; each parameter becomes m·θ_teacher + "
        f"(1 − m)·θ_student{end}"
    )


@seeded
def check_ema_update(ema_update: Callable, *, draw: random.Random) -> None:
    """Check ``ema_update(teacher, student, momentum)``: on networks the
    check builds (Linear layers, a LayerNorm), the teacher's parameters,
    and only they, become m·θ_teacher + (1 − m)·θ_student in place and
    without autograd; the lesson's momentum first, then two drawn ones."""
    with refusing_the_solution(SOLUTIONS), torch.enable_grad():
        _check_ema(ema_update, [6, 12, 4], MOMENTUM, "")
        print(
            f"✓ ema_update: momentum {MOMENTUM}: the teacher moved "
            f"{1 - MOMENTUM:.1%} of the way to the student, in place"
        )
        for _ in range(2):
            depth = draw.choice([1, 2, 3])
            widths = [draw.choice([2, 3, 5, 7, 9]) for _ in range(depth + 1)]
            m = draw.choice([0.6, 0.7, 0.8, 0.9, 0.95, 0.99])
            settings = f"momentum {m}, Linear layers {widths}"
            _check_ema(ema_update, widths, m, _drawn_note(settings))
    print(
        "✓ ema_update: also right on 2 settings drawn for this run (other "
        "momenta and layers)"
    )
