"""The command ``python -m vitlesson.lab.dino``: train DINO (or a baseline or
an ablation) and record the run, or ``--evaluate`` the shipped weights.

On one process it runs as is; under ``torchrun --nproc_per_node=N`` each
process trains on its share of the batch (gloo on the CPU, nccl on CUDA)
and process 0 shows the progress and writes the outputs.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import sys
from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.distributed as dist

from vitlesson import _arguments, _io
from vitlesson._arguments import non_negative_int, number_in, positive_int
from vitlesson._provenance import stamp
from vitlesson._runs import interrupted, outputs, state_bytes, write_pair
from vitlesson.lab.dino.evaluation import (
    ABLATIONS,
    DINO_WEIGHTS,
    SUPERVISED_WEIGHTS,
    evaluate,
    evaluate_shipped,
)
from vitlesson.lab.dino.training import DINOConfig, train, train_supervised

PROG = "python -m vitlesson.lab.dino"
DESCRIPTION = (
    "DINO in miniature: self-distillation with no labels, on a CPU in minutes."
)


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:  # False for nan too
        raise argparse.ArgumentTypeError(
            f"must be a rate in [0, 1), got {text}"
        )
    return value


def _parser() -> argparse.ArgumentParser:
    default = DINOConfig()
    parser = _arguments.Parser(
        prog=PROG,
        description=DESCRIPTION,
        epilog="The defaults are the recipe of the shipped weights. "
        "--no-centering and --no-sharpening are the collapse "
        "ablations, --control their same-length run of the "
        "shipped settings; --supervised trains the labelled "
        "baseline. "
        "Under torchrun --nproc_per_node=N -m vitlesson.lab.dino the "
        "batch is split over N processes.",
    )
    parser.add_argument(
        "--evaluate",
        action="store_true",
        help="train nothing: measure the shipped weights and "
        "the baselines, and print the metrics as one "
        "JSON object on the last line",
    )
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=default.steps,
        help=f"optimiser steps (default {default.steps})",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=default.batch_size,
        help="images per step over all processes; each "
        "gives 2 global and "
        f"{default.crops.local_crops} local crops "
        f"(default {default.batch_size})",
    )
    parser.add_argument(
        "--lr",
        type=number_in(0, 1),
        default=default.lr,
        help="peak AdamW learning rate, reached after a "
        "linear warm-up over the first tenth of the "
        f"steps (default {default.lr:g})",
    )
    parser.add_argument(
        "--out-dim",
        type=positive_int,
        default=default.out_dim,
        help=f"K, the head's outputs (default {default.out_dim}; DINO: 65536)",
    )
    parser.add_argument(
        "--teacher-temp",
        type=number_in(0, 1),
        default=default.teacher_temp,
        help="teacher softmax temperature, lower is sharper "
        f"(default {default.teacher_temp:g}; the "
        f"student's is {default.student_temp:g})",
    )
    parser.add_argument(
        "--momentum-teacher",
        type=number_in(0, 1),
        default=default.momentum_teacher,
        help="EMA momentum of the teacher at the start, "
        "raised to 1 along a half cosine (default "
        f"{default.momentum_teacher:g})",
    )
    parser.add_argument(
        "--local-crops",
        type=positive_int,
        default=default.crops.local_crops,
        help="local 16x16 crops per image (default "
        f"{default.crops.local_crops}; DINO: 8)",
    )
    parser.add_argument(
        "--drop-path-rate",
        type=_rate,
        default=default.drop_path_rate,
        help="stochastic depth of the student (default "
        f"{default.drop_path_rate:g}; 0 makes a run "
        "the same for any number of processes)",
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=default.seed,
        help="seed of the data, the crops and the "
        f"initial weights (default {default.seed})",
    )
    parser.add_argument(
        "--device",
        choices=_arguments.DEVICES,
        default="auto",
        help="where to train or evaluate: auto (a GPU when "
        "there is one, default), cpu, cuda or mps",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=2,
        help="torch CPU threads of each process (default 2)",
    )
    parser.add_argument(
        "--dist-timeout",
        type=number_in(0, 86400, "seconds"),
        default=300,
        help="under torchrun: stop when another process has "
        "not answered for this many seconds "
        "(default 300)",
    )
    parser.add_argument(
        "--no-center-all-reduce",
        action="store_true",
        help="a demonstration, not DINO: under torchrun "
        "each process centres with its own share of "
        "the batch, and the teacher no longer matches "
        "a one-process run's",
    )
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument(
        "--no-centering",
        action="store_true",
        help="ablation: never subtract the running mean",
    )
    kind.add_argument(
        "--no-sharpening",
        action="store_true",
        help="ablation: teacher temperature = student's",
    )
    kind.add_argument(
        "--control",
        action="store_true",
        help="the ablations' control: the shipped settings, "
        "recorded with the ablations (give it their "
        "--steps, so the runs are the same length)",
    )
    kind.add_argument(
        "--supervised",
        action="store_true",
        help="train the baseline with labels instead",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--output",
        type=_arguments.path,
        help="weights file to write, its record next to it "
        "as .json (default ./dino-tiny.pt, "
        "./dino-supervised.pt or ./dino-ablation-*.json)",
    )
    where.add_argument(
        "--record",
        action="store_true",
        help="replace the shipped weights, record or "
        "ablation curves in the package",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


CONTROL = "shipped-settings"  # the ablations' same-length control


def _ablation(args) -> str | None:
    if args.no_centering:
        return "no-centering"
    if args.no_sharpening:
        return "no-sharpening"
    if args.control:
        if args.teacher_temp != DINOConfig.teacher_temp:
            raise ValueError(
                f"--control trains the shipped settings: leave "
                f"--teacher-temp at {DINOConfig.teacher_temp:g}, got "
                f"{args.teacher_temp:g}"
            )
        return CONTROL
    if args.teacher_temp != DINOConfig.teacher_temp and not args.supervised:
        return f"teacher-temp-{args.teacher_temp:g}"
    return None


def _read_ablations() -> dict:
    """The recorded ablations, checked before any work (they are merged
    with the new run at its end)."""
    if not ABLATIONS.exists():
        return {}
    try:
        runs = json.loads(ABLATIONS.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{ABLATIONS} cannot be read as JSON ({error}): "
            f"repair it or remove it"
        ) from None
    if not isinstance(runs, dict) or not all(
        isinstance(run, dict) and "metrics" in run for run in runs.values()
    ):
        raise ValueError(
            f"{ABLATIONS} must map each ablation to its record "
            f"(with its metrics): repair it or remove it"
        )
    return runs


def _plan(args, ablation) -> tuple[Path | None, Path, dict]:
    """(weights or None, record, ablation runs to merge with)."""
    if ablation:
        if args.record:
            return None, ABLATIONS, _read_ablations()
        record = args.output or Path(f"dino-ablation-{ablation}.json")
        if record.suffix != ".json":
            raise ValueError(
                f"an ablation writes only its JSON record: "
                f"name a .json file, got {record}"
            )
        return None, record, {}
    weights = (
        (SUPERVISED_WEIGHTS if args.supervised else DINO_WEIGHTS)
        if args.record
        else args.output
        or Path("dino-supervised.pt" if args.supervised else "dino-tiny.pt")
    )
    return weights, weights.with_suffix(".json"), {}


def _start_processes(args) -> tuple[int, int, int]:
    """Join the other processes when torchrun started several: (rank,
    world, local rank)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world == 1:
        return 0, 1, local_rank
    if args.batch_size % world:
        raise ValueError(
            f"--batch-size ({args.batch_size}) must be "
            f"divisible by the number of processes ({world})"
        )
    return int(os.environ["RANK"]), world, local_rank


