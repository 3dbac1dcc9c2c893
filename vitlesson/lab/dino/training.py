"""DINO's training: the settings, one step, and the loop (DINO's
``main_dino.py``: ``train_one_epoch``), on one device or across processes.

Under ``torchrun`` every process trains the same student on its share of
each batch: ``DistributedDataParallel`` averages the gradients, and
:meth:`~vitlesson.lab.dino.loss.DINOLoss.update_center` averages the center
over every process, so the run equals the single-process run with the same
flags, up to the order of float sums. Every image's crops come from its
own generator, seeded by the run's seed, the step and the image's index in
the whole batch: the data does not depend on how the batch is split.
"""

from __future__ import annotations

import contextlib
import copy
import math
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from vitlesson import _validation as check
from vitlesson.data.multicrop import (
    MultiCropConfig,
    multi_crop,
    plain_fields,
)
from vitlesson.data.objects import CLASSES, make_objects
from vitlesson.data.shapes import normalize_shapes as normalize
from vitlesson.lab.dino.head import DINOHead, MultiCropWrapper, _sizes
from vitlesson.lab.dino.loss import DINOLoss, cosine_schedule, update_teacher
from vitlesson.lab.train import _device, tiny_vit
from vitlesson.vit import VisionTransformer

TRAIN_SEED = 0
MAX_BATCH = 1 << 20  # images per step: each image's crop seed has 20 bits
# A batch's seed is 1,000,000·(seed + 1) + step, and its images' crop
# seeds batch seed·MAX_BATCH + index: torch.Generator takes seeds below
# 2**64, so a batch seed must stay below 2**64 / MAX_BATCH = 2**44.
STEPS_PER_SEED = 1_000_000
MAX_BATCH_SEED = 2**64 // MAX_BATCH
# The tiny backbone's sizes, for the memory estimate of a step
# (vitlesson.lab.train.tiny_vit): width, blocks, heads, patch size.
WIDTH, DEPTH, HEADS, PATCH = 64, 4, 4, 4


def tiny_backbone(drop_path_rate: float = 0.0) -> VisionTransformer:
    """The backbone of every DINO model here: the course's tiny ViT with no
    classifier, reading 32×32 global and 16×16 local crops."""
    return tiny_vit(
        num_classes=0, dynamic_img_size=True, drop_path_rate=drop_path_rate
    )


