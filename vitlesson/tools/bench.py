"""Measured answers to the lesson's analysis questions: ``python -m vitlesson.tools.bench``.

Every timing here is a median from ``torch.utils.benchmark`` (warm-up, then
repeated blocks until the measurement is stable) at a fixed number of threads,
never one ``time.time()`` around one call. Next to each patch embedding runs its
*roof*: a plain matrix multiplication of exactly the same GEMM shape, the fastest
this machine can do that arithmetic. FLOPs come from ``torch.utils.flop_counter``.

The command writes a JSON file (``--output``, atomically: a failure or Ctrl-C
leaves the previous file) labelled with the machine, threads, torch version and
date. The site build renders :data:`RECORDED` into the Performance page;
``--record`` replaces that file, and is the one place this package reaches into
a checkout's ``docs/``.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import importlib.util
import json
import platform
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
import torch.utils.benchmark as benchmark
from torch.utils.flop_counter import FlopCounterMode

from vitlesson._arguments import Parser, positive_int
from vitlesson._arguments import path as path_type
from vitlesson._io import writable_output, write_text
from vitlesson._provenance import stamp
from vitlesson.patching import (
    MATMUL_FROM_PATCH_SIZE,
    FlexiblePatchEmbedding,
    PatchEmbedding,
)
from vitlesson.tools.checkpoints import hf_vit_reference
from vitlesson.vit import vit_small

PATCH_CONFIGS = [(224, 8), (224, 16), (224, 32), (384, 16)]
BATCHES = [1, 8]
EMBED_DIM = 768
ATTENTION_TOKENS = [50, 101, 197, 401, 577, 785]
# The results the site shows: in a checkout of the repository only (an
# installed package has no docs/). sitebuild/benchmarks.py reads this path.
RECORDED = Path(__file__).resolve().parents[2] / "docs" / "data" / "bench.json"
PROG = "python -m vitlesson.tools.bench"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def median_seconds(
    fns: dict, threads: int, block_seconds: float, rounds: int
) -> dict[str, float]:
    """Median time of each ``fn()`` after warm-up, at ``threads`` threads.

    Each candidate is warmed up and calibrated by ``blocked_autorange``: how many calls
    make a block of about ``block_seconds``. Then the candidates take turns, one block
    each, for ``rounds`` rounds, and each keeps the median of its blocks. Short blocks in
    alternation make a slow spell of a shared machine hit all candidates alike instead of
    whichever happened to run then: the ratios between them are what we report. Every
    other round runs the candidates in reverse order, so that none always runs first,
    after the same neighbour.
    """
    timers, calls = {}, {}
    for name, fn in fns.items():
        timers[name] = benchmark.Timer(
            stmt="fn()", globals={"fn": fn}, num_threads=threads
        )
        warm = timers[name].blocked_autorange(min_run_time=block_seconds)
        calls[name] = max(1, round(block_seconds / warm.median))
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for round_ in range(rounds):
        order = list(timers) if round_ % 2 == 0 else list(reversed(timers))
        for name in order:
            samples[name].append(timers[name].timeit(calls[name]).median)
    return {name: statistics.median(times) for name, times in samples.items()}


def warm_up_allocator() -> None:
    """Allocate and free one 24 MiB block before measuring anything.

    glibc's allocator hands a large block back to the system when it is freed, and raises
    its thresholds for doing so each time it frees a larger one: a process that has once
    handled a large tensor (as any real one has) keeps more memory for reuse. Starting from
    that state, whether a candidate pays page faults depends on its own allocations, not on
    which measurements happened to run before it.
    """
    torch.empty(6 * 2**20)  # 24 MiB of float32, freed at once


def page_faults_per_call(fn, calls: int = 3) -> float | None:
    """Fresh memory pages the process touched per ``fn()`` (minor page faults; ``None`` where
    the platform does not count them). Every large tensor the allocator cannot reuse costs
    one fault per 4 KiB page the first time it is written."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        fn()
    return (
        resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    ) / calls


