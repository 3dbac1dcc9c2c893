"""``mkdocs build --strict`` of the project and of copies of it, each in a
child forked after the heavy imports (one Python start for many builds).

The project is built three ways once per test run (:data:`BUILDS`): as
``make build`` builds it, the copy that opens from disk, and the site as the
publishing workflow builds it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from filelock import FileLock

from tests.support import ROOT

# The addresses the publishing workflow gives the build (examples).
SITE_URL = "https://example.org/vitlesson/"
REPO_URL = "https://github.com/example-owner/vitlesson-course"

# Name -> environment settings; the first is built first, so that the others
# find its figures, page outputs and executed notebooks in the cache.
BUILDS = {
    "site": {},
    "offline": {"OFFLINE": "true", "DIRECTORY_URLS": "false"},
    "published": {"SITE_URL": SITE_URL, "REPO_URL": REPO_URL},
}


# Runs ``mkdocs build --strict`` for each build of the JSON list on its
# command line ([folder, site dir, environment settings, output prefix]), as
# the mkdocs command does, one after another, each in a child forked after
# the heavy imports (mkdocs-jupyter, jupytext, and torch, which a build
# imports as soon as it draws or runs anything: most of a build that stops
# early or redoes some work). sitebuild and vitlesson are imported after the fork, from
# the folder built: with ``-c``, the current folder is first on sys.path.
# Each child's output goes to <prefix>.out and <prefix>.err, its exit status
# to <prefix>.status.
FORKED_BUILDS = """
import json, os, sys, traceback
import jupytext, mkdocs.__main__, mkdocs_jupyter.plugin, nbclient, nbformat
import torch

for folder, site_dir, settings, prefix in json.loads(sys.argv[1]):
    pid = os.fork()
    if pid:
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        with open(prefix + ".status", "w") as file:
            file.write(str(status))
        continue
    os.chdir(folder)
    os.environ.update(settings)
    for fd, name in [(1, prefix + ".out"), (2, prefix + ".err")]:
        os.dup2(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
    try:
        mkdocs.__main__.cli.main(
            ["build", "--strict", "--site-dir", site_dir], prog_name="mkdocs"
        )
        status = 0
    except SystemExit as stop:
        status = stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        traceback.print_exc()
        status = 1
    sys.stdout.flush(), sys.stderr.flush()
    os._exit(status)
"""


def forked_builds(
    builds: list[tuple[Path, Path, dict[str, str], Path]],
) -> list[subprocess.CompletedProcess]:
    """Build each (folder, site dir, environment settings, output prefix),
    one after another: what each build printed and its exit status."""
    plan = [
        [str(folder), str(site_dir), settings, str(prefix)]
        for folder, site_dir, settings, prefix in builds
    ]
    subprocess.run(
        [sys.executable, "-c", FORKED_BUILDS, json.dumps(plan)],
        env=dict(os.environ, NO_MKDOCS_2_WARNING="1"),
        check=True,
        timeout=600,
    )
    return [
        subprocess.CompletedProcess(
            ["mkdocs", "build", "--strict"],
            int(Path(f"{prefix}.status").read_text()),
            Path(f"{prefix}.out").read_text(),
            Path(f"{prefix}.err").read_text(),
        )
        for *_, prefix in builds
    ]


def shared_build(folder: Path, name: str) -> Path:
    """The build ``folder/name`` of :data:`BUILDS`, made once for the whole
    test run, with the others: each passed ``--strict`` with no MkDocs
    warning.

    Under ``pytest -n`` every worker process has its own session fixtures;
    ``folder`` is shared by all of them, and a file lock lets the first
    worker that needs a build make them all while the others wait and reuse
    them.
    """
    folder.mkdir(parents=True, exist_ok=True)
    made = folder / "builds.made"
    with FileLock(folder / "builds.lock"):
        if not made.exists():
            builds = [
                (ROOT, folder / build, settings, folder / build)
                for build, settings in BUILDS.items()
            ]
            for (*_, prefix), done in zip(
                builds, forked_builds(builds), strict=True
            ):
                output = done.stdout + done.stderr
                assert done.returncode == 0, (prefix, output)
                # MkDocs' own warnings (strict turns them into errors); the
                # Jupyter kernel's TCP notice is not one.
                assert not [
                    line
                    for line in output.splitlines()
                    if line.startswith("WARNING")
                ], (prefix, output)
            made.touch()
    return folder / name