@dataclass(frozen=True)
class DINOConfig:
    """Every setting of a run; the comments give DINO's ViT-S/16 values.

    The warm-up and the frozen last layer are fractions of ``steps`` (as
    DINO gives them in epochs), so ``DINOConfig(steps=100)`` warms up for
    10 steps and freezes the last layer for 5.
    """

    steps: int = 1900
    batch_size: int = 64  # DINO: 1024 over 16 GPUs
    lr: float = 1e-3  # DINO: 5e-4 × batch/256 after 10 warm-up epochs
    min_lr: float = 1e-6
    warmup_fraction: float = 0.1  # DINO: 10 of 100 epochs
    weight_decay: tuple[float, float] = (0.04, 0.4)  # cosine, as DINO
    out_dim: int = 256  # K; DINO: 65,536
    hidden_dim: int = 256  # DINO: 2048
    bottleneck_dim: int = 64  # DINO: 256
    student_temp: float = 0.1
    teacher_temp: float = 0.02  # DINO: 0.04 (collapses at this scale)
    center_momentum: float = 0.9
    momentum_teacher: float = 0.99  # DINO: 0.996 over far more steps
    drop_path_rate: float = 0.1
    clip_grad: float = 3.0
    freeze_last_layer_fraction: float = 0.05  # DINO: the first epoch
    centering: bool = True
    sharpening: bool = True
    seed: int = TRAIN_SEED
    crops: MultiCropConfig = field(default_factory=MultiCropConfig)

    def __post_init__(self):
        plain_fields(self)
        check.positive_int(self.steps, "steps")
        check.positive_int(self.batch_size, "batch_size")
        if self.batch_size > MAX_BATCH:
            raise ValueError(
                f"batch_size must be at most {MAX_BATCH}, got "
                f"{self.batch_size}"
            )
        for name in ("out_dim", "hidden_dim", "bottleneck_dim"):
            check.positive_int(getattr(self, name), name)
        for name in ("lr", "student_temp", "teacher_temp", "clip_grad"):
            check.finite_number(
                getattr(self, name), name, low=0, low_open=True
            )
        check.finite_number(self.min_lr, "min_lr", low=0)
        for name in (
            "warmup_fraction",
            "freeze_last_layer_fraction",
            "center_momentum",
            "momentum_teacher",
        ):
            check.finite_number(getattr(self, name), name, low=0, high=1)
        check.probability(self.drop_path_rate, "drop_path_rate")
        if (
            not isinstance(self.weight_decay, tuple)
            or len(self.weight_decay) != 2
        ):
            raise TypeError(
                f"weight_decay must be a (start, end) tuple, got "
                f"{self.weight_decay!r}"
            )
        for value in self.weight_decay:
            check.finite_number(value, "weight_decay", low=0)
        check.boolean(self.centering, "centering")
        check.boolean(self.sharpening, "sharpening")
        check.non_negative_int(self.seed, "seed")
        last_seed = (MAX_BATCH_SEED - self.steps) // STEPS_PER_SEED - 1
        if last_seed < 0:  # too many steps for any seed
            raise ValueError(
                f"steps must be at most {MAX_BATCH_SEED - STEPS_PER_SEED} "
                f"(step s of seed n draws its data from seed "
                f"{STEPS_PER_SEED:,}·(n + 1) + s, which must stay below "
                f"2**44), got {self.steps}"
            )
        if self.seed > last_seed:
            raise ValueError(
                f"seed must be at most {last_seed} with steps={self.steps} "
                f"(step s of seed n draws its data from seed "
                f"{STEPS_PER_SEED:,}·(n + 1) + s, which must stay below "
                f"2**44), got {self.seed}"
            )
        if not isinstance(self.crops, MultiCropConfig):
            raise TypeError(
                f"crops must be a MultiCropConfig, got "
                f"{type(self.crops).__name__}"
            )
        _fits_in_memory(self)

    @property
    def warmup_steps(self) -> int:
        """Steps of linear learning-rate warm-up (at least 1)."""
        return max(1, math.floor(self.steps * self.warmup_fraction + 1e-9))

    @property
    def freeze_last_layer_steps(self) -> int:
        """Steps during which the head's last layer does not learn."""
        return math.floor(self.steps * self.freeze_last_layer_fraction + 1e-9)


def _fits_in_memory(config: DINOConfig) -> None:
    """Refuse a config whose step cannot fit in this machine's memory,
    before anything is allocated: the head, the batch and its views, and
    about what the student keeps for its backward pass (a lower bound:
    every block keeps about 18 numbers per token and width, and its
    attention scores and probabilities)."""
    widths = (
        f"out_dim={config.out_dim}, hidden_dim={config.hidden_dim}, "
        f"bottleneck_dim={config.bottleneck_dim}"
    )
    try:
        _sizes(
            WIDTH, config.out_dim, config.hidden_dim, config.bottleneck_dim, 3
        )
    except ValueError as error:
        raise ValueError(f"{widths}: {error}") from None
    crops = config.crops
    sizes = [crops.global_size] * 2 + [crops.local_size] * crops.local_crops
    tokens = [(size // PATCH) ** 2 + 1 for size in sizes]  # per view
    per_image = (
        12 * 32 * 32  # the generated image and its mask (make_objects)
        + sum(3 * size * size for size in sizes)  # its views
        + DEPTH * sum(18 * WIDTH * t + 2 * HEADS * t * t for t in tokens)
        + 6 * config.out_dim * (len(sizes) + 2)  # student, teacher, loss
    )
    check.fits_in_memory(  # a Python float in a list takes 32 bytes
        3 * config.steps,
        f"The learning-rate, weight-decay and momentum schedules of "
        f"steps={config.steps}",
        bytes_per_number=32,
    )
    check.fits_in_memory(
        config.batch_size * per_image,
        f"A step with batch_size={config.batch_size}, "
        f"out_dim={config.out_dim} and {crops.local_crops} local crops",
    )


def _parameter_groups(model: nn.Module) -> list[dict]:
    """DINO decays weights but not biases or norms (1-D parameters)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [
        p for p in model.parameters() if p.requires_grad and p.ndim <= 1
    ]
    return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]


def clip_gradients(model: nn.Module, clip: float) -> None:
    """DINO clips each parameter's gradient norm on its own."""
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}"
        )
    clip = check.finite_number(clip, "clip", low=0, low_open=True)
    for p in model.parameters():
        if p.grad is not None:
            norm = p.grad.norm()
            if norm > clip:
                p.grad.mul_(clip / (norm + 1e-6))


