# ---
# jupyter:
#   exercise_minutes: 7
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise: DINO's loss and its teacher
#
# You write the two pieces of a DINO training step: the loss between the
# teacher's centred, sharpened distribution and the student's, and the
# teacher's update, an exponential moving average (EMA) of the student's
# weights.
#
# **How to work through it.** Each task has a **TODO** cell for your code,
# then a **check** from `vitlesson.exercises` that runs *your* code: it
# prints ✓ lines, or stops and says what is wrong. Each check runs your code
# on the lesson's settings (DINO's temperatures 0.1 and 0.04, its momentum
# 0.996), then on settings it draws when it runs (other batches, output
# counts, temperatures, momenta and networks): read every size and number
# from the arguments. While a check runs, the package's own `DINOLoss` and
# `update_teacher` refuse to work, so nothing can stand in for your code.
# The solutions are folded under each TODO on the course page and come as a
# separate download.
#
# Reminder from [part 6](../../lessons/dino-connection/): the teacher's
# outputs are **centred** (a running mean of them, the center, is
# subtracted) and **sharpened** (divided by a temperature lower than the
# student's) before their softmax.

# %%
import torch
import torch.nn as nn

from vitlesson import exercises

torch.manual_seed(0)
torch.set_num_threads(2)

# %% [markdown]
# ## Task 1: the loss
#
# Write `dino_loss(student_out, teacher_out, center, student_temp,
# teacher_temp)` for a batch of $B$ images, each seen by the student in one
# view and by the teacher in another: `student_out` and `teacher_out` are
# the heads' outputs, shape `(B, K)`, and `center` the running mean of the
# teacher's outputs, shape `(1, K)`. Return one number, a tensor of shape
# `()`:
#
# $$
# q = \mathrm{softmax}\!\left(\frac{t - c}{\tau_t}\right),\quad
# \log p = \log\mathrm{softmax}\!\left(\frac{s}{\tau_s}\right),\quad
# L = \frac{1}{B}\sum_{b=1}^{B}\sum_{k=1}^{K} -q_{bk}\,\log p_{bk}
# $$
#
# Centering ($t - c$) and sharpening (the low $\tau_t$) are the teacher's
# alone. The teacher is a target, not something the loss trains: no
# gradient may flow back into `teacher_out` (a **stop-gradient**).
#
# Hint: softmax over the last dimension, the $K$ outputs; `.detach()` the
# teacher's distribution; `log_softmax` is steadier than `softmax().log()`.


# %% tags=["exercise"]
def dino_loss(student_out, teacher_out, center, student_temp, teacher_temp):
    # TODO: the cross-entropy between the teacher's centred, sharpened
    # softmax (detached) and the student's log_softmax, averaged
    raise NotImplementedError("write dino_loss")


# %% tags=["solution"]
def dino_loss(student_out, teacher_out, center, student_temp, teacher_temp):
    q = ((teacher_out - center) / teacher_temp).softmax(dim=-1)  # (B, K)
    q = q.detach()  # stop-gradient: the loss trains the student only
    log_p = (student_out / student_temp).log_softmax(dim=-1)  # (B, K)
    return -(q * log_p).sum(dim=-1).mean()


# %%
exercises.check_dino_loss(dino_loss)

# %% [markdown]
# The stop-gradient at work: after `backward()` only the student's outputs
# have a gradient.

# %%
student_out = torch.randn(4, 8, requires_grad=True)
teacher_out = torch.randn(4, 8, requires_grad=True)
loss = dino_loss(student_out, teacher_out, torch.zeros(1, 8), 0.1, 0.04)
loss.backward()
print(f"loss {loss.item():.3f}")
print("student's gradient:", tuple(student_out.grad.shape))
print("teacher's gradient:", teacher_out.grad)

# %% [markdown]
# ## Task 2: the teacher follows the student
#
# Write `ema_update(teacher, student, momentum)` that moves every parameter
# of `teacher` towards the same parameter of `student`, in place, and
# returns nothing:
#
# $$
# \theta_{\text{teacher}} \leftarrow m\,\theta_{\text{teacher}}
# + (1 - m)\,\theta_{\text{student}}
# $$
#
# The two networks have the same architecture, so their `parameters()`
# come in the same order. Change the teacher's own tensors (the training
# loop keeps using that teacher), leave the student as it is (its optimiser
# changes it), and keep autograd out of the update: the teacher gets no
# gradients.
#
# Hint: `torch.no_grad()`, and a tensor's in-place methods `mul_` and
# `add_` (`t = ...` would only rebind the loop's name).


# %% tags=["exercise"]
def ema_update(teacher, student, momentum):
    # TODO: every teacher parameter becomes m * teacher + (1 - m) * student
    raise NotImplementedError("write ema_update")


# %% tags=["solution"]
def ema_update(teacher, student, momentum):
    pairs = zip(teacher.parameters(), student.parameters(), strict=True)
    with torch.no_grad():  # the teacher learns by this average alone
        for t, s in pairs:
            t.mul_(momentum).add_(s, alpha=1 - momentum)


# %%
exercises.check_ema_update(ema_update)

# %% [markdown]
# **Your turn.** With momentum 0.996 the teacher moves 0.4% of the way to
# the student at each step. Call `ema_update` 100 times on the two small
# networks below, the student left as it is: how far apart are they then,
# as a fraction of their first distance? Compare it with $0.996^{100}$.

# %%
student = nn.Linear(3, 2)
teacher = nn.Linear(3, 2).requires_grad_(False)
first = (teacher.weight - student.weight).norm().item()
for _ in range(100):
    ema_update(teacher, student, 0.996)
left = (teacher.weight - student.weight).norm().item()
print(f"distance left: {left / first:.4f}, 0.996**100 = {0.996**100:.4f}")
