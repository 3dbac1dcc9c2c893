"""Learners' answers to part 6's exercise (DINO's loss and the teacher's
EMA), right and wrong.

Each corpus maps a mistake a learner makes to the answer that makes it and
a phrase the check's message must contain to name it; the right answers
are other correct formulations than the published solutions."""

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from vitlesson.lab.dino import DINOLoss, update_teacher

# --- Task 1: dino_loss --------------------------------------------------------


def loss_with(
    teacher_probs=None,
    student_log_probs=None,
    reduce=lambda per_output: per_output.sum(dim=-1).mean(),
    sign=1,
):
    """The published loss with one of its parts replaced: the teacher's
    distribution, the student's log-probabilities or the reduction."""

    def dino_loss(
        student_out, teacher_out, center, student_temp, teacher_temp
    ):
        if teacher_probs is None:
            q = ((teacher_out - center) / teacher_temp).softmax(dim=-1)
            q = q.detach()
        else:
            q = teacher_probs(teacher_out, center, student_temp, teacher_temp)
        if student_log_probs is None:
            log_p = (student_out / student_temp).log_softmax(dim=-1)
        else:
            log_p = student_log_probs(
                student_out, center, student_temp, teacher_temp
            )
        return sign * reduce(-q * log_p)

    return dino_loss


right_loss = loss_with()


def teacher_softmax(shift=-1, temp="teacher", dim=-1, detach=True):
    """softmax((t + shift·center) / temp) over ``dim``."""

    def probs(t, c, student_temp, teacher_temp):
        divisor = {"teacher": teacher_temp, "student": student_temp, None: 1}
        q = ((t + shift * c) / divisor[temp]).softmax(dim=dim)
        return q.detach() if detach else q

    return probs


def student_log_softmax(shift=0, temp="student", dim=-1, log=True):
    def log_probs(s, c, student_temp, teacher_temp):
        divisor = {"teacher": teacher_temp, "student": student_temp, None: 1}
        x = (s + shift * c) / divisor[temp]
        return x.log_softmax(dim=dim) if log else x.softmax(dim=dim)

    return log_probs


def swapped_signature(
    student_out, teacher_out, center, teacher_temp, student_temp
):
    return right_loss(
        student_out, teacher_out, center, student_temp, teacher_temp
    )


def kl_divergence(
    student_out, teacher_out, center, student_temp, teacher_temp
):
    q = ((teacher_out - center) / teacher_temp).softmax(dim=-1).detach()
    log_p = (student_out / student_temp).log_softmax(dim=-1)
    return F.kl_div(log_p, q, reduction="batchmean")


def roles_swapped(
    student_out, teacher_out, center, student_temp, teacher_temp
):
    p = (student_out / student_temp).softmax(dim=-1)
    log_q = ((teacher_out - center) / teacher_temp).log_softmax(dim=-1)
    return -(p * log_q.detach()).sum(dim=-1).mean()


def k_written(student_out, teacher_out, center, student_temp, teacher_temp):
    q = ((teacher_out - center.reshape(1, 16)) / teacher_temp).softmax(-1)
    log_p = (student_out / student_temp).log_softmax(dim=-1)
    return -(q.detach() * log_p).sum(dim=-1).mean()


def temperatures_written(
    student_out, teacher_out, center, student_temp, teacher_temp
):
    q = ((teacher_out - center) / 0.04).softmax(dim=-1).detach()
    return -(q * (student_out / 0.1).log_softmax(dim=-1)).sum(-1).mean()


def centers_in_the_loss(
    student_out, teacher_out, center, student_temp, teacher_temp
):
    """Updates the running center inside the loss, as DINOLoss does, but in
    the caller's tensor."""
    loss = right_loss(
        student_out, teacher_out, center, student_temp, teacher_temp
    )
    with torch.no_grad():
        center.mul_(0.9).add_(0.1 * teacher_out.mean(dim=0, keepdim=True))
    return loss


def normaliser_detached(
    student_out, teacher_out, center, student_temp, teacher_temp
):
    """log_softmax by hand, its normaliser taken for a constant: the right
    number, the wrong gradient."""
    q = ((teacher_out - center) / teacher_temp).softmax(dim=-1).detach()
    x = student_out / student_temp
    log_p = x - torch.logsumexp(x, dim=-1, keepdim=True).detach()
    return -(q * log_p).sum(dim=-1).mean()


def without_return(
    student_out, teacher_out, center, student_temp, teacher_temp
):
    right_loss(student_out, teacher_out, center, student_temp, teacher_temp)


def package_loss(student_out, teacher_out, center, student_temp, teacher_temp):
    loss = DINOLoss(center.shape[-1], student_temp=student_temp)
    both = torch.cat([teacher_out, teacher_out])
    return loss(torch.cat([student_out, student_out]), both, teacher_temp, 2)