def _check_finite(model: nn.Module, step: int, lr: float) -> None:
    """Stop once an update has made a weight inf or NaN (the loss of the
    step was computed before the update, so it cannot show it)."""
    for name, p in model.named_parameters():
        if not torch.isfinite(p).all():
            raise FloatingPointError(
                f"the weight {name} became inf or NaN at step {step + 1}: "
                f"training diverged; use a smaller learning rate than {lr}"
            )


def cancel_last_layer(model: nn.Module) -> None:
    """DINO's ``cancel_gradients_last_layer``: the head's last layer does
    not learn during the first steps."""
    for p in unwrap(model).head.last_layer.parameters():
        p.grad = None


def unwrap(model: nn.Module) -> MultiCropWrapper:
    """The model inside ``DistributedDataParallel``, or the model."""
    if isinstance(model, nn.parallel.DistributedDataParallel):
        model = model.module
    if not isinstance(model, MultiCropWrapper):
        raise TypeError(
            "model must be a MultiCropWrapper (or one inside "
            f"DistributedDataParallel), got {type(model).__name__}"
        )
    return model


def process() -> tuple[int, int]:
    """(rank, world size): (0, 1) unless torch.distributed is set up."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def batch_views(
    config: DINOConfig,
    step: int,
    crops: MultiCropConfig,
    device: torch.device,
    labels: bool = False,
):
    """This process's share of step ``step``'s batch: its views (moved to
    ``device``, normalised to [-1, 1]) and, with ``labels``, its labels.

    Images and crops are made on the CPU from seeds alone, so that every
    device and every split of the batch sees the same pixels.
    """
    if not isinstance(config, DINOConfig):
        raise TypeError(
            f"config must be a DINOConfig, got {type(config).__name__}"
        )
    if not isinstance(crops, MultiCropConfig):
        raise TypeError(
            f"crops must be a MultiCropConfig, got {type(crops).__name__}"
        )
    step = check.non_negative_int(step, "step")
    if step >= config.steps:
        raise ValueError(
            f"step must be less than config.steps ({config.steps}), got {step}"
        )
    device = _device(device)
    check.boolean(labels, "labels")
    rank, world = process()
    if config.batch_size % world:
        raise ValueError(
            f"batch_size ({config.batch_size}) must be "
            f"divisible by the number of processes ({world})"
        )
    share = config.batch_size // world
    batch_seed = STEPS_PER_SEED * (config.seed + 1) + step
    images, _, classes = make_objects(config.batch_size, seed=batch_seed)
    mine = range(rank * share, (rank + 1) * share)  # indices in the batch
    generators = [
        torch.Generator().manual_seed(batch_seed * MAX_BATCH + i) for i in mine
    ]
    views = multi_crop(images[mine.start : mine.stop], generators, crops)
    views = [normalize(v).to(device) for v in views]
    return (
        (views, classes[mine.start : mine.stop].to(device))
        if labels
        else views
    )


@dataclass
class Run:
    """What one step needs: the networks, the loss, the optimiser and the
    per-step schedules."""

    config: DINOConfig
    student: nn.Module  # MultiCropWrapper, in DDP across processes
    teacher: MultiCropWrapper
    loss_fn: DINOLoss
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    autocast: contextlib.AbstractContextManager
    lrs: list[float]
    wds: list[float]
    momenta: list[float]
    teacher_temp: float


# --8<-- [start:train_step]
def train_step(run: Run, views: list[torch.Tensor], step: int) -> dict:
    """One step of DINO: both networks see the views, the student learns
    to match the teacher, the teacher follows the student."""
    for group in run.optimizer.param_groups:
        group["lr"] = run.lrs[step]
    run.optimizer.param_groups[0]["weight_decay"] = run.wds[step]
    with run.autocast:
        with torch.no_grad():
            teacher_out = run.teacher(views[:2])  # (2·B, K): global views
        student_out = run.student(views)  # (views·B, K): every view
        # the loss also moves the center (averaged over every process)
        loss, stats = run.loss_fn(
            student_out, teacher_out, run.teacher_temp, len(views)
        )
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()  # DDP averages the gradients
    run.scaler.unscale_(run.optimizer)
    clip_gradients(run.student, run.config.clip_grad)
    if step < run.config.freeze_last_layer_steps:
        cancel_last_layer(run.student)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    update_teacher(run.teacher, unwrap(run.student), run.momenta[step])
    return {"loss": loss.item(), **stats}


# --8<-- [end:train_step]


def precision(device: torch.device) -> torch.dtype | None:
    """The autocast dtype on CUDA: bfloat16 where the GPU has it, else
    float16 (with a gradient scaler); None (float32) elsewhere."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _seeded(seed: int, device: torch.device):
    """Seed torch's random numbers inside a ``with`` block only, leaving
    the caller's random state as it was."""
    devices = [device.index or 0] if device.type == "cuda" else []
    stack = contextlib.ExitStack()
    stack.enter_context(torch.random.fork_rng(devices=devices))
    torch.manual_seed(seed)
    return stack


