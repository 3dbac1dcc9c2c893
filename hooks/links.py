"""MkDocs hook: every link between pages checked before rendering, and
MkDocs' own link warnings given their line (sitebuild/links.py)."""

from sitebuild.links import on_config, on_files  # noqa: F401