def count_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def patch_embedding_rows(
    threads: int, block_seconds: float, rounds: int, progress
) -> list[dict]:
    """Conv, reshape+linear, the package default, and the matmul roof, per configuration and batch."""
    rows = []
    for img_size, patch_size in PATCH_CONFIGS:
        for batch in BATCHES:
            progress(f"patch embedding {img_size}/{patch_size}, batch {batch}")
            rows.append(
                patch_embedding_row(
                    img_size, patch_size, batch, threads, block_seconds, rounds
                )
            )
    return rows


def patch_embedding_row(
    img_size: int,
    patch_size: int,
    batch: int,
    threads: int,
    block_seconds: float,
    rounds: int,
) -> dict:
    """One configuration and batch of :func:`patch_embedding_rows`."""
    torch.manual_seed(0)
    images = torch.randn(batch, 3, img_size, img_size)
    conv = FlexiblePatchEmbedding(
        img_size, patch_size, embed_dim=EMBED_DIM, flatten_patches=False
    ).eval()
    linear = FlexiblePatchEmbedding(
        img_size, patch_size, embed_dim=EMBED_DIM, flatten_patches=True
    ).eval()
    default = PatchEmbedding(img_size, patch_size, embed_dim=EMBED_DIM).eval()
    n_patches = default.n_patches
    a = torch.randn(
        batch * n_patches, default.proj.weight[0].numel()
    )  # (B*N, C*P*P)
    b = torch.randn(default.proj.weight[0].numel(), EMBED_DIM)  # (C*P*P, D)
    forms = {
        "conv": lambda: conv(images),
        "reshape + linear": lambda: linear(images),
        "vitlesson default": lambda: default(images),
        "matmul roof": lambda: torch.mm(a, b),
    }
    with torch.no_grad():
        flops = count_flops(forms["conv"])
        times = median_seconds(forms, threads, block_seconds, rounds)
    return {
        "config": f"{img_size}/{patch_size}",
        "batch": batch,
        "tokens": n_patches,
        "params": sum(p.numel() for p in default.parameters()),
        "output_mb": batch * n_patches * EMBED_DIM * 4 / 2**20,
        "gflop": flops / 1e9,
        "ms": {name: t * 1e3 for name, t in times.items()},
        "gflops_per_s": {name: flops / t / 1e9 for name, t in times.items()},
        "default_vs_roof": times["matmul roof"] / times["vitlesson default"],
        "default_vs_conv_max_abs_diff": _default_vs_conv(default, images),
    }


def _default_vs_conv(default: PatchEmbedding, images: torch.Tensor) -> float:
    proj = default.proj  # compare with PyTorch's conv, whichever form it runs
    with torch.no_grad():
        conv = F.conv2d(images, proj.weight, proj.bias, stride=proj.stride)
        conv_tokens = conv.flatten(2).transpose(1, 2)  # (B, D, N) -> (B, N, D)
        return (default(images) - conv_tokens).abs().max().item()


def roof_summary(rows: list[dict]) -> dict:
    """The default patch embedding's fraction of the matmul roof over all
    configurations: the geometric mean, and the worst with where it is."""
    fractions = [row["default_vs_roof"] for row in rows]
    worst = min(rows, key=lambda row: row["default_vs_roof"])
    return {
        "geomean": statistics.geometric_mean(fractions),
        "worst": worst["default_vs_roof"],
        "worst_at": f"{worst['config']} batch {worst['batch']}",
    }


def attention_rows(
    threads: int,
    block_seconds: float,
    rounds: int,
    progress,
    dim: int = 384,
    heads: int = 6,
) -> list[dict]:
    """Fused SDPA against explicit softmax(QKᵀ/√d)V as the sequence grows (ViT-S width, batch 1)."""
    rows = []
    for tokens in ATTENTION_TOKENS:
        progress(f"attention, {tokens} tokens")
        rows.append(
            attention_row(tokens, threads, block_seconds, rounds, dim, heads)
        )
    return rows


