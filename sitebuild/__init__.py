"""sitebuild: what builds the course site beyond MkDocs itself.

Each module is one build concern, loaded by a thin MkDocs hook of the same
name in hooks/ (which imports the event functions MkDocs calls and nothing
else): page outputs, quizzes, figures, explorers, glossary, notebooks,
benchmarks, records (the note on a page whose recorded result predates the
code it measured), links (every link between pages checked before
anything renders), reading. ``config_lines`` is listed in
``markdown_extensions`` instead, because MkDocs loads extensions before
plugins and hooks: it gives MkDocs' errors about mkdocs.yml their line.
Beside them, ``lesson_code`` finds and runs a page's
python blocks (for the build and for the tests), ``cache`` keys each cached
result on what its code reaches, and ``figure_recipes`` and
``explorer_data`` compute what the figures and explorers show (imported
only on a cache miss, so that a warm build imports neither torch nor
matplotlib). Page code and figure recipes run under
:func:`one_torch_thread`. ``python -m sitebuild OUTDIR`` (``__main__``)
writes the generated files through the same functions, without MkDocs.

The package is installed with the project (``pip install -e .``), so
``import sitebuild`` works from ``mkdocs``, from pytest and from the hooks.
:data:`ROOT` is the checkout it builds.
"""

import contextlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def one_torch_thread():
    """Run torch on one thread, then give back the caller's thread count.

    A sum split over threads adds its numbers in another order, so what the
    build prints and draws would depend on the machine's cores (measured: a
    page that trains printed a loss of 0.245 on one thread, 0.240 on two).
    On one thread the build and the tests compute the same bytes anywhere.
    """
    import torch  # here, so that a warm build that runs nothing skips it

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
