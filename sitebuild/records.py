"""Recorded results that pages show, and whether they still describe the
code being built.

The build never re-runs the benchmark or a training run: pages show their
records. Each record carries the stamp of the code it was measured with
(:mod:`vitlesson._provenance`: a hash per package module the run imported,
the torch version, the date). This module compares every stamp with the code
under the build; on a page that shows a record whose code has changed since,
a visible note under the page's title says which modules changed and when
the record was made. ``make test`` prints the same list
(``tests/conftest.py``). A change to a module the run did not import leaves
its record alone: nothing asks for a retrain that would measure the same
code.

Cheap on purpose (the package sources hashed once per build, no torch) and
never cached, so that no cache of the build can hide a note.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

ROOT = Path(__file__).resolve().parent.parent


def _load_provenance():
    """vitlesson/_provenance.py, loaded from its file: importing it through
    the package would run ``vitlesson/__init__.py``, which imports torch."""
    file = ROOT / "vitlesson" / "_provenance.py"
    spec = importlib.util.spec_from_file_location("_provenance", file)
    if spec is None or spec.loader is None:  # pragma: no cover
        raise ImportError(f"cannot load {file}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


provenance = _load_provenance()


@dataclass(frozen=True)
class Record:
    """A record the site shows: its file (from the repository root), the
    module of the command that writes it, what it is in a sentence, and the
    text a page has where it shows it (a function that reads the record, a
    figure drawn from it)."""

    path: str
    writer: str
    what: str
    shown_by: tuple[str, ...]
    runs: bool = False  # a JSON object of runs, each with its own stamp


RECORDS = (
    Record(
        "docs/data/bench.json",
        "vitlesson/tools/bench.py",
        "The benchmark",
        ("{{ bench.", "tools.bench import RECORDED", "figures/benchmarks.png"),
    ),
    Record(
        "vitlesson/weights/tiny-shapes.json",
        "vitlesson/lab/train.py",
        "The shipped tiny ViT",
        (
            "load_trained",
            "figures/position-embeddings-trained.png",
            "figures/attention-trained.png",
        ),
    ),
    Record(
        "vitlesson/weights/tiny-shapes-random-colours.json",
        "vitlesson/lab/train.py",
        "The tiny ViT's run on random colours",
        ("RANDOM_COLOURS_WEIGHTS",),
    ),
    Record(
        "vitlesson/weights/dino-tiny.json",
        "vitlesson/lab/dino/command.py",
        "The shipped DINO run",
        (
            "dino.load_record()",
            "dino.DINO_WEIGHTS",
            "evaluate_shipped",
            "figures/dino-training.png",
            "figures/dino-ablation.png",
            "figures/dino-attention.png",
            "figures/dino-heads.png",
        ),
    ),
    Record(
        "vitlesson/weights/dino-supervised.json",
        "vitlesson/lab/dino/command.py",
        "The supervised baseline",
        (
            "SUPERVISED_WEIGHTS",
            "evaluate_shipped",
            "figures/dino-attention.png",
        ),
    ),
    Record(
        "vitlesson/weights/dino-ablations.json",
        "vitlesson/lab/dino/command.py",
        "The collapse ablations",
        ("dino.ABLATIONS", "figures/dino-ablation.png"),
        runs=True,
    ),
    Record(
        "vitlesson/weights/dino-throughput.json",
        "vitlesson/lab/dino/throughput.py",
        "The throughput measurement",
        ("throughput.read(",),
    ),
)


@dataclass(frozen=True)
class Stale:
    """A record (or a run in it) whose stamp does not match the code."""

    record: Record
    runs: tuple[str, ...]  # the runs of a record of runs, else ()
    date: str | None
    changed: tuple[str, ...]  # module files, most telling first
    gone: tuple[str, ...]  # those of them that are no longer there
    torch: tuple[str | None, str | None] | None  # (recorded, built) if differ

    def sentence(self) -> str:
        """What the note says about this record, in one sentence."""
        runs = f", {len(self.runs)} runs" if len(self.runs) > 1 else ""
        subject = f"{self.record.what} (`{self.record.path}`{runs})"
        if self.date is None:
            return (
                f"{subject} does not name the code it was measured with: "
                "it may describe code that has changed since."
            )
        reasons = []
        if self.changed:
            named = [
                f"`{path}`" + " (since moved or removed)" * (path in self.gone)
                for path in self.changed[:3]
            ]
            if len(self.changed) > 3:
                named.append(f"{len(self.changed) - 3} other modules")
            reasons.append(f"the last change to {_listed(named)}")
        if self.torch is not None:
            then, now = self.torch
            reasons.append(f"this build's torch {now} (it ran torch {then})")
        verb = "were" if self.record.runs else "was"
        return (
            f"{subject} {verb} measured on {self.date}, before "
            f"{' and '.join(reasons)}: its numbers describe the code as it "
            f"was on {self.date}."
        )


def _listed(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _stamps(record: Record, content) -> dict[str, dict | None]:
    """{run name, or '' for a plain record: its stamp or None}."""
    where = record.path
    if not isinstance(content, dict):
        raise PluginError(
            f"{where}: expected a JSON object, got {content!r:.60}"
        )
    runs = content.items() if record.runs else [("", content)]
    stamps = {}
    for name, run in runs:
        code = run.get("code") if isinstance(run, dict) else None
        if code is not None and not (
            isinstance(code, dict)
            and isinstance(code.get("date"), str)
            and isinstance(code.get("modules"), dict)
        ):
            raise PluginError(
                f"{where}: the stamp 'code'{f' of {name!r}' if name else ''} "
                "must hold 'date' and 'modules' (as vitlesson/_provenance.py "
                f"writes it), got {code!r:.80}"
            )
        stamps[name] = code
    return stamps


def stale(root: Path = ROOT) -> list[Stale]:
    """Every record whose stamp does not match the code under ``root``."""
    hashes: dict[str, str | None] = {}
    read = provenance.read_file(root)

    def current(path: str) -> str | None:
        if path not in hashes:
            source = read(path)
            hashes[path] = (
                None if source is None else provenance.code_hash(source)
            )
        return hashes[path]

    built_torch = provenance.torch_version()
    found = []
    for record in RECORDS:
        try:
            content = json.loads(
                (root / record.path).read_text(encoding="utf-8")
            )
        except json.JSONDecodeError as error:
            raise PluginError(
                f"{record.path}: not valid JSON: {error}"
            ) from None
        except (OSError, ValueError) as error:
            raise PluginError(
                f"{record.path}: cannot read it: {error}"
            ) from None
        grouped: dict[tuple, list[str]] = {}
        for name, code in _stamps(record, content).items():
            if code is None:
                key: tuple = (None, (), None)
            else:
                changed = [
                    path
                    for path, digest in code["modules"].items()
                    if current(path) != digest
                ]
                torch = code.get("torch")
                key = (
                    code["date"],
                    tuple(_telling_first(changed, code.get("entry", ""))),
                    None if torch == built_torch else (torch, built_torch),
                )
                if not key[1] and key[2] is None:
                    continue
            grouped.setdefault(key, []).append(name)
        for (date, changed, torch), names in grouped.items():
            gone = tuple(path for path in changed if current(path) is None)
            found.append(
                Stale(
                    record,
                    tuple(filter(None, names)),
                    date,
                    changed,
                    gone,
                    torch,
                )
            )
    return found


def _telling_first(paths: list[str], entry: str) -> list[str]:
    """The command's own module first, then the lesson's modules, then the
    package's plumbing (``__init__.py``, modules named ``_...``)."""
    entry_path = entry.replace(".", "/")

    def rank(path: str) -> tuple[int, str]:
        if path in (f"{entry_path}.py", f"{entry_path}/__init__.py"):
            return 0, path
        plumbing = any(part.startswith("_") for part in Path(path).parts)
        return 1 + plumbing, path

    return sorted(paths, key=rank)


