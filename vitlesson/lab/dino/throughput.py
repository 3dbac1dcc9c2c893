"""Steps per second of DINO in miniature on 1 and 2 processes:
``python -m vitlesson.lab.dino.throughput --output FILE``.

Each repeat starts the training in fresh processes, as a learner does: one
Python process, or ``torchrun --standalone --nproc_per_node=N`` for N. Every
process count and thread count gets the same global batch and the same
steps: after a warm-up run of two steps, the processes train one run of
``--steps`` steps (the set-up of the networks included, a few milliseconds)
on the clock. The settings take turns, one repeat each per round, so that a
slow spell of a shared machine hits all of them alike, and the record keeps
the steps per second of every repeat: the page shows their median and their
spread, and the machine's load average before and after.

The command writes one JSON file, atomically, and never over a file that
is not such a record; :func:`read` checks a record and :func:`table` prints
it, as the lab's part 2 does.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from vitlesson import _arguments, _io
from vitlesson._arguments import number_in, positive_int
from vitlesson._io import writable_output, write_text
from vitlesson._provenance import stamp
from vitlesson._runs import interrupted

PROG = "python -m vitlesson.lab.dino.throughput"
# shipped with the package, so a downloaded notebook (Colab) can read it
RECORDED = (
    Path(__file__).resolve().parents[2] / "weights" / "dino-throughput.json"
)
WARMUP_STEPS = 2
RUN_KEYS = ("processes", "threads", "steps_per_second")


def _positive_whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _positive_number(value) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def check(record, source: str = "the record") -> dict:
    """Return ``record`` if it is a throughput record; raise ``ValueError``
    naming ``source`` and what is wrong otherwise."""
    if not isinstance(record, dict):
        raise ValueError(
            f"{source} must be a JSON object, got {type(record).__name__}"
        )
    for key in ("steps", "repeats", "batch_size"):
        if not _positive_whole(record.get(key)):
            raise ValueError(
                f"{source}: {key!r} must be a positive integer, got "
                f"{record.get(key)!r}"
            )
    runs = record.get("runs")
    if not isinstance(runs, list) or not runs:
        raise ValueError(
            f"{source}: 'runs' must be a non-empty list, got {runs!r}"
        )
    for index, run in enumerate(runs):
        where = f"{source}: runs[{index}]"
        if not isinstance(run, dict) or any(k not in run for k in RUN_KEYS):
            raise ValueError(f"{where} must be an object with {RUN_KEYS}")
        for key in ("processes", "threads"):
            if not _positive_whole(run[key]):
                raise ValueError(
                    f"{where}: {key!r} must be a positive integer, got "
                    f"{run[key]!r}"
                )
        rates = run["steps_per_second"]
        if (
            not isinstance(rates, list)
            or len(rates) != record["repeats"]
            or not all(_positive_number(r) for r in rates)
        ):
            raise ValueError(
                f"{where}: 'steps_per_second' must list "
                f"{record['repeats']} positive numbers (one per "
                f"repeat), got {rates!r}"
            )
    return record


def read(path: str | os.PathLike[str] = RECORDED) -> dict:
    """The throughput record in ``path`` (by default the one the site
    shows), checked by :func:`check`."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"path must name a JSON file (str or Path), got "
            f"{type(path).__name__} ({path!r})"[:300]
        )
    if not os.fspath(path).strip():
        raise ValueError(f"path must name a JSON file, got {path!r}")
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(
            f"{path} does not exist: {PROG} --output {path} measures it"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} cannot be read as JSON ({error})") from None
    return check(record, str(path))


def summary(run: dict) -> tuple[float, float, float]:
    """(median, lowest, highest) steps per second of one measurement."""
    rates = run["steps_per_second"]
    return statistics.median(rates), min(rates), max(rates)


def table(record: dict) -> str:
    """The record as a table of plain text, at most 79 characters a line."""
    check(record)
    machine = record.get("machine", {})
    lines = [
        f"global batch {record['batch_size']}, {record['steps']} steps, "
        f"{record['repeats']} repeats; {machine.get('cores', '?')} cores, "
        f"torch {machine.get('torch', '?')}",
    ]
    load = record.get("load_average")
    if load:  # other work on the machine while it measured
        lines.append(
            f"load average (1 min): {load['before'][0]:.1f} before, "
            f"{load['after'][0]:.1f} after"
        )
    lines += [
        "",
        f"{'processes':>9} {'threads each':>12} {'threads in all':>14} "
        f"{'steps/s':>8} {'(lowest-highest)':>17}",
    ]
    for run in record["runs"]:
        median, low, high = summary(run)
        lines.append(
            f"{run['processes']:>9} {run['threads']:>12} "
            f"{run['processes'] * run['threads']:>14} {median:>8.2f} "
            f"{f'({low:.2f}-{high:.2f})':>17}"
        )
    return "\n".join(lines)


def _worker_command(processes: int, threads: int, args) -> list[str]:
    worker = [
        "-m",
        "vitlesson.lab.dino.throughput",
        "--worker",
        f"--threads={threads}",
        f"--steps={args.steps}",
        f"--batch-size={args.batch_size}",
    ]
    if processes == 1:
        return [sys.executable, *worker]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={processes}",
        *worker,
    ]