def main(argv=None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        with contextlib.ExitStack() as held:  # the output's lock, if any
            _run(parser, args, argv, held)
    except KeyboardInterrupt:
        parser.exit(130, interrupted(PROG))
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def _config(args) -> DINOConfig:
    """The run's settings from the flags (checked by DINOConfig)."""
    return DINOConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        out_dim=args.out_dim,
        teacher_temp=args.teacher_temp,
        momentum_teacher=args.momentum_teacher,
        drop_path_rate=args.drop_path_rate,
        centering=not args.no_centering,
        sharpening=not args.no_sharpening,
        seed=args.seed,
        crops=replace(DINOConfig().crops, local_crops=args.local_crops),
    )


def _run(parser, args, argv, held: contextlib.ExitStack) -> None:
    try:
        if args.evaluate and (args.output or args.record):
            flag = "--record" if args.record else f"--output {args.output}"
            raise ValueError(
                f"--evaluate trains nothing and writes no file: drop {flag} "
                f"(the metrics are printed as JSON on the last line)"
            )
        rank, world, local_rank = _start_processes(args)
        device = _arguments.device(args.device, local_rank)
        ablation = _ablation(args)
        if not args.evaluate:
            config = _config(args)
            weights, record_path, runs = _plan(args, ablation)
            # an ablation record collects several runs, so only the plain
            # run refuses to replace files it did not make
            outputs(weights, record_path, None if ablation else PROG)
            if rank == 0:  # the one process that writes
                output = weights or record_path  # as the user named it
                held.enter_context(
                    _io.output_lock(
                        record_path,
                        f"--record ({output})"
                        if args.record
                        else f"--output {output}",
                    )
                )
    except ValueError as error:
        parser.exit(2, f"{PROG}: {error}\n")
    torch.set_num_threads(args.threads)
    if args.evaluate:
        try:  # a record that does not name its weights, in one line
            metrics = evaluate_shipped(device)
        except (ValueError, FileNotFoundError) as error:
            parser.exit(1, f"{PROG}: {error}\n")
        for name, values in metrics.items():
            print(
                f"{name:>12}: k-NN {values['knn_accuracy']:.3f}, "
                f"IoU best head {values['iou_best_head']:.3f}, "
                f"mean {values['iou_mean']:.3f}",
                file=sys.stderr,
            )
        print(json.dumps(metrics))
        return
    try:
        if world > 1:
            dist.init_process_group(
                "nccl" if device.type == "cuda" else "gloo",
                timeout=datetime.timedelta(seconds=args.dist_timeout),
            )
        if args.supervised:
            backbone, history = train_supervised(
                config, not args.quiet, device
            )
        else:
            backbone, history = train(
                config,
                not args.quiet,
                device,
                all_reduce_center=not args.no_center_all_reduce,
            )
    except FloatingPointError as error:
        parser.exit(1, f"{PROG}: {error}\n")
    except (dist.DistError, RuntimeError) as error:
        if world == 1:
            raise
        reason = str(error).strip().splitlines() or [type(error).__name__]
        parser.exit(
            1,
            f"{PROG}: process {rank} of {world} stopped: another "
            f"process stopped or did not answer "
            f"({reason[0][:160]})\n",
        )
    if rank > 0:
        return  # process 0 evaluates and writes
    dist.destroy_process_group() if world > 1 else None
    record = {
        "command": " ".join(
            [PROG, *(argv if argv is not None else sys.argv[1:])]
        ),
        "seed": config.seed,
        "threads": args.threads,
        "processes": world,
        "device": device.type,
        "torch": torch.__version__,
        "code": stamp(__file__),  # the code it ran: pages note changes
        "config": asdict(config)
        | {
            "warmup_steps": config.warmup_steps,
            "freeze_last_layer_steps": config.freeze_last_layer_steps,
        },
        "train_seconds": history.pop("train_seconds"),
        "metrics": evaluate(backbone.to(device)),
        "history": history,
    }
    data = None if ablation else state_bytes(backbone.cpu())
    if ablation:
        record = runs | {ablation: record}
    try:
        write_pair(weights, data, record_path, record)
    except KeyboardInterrupt:  # held back until both files were in place
        parser.exit(130, interrupted(PROG, written=True))
    except OSError as error:
        parser.exit(
            1,
            f"{PROG}: could not write {record_path}"
            f"{' and ' + str(weights) if weights else ''} "
            f"({error.strerror or error}): the previous files "
            f"are unchanged\n",
        )
    try:  # the pair is in place: a Ctrl-C now interrupts only the report
        print(
            json.dumps(
                record[ablation]["metrics"] if ablation else record["metrics"]
            )
        )
        print(
            f"written to {weights or record_path}"
            + (f" and {record_path}" if weights else ""),
            file=sys.stderr,
        )
    except KeyboardInterrupt:
        parser.exit(130, "\n" + interrupted(PROG, written=True))