def shown_on(markdown: str, found: list[Stale]) -> list[Stale]:
    """The stale records that a page's Markdown shows."""
    return [
        item
        for item in found
        if any(sign in markdown for sign in item.record.shown_by)
    ]


def note(items: list[Stale]) -> str:
    """The admonition that a page shows above everything else."""
    sentences = [item.sentence() for item in items]
    if len(sentences) == 1:
        body = f"    {sentences[0]}"
    else:
        body = "\n".join(f"    - {sentence}" for sentence in sentences)
    return f'!!! warning "Recorded before the code changed"\n\n{body}\n'


def annotate(markdown: str, source: str, found: list[Stale]) -> str:
    """The page's ``markdown`` with the note under its title, if its
    ``source`` (the page as written) shows a stale record."""
    items = shown_on(source, found)
    if not items:
        return markdown
    lines = markdown.split("\n")
    title = next(
        (n for n, line in enumerate(lines) if line.startswith("# ")), -1
    )
    lines.insert(title + 1, "\n" + note(items))
    return "\n".join(lines)


def report(found: list[Stale]) -> list[str]:
    """The list ``make test`` prints: every stale record with all of its
    changed modules (information, not a failure)."""
    if not found:
        return [
            f"recorded results: all {len(RECORDS)} records match the code "
            "they were measured with"
        ]
    lines = [
        f"stale records ({len(found)}): measured before a change to the code "
        "they ran; their pages say so. Re-run the command in each record:"
    ]
    for item in found:
        runs = f" [{', '.join(item.runs)}]" if item.runs else ""
        if item.date is None:
            lines.append(f"  {item.record.path}{runs}: no stamp of its code")
            continue
        what = [
            path + " (gone)" * (path in item.gone) for path in item.changed
        ]
        if item.torch is not None:
            what.append(f"torch {item.torch[0]} -> {item.torch[1]}")
        lines.append(
            f"  {item.record.path}{runs} ({item.date}): {', '.join(what)}"
        )
    return lines


_found: list[Stale] = []


def on_pre_build(config):
    """Compare the stamps once per build (``mkdocs serve`` included)."""
    _found[:] = stale()


@event_priority(-100)  # after the other hooks have filled the page in
def on_page_markdown(markdown, page, config, files):
    return annotate(markdown, page.file.content_string, _found)
