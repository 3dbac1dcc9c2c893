"""DINO in miniature: self-distillation with no labels, on a CPU in minutes.

``python -m vitlesson.dino`` trains a tiny ViT on :mod:`vitlesson.objects`
with the complete recipe of Caron et al. (2021) and its code
(``main_dino.py``): multi-crop, a student and an EMA teacher with the same
backbone and projection head, a centred and sharpened teacher, and the
cross-entropy between the teacher's global views and the student's other
views. Labels and masks are never used in training; ``--evaluate``
measures afterwards what the features and the attention learned.

The shipped weights (``vitlesson/weights/dino-tiny.pt``, the teacher's
backbone) and the record of the run that made them mean the site build never
trains.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from vitlesson import _validation as check
from vitlesson._arguments import non_negative_int, number_in, positive_int
from vitlesson.multicrop import MultiCropConfig, multi_crop
from vitlesson.objects import CLASSES, make_objects
from vitlesson.probes import attention_iou, cls_features, knn_accuracy
from vitlesson.vit import VisionTransformer

WEIGHTS = Path(__file__).resolve().parent / "weights"
DINO_WEIGHTS = WEIGHTS / "dino-tiny.pt"
SUPERVISED_WEIGHTS = WEIGHTS / "dino-supervised.pt"
ABLATIONS = WEIGHTS / "dino-ablations.json"
TRAIN_SEED = 0
BANK_SEED, BANK_SIZE = 2, 2000  # labelled images the k-NN votes with
TEST_SEED, TEST_SIZE = 3, 1000  # held-out images that are measured


def normalize(images: torch.Tensor) -> torch.Tensor:
    """Pixels in [0, 1] -> [-1, 1] (the generated images need no dataset
    statistics)."""
    return (images - 0.5) / 0.5


# --8<-- [start:backbone]
def tiny_backbone(drop_path_rate: float = 0.0) -> VisionTransformer:
    """The backbone of every model here: 32×32 images, 4-pixel patches
    (an 8×8 grid), width 64, 4 blocks of 4 heads, no classifier.

    ``dynamic_img_size=True`` lets the same network read 16×16 local crops
    (a 4×4 grid) through the resampled position table.
    """
    return VisionTransformer(img_size=32, patch_size=4, embed_dim=64,
                             depth=4, num_heads=4, num_classes=0,
                             dynamic_img_size=True,
                             drop_path_rate=drop_path_rate)
# --8<-- [end:backbone]


# --8<-- [start:head]
class DINOHead(nn.Module):
    """DINO's projection head: an MLP to a bottleneck, ℓ2-normalisation,
    then a weight-normalised linear layer with ``out_dim`` (K) outputs.

    With ``norm_last_layer`` the last layer's gain is frozen at 1: every
    output is the cosine between the bottleneck vector and one of K learned
    directions (DINO's default, which the paper finds more stable).
    """

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int = 2048,
                 bottleneck_dim: int = 256, nlayers: int = 3,
                 norm_last_layer: bool = True):
        super().__init__()
        for value, name in [(in_dim, "in_dim"), (out_dim, "out_dim"),
                            (hidden_dim, "hidden_dim"),
                            (bottleneck_dim, "bottleneck_dim"),
                            (nlayers, "nlayers")]:
            check.positive_int(value, name)
        widths = [in_dim] + [hidden_dim] * (nlayers - 1) + [bottleneck_dim]
        layers = []
        for i, (a, b) in enumerate(zip(widths, widths[1:])):
            layers += [nn.Linear(a, b)] + ([nn.GELU()] if i < nlayers - 1
                                           else [])
        self.mlp = nn.Sequential(*layers)
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):
                nn.init.trunc_normal_(layer.weight, std=0.02)
                nn.init.zeros_(layer.bias)
        self.last_layer = nn.utils.parametrizations.weight_norm(
            nn.Linear(bottleneck_dim, out_dim, bias=False))
        gain = self.last_layer.parametrizations.weight.original0
        gain.data.fill_(1)
        gain.requires_grad_(not check.boolean(norm_last_layer,
                                              "norm_last_layer"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.normalize(self.mlp(x), dim=-1)  # (B, bottleneck), unit length
        return self.last_layer(x)  # (B, K)
# --8<-- [end:head]


class MultiCropWrapper(nn.Module):
    """Backbone then head, for a list of crops of several sizes: crops of
    one size go through the backbone as one batch (DINO's wrapper)."""

    def __init__(self, backbone: VisionTransformer, head: DINOHead):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, views: list[torch.Tensor]) -> torch.Tensor:
        features, start = [], 0
        while start < len(views):  # consecutive views of the same size
            end = start
            while (end < len(views)
                   and views[end].shape[-1] == views[start].shape[-1]):
                end += 1
            batch = torch.cat(views[start:end])  # (k·B, 3, S, S)
            features.append(self.backbone(batch))  # CLS features (k·B, D)
            start = end
        return self.head(torch.cat(features))  # (views·B, K)


# --8<-- [start:loss]
class DINOLoss(nn.Module):
    """Cross-entropy between the teacher's centred, sharpened distribution
    for each global view and the student's distribution for every *other*
    view, averaged over the pairs.

    ``centering=False`` or a teacher temperature equal to the student's
    turn off one of the two operations (the collapse ablations).
    """

    def __init__(self, out_dim: int, student_temp: float = 0.1,
                 center_momentum: float = 0.9, centering: bool = True):
        super().__init__()
        self.student_temp = check.finite_number(student_temp, "student_temp",
                                                low=0, low_open=True)
        self.center_momentum = check.probability(center_momentum,
                                                 "center_momentum")
        self.centering = check.boolean(centering, "centering")
        self.register_buffer("center", torch.zeros(1, out_dim))

    def forward(self, student_out: torch.Tensor, teacher_out: torch.Tensor,
                teacher_temp: float, n_views: int) -> tuple[torch.Tensor,
                                                            dict]:
        """``student_out`` (views·B, K), ``teacher_out`` (2·B, K), in the
        order of :func:`~vitlesson.multicrop.multi_crop`."""
        student = (student_out / self.student_temp).log_softmax(dim=-1)
        teacher = ((teacher_out - self.center) / teacher_temp).softmax(dim=-1)
        student = student.chunk(n_views)  # views x (B, K)
        teacher = teacher.detach().chunk(2)  # 2 x (B, K)
        losses = [-(q * student[v]).sum(dim=-1).mean()
                  for i, q in enumerate(teacher)
                  for v in range(n_views) if v != i]
        loss = sum(losses) / len(losses)
        with torch.no_grad():
            p = torch.cat(teacher)  # (2·B, K)
            entropy = -(p * p.clamp_min(1e-12).log()).sum(dim=-1).mean()
            stats = {"teacher_entropy": entropy.item(),
                     "kl": loss.item() - entropy.item()}
        if self.centering:
            self.update_center(teacher_out)
        return loss, stats

    @torch.no_grad()
    def update_center(self, teacher_out: torch.Tensor) -> None:
        """Running mean of the teacher's outputs over batches."""
        batch_center = teacher_out.mean(dim=0, keepdim=True)  # (1, K)
        self.center.mul_(self.center_momentum).add_(
            batch_center, alpha=1 - self.center_momentum)
# --8<-- [end:loss]


def cosine_schedule(start: float, end: float, steps: int,
                    warmup_steps: int = 0, warmup_start: float = 0.0
                    ) -> list[float]:
    """DINO's ``cosine_scheduler``: a linear warm-up from ``warmup_start``
    to ``start``, then half a cosine from ``start`` to ``end``."""
    warmup = [warmup_start + (start - warmup_start) * i / warmup_steps
              for i in range(warmup_steps)]
    rest = steps - warmup_steps
    return warmup + [end + 0.5 * (start - end) * (1 + math.cos(math.pi * i
                                                                / rest))
                     for i in range(rest)]


@torch.no_grad()
def update_teacher(teacher: nn.Module, student: nn.Module,
                   momentum: float) -> None:
    """θ_teacher ← m·θ_teacher + (1 − m)·θ_student, parameter by parameter."""
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.mul_(momentum).add_(s.detach(), alpha=1 - momentum)


@dataclass
class DINOConfig:
    """Every setting of a run; the comments give DINO's ViT-S/16 values."""
    steps: int = 1900
    batch_size: int = 64  # DINO: 1024 over 16 GPUs
    lr: float = 1e-3  # DINO: 5e-4 × batch/256 after 10 warm-up epochs
    min_lr: float = 1e-6
    warmup_steps: int = 190  # DINO: 10 epochs; here a tenth of the steps
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
    freeze_last_layer_steps: int = 95  # DINO: the first epoch
    centering: bool = True
    sharpening: bool = True
    seed: int = TRAIN_SEED
    crops: MultiCropConfig = field(default_factory=MultiCropConfig)


def _parameter_groups(model: nn.Module) -> list[dict]:
    """DINO decays weights but not biases or norms (1-D parameters)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters()
                if p.requires_grad and p.ndim <= 1]
    return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]


def _clip_gradients(model: nn.Module, clip: float) -> None:
    """DINO clips each parameter's gradient norm on its own."""
    for p in model.parameters():
        if p.grad is not None:
            norm = p.grad.norm()
            if norm > clip:
                p.grad.mul_(clip / (norm + 1e-6))


def train(config: DINOConfig | None = None, threads: int = 2,
          progress: bool = True) -> tuple[VisionTransformer, dict]:
    """Run DINO; return the teacher's backbone and the run's history."""
    config = config or DINOConfig()
    torch.set_num_threads(check.positive_int(threads, "threads"))
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    student = MultiCropWrapper(
        tiny_backbone(config.drop_path_rate),
        DINOHead(64, config.out_dim, config.hidden_dim,
                 config.bottleneck_dim))
    teacher = copy.deepcopy(student).eval().requires_grad_(False)
    loss_fn = DINOLoss(config.out_dim, config.student_temp,
                       config.center_momentum, config.centering)
    teacher_temp = (config.teacher_temp if config.sharpening
                    else config.student_temp)
    groups = _parameter_groups(student)
    optimizer = torch.optim.AdamW(groups)
    lrs = cosine_schedule(config.lr, config.min_lr, config.steps,
                          config.warmup_steps)
    wds = cosine_schedule(*config.weight_decay, config.steps)
    momenta = cosine_schedule(config.momentum_teacher, 1.0, config.steps)
    n_views = 2 + config.crops.local_crops
    history = {key: [] for key in ("step", "loss", "teacher_entropy", "kl")}
    start = time.perf_counter()
    bar = tqdm(range(config.steps), disable=not progress, file=sys.stderr,
               desc="DINO", unit="step", ncols=100)
    for step in bar:
        images, _, _ = make_objects(config.batch_size,
                                    seed=1_000_000 * (config.seed + 1) + step)
        views = [normalize(v) for v in
                 multi_crop(images, generator, config.crops)]
        for group in optimizer.param_groups:
            group["lr"] = lrs[step]
        optimizer.param_groups[0]["weight_decay"] = wds[step]
        student.train()
        with torch.no_grad():
            teacher_out = teacher(views[:2])  # (2·B, K): global views only
        loss, stats = loss_fn(student(views), teacher_out, teacher_temp,
                              n_views)
        if not math.isfinite(loss.item()):
            raise FloatingPointError(
                f"the loss became {loss.item()} at step {step + 1}: "
                f"training diverged; use a smaller learning rate than "
                f"{config.lr}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        _clip_gradients(student, config.clip_grad)
        if step < config.freeze_last_layer_steps:
            for p in student.head.last_layer.parameters():
                p.grad = None
        optimizer.step()
        update_teacher(teacher, student, momenta[step])
        if step % 10 == 0 or step == config.steps - 1:
            for key, value in [("step", step + 1), ("loss", loss.item()),
                               *stats.items()]:
                history[key].append(round(value, 5))
            bar.set_postfix(loss=f"{loss.item():.3f}",
                            H=f"{stats['teacher_entropy']:.2f}",
                            KL=f"{stats['kl']:.3f}")
    history["train_seconds"] = round(time.perf_counter() - start, 1)
    history["log_k"] = math.log(config.out_dim)
    return teacher.backbone, history


def train_supervised(config: DINOConfig | None = None, threads: int = 2,
                     progress: bool = True) -> tuple[VisionTransformer, dict]:
    """The baseline DINO is compared with: the same backbone trained with
    the labels (cross-entropy on one augmented global crop per image), for
    as many steps on batches of the same size. Returns the backbone."""
    config = config or DINOConfig()
    torch.set_num_threads(check.positive_int(threads, "threads"))
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    backbone = tiny_backbone(config.drop_path_rate)
    classifier = nn.Linear(backbone.num_features, len(CLASSES))
    model = nn.Sequential(backbone, classifier)
    optimizer = torch.optim.AdamW(_parameter_groups(model))
    lrs = cosine_schedule(config.lr, config.min_lr, config.steps,
                          config.warmup_steps)
    wds = cosine_schedule(*config.weight_decay, config.steps)
    crops = replace(config.crops, local_crops=0)
    history = {"step": [], "loss": []}
    start = time.perf_counter()
    bar = tqdm(range(config.steps), disable=not progress, file=sys.stderr,
               desc="supervised", unit="step", ncols=100)
    for step in bar:
        images, _, labels = make_objects(
            config.batch_size, seed=1_000_000 * (config.seed + 1) + step)
        view = normalize(multi_crop(images, generator, crops)[0])
        for group in optimizer.param_groups:
            group["lr"] = lrs[step]
        optimizer.param_groups[0]["weight_decay"] = wds[step]
        model.train()
        loss = F.cross_entropy(model(view), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        _clip_gradients(model, config.clip_grad)
        optimizer.step()
        if step % 10 == 0 or step == config.steps - 1:
            history["step"].append(step + 1)
            history["loss"].append(round(loss.item(), 5))
            bar.set_postfix(loss=f"{loss.item():.3f}")
    history["train_seconds"] = round(time.perf_counter() - start, 1)
    return backbone.eval(), history


# --8<-- [start:evaluate]
def evaluate(backbone: VisionTransformer) -> dict:
    """k-NN accuracy of the CLS features and attention IoU per head, on
    held-out images (the labelled bank and the test set share no seed
    with training)."""
    bank, _, bank_labels = make_objects(BANK_SIZE, seed=BANK_SEED)
    test, test_masks, test_labels = make_objects(TEST_SIZE, seed=TEST_SEED)
    bank, test = normalize(bank), normalize(test)
    knn = knn_accuracy(cls_features(backbone, bank), bank_labels,
                       cls_features(backbone, test), test_labels)
    iou = attention_iou(backbone, test, test_masks)  # (heads,)
    return {"knn_accuracy": round(knn, 4),
            "iou_per_head": [round(v, 4) for v in iou.tolist()],
            "iou_best_head": round(iou.max().item(), 4),
            "iou_mean": round(iou.mean().item(), 4)}
# --8<-- [end:evaluate]


def random_backbone(seed: int = TRAIN_SEED) -> VisionTransformer:
    """The untrained starting point of both runs, for comparison."""
    torch.manual_seed(seed)
    return tiny_backbone().eval()


def load_backbone(path: Path = DINO_WEIGHTS) -> VisionTransformer:
    """A shipped backbone (eval mode): DINO's teacher or the baseline."""
    backbone = tiny_backbone()
    backbone.load_state_dict(torch.load(path, map_location="cpu",
                                        weights_only=True))
    return backbone.eval()


def load_record(path: Path = DINO_WEIGHTS) -> dict:
    """The JSON record written next to a weights file."""
    return json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))


def evaluate_shipped() -> dict:
    """The metrics of the shipped weights next to the two baselines."""
    torch.set_num_threads(2)
    return {"dino": evaluate(load_backbone(DINO_WEIGHTS)),
            "random_init": evaluate(random_backbone()),
            "supervised": evaluate(load_backbone(SUPERVISED_WEIGHTS))}


def _parser() -> argparse.ArgumentParser:
    default = DINOConfig()
    parser = argparse.ArgumentParser(
        prog="python -m vitlesson.dino",
        description=__doc__.split("\n\n")[0],
        epilog="The defaults reproduce the shipped weights. "
               "--no-centering and --no-sharpening are the collapse "
               "ablations; --supervised trains the labelled baseline.")
    parser.add_argument("--evaluate", action="store_true",
                        help="train nothing: measure the shipped weights and "
                             "the baselines, and print the metrics as one "
                             "JSON object on the last line")
    parser.add_argument("--steps", type=positive_int, default=default.steps,
                        help=f"optimiser steps (default {default.steps})")
    parser.add_argument("--batch-size", type=positive_int,
                        default=default.batch_size,
                        help="images per step; each gives 2 global and "
                             f"{default.crops.local_crops} local crops "
                             f"(default {default.batch_size})")
    parser.add_argument("--lr", type=number_in(0, 1), default=default.lr,
                        help="peak AdamW learning rate, reached after a "
                             "linear warm-up over the first tenth of the "
                             f"steps (default {default.lr:g})")
    parser.add_argument("--out-dim", type=positive_int,
                        default=default.out_dim,
                        help=f"K, the head's outputs (default "
                             f"{default.out_dim}; DINO: 65536)")
    parser.add_argument("--teacher-temp", type=number_in(0, 1),
                        default=default.teacher_temp,
                        help="teacher softmax temperature, lower is sharper "
                             f"(default {default.teacher_temp:g}; the "
                             f"student's is {default.student_temp:g})")
    parser.add_argument("--momentum-teacher", type=number_in(0, 1),
                        default=default.momentum_teacher,
                        help="EMA momentum of the teacher at the start, "
                             "raised to 1 along a half cosine (default "
                             f"{default.momentum_teacher:g})")
    parser.add_argument("--local-crops", type=positive_int,
                        default=default.crops.local_crops,
                        help="local 16x16 crops per image (default "
                             f"{default.crops.local_crops}; DINO: 8)")
    parser.add_argument("--seed", type=non_negative_int, default=default.seed,
                        help="seed of the data, the crops and the "
                             f"initial weights (default {default.seed})")
    parser.add_argument("--threads", type=positive_int, default=2,
                        help="torch CPU threads (default 2)")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--no-centering", action="store_true",
                      help="ablation: never subtract the running mean")
    kind.add_argument("--no-sharpening", action="store_true",
                      help="ablation: teacher temperature = student's")
    kind.add_argument("--supervised", action="store_true",
                      help="train the baseline with labels instead")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--output", type=Path,
                       help="weights file to write, its record next to it "
                            "as .json (default ./dino-tiny.pt, "
                            "./dino-supervised.pt or ./dino-ablation-*.json)")
    where.add_argument("--record", action="store_true",
                       help="replace the shipped weights, record or "
                            "ablation curves in the package")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar")
    return parser


