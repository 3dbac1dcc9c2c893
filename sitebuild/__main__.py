"""``python -m sitebuild OUTDIR``: what the build generates, without MkDocs.

Writes into OUTDIR (a new or empty folder) the files the site build makes
beyond the pages' own sources, by the very functions the MkDocs hooks call:

* ``figures/*`` and ``figures/figures.json`` (:func:`figures.generated`);
* ``explorers/*-data.js``, the explorers' data (:func:`explorers.generated`);
* ``live/*.js``, the live models' weights and the DINO widget's labelled
  bank of test images (:func:`live_model.generated`);
* ``downloads/*.ipynb``, every notebook offered (:func:`notebooks.downloads`);
* ``pages/<page>.md``, each Markdown page as the build hands it on to be
  rendered: what each python block prints under it
  (:func:`page_outputs.with_outputs`), the quizzes as HTML, the benchmark's
  values and the home page's install command in place; and the glossary
  page, made from ``docs/includes/glossary.md``.

mkdocs.yml is read for its settings (where the pages are, the Markdown
extensions, ``SITE_URL`` and ``REPO_URL``); nothing is rendered with MkDocs.
Another site builder (Zensical, which ignores ``hooks:``) can start from
this folder. Results come from the build's caches in ``.cache/`` where their
inputs are unchanged.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from types import SimpleNamespace

from sitebuild import ROOT

PROG = "python -m sitebuild"


def generate(config) -> dict[str, bytes]:
    """Every generated file, by its path in the output folder."""
    from mkdocs.exceptions import PluginError
    from mkdocs.structure.files import File, get_files

    from sitebuild import (
        benchmarks,
        explorers,
        figures,
        glossary,
        live_model,
        notebooks,
        page_outputs,
        quizzes,
    )

    try:
        out = figures.generated(figures.registered())
        out |= explorers.generated()
        out |= live_model.generated()
        files = get_files(config)
        for path, content in out.items():  # the figures notebooks embed
            figure = File(
                path, None, config.site_dir, config.use_directory_urls
            )
            figure.content_bytes = content
            files.append(figure)
        for offered in notebooks.downloads(files, config).values():
            for name, notebook in offered.items():
                out[f"{notebooks.DOWNLOADS}{name}"] = notebook.encode()
        for file in files.documentation_pages():
            if not file.src_uri.endswith(".md"):
                continue
            page = SimpleNamespace(file=file)
            text = page_outputs.with_outputs(
                file.content_string, file.src_uri, config
            )
            for step in (quizzes, notebooks, benchmarks):
                text = step.on_page_markdown(text, page, config, files)
            out[f"pages/{file.src_uri}"] = text.encode()
        terms = glossary.entries(glossary.SOURCE.read_text(encoding="utf-8"))
        out[f"pages/{glossary.PAGE}"] = glossary.page_markdown(terms).encode()
    except (PluginError, glossary.GlossaryError) as error:
        raise SystemExit(f"{PROG}: {error}") from None
    return out


def write(folder: Path, generated: dict[str, bytes]) -> None:
    from vitlesson._io import write_bytes

    for path, content in sorted(generated.items()):
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(target, content)


def main(argv: list[str] | None = None) -> int:
    from vitlesson._arguments import Parser  # one-line usage errors

    parser = Parser(
        prog=PROG,
        description="Write the site build's generated files (figures, "
        "explorer data, notebooks, pages with their outputs and quizzes) "
        "into OUTDIR, without MkDocs.",
    )
    parser.add_argument(
        "outdir", type=Path, help="a new or empty folder to write into"
    )
    args = parser.parse_args(argv)
    folder = args.outdir
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        parser.error(
            f"OUTDIR must be a new or empty folder (nothing there is "
            f"replaced), got {folder}, which "
            f"{'holds files' if folder.is_dir() else 'is a file'}"
        )
    if not folder.parent.is_dir():
        parser.error(f"the folder above OUTDIR does not exist: {folder}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from mkdocs.config import load_config

    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    try:
        config = load_config(str(ROOT / "mkdocs.yml"), plugins=[])
        generated = generate(config)
        folder.mkdir(exist_ok=True)
        write(folder, generated)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    print(f"{PROG}: {len(generated)} files written to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
