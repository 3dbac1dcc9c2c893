"""MkDocs hook: figures drawn from the package (sitebuild/figures.py)."""

from sitebuild.figures import on_config, on_files, on_post_page  # noqa: F401