LOSS_MISTAKES = {
    "no stop-gradient": (
        loss_with(teacher_probs=teacher_softmax(detach=False)),
        "the stop-gradient is missing",
    ),
    "the student centred too": (
        loss_with(student_log_probs=student_log_softmax(shift=-1)),
        "the center is subtracted from the student's outputs too",
    ),
    "the student centred instead of the teacher": (
        loss_with(
            teacher_probs=teacher_softmax(shift=0),
            student_log_probs=student_log_softmax(shift=-1),
        ),
        "subtracted from the student's outputs instead of the teacher's",
    ),
    "the center added": (
        loss_with(teacher_probs=teacher_softmax(shift=1)),
        "the center is added to the teacher's outputs",
    ),
    "no centering": (
        loss_with(teacher_probs=teacher_softmax(shift=0)),
        "the teacher's outputs are not centred",
    ),
    "temperatures swapped": (
        loss_with(
            teacher_probs=teacher_softmax(temp="student"),
            student_log_probs=student_log_softmax(temp="teacher"),
        ),
        "the temperatures are swapped",
    ),
    "temperatures swapped in the signature": (
        swapped_signature,
        "the temperatures are swapped",
    ),
    "no sharpening (teacher_temp ignored)": (
        loss_with(teacher_probs=teacher_softmax(temp=None)),
        "the teacher is not sharpened",
    ),
    "the student's temperature for the teacher": (
        loss_with(teacher_probs=teacher_softmax(temp="student")),
        "the teacher is divided by the student's temperature",
    ),
    "student_temp ignored": (
        loss_with(student_log_probs=student_log_softmax(temp=None)),
        "the student's outputs are not divided by student_temp",
    ),
    "the teacher's softmax over the batch": (
        loss_with(teacher_probs=teacher_softmax(dim=0)),
        r"a softmax is taken over the batch \(dim 0\)",
    ),
    "the student's log_softmax over the batch": (
        loss_with(student_log_probs=student_log_softmax(dim=0)),
        r"a softmax is taken over the batch \(dim 0\)",
    ),
    "both over the batch": (
        loss_with(
            teacher_probs=teacher_softmax(dim=0),
            student_log_probs=student_log_softmax(dim=0),
        ),
        r"a softmax is taken over the batch \(dim 0\)",
    ),
    "sign flipped": (loss_with(sign=-1), "the sign is flipped"),
    "summed over the batch": (
        loss_with(reduce=lambda x: x.sum()),
        "the loss is summed over the images",
    ),
    "averaged over the outputs too": (
        loss_with(reduce=lambda x: x.mean()),
        "averaged over the K outputs too",
    ),
    "the student's softmax, not its log": (
        loss_with(student_log_probs=student_log_softmax(log=False)),
        "the student's probabilities are used where their logarithm",
    ),
    "the KL divergence": (kl_divergence, "that is the KL divergence"),
    "teacher and student swapped": (
        roles_swapped,
        "the teacher and the student are swapped",
    ),
    "one loss per image": (
        loss_with(reduce=lambda x: x.sum(dim=-1)),
        r"one loss per image, shape \(8,\): average them",
    ),
    "no reduction": (
        loss_with(reduce=lambda x: x),
        r"shape \(8, 16\), one number per image and output",
    ),
    "a hard-coded K": (
        k_written,
        r"raised RuntimeError: .*It passed with the lesson's settings; "
        "this run drew B=",
    ),
    "hard-coded temperatures": (
        temperatures_written,
        "the lesson's temperatures 0.1 and 0.04 are written in: .*It "
        "passed with the lesson's settings; this run drew B=",
    ),
    "a hard-coded batch": (
        loss_with(reduce=lambda x: x.sum() / 8),
        "It passed with the lesson's settings; this run drew B=",
    ),
    "the student detached": (
        loss_with(
            student_log_probs=lambda s, c, ts, tt: (
                s.detach() / ts
            ).log_softmax(-1)
        ),
        "no gradient reaches the student",
    ),
    "the normaliser detached": (
        normaliser_detached,
        r"gives the right number but a wrong gradient to the student: "
        r"d loss / d student_out\[0, \d+\] should be",
    ),
    "the loss as a Python number": (
        lambda *args: right_loss(*args).item(),
        "returned a float object, not a torch.Tensor",
    ),
    "a forgotten return": (without_return, "returned None: did you forget"),
    "the center changed in place": (
        centers_in_the_loss,
        "changed center in place",
    ),
    "the teacher's outputs changed in place": (
        lambda s, t, c, ts, tt: right_loss(s, t.sub_(c), c * 0, ts, tt),
        r"dino_loss\(a tensor of shape \(8, 16\), .* raised RuntimeError",
    ),
    "the package's DINOLoss": (
        package_loss,
        "your code called vitlesson.lab.dino.DINOLoss, the package's "
        "solution: write it yourself",
    ),
    "nothing passed": (None, "should be your function or class, got None"),
}


