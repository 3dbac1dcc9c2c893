"""MkDocs hook: the recorded benchmark values (sitebuild/benchmarks.py)."""

from sitebuild.benchmarks import on_files, on_page_markdown  # noqa: F401
