"""The recorded benchmark numbers, put into the Performance page.

The page never runs the benchmark (a full run takes minutes); it shows the result
file that ``python -m vitlesson.tools.bench`` wrote (``docs/data/bench.json``), and says
so, with the file's machine, thread count, torch version and date. Placeholders
``{{ bench.NAME }}`` in a page are replaced by values computed from that file; an
unknown name, or a result file the values cannot be computed from, stops the build
before anything is rendered, in one line naming the page's line (or the file).

Why not mkdocs-macros: the values (tables, ratios) would still be computed here,
as its variables; what it would replace is one regular expression, at the price
of making every page a Jinja template (a ``{{`` or ``{%`` in a future code block
would need escaping) and of an undefined name reported without the page's line.
"""

from __future__ import annotations

import difflib
import json
import re
import statistics

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

from sitebuild import ROOT

# What vitlesson.tools.bench.RECORDED names, without importing the benchmark
# (and torch with it) in every build; tests/site/test_cache_keys.py checks
# that the two agree.
RECORDED = ROOT / "docs" / "data" / "bench.json"

PLACEHOLDER = re.compile(r"\{\{\s*bench\.(?P<name>[^{}\n]*?)\s*\}\}")
OPENING = re.compile(r"\{\{\s*bench\b")


def load_recorded() -> dict:
    return json.loads(RECORDED.read_text(encoding="utf-8"))


