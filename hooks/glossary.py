"""MkDocs hook: the glossary page (sitebuild/glossary.py)."""

from sitebuild.glossary import on_config, on_files  # noqa: F401