def measure(processes: int, threads: int, args) -> float:
    """Steps per second of one run on ``processes`` fresh processes of
    ``threads`` torch threads each. They run in a session of their own,
    so that Ctrl-C reaches this process only, which then stops them all
    (torchrun, asked to stop, stops its workers)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    child = subprocess.Popen(
        _worker_command(processes, threads, args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        out, err = child.communicate(timeout=args.timeout)
    except BaseException:  # Ctrl-C or the timeout: stop every process
        child.terminate()  # torchrun passes it on to its workers
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        raise
    lines = out.strip().splitlines()
    if child.returncode != 0 or not lines:
        reason = (err.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(
            f"the run on {processes} process(es) of {threads} thread(s) "
            f"failed (exit {child.returncode}): {reason[:200]}"
        )
    return round(args.steps / float(lines[-1]), 3)


def _worker(args) -> None:
    """One process of a measurement (started by :func:`measure`): a
    warm-up run, then one run on the clock, whose seconds process 0
    prints."""
    import torch
    import torch.distributed as dist

    from vitlesson.lab.dino.training import DINOConfig, process, train

    torch.set_num_threads(args.threads[0])
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("gloo")
    config = DINOConfig(steps=args.steps, batch_size=args.batch_size)

    def together():  # every process starts and stops the clock together
        if process()[1] > 1:
            dist.barrier()

    train(replace(config, steps=WARMUP_STEPS), progress=False)
    together()
    start = time.perf_counter()
    train(config, progress=False)
    together()
    if process()[0] == 0:
        print(time.perf_counter() - start)
    if process()[1] > 1:
        dist.destroy_process_group()


def _parser() -> argparse.ArgumentParser:
    parser = _arguments.Parser(
        prog=PROG,
        description="Measure the steps per second of DINO in miniature on "
        "1 and 2 processes (torchrun) with the same global batch.",
    )
    parser.add_argument(
        "--output",
        type=_arguments.path,
        default=Path("dino-throughput.json"),
        help="JSON file to write (default ./dino-throughput.json; the "
        "site shows vitlesson/weights/dino-throughput.json)",
    )
    parser.add_argument(
        "--processes",
        type=positive_int,
        nargs="+",
        default=[1, 2],
        help="process counts to measure (default 1 2)",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        nargs="+",
        default=[1, 2],
        help="torch threads of each process, each measured with every "
        "process count (default 1 2)",
    )
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=20,
        help="optimiser steps of each repeat (default 20)",
    )
    parser.add_argument(
        "--repeats",
        type=positive_int,
        default=5,
        help="runs of --steps steps of each setting (default 5)",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=64,
        help="global batch, split over the processes (default 64, the "
        "shipped recipe's)",
    )
    parser.add_argument(
        "--timeout",
        type=number_in(0, 86400, "seconds"),
        default=900,
        help="stop a measurement that takes longer (default 900 s)",
    )
    parser.add_argument(
        "--worker", action="store_true", help=argparse.SUPPRESS
    )
    return parser


def _checked_output(path: Path) -> Path:
    """The output, checked before any work: writable, and not a file that
    this command did not write."""
    writable_output(path, "--output")
    if path.exists():
        try:
            read(path)
        except ValueError as error:
            raise ValueError(
                f"--output {path} exists and is not a record of this "
                f"command ({error}): name another file or remove it"
            ) from None
    return path


def main(argv=None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
        return
    with contextlib.ExitStack() as held:  # the output's lock
        _run(parser, args, argv, held)


def _run(parser, args, argv, held: contextlib.ExitStack) -> None:
    from vitlesson.lab.dino.training import DINOConfig

    try:
        output = _checked_output(args.output)
        uneven = [n for n in args.processes if args.batch_size % n]
        if uneven:
            raise ValueError(
                f"--batch-size ({args.batch_size}) must be divisible by "
                f"every process count, got {uneven}"
            )
        DINOConfig(steps=args.steps, batch_size=args.batch_size)  # fits?
        held.enter_context(_io.output_lock(output))
    except ValueError as error:
        parser.exit(2, f"{PROG}: {error}\n")
    try:
        record = _measure_all(args, argv)
        write_text(output, json.dumps(record, indent=1) + "\n")
    except KeyboardInterrupt:
        parser.exit(130, interrupted(PROG))
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        parser.exit(1, f"{PROG}: {error}; nothing was written\n")
    except OSError as error:
        parser.exit(
            1,
            f"{PROG}: could not write {output} "
            f"({error.strerror or error}); the previous file is unchanged\n",
        )
    print(table(record))
    print(f"written to {output}", file=sys.stderr)


def _measure_all(args, argv) -> dict:
    import torch

    from vitlesson.tools.bench import cpu_model

    before = os.getloadavg()
    runs = [
        {"processes": processes, "threads": threads, "steps_per_second": []}
        for processes in args.processes
        for threads in args.threads
    ]
    for repeat in range(args.repeats):
        for run in runs:
            print(
                f"repeat {repeat + 1} of {args.repeats}: {run['processes']} "
                f"process(es) x {run['threads']} thread(s)",
                file=sys.stderr,
                flush=True,
            )
            rate = measure(run["processes"], run["threads"], args)
            run["steps_per_second"].append(rate)
    return {
        "command": " ".join(
            [PROG, *(argv if argv is not None else sys.argv[1:])]
        ),
        "date": datetime.date.today().isoformat(),
        "code": stamp(__file__),  # the code it ran: pages note changes
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "load_average": {
            "before": [round(x, 2) for x in before],
            "after": [round(x, 2) for x in os.getloadavg()],
        },
        "steps": args.steps,
        "repeats": args.repeats,
        "batch_size": args.batch_size,
        "warmup_steps": WARMUP_STEPS,
        "runs": runs,
    }


if __name__ == "__main__":
    main()
