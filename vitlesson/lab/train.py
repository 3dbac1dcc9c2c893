"""Train a tiny ViT on the shapes task, on a CPU, in about two minutes: ``python -m vitlesson.lab.train``.

The point is not the accuracy but what the position embeddings become: they start
as noise (Lesson 1.2's figure) and, because the task is about *where* things are,
end up encoding the 2-D grid. The trained weights ship with the package
(``vitlesson/weights/``, under 1 MB) together with the command, seed and results that
produced them, so the site build never trains.

``--colours random`` trains on shapes of random colours instead of a warm
square and a cool circle: the second shipped model,
``tiny-shapes-random-colours.pt``, for the question of what the first one
actually learned (:func:`accuracy_by_colours`).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from vitlesson import _arguments, _io
from vitlesson import _validation as check
from vitlesson._arguments import (
    Parser,
    non_negative_int,
    number_in,
    positive_int,
)
from vitlesson._arguments import path as path_type
from vitlesson._provenance import stamp
from vitlesson._runs import (
    interrupted,
    outputs,
    read_pair,
    state_bytes,
    write_pair,
)
from vitlesson.data.shapes import (
    COLOURS,
    check_colours,
    make_shapes,
    normalize_shapes,
)
from vitlesson.position import neighbour_similarity
from vitlesson.vit import VisionTransformer

WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "tiny-shapes.pt"
RANDOM_COLOURS_WEIGHTS = WEIGHTS.with_name("tiny-shapes-random-colours.pt")
SHIPPED = ("families", "random")  # the colours of the shipped models
TRAIN_SEED, TEST_SEED = 0, 1
TEST_SIZE = 2000
COLOUR_TESTS = ("families", "swapped", "grey")  # normal, swapped, grey
CURVE_SIZE = 500  # test images per colouring at each point of the curve
PROG = "python -m vitlesson.lab.train"


# --8<-- [start:tiny_vit]
def tiny_vit(num_classes: int = 2, **options) -> VisionTransformer:
    """32x32 images, 4-pixel patches (8x8 grid), width 64, 4 blocks.

    Every size that shapes the weights is given here, none left to
    VisionTransformer's defaults, so the shipped weights keep loading.
    """
    return VisionTransformer(
        img_size=32,
        patch_size=4,
        in_channels=3,
        embed_dim=64,
        depth=4,
        num_heads=4,
        mlp_ratio=4.0,
        qkv_bias=True,
        num_classes=num_classes,
        **options,
    )


# --8<-- [end:tiny_vit]


def evaluate(
    model: VisionTransformer,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch: int = 500,
) -> float:
    """Fraction of correct answers."""
    if not isinstance(model, VisionTransformer):
        raise TypeError(
            f"model must be a VisionTransformer, got {type(model).__name__}"
        )
    check.image_batch(images)
    if len(images) == 0:
        raise ValueError(
            f"images must hold at least one image, got shape "
            f"{tuple(images.shape)}"
        )
    if (
        not isinstance(labels, torch.Tensor)
        or labels.shape != images.shape[:1]
    ):
        raise ValueError(
            f"labels must be a tensor of one label per image, shape "
            f"({len(images)},), got "
            + (
                f"shape {tuple(labels.shape)}"
                if isinstance(labels, torch.Tensor)
                else type(labels).__name__
            )
        )
    batch = check.positive_int(batch, "batch")
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images), batch):
            logits = model(normalize_shapes(images[start : start + batch]))
            correct += int(
                (logits.argmax(dim=1) == labels[start : start + batch]).sum()
            )
    return correct / len(images)


def accuracy_by_colours(
    model: VisionTransformer,
    colours: tuple[str, ...] = COLOUR_TESTS,
    size: int = TEST_SIZE,
    seed: int = TEST_SEED,
) -> dict[str, float]:
    """The model's accuracy on the same test drawings in each colouring.

    The drawings (places, sizes, background, labels) are the same in every
    colouring, only the shapes' colours change: a model that learned what
    the shapes look like keeps its accuracy, one that learned "is the red
    blob left of the blue one" falls to 0 with the colours swapped and to
    chance (0.5) with both shapes grey.
    """
    if isinstance(colours, str) or not isinstance(colours, (tuple, list)):
        raise TypeError(
            f"colours must be a tuple of names from {COLOURS}, got "
            f"{type(colours).__name__}"
        )
    if not colours:
        raise ValueError(f"colours must name at least one of {COLOURS}")
    size = check.positive_int(size, "size")
    accuracies = {}
    for name in colours:
        images, labels = make_shapes(size, seed=seed, colours=name)
        accuracies[name] = evaluate(model, images, labels)
    return accuracies


CHUNK = 50  # batches generated at a time
SEEDS_APART = 1_000_003  # chunk seeds: seed * SEEDS_APART + step


def settings(steps, batch_size, lr, seed) -> tuple[int, int, float, int]:
    """The training settings checked, before any work (the command calls
    it too): every data seed the run draws fits a torch.Generator, and a
    chunk of batches with what the model keeps for its backward pass fits
    in memory."""
    steps = check.positive_int(steps, "steps")
    batch_size = check.positive_int(batch_size, "batch_size")
    lr = check.finite_number(lr, "lr", low=0, low_open=True)
    seed = check.non_negative_int(seed, "seed")
    if steps > 2**64:  # too many steps for any seed
        raise ValueError(
            f"steps must be at most 2**64 (the data of step s comes from "
            f"seed {SEEDS_APART:,}·seed + s, which must stay below 2**64), "
            f"got {steps}"
        )
    check.fits_in_memory(  # the loss of every step, 32 bytes each
        steps, f"The losses of steps={steps}", bytes_per_number=32
    )
    last_seed = (2**64 - steps) // SEEDS_APART
    if seed > last_seed:
        raise ValueError(
            f"seed must be at most {last_seed} with steps={steps} (the "
            f"data of step s comes from seed {SEEDS_APART:,}·seed + s, "
            f"which must stay below 2**64), got {seed}"
        )
    tokens = (32 // 4) ** 2 + 1  # the tiny ViT's 8x8 patches and CLS
    check.fits_in_memory(  # the images, and 4 blocks of width 64 keeping
        batch_size
        * (CHUNK * 7 * 32 * 32 + 4 * tokens * (18 * 64 + 8 * tokens)),
        f"Training with batch_size={batch_size}",  # their activations
    )
    return steps, batch_size, lr, seed


def _device(device) -> torch.device:
    """A device torch can use on this machine (not the meta device)."""
    if not isinstance(device, (str, torch.device)):
        raise TypeError(
            f"device must be a str or torch.device, got "
            f"{type(device).__name__}"
        )
    try:
        device = torch.device(device)
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as error:
        reason = " ".join(str(error).split())
        raise ValueError(
            f"device must be one this machine has, such as 'cpu', got "
            f"{str(device)!r} ({reason[:200]})"
        ) from None
    if device.type == "meta":
        raise ValueError("device must hold real numbers, got 'meta'")
    return device


def train(
    steps: int = 800,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = TRAIN_SEED,
    progress: bool = True,
    examples: int | None = None,
    device: torch.device | str = "cpu",
    colours: str = "families",
    curve_every: int | None = None,
) -> tuple[VisionTransformer, dict]:
    """AdamW with warm-up and cosine decay; every batch is freshly generated from the seed.

    ``examples=n`` trains on one fixed set of ``n`` images instead (a quick check that the
    loop learns at all: the loss on a small fixed set falls within a few dozen steps).
    The data is made on the CPU, so a seed gives the same run on any ``device``; the
    trained model is returned on the CPU.

    ``colours`` is the colouring of the training images (``make_shapes``):
    ``"random"`` takes away the colour families, so the model must tell
    the square from the circle by its outline. ``curve_every=k`` measures
    the learning curve: the accuracy on ``CURVE_SIZE`` test drawings in
    each colouring of ``COLOUR_TESTS`` (and the training colours) every
    ``k`` steps and after the last; measuring changes no weight.
    """
    steps, batch_size, lr, seed = settings(steps, batch_size, lr, seed)
    check.boolean(progress, "progress")
    if examples is not None:
        examples = check.positive_int(examples, "examples")
    colours = check_colours(colours)
    if curve_every is not None:
        curve_every = check.positive_int(curve_every, "curve_every")
    device = _device(device)
    curve_colours = tuple(dict.fromkeys((*COLOUR_TESTS, colours)))
    curve_sets = {
        name: make_shapes(CURVE_SIZE, seed=TEST_SEED, colours=name)
        for name in (curve_colours if curve_every is not None else ())
    }
    curve: dict[str, list] = {"step": []} | {name: [] for name in curve_sets}
    with torch.random.fork_rng(devices=[]):  # the caller's RNG is left alone
        torch.manual_seed(seed)
        model = tiny_vit()
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (
            min(1.0, (s + 1) / warmup)
            * 0.5
            * (1 + math.cos(math.pi * min(s, steps) / steps))
        ),
    )
    losses, start, running_loss, running_acc = (
        [],
        time.perf_counter(),
        None,
        None,
    )
    cpu_start = time.process_time()
    for step in range(steps):
        if examples is not None:
            if step == 0:
                images, labels = make_shapes(
                    examples, seed=seed, colours=colours
                )
            i = (step * batch_size) % len(images)
        else:
            if step % CHUNK == 0:
                images, labels = make_shapes(
                    CHUNK * batch_size,
                    seed=seed * SEEDS_APART + step,
                    colours=colours,
                )
            i = (step % CHUNK) * batch_size
        x = normalize_shapes(images[i : i + batch_size]).to(device)
        y = labels[i : i + batch_size].to(device)
        model.train()
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if not math.isfinite(loss.item()):
            raise FloatingPointError(
                f"the loss became {loss.item()} at step {step + 1}: training "
                f"diverged; use a smaller learning rate than {lr}"
            )
        for name, p in model.named_parameters():  # the update: after the
            if not torch.isfinite(p).all():  # loss, which came before it
                raise FloatingPointError(
                    f"the weight {name} became inf or NaN at step "
                    f"{step + 1}: training diverged; use a smaller learning "
                    f"rate than {lr}"
                )
        losses.append(loss.item())
        accuracy = (logits.argmax(dim=1) == y).float().mean().item()
        running_loss = (
            loss.item()
            if running_loss is None
            else 0.95 * running_loss + 0.05 * loss.item()
        )
        running_acc = (
            accuracy
            if running_acc is None
            else 0.95 * running_acc + 0.05 * accuracy
        )
        if curve_every is not None and (
            (step + 1) % curve_every == 0 or step == steps - 1
        ):
            curve["step"].append(step + 1)
            for name, (test_images, test_labels) in curve_sets.items():
                curve[name].append(
                    evaluate(
                        model, test_images.to(device), test_labels.to(device)
                    )
                )
        if progress and (step % 10 == 0 or step == steps - 1):
            done = (step + 1) / steps
            bar = "#" * int(30 * done) + "-" * (30 - int(30 * done))
            print(
                f"\r[{bar}] {step + 1}/{steps}  loss {running_loss:.3f}  train acc {running_acc:.2f}  "
                f"{time.perf_counter() - start:.0f} s",
                end="",
                file=sys.stderr,
                flush=True,
            )
    if progress:
        print(file=sys.stderr)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    return model.cpu(), {
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "colours": colours,
        "train_seconds": round(seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 1),
        "first_loss": losses[0],
        "last_loss": sum(losses[-50:]) / len(losses[-50:]),
    } | ({"curve": curve | {"test_size": CURVE_SIZE}} if curve_sets else {})


def results(model: VisionTransformer, colours: str = "families") -> dict:
    """Test accuracy on the generated test split (in the training
    ``colours``, and in every colouring) and the structure of the learned
    position embeddings."""
    by_colours = accuracy_by_colours(
        model, tuple(dict.fromkeys((*COLOUR_TESTS, colours))), TEST_SIZE
    )  # the split the record names below
    near, far = neighbour_similarity(
        model.pos_embed[0, 1:], model.patch_embed.grid_size
    )
    return {
        "test_accuracy": by_colours[colours],
        "accuracy_by_colours": by_colours,
        "test_size": TEST_SIZE,
        "test_seed": TEST_SEED,
        "neighbour_similarity": near,
        "distant_similarity": far,
    }


def shipped_weights(colours: str) -> Path:
    """The shipped weights of the model trained on ``colours``."""
    if not isinstance(colours, str) or colours not in SHIPPED:
        raise ValueError(
            f"colours must name a shipped model, one of "
            f"{', '.join(map(repr, SHIPPED))}, got {colours!r}"
        )
    return WEIGHTS if colours == "families" else RANDOM_COLOURS_WEIGHTS


def load_trained(
    colours: str = "families",
) -> tuple[VisionTransformer, dict]:
    """The shipped model trained on the colour families (eval mode) and
    the record of how it was made; ``ValueError`` in one line if the
    record does not name the weights. The run on random colours
    (``"random"``) stayed at chance, so only its record ships: asking for
    its model says so."""
    weights = shipped_weights(colours)
    if not weights.exists():
        raise ValueError(
            f"the run on {colours} colours ships its record only, "
            f"{weights.with_suffix('.json').name}, not a model (it stayed "
            f"at chance); train one with {PROG} --colours {colours}"
        )
    data, record = read_pair(weights)  # SHA-256 checked
    model = tiny_vit()
    model.load_state_dict(
        torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    )
    return model.eval(), record


def main(argv=None) -> None:
    parser = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=800,
        help="optimiser steps (default 800)",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=64,
        help="images per step (default 64)",
    )
    parser.add_argument(
        "--lr",
        type=number_in(0, 1),
        default=1e-3,
        help="peak AdamW learning rate (default 1e-3)",
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=TRAIN_SEED,
        help=f"seed of the training data (default {TRAIN_SEED})",
    )
    parser.add_argument(
        "--colours",
        choices=COLOURS,
        default="families",
        help="colours of the training shapes: families (warm square, cool "
        "circle, default), swapped, grey or random (any hue: the model "
        "must tell the shapes apart by their outlines)",
    )
    parser.add_argument(
        "--curve-every",
        type=positive_int,
        default=100,
        help=f"measure the learning curve every N steps, on {CURVE_SIZE} "
        "test images per colouring (default 100)",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=2,
        help="torch threads (default 2)",
    )
    parser.add_argument(
        "--device",
        choices=_arguments.DEVICES,
        default="auto",
        help="where to train: auto (a GPU when there is one, "
        "default), cpu, cuda or mps",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--output",
        type=path_type,
        help="weights file to write, its record next to it as "
        ".json (default ./tiny-shapes.pt, or "
        "./tiny-shapes-COLOURS-colours.pt with --colours)",
    )
    where.add_argument(
        "--record",
        action="store_true",
        help=f"replace the shipped weights {WEIGHTS.name} (or "
        f"{RANDOM_COLOURS_WEIGHTS.name} with --colours random) and their "
        "record in the package",
    )
    args = parser.parse_args(argv)
    try:
        with contextlib.ExitStack() as held:  # the output's lock
            _run(parser, args, argv, held)
    except KeyboardInterrupt:
        parser.exit(130, interrupted(PROG))


def _run(parser, args, argv, held: contextlib.ExitStack) -> None:
    if args.record and args.colours not in SHIPPED:
        parser.exit(
            2,
            f"{PROG}: error: --record replaces a shipped model, trained "
            f"with --colours {' or '.join(SHIPPED)}, got --colours "
            f"{args.colours}; write it with --output\n",
        )
    if args.record:
        weights = shipped_weights(args.colours)
    elif args.output is not None:
        weights = args.output
    else:
        weights = Path(
            "tiny-shapes.pt"
            if args.colours == "families"
            else f"tiny-shapes-{args.colours}-colours.pt"
        )
    record_path = weights.with_suffix(".json")
    try:  # every user mistake is found before the training starts
        device = _arguments.device(args.device)
        settings(args.steps, args.batch_size, args.lr, args.seed)
        outputs(weights, record_path, PROG)
        held.enter_context(
            _io.output_lock(
                record_path,
                f"--record ({weights})"
                if args.record
                else f"--output {weights}",
            )
        )
    except ValueError as error:
        parser.exit(2, f"{PROG}: error: {error}\n")
    torch.set_num_threads(args.threads)
    try:
        model, record = train(
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            device=device,
            colours=args.colours,
            curve_every=args.curve_every,
        )
    except FloatingPointError as error:  # "\n" ends the progress bar's line
        parser.exit(1, f"\n{PROG}: {error}\n")
    except KeyboardInterrupt:
        parser.exit(130, "\n" + interrupted(PROG))
    record |= results(model, args.colours) | {
        "threads": args.threads,
        "device": device.type,
        "command": " ".join(
            [PROG, *(argv if argv is not None else sys.argv[1:])]
        ),
        "torch": torch.__version__,
        "code": stamp(__file__),  # the code it ran: pages note changes
    }
    try:
        record = write_pair(weights, state_bytes(model), record_path, record)
    except KeyboardInterrupt:  # held back until both files were in place
        parser.exit(130, interrupted(PROG, written=True))
    except OSError as error:
        parser.exit(
            1,
            f"{PROG}: could not write {weights} and {record_path} "
            f"({error.strerror or error}): the previous files are "
            "unchanged\n",
        )
    try:  # the pair is in place: a Ctrl-C now interrupts only the report
        print(json.dumps(record, indent=1))
        print(f"written to {weights} and {record_path}", file=sys.stderr)
    except KeyboardInterrupt:
        parser.exit(130, "\n" + interrupted(PROG, written=True))


if __name__ == "__main__":
    main()