def loss_under_no_grad(
    student_out, teacher_out, center, student_temp, teacher_temp
):
    with torch.no_grad():
        q = F.softmax((teacher_out - center) / teacher_temp, dim=1)
    log_p = F.log_softmax(student_out / student_temp, dim=1)
    return torch.sum(-q * log_p, dim=-1).mean()


def loss_by_cross_entropy(
    student_out, teacher_out, center, student_temp, teacher_temp
):
    q = ((teacher_out - center) / teacher_temp).softmax(dim=-1)
    return F.cross_entropy(student_out / student_temp, q.detach())


def loss_by_einsum(
    student_out, teacher_out, center, student_temp, teacher_temp
):
    q = torch.softmax((teacher_out.detach() - center) / teacher_temp, -1)
    log_p = torch.log_softmax(student_out / student_temp, -1)
    return -torch.einsum("bk,bk->", q, log_p) / student_out.shape[0]


def loss_as_kl_plus_entropy(
    student_out, teacher_out, center, student_temp, teacher_temp
):
    log_q = ((teacher_out - center) / teacher_temp).log_softmax(-1).detach()
    log_p = (student_out / student_temp).log_softmax(-1)
    kl = F.kl_div(log_p, log_q, reduction="batchmean", log_target=True)
    entropy = -(log_q.exp() * log_q).sum(dim=-1).mean()
    return kl + entropy


RIGHT_LOSSES = {
    "under torch.no_grad(), dim=1": loss_under_no_grad,
    "F.cross_entropy with soft targets": loss_by_cross_entropy,
    "einsum": loss_by_einsum,
    "KL plus the teacher's entropy": loss_as_kl_plus_entropy,
    "the published solution": right_loss,
}


# --- Task 2: ema_update -------------------------------------------------------


@torch.no_grad()
def right_ema(teacher, student, momentum):
    for t, s in zip(teacher.parameters(), student.parameters(), strict=True):
        t.mul_(momentum).add_(s, alpha=1 - momentum)


def ema_as(new_value, no_grad=True):
    """An EMA that sets each teacher parameter t, in place, to
    ``new_value(t, s, momentum)``."""

    def ema_update(teacher, student, momentum):
        pairs = zip(teacher.parameters(), student.parameters(), strict=True)
        with torch.set_grad_enabled(not no_grad):
            for t, s in pairs:
                t.copy_(new_value(t, s, momentum))

    return ema_update


def rebinds_the_name(teacher, student, momentum):
    with torch.no_grad():
        for t, s in zip(
            teacher.parameters(), student.parameters(), strict=True
        ):
            t = momentum * t + (1 - momentum) * s  # noqa: F841


def returns_a_new_teacher(teacher, student, momentum):
    teacher = copy.deepcopy(teacher)
    right_ema(teacher, student, momentum)
    return teacher


def new_parameters(teacher, student, momentum):
    for t_module, s_module in zip(
        teacher.modules(), student.modules(), strict=True
    ):
        for name, t in list(t_module.named_parameters(recurse=False)):
            s = getattr(s_module, name)
            new = momentum * t.detach() + (1 - momentum) * s.detach()
            setattr(t_module, name, nn.Parameter(new, requires_grad=False))


def tracked(teacher, student, momentum):
    for t, s in zip(teacher.parameters(), student.parameters(), strict=True):
        t.mul_(momentum).add_(s, alpha=1 - momentum)


@torch.no_grad()
def student_follows_too(teacher, student, momentum):
    right_ema(teacher, student, momentum)
    for t, s in zip(teacher.parameters(), student.parameters(), strict=True):
        s.copy_(t)


@torch.no_grad()
def student_first(student, teacher, momentum):
    for t, s in zip(teacher.parameters(), student.parameters(), strict=True):
        t.mul_(momentum).add_(s, alpha=1 - momentum)


@torch.no_grad()
def weights_only(teacher, student, momentum):
    students = dict(student.named_parameters())
    for name, t in teacher.named_parameters():
        if name.endswith("weight"):
            t.mul_(momentum).add_(students[name], alpha=1 - momentum)


@torch.no_grad()
def first_layer_only(teacher, student, momentum):
    for t, s in zip(
        teacher[0].parameters(), student[0].parameters(), strict=True
    ):
        t.mul_(momentum).add_(s, alpha=1 - momentum)


def copies_the_state(teacher, student, momentum):
    teacher.load_state_dict(student.state_dict())