def main(argv=None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.evaluate:
        metrics = evaluate_shipped()
        for name, values in metrics.items():
            print(f"{name:>12}: k-NN {values['knn_accuracy']:.3f}, "
                  f"IoU best head {values['iou_best_head']:.3f}, "
                  f"mean {values['iou_mean']:.3f}", file=sys.stderr)
        print(json.dumps(metrics))
        return
    config = DINOConfig(
        steps=args.steps, batch_size=args.batch_size, lr=args.lr,
        warmup_steps=max(1, args.steps // 10), out_dim=args.out_dim,
        teacher_temp=args.teacher_temp,
        momentum_teacher=args.momentum_teacher,
        freeze_last_layer_steps=args.steps // 20,
        centering=not args.no_centering, sharpening=not args.no_sharpening,
        seed=args.seed,
        crops=replace(DINOConfig().crops, local_crops=args.local_crops))
    ablation = ("no-centering" if args.no_centering else
                "no-sharpening" if args.no_sharpening else
                f"teacher-temp-{args.teacher_temp:g}"
                if args.teacher_temp != DINOConfig.teacher_temp
                and not args.supervised else None)
    try:
        if args.supervised:
            backbone, history = train_supervised(config, args.threads,
                                                 not args.quiet)
        else:
            backbone, history = train(config, args.threads, not args.quiet)
    except FloatingPointError as error:
        parser.exit(1, f"{parser.prog}: {error}\n")
    record = {
        "command": " ".join(["python -m vitlesson.dino",
                             *(argv if argv is not None else sys.argv[1:])]),
        "seed": config.seed, "threads": args.threads,
        "torch": torch.__version__, "config": asdict(config),
        "train_seconds": history.pop("train_seconds"),
        "metrics": evaluate(backbone), "history": history,
    }
    if ablation:
        output = args.output or Path(f"dino-ablation-{ablation}.json")
        if args.record:
            output = ABLATIONS
            runs = (json.loads(ABLATIONS.read_text(encoding="utf-8"))
                    if ABLATIONS.exists() else {})
            record = runs | {ablation: record}
        else:
            record = {ablation: record}
    else:
        output = ((SUPERVISED_WEIGHTS if args.supervised else DINO_WEIGHTS)
                  if args.record else args.output or Path(
                      "dino-supervised.pt" if args.supervised
                      else "dino-tiny.pt"))
        output.parent.mkdir(parents=True, exist_ok=True)
        torch.save(backbone.state_dict(), output)
        output = output.with_suffix(".json")
    output.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(record.get("metrics") or record[ablation]["metrics"]))
    print(f"written to {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
