"""sitebuild: what builds the course site beyond MkDocs itself.

Each module is one build concern, loaded by a thin MkDocs hook of the same
name in hooks/ (which imports the event functions MkDocs calls and nothing
else): page outputs, quizzes, figures, explorers, glossary, notebooks,
benchmarks, reading. Beside them, ``lesson_code`` finds and runs a page's
python blocks (for the build and for the tests), ``cache`` makes the one key
of every build cache, and ``figure_recipes`` and ``explorer_data`` compute
what the figures and explorers show (imported only on a cache miss, so that a
warm build does not pay for drawing).

The package is installed with the project (``pip install -e .``), so
``import sitebuild`` works from ``mkdocs``, from pytest and from the hooks.
:data:`ROOT` is the checkout it builds.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