def _wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """DDP across processes (it averages gradients in ``backward``)."""
    if process()[1] == 1:
        return model
    return nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )


def _averaged(values: dict, device: torch.device) -> dict:
    """The mean of each number over every process."""
    world = process()[1]
    if world == 1:
        return values
    numbers = torch.tensor(
        list(values.values()), dtype=torch.float64, device=device
    )
    dist.all_reduce(numbers)
    return dict(zip(values, (numbers / world).tolist(), strict=True))


def _start(
    config: DINOConfig | None, device
) -> tuple[DINOConfig, torch.device, int, int, torch.dtype | None]:
    """What both training loops check and look up first: the config, the
    device, this process's rank and the world size, the autocast dtype."""
    if config is None:
        config = DINOConfig()
    if not isinstance(config, DINOConfig):
        raise TypeError(
            f"config must be a DINOConfig (or None for the default), got "
            f"{type(config).__name__} ({config!r})"[:300]
        )
    device = _device("cpu" if device is None else device)
    return (config, device, *process(), precision(device))


def train(
    config: DINOConfig | None = None,
    progress: bool = True,
    device: torch.device | str | None = None,
    all_reduce_center: bool = True,
) -> tuple[VisionTransformer, dict]:
    """Run DINO; return the teacher's backbone (on the CPU) and the run's
    history. Under ``torch.distributed`` each process trains on its share
    of every batch; the returned teacher is the same on every process.

    ``all_reduce_center=False`` exists only to show what the center's
    all-reduce is for (``tests/unit/lab/dino/test_distributed.py``): it is not DINO.
    """
    config, device, rank, world, amp = _start(config, device)
    check.boolean(progress, "progress")
    with _seeded(config.seed, device):
        student = MultiCropWrapper(
            tiny_backbone(config.drop_path_rate),
            DINOHead(
                64, config.out_dim, config.hidden_dim, config.bottleneck_dim
            ),
        ).to(device)
        teacher = copy.deepcopy(student).eval().requires_grad_(False)
        if rank:  # stochastic depth draws differ between processes
            torch.manual_seed(config.seed + 7919 * rank)
        run = Run(
            config=config,
            student=_wrap(student, device),
            teacher=teacher,
            loss_fn=DINOLoss(
                config.out_dim,
                config.student_temp,
                config.center_momentum,
                config.centering,
                all_reduce_center,
            ).to(device),
            optimizer=torch.optim.AdamW(_parameter_groups(student)),
            scaler=torch.amp.GradScaler(
                device.type, enabled=amp == torch.float16
            ),
            autocast=torch.autocast(
                device.type, dtype=amp, enabled=amp is not None
            ),
            lrs=cosine_schedule(
                config.lr, config.min_lr, config.steps, config.warmup_steps
            ),
            wds=cosine_schedule(*config.weight_decay, config.steps),
            momenta=cosine_schedule(
                config.momentum_teacher, 1.0, config.steps
            ),
            teacher_temp=(
                config.teacher_temp
                if config.sharpening
                else config.student_temp
            ),
        )
        history: dict[str, Any] = {
            key: [] for key in ("step", "loss", "teacher_entropy", "kl")
        }
        start = time.perf_counter()
        bar = tqdm(
            range(config.steps),
            disable=not progress or rank > 0,
            file=sys.stderr,
            desc="DINO",
            unit="step",
            ncols=100,
        )
        for step in bar:
            run.student.train()
            views = batch_views(config, step, config.crops, device)
            stats = _averaged(train_step(run, views, step), device)
            if not math.isfinite(stats["loss"]):
                raise FloatingPointError(
                    f"the loss became {stats['loss']} at step {step + 1}: "
                    f"training diverged; use a smaller learning rate than "
                    f"{config.lr}"
                )
            _check_finite(student, step, config.lr)
            if step % 10 == 0 or step == config.steps - 1:
                history["step"].append(step + 1)
                for key in ("loss", "teacher_entropy", "kl"):
                    history[key].append(round(stats[key], 5))
                bar.set_postfix(
                    loss=f"{stats['loss']:.3f}",
                    H=f"{stats['teacher_entropy']:.2f}",
                    KL=f"{stats['kl']:.3f}",
                )
    history["train_seconds"] = round(time.perf_counter() - start, 1)
    history["log_k"] = math.log(config.out_dim)
    history["processes"] = world
    return teacher.backbone.cpu(), history