def attention_row(
    tokens: int,
    threads: int,
    block_seconds: float,
    rounds: int,
    dim: int,
    heads: int,
) -> dict:
    """One sequence length of :func:`attention_rows`."""
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 1, heads, tokens, dim // heads).unbind(
        0
    )  # 3 x (1, h, T, hd)

    def explicit():
        weights = (q @ k.transpose(-2, -1)) * (
            dim // heads
        ) ** -0.5  # (1, h, T, T)
        return weights.softmax(dim=-1) @ v

    with torch.no_grad():
        times = median_seconds(
            {
                "sdpa": lambda: F.scaled_dot_product_attention(q, k, v),
                "explicit": explicit,
            },
            threads,
            block_seconds,
            rounds,
        )
    return {
        "tokens": tokens,
        "attention_matrix_mb": heads * tokens**2 * 4 / 2**20,
        "ms": {name: t * 1e3 for name, t in times.items()},
    }


def vit_row(
    threads: int, block_seconds: float, rounds: int, progress, batch: int = 8
) -> dict:
    """ViT-S/16 forward at 224, this package against Hugging Face's ViTModel (sdpa), same weights.

    A second copy of the Hugging Face model runs beside them: its time over the first's
    (``same_model_ratio``) would be 1 on a perfectly steady machine, so its distance
    from 1 shows how large a difference this measurement can resolve.
    """
    torch.manual_seed(0)
    ours = vit_small(patch_size=16).eval()
    reference, again = hf_vit_reference(ours), hf_vit_reference(ours)
    images = torch.randn(batch, 3, 224, 224)
    progress(f"ViT-S/16 batch {batch}: vitlesson and transformers")
    with torch.no_grad():
        forms = {
            "vitlesson": lambda: ours.forward_features(images),
            "transformers": lambda: (
                reference(pixel_values=images).last_hidden_state
            ),
            "transformers, second copy": lambda: (
                again(pixel_values=images).last_hidden_state
            ),
        }
        times = median_seconds(
            forms, threads, block_seconds, rounds
        )  # a forward pass is longer than a block: one call each
        faults = {name: page_faults_per_call(fn) for name, fn in forms.items()}
    ours_s, hf_s = times["vitlesson"], times["transformers"]
    return {
        "model": "ViT-S/16",
        "batch": batch,
        "ms": {name: t * 1e3 for name, t in times.items()},
        "ratio": ours_s / hf_s,
        "same_model_ratio": times["transformers, second copy"] / hf_s,
        "page_faults_per_forward": faults,
        "transformers_version": importlib.metadata.version("transformers"),
    }