def package_update(teacher, student, momentum):
    update_teacher(teacher, student, momentum)


EMA_MISTAKES = {
    "momentum and 1 - momentum swapped": (
        ema_as(lambda t, s, m: (1 - m) * t + m * s),
        "momentum and 1 − momentum are swapped",
    ),
    "the student updated too": (
        student_follows_too,
        "changed the student's '0.weight': only the teacher moves",
    ),
    "teacher and student swapped in the signature": (
        student_first,
        "swapped in your arguments",
    ),
    "a new Parameter": (
        new_parameters,
        "replaced the teacher's parameter '0.weight' by a new object",
    ),
    "tracked by autograd (copy_)": (
        ema_as(lambda t, s, m: m * t + (1 - m) * s, no_grad=False),
        "recorded the update for autograd",
    ),
    "tracked by autograd (mul_, add_)": (
        tracked,
        r"recorded the update for autograd .*grad_fn=AddBackward0",
    ),
    "the loop's name rebound": (rebinds_the_name, "rebinds the loop's name"),
    "a new teacher returned": (
        returns_a_new_teacher,
        "the teacher was left as it was: .*; your function returned a "
        "Sequential object",
    ),
    "the student copied": (
        ema_as(lambda t, s, m: s),
        "the teacher became a copy of the student",
    ),
    "the student's state loaded": (
        copies_the_state,
        "the teacher became a copy of the student",
    ),
    "1 - m forgotten": (
        ema_as(lambda t, s, m: m * t + s),
        "the student's term lacks its factor 1 − m",
    ),
    "m forgotten": (
        ema_as(lambda t, s, m: t + (1 - m) * s),
        "the teacher's term lacks its factor m",
    ),
    "a plain average": (
        ema_as(lambda t, s, m: (t + s) / 2),
        "the plain average of the two",
    ),
    "weights only": (
        weights_only,
        "updated 3 of the teacher's 6 parameters but left '0.bias' as it was",
    ),
    "the first layer only": (
        first_layer_only,
        "updated 2 of the teacher's 6 parameters but left '2.weight'",
    ),
    "the momentum written": (
        ema_as(lambda t, s, m: 0.996 * t + 0.004 * s),
        r"moved by the lesson's momentum 0.996, not by the momentum "
        r"argument \(0\.\d+\)\. It passed with the lesson's settings; this "
        "run drew momentum",
    ),
    "the package's update_teacher": (
        package_update,
        "your code called vitlesson.lab.dino.update_teacher, the "
        "package's solution: write it yourself",
    ),
    "a crash": (
        lambda teacher, student, m: teacher.weight,
        r"ema_update\(a Sequential object, a Sequential object, 0.996\) "
        "raised "
        "AttributeError: .*; expected the teacher's parameters changed in "
        "place",
    ),
    "nothing passed": (None, "should be your function or class, got None"),
}


@torch.no_grad()
def ema_by_lerp(teacher, student, momentum):
    for t, s in zip(teacher.parameters(), student.parameters(), strict=True):
        t.lerp_(s, 1 - momentum)


def ema_by_data(teacher, student, momentum):
    """The original DINO code's way, through ``.data``."""
    for s, t in zip(student.parameters(), teacher.parameters(), strict=True):
        t.data.mul_(momentum).add_((1 - momentum) * s.detach().data)


@torch.no_grad()
def ema_by_foreach(teacher, student, momentum):
    teachers, students = list(teacher.parameters()), list(student.parameters())
    torch._foreach_mul_(teachers, momentum)
    torch._foreach_add_(teachers, students, alpha=1 - momentum)


def ema_by_state_dict(teacher, student, momentum):
    """The state dict's tensors are detached views of the parameters."""
    students = student.state_dict()
    for name, t in teacher.state_dict().items():
        t.mul_(momentum).add_(students[name], alpha=1 - momentum)


def ema_by_load_state_dict(teacher, student, momentum):
    students = student.state_dict()
    teacher.load_state_dict(
        {
            name: momentum * t + (1 - momentum) * students[name]
            for name, t in teacher.state_dict().items()
        }
    )


@torch.no_grad()
def ema_by_names(teacher, student, momentum):
    students = dict(student.named_parameters())
    for name, t in teacher.named_parameters():
        t.copy_(momentum * t + (1 - momentum) * students[name])


RIGHT_EMAS = {
    "lerp_": ema_by_lerp,
    ".data, as DINO's main_dino.py": ema_by_data,
    "_foreach_mul_ and _foreach_add_": ema_by_foreach,
    "the state dict's tensors in place": ema_by_state_dict,
    "load_state_dict": ema_by_load_state_dict,
    "by names, copy_": ema_by_names,
    "the published solution": right_ema,
}
