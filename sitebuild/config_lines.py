"""MkDocs' configuration errors, each given its line of mkdocs.yml.

A misspelt plugin stops MkDocs while it reads mkdocs.yml, before any hook
is even imported, with a line that names neither the file nor the line:
"Config value 'plugins': The "glightbx" plugin is not installed". MkDocs
loads the Markdown extensions before the plugins, so this module is listed
in mkdocs.yml's ``markdown_extensions`` as an extension that adds nothing to
Markdown: loading it puts a filter on MkDocs' logger of configuration errors
that rewrites each of them to start with the file and line of the setting
(the entry of the plugins list for a plugin), found from the YAML node's
position; for a plugin it also names the nearest installed one (the
``mkdocs.plugins`` entry points). Nothing is read or imported until MkDocs
reports an error.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from pathlib import Path

import markdown

# MkDocs' line for a setting it refused.
CONFIG_ERROR = re.compile(r"^Config value '(?P<key>[^']+)': (?P<error>.*)$")
MISSING_PLUGIN = re.compile(r'^The "(?P<name>[^"]+)" plugin is not installed$')


def config_file() -> Path | None:
    """The configuration file MkDocs is reading: the one named on its
    command line (``-f``), or mkdocs.yml (or .yaml) in the current folder."""
    import click

    context = click.get_current_context(silent=True)
    named = context.params.get("config_file") if context else None
    if named is not None:
        return Path(getattr(named, "name", named))
    for name in ("mkdocs.yml", "mkdocs.yaml"):
        if Path(name).is_file():
            return Path(name)
    return None


def setting_line(text: str, key: str, item: str | None = None) -> int | None:
    """The line of the top-level setting ``key`` in the YAML ``text``, or
    of its list entry ``item`` (a plain name, or the key of a one-key
    mapping, as plugins are written)."""
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if not isinstance(root, yaml.MappingNode):
        return None
    for name, value in root.value:
        if name.value != key:
            continue
        if item is None or not isinstance(value, yaml.SequenceNode):
            return name.start_mark.line + 1
        for entry in value.value:
            names = (
                [entry]
                if isinstance(entry, yaml.ScalarNode)
                else [k for k, _ in entry.value]
                if isinstance(entry, yaml.MappingNode)
                else []
            )
            for node in names:
                if node.value == item:
                    return node.start_mark.line + 1
        return name.start_mark.line + 1
    return None


def installed_plugins() -> list[str]:
    """The names of the MkDocs plugins installed beside MkDocs."""
    from importlib.metadata import entry_points

    return sorted(
        {entry.name for entry in entry_points(group="mkdocs.plugins")}
    )


def with_line(message: str, path: Path) -> str:
    """MkDocs' configuration error ``message`` with the file and line of
    the setting it is about in front; a missing plugin is said plainly,
    with the nearest installed one."""
    error = CONFIG_ERROR.match(message)
    if error is None:
        return message
    key, text = error["key"], error["error"]
    missing = MISSING_PLUGIN.match(text) if key == "plugins" else None
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return message
    shown = os.path.relpath(path) if path.is_absolute() else str(path)
    if missing is None:
        line = setting_line(source, key)
        return message if line is None else f"{shown}:{line}: {message}"
    name = missing["name"]
    line = setting_line(source, key, name)
    installed = installed_plugins()
    close = difflib.get_close_matches(name, installed, n=1, cutoff=0.6)
    hint = (
        f"did you mean {close[0]!r}?"
        if close
        else f"installed: {', '.join(installed)}"
    )
    where = shown if line is None else f"{shown}:{line}"
    return f"{where}: plugins: no plugin named {name!r} is installed; {hint}"


class ConfigLines(logging.Filter):
    """Rewrites MkDocs' "Config value 'x': ..." errors with
    :func:`with_line`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and not record.args:
            message = str(record.msg)
            if CONFIG_ERROR.match(message):
                path = config_file()
                if path is not None:
                    record.msg = with_line(message, path)
        return True


CONFIG_LINES = ConfigLines()


def install() -> None:
    """Put the filter on MkDocs' logger of configuration errors (once)."""
    logging.getLogger("mkdocs.config").addFilter(CONFIG_LINES)


class ConfigLinesExtension(markdown.Extension):
    """A Markdown extension that changes nothing in Markdown."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        """Nothing to add: the filter is what loading the extension is for."""


def makeExtension(**kwargs) -> ConfigLinesExtension:  # noqa: N802
    """What MkDocs calls when it loads ``sitebuild.config_lines`` from
    ``markdown_extensions``: the filter goes in place."""
    install()
    return ConfigLinesExtension(**kwargs)