def run(
    quick: bool = False,
    threads: int = 2,
    progress=print,
    include_vit: bool = True,
) -> dict:
    """All measurements; ``quick`` takes shorter blocks and fewer rounds (numbers get noisier, not different)."""
    block_seconds, rounds = (0.02, 2) if quick else (0.05, 30)
    torch.set_num_threads(threads)
    warm_up_allocator()
    patch_rows = patch_embedding_rows(threads, block_seconds, rounds, progress)
    results: dict = {
        "machine": {
            "cpu": cpu_model(),
            "threads": threads,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "date": datetime.date.today().isoformat(),
        "code": stamp(__file__),  # the code it ran: pages note changes
        "mode": "quick" if quick else "full",
        "patch_embedding": patch_rows,
        "matmul_from_patch_size": MATMUL_FROM_PATCH_SIZE,  # the default's rule
        "default_vs_roof": roof_summary(patch_rows),
        "attention": attention_rows(threads, block_seconds, rounds, progress),
    }
    if include_vit:
        results["vit"] = vit_row(threads, block_seconds, rounds, progress)
    return results


def main(argv=None) -> None:
    parser = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short blocks, two rounds (about 20 s; a full run takes about 4 minutes)",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=2,
        help="torch threads (default 2)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--output",
        type=path_type,
        default=Path("bench.json"),
        help="JSON file to write (default ./bench.json)",
    )
    where.add_argument(
        "--record",
        action="store_true",
        help="replace the results the site shows, docs/data/bench.json "
        "(a full run in a checkout of the repository only)",
    )
    args = parser.parse_args(argv)
    if args.record and args.quick:
        parser.error("--record needs a full run: drop --quick")
    if args.record and not RECORDED.parent.is_dir():
        parser.error(
            f"--record needs a checkout of the repository: "
            f"{RECORDED.parent} does not exist"
        )
    if importlib.util.find_spec("transformers") is None:
        parser.error(
            "the ViT row compares against Hugging Face transformers, "
            "which is not installed: pip install 'vitlesson[bench]'"
        )
    output = RECORDED if args.record else args.output
    try:  # before the minutes of measuring
        writable_output(output, "--output")
    except ValueError as error:
        parser.error(str(error))
    if output.exists() and not _earlier_results(output):
        parser.error(
            f"{output} exists and is not the results of an earlier run "
            "(a JSON object with 'machine' and 'mode'): it is left as it "
            "is; name another --output"
        )
    steps = len(PATCH_CONFIGS) * len(BATCHES) + len(ATTENTION_TOKENS) + 1
    done = 0

    def progress(message: str) -> None:
        nonlocal done
        done += 1
        print(f"[{done:>2}/{steps}] {message}", file=sys.stderr, flush=True)

    try:
        results = run(
            quick=args.quick, threads=args.threads, progress=progress
        )
        write_text(output, json.dumps(results, indent=1) + "\n")
    except KeyboardInterrupt:
        parser.exit(130, f"{PROG}: interrupted; {output} was not written\n")
    except OSError as error:
        parser.exit(
            1,
            f"{PROG}: could not write {output} "
            f"({error.strerror or error}); any previous file is unchanged\n",
        )
    print(format_summary(results))
    print(f"written to {output}")


def _earlier_results(path: Path) -> bool:
    """Whether ``path`` holds what this command writes."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(content, dict) and {"machine", "mode"} <= set(content)


def format_summary(results: dict) -> str:
    """The results as plain text, at most 79 characters a line."""
    machine = results["machine"]
    lines = [
        f"{machine['cpu']}, {machine['threads']} threads, "
        f"torch {machine['torch']}",
        f"{results['date']} ({results['mode']} mode)",
        "",
        "patch embedding, GFLOP/s:",
        f"{'config':>8} {'batch':>5} {'conv':>7} {'linear':>7} "
        f"{'default':>8} {'roof':>7} {'default/roof':>13}",
    ]
    for row in results["patch_embedding"]:
        g = row["gflops_per_s"]
        lines.append(
            f"{row['config']:>8} {row['batch']:>5} {g['conv']:>7.1f} "
            f"{g['reshape + linear']:>7.1f} {g['vitlesson default']:>8.1f} "
            f"{g['matmul roof']:>7.1f} {row['default_vs_roof']:>13.2f}"
        )
    roof = roof_summary(results["patch_embedding"])
    lines += [
        f"default/roof: geometric mean {roof['geomean']:.3f}, "
        f"worst {roof['worst']:.3f} ({roof['worst_at']})",
        "",
        f"{'tokens':>6} {'matrix MiB':>10} {'sdpa ms':>9} {'explicit ms':>12}",
    ]
    for row in results["attention"]:
        lines.append(
            f"{row['tokens']:>6} {row['attention_matrix_mb']:>10.1f} "
            f"{row['ms']['sdpa']:>9.2f} {row['ms']['explicit']:>12.2f}"
        )
    if "vit" in results:
        vit = results["vit"]
        lines += [
            "",
            f"{vit['model']} batch {vit['batch']}: vitlesson "
            f"{vit['ms']['vitlesson']:.0f} ms, transformers "
            f"{vit['ms']['transformers']:.0f} ms, ratio {vit['ratio']:.3f}",
            f"(transformers against a second copy of itself: "
            f"{vit['same_model_ratio']:.3f})",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