def config_table(results: dict) -> str:
    lines = [
        "| config | batch | tokens | GFLOP | output |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in results["patch_embedding"]:
        lines.append(
            f"| {row['config']} | {row['batch']} | {row['tokens']} "
            f"| {row['gflop']:.2f} | {row['output_mb']:.1f} MiB |"
        )
    return "\n".join(lines)


def patch_table(results: dict) -> str:
    lines = [
        "| config, batch | conv | reshape + linear | **default** | roof | default / roof |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in results["patch_embedding"]:
        g = row["gflops_per_s"]
        lines.append(
            f"| {row['config']}, {row['batch']} | {g['conv']:.0f} | {g['reshape + linear']:.0f} "
            f"| **{g['vitlesson default']:.0f}** | {g['matmul roof']:.0f} | {row['default_vs_roof']:.2f} |"
        )
    return "\n".join(lines)


def attention_table(results: dict) -> str:
    lines = [
        "| tokens | matrices (6 heads) | SDPA | explicit | explicit / SDPA |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in results["attention"]:
        ms = row["ms"]
        lines.append(
            f"| {row['tokens']} | {row['attention_matrix_mb']:.1f} MiB | {ms['sdpa']:.2f} ms "
            f"| {ms['explicit']:.2f} ms | {ms['explicit'] / ms['sdpa']:.1f}× |"
        )
    return "\n".join(lines)


def _count(vit: dict, name: str) -> str:
    faults = vit.get("page_faults_per_forward", {}).get(name)
    return "n/a" if faults is None else f"{faults:,.0f}"


def _behind_the_faster_form(row: dict) -> float:
    """How much longer the default took than the faster of conv and reshape + linear
    (0 where it was the fastest of the three)."""
    ms = row["ms"]
    faster = min(ms["conv"], ms["reshape + linear"])
    return max(0.0, ms["vitlesson default"] / faster - 1)


def values(results: dict) -> dict[str, str]:
    machine, rows = results["machine"], results["patch_embedding"]
    conv_ratio = [
        row["gflops_per_s"]["conv"] / row["gflops_per_s"]["matmul roof"]
        for row in rows
    ]
    conv_worst = rows[conv_ratio.index(min(conv_ratio))]
    default_ratio = [row["default_vs_roof"] for row in rows]
    first, last = results["attention"][0], results["attention"][-1]
    vit = results.get("vit", {})
    return {
        "machine": f"{machine['cpu']}, {machine['threads']} threads, torch {machine['torch']}, "
        f"Python {machine['python']}",
        "date": results["date"],
        "mode": results["mode"],
        "patch_table": patch_table(results),
        "config_table": config_table(results),
        "default_worst": (lambda r: f"{r['config']}, batch {r['batch']}")(
            rows[default_ratio.index(min(default_ratio))]
        ),
        "attention_table": attention_table(results),
        "default_vs_roof_min": f"{min(default_ratio):.2f}",
        "default_vs_roof_median": f"{statistics.median(default_ratio):.2f}",
        "default_vs_roof_geomean": (
            f"{statistics.geometric_mean(default_ratio):.3f}"
        ),
        "default_vs_roof_count": f"{sum(r >= 0.90 for r in default_ratio)} of {len(default_ratio)}",
        "conv_vs_roof_min": f"{min(conv_ratio):.2f}",
        "conv_vs_roof_max": f"{max(conv_ratio):.2f}",
        "conv_worst": f"{conv_worst['config']}, batch {conv_worst['batch']}",
        "conv_worst_gflops": f"{conv_worst['gflops_per_s']['conv']:.0f}",
        "conv_worst_linear_gflops": f"{conv_worst['gflops_per_s']['reshape + linear']:.0f}",
        "matmul_from": str(results["matmul_from_patch_size"]),
        "default_vs_best": f"{max(_behind_the_faster_form(row) for row in rows):.0%}",
        "max_diff": f"{max(row['default_vs_conv_max_abs_diff'] for row in rows):.1e}",
        "tokens_first": str(first["tokens"]),
        "tokens_last": str(last["tokens"]),
        "token_growth": f"{last['tokens'] / first['tokens']:.0f}",
        "sdpa_growth": f"{last['ms']['sdpa'] / first['ms']['sdpa']:.0f}",
        "memory_last": f"{last['attention_matrix_mb']:.1f}",
        "memory_growth": f"{last['attention_matrix_mb'] / first['attention_matrix_mb']:.0f}",
        "sdpa_speedup_last": f"{last['ms']['explicit'] / last['ms']['sdpa']:.1f}",
        "vit_ours_ms": f"{vit['ms']['vitlesson']:.0f}" if vit else "n/a",
        "vit_hf_ms": f"{vit['ms']['transformers']:.0f}" if vit else "n/a",
        "vit_ratio": f"{vit['ratio']:.3f}" if vit else "n/a",
        "vit_same_model_ratio": (
            f"{vit['same_model_ratio']:.3f}" if vit else "n/a"
        ),
        "vit_ours_faults": _count(vit, "vitlesson"),
        "vit_hf_faults": _count(vit, "transformers"),
        "transformers_version": vit.get("transformers_version", "n/a"),
    }


def known_values() -> dict[str, str]:
    """:func:`values` of the recorded file; one line naming the file if they
    cannot be computed from it."""
    where = "docs/data/bench.json"
    try:
        return values(load_recorded())
    except OSError as error:
        raise PluginError(f"{where}: cannot read it: {error}") from None
    except json.JSONDecodeError as error:
        raise PluginError(f"{where}: not valid JSON: {error}") from None
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise PluginError(
            f"{where}: the benchmark values cannot be computed from it "
            f"(as python -m vitlesson.tools.bench writes it): "
            f"{type(error).__name__}: {error}"
        ) from None


def substitute(markdown: str, where: str, known: dict[str, str]) -> str:
    """The page with every placeholder replaced; an unknown name or a
    malformed placeholder stops the build, naming the page's line."""
    for opening in OPENING.finditer(markdown):
        line = markdown.count("\n", 0, opening.start()) + 1
        match = PLACEHOLDER.match(markdown, opening.start())
        if match is None:
            text = markdown[opening.start() :].partition("\n")[0]
            raise PluginError(
                f"{where}:{line}: a benchmark value is written "
                f"{{{{ bench.NAME }}}}, got {text!r}"
            )
        if match["name"] not in known:
            close = difflib.get_close_matches(match["name"], known, n=1)
            hint = (
                f"did you mean {{{{ bench.{close[0]} }}}}?"
                if close
                else f"sitebuild/benchmarks.py computes: {', '.join(sorted(known))}"
            )
            raise PluginError(
                f"{where}:{line}: unknown benchmark value "
                f"{{{{ bench.{match['name']} }}}} ({hint})"
            )
    return PLACEHOLDER.sub(lambda match: known[match["name"]], markdown)


def uses_values(markdown: str) -> bool:
    return OPENING.search(markdown) is not None


@event_priority(100)  # before any figure, notebook or page is made
def on_files(files, config):
    known = None
    for file in files.documentation_pages():
        if not file.src_uri.endswith(".md"):
            continue
        text = file.content_string
        if uses_values(text):
            known = known or known_values()
            substitute(text, f"docs/{file.src_uri}", known)
    return files


def on_page_markdown(markdown, page, config, files):
    if not uses_values(markdown):
        return markdown
    return substitute(markdown, f"docs/{page.file.src_uri}", known_values())
