"""MkDocs hook: lessons and exercises as notebooks (sitebuild/notebooks.py)."""

from sitebuild.notebooks import (  # noqa: F401
    on_config,
    on_files,
    on_page_context,
    on_page_markdown,
    on_post_build,
    on_post_page,
    on_pre_page,
)