def train_supervised(
    config: DINOConfig | None = None,
    progress: bool = True,
    device: torch.device | str | None = None,
) -> tuple[VisionTransformer, dict]:
    """The baseline DINO is compared with: the same backbone trained with
    the labels (cross-entropy on one augmented global crop per image), for
    as many steps on batches of the same size. Returns the backbone."""
    config, device, rank, world, amp = _start(config, device)
    check.boolean(progress, "progress")
    with _seeded(config.seed, device):
        backbone = tiny_backbone(config.drop_path_rate)
        model = nn.Sequential(
            backbone, nn.Linear(backbone.num_features, len(CLASSES))
        ).to(device)
        if rank:
            torch.manual_seed(config.seed + 7919 * rank)
        optimizer = torch.optim.AdamW(_parameter_groups(model))
        wrapped = _wrap(model, device)
        scaler = torch.amp.GradScaler(
            device.type, enabled=amp == torch.float16
        )
        lrs = cosine_schedule(
            config.lr, config.min_lr, config.steps, config.warmup_steps
        )
        wds = cosine_schedule(*config.weight_decay, config.steps)
        crops = replace(config.crops, local_crops=0)
        history: dict[str, Any] = {"step": [], "loss": []}
        start = time.perf_counter()
        bar = tqdm(
            range(config.steps),
            disable=not progress or rank > 0,
            file=sys.stderr,
            desc="supervised",
            unit="step",
            ncols=100,
        )
        for step in bar:
            views, labels = batch_views(
                config, step, crops, device, labels=True
            )
            for group in optimizer.param_groups:
                group["lr"] = lrs[step]
            optimizer.param_groups[0]["weight_decay"] = wds[step]
            wrapped.train()
            with torch.autocast(
                device.type, dtype=amp, enabled=amp is not None
            ):
                loss = F.cross_entropy(wrapped(views[0]), labels)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            clip_gradients(model, config.clip_grad)
            scaler.step(optimizer)
            scaler.update()
            value = _averaged({"loss": loss.item()}, device)["loss"]
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"the loss became {value} at step {step + 1}: training "
                    f"diverged; use a smaller learning rate than "
                    f"{config.lr}"
                )
            _check_finite(model, step, config.lr)
            if step % 10 == 0 or step == config.steps - 1:
                history["step"].append(step + 1)
                history["loss"].append(round(value, 5))
                bar.set_postfix(loss=f"{value:.3f}")
    history["train_seconds"] = round(time.perf_counter() - start, 1)
    history["processes"] = world
    return backbone.cpu().eval(), history
