"""The stamp a record carries: which package code its run imported."""

import datetime
import importlib.metadata
import json

import pytest

from sitebuild.records import RECORDS
from vitlesson import _provenance as provenance

SOURCE = '''"""A module docstring."""

import torch  # not the package: never followed


def grow(x):
    """Add one."""
    # a comment
    return x + 1  # trailing comment


class Box:
    """A box."""

    label = "a#b"
'''


def test_the_hash_covers_code_not_prose():
    digest = provenance.code_hash(SOURCE)
    reworded = (
        SOURCE.replace("Add one.", "Add one to x.")
        .replace("# a comment", "# another comment, longer")
        .replace('"""A box."""', '"""A box,\n    in two lines."""')
        .replace("\n\n\nclass", "\n\n\n\nclass")
    )
    assert provenance.code_hash(reworded) == digest
    for changed in (
        SOURCE.replace("x + 1", "x + 2"),
        SOURCE.replace('"a#b"', '"a#c"'),  # a '#' in a string is code
        SOURCE + "\nlimit = 3\n",
    ):
        assert provenance.code_hash(changed) != digest


PACKAGE = {
    "vitlesson/__init__.py": "from vitlesson.core import f\n",
    "vitlesson/core.py": "import os\n",
    "vitlesson/lab/__init__.py": "",
    "vitlesson/lab/run.py": (
        "from . import helper\n"
        "from .. import sibling\n"
        "from vitlesson.lab.deep import thing\n"
        "import numpy\n"
        "def main():\n"
        "    from vitlesson.lazy import g  # imported when it runs\n"
    ),
    "vitlesson/lab/helper.py": "",
    "vitlesson/lab/deep/__init__.py": "from .leaf import thing\n",
    "vitlesson/lab/deep/leaf.py": "thing = 1\n",
    "vitlesson/sibling.py": "",
    "vitlesson/lazy.py": "",
    "vitlesson/unused.py": "import vitlesson.core\n",
}


def test_imports_are_followed_through_the_package():
    found = provenance.imported_modules("vitlesson.lab.run", PACKAGE.get)
    assert set(found) == set(PACKAGE) - {"vitlesson/unused.py"}
    assert found["vitlesson/lab/run.py"] == PACKAGE["vitlesson/lab/run.py"]


def test_the_stamp_names_every_module_the_command_imports():
    code = provenance.stamp(provenance.ROOT / "vitlesson/lab/train.py")
    assert code["entry"] == "vitlesson.lab.train"
    assert code["date"] == datetime.date.today().isoformat()
    assert code["torch"] == importlib.metadata.version("torch")
    modules = code["modules"]
    assert {"vitlesson/lab/train.py", "vitlesson/vit.py"} <= set(modules)
    assert "vitlesson/data/shapes.py" in modules  # the training data
    assert "vitlesson/figures/plots.py" not in modules  # not imported
    for path, digest in modules.items():
        source = (provenance.ROOT / path).read_text(encoding="utf-8")
        assert digest == provenance.code_hash(source)
    assert provenance.changed_modules(code) == []


def test_a_stamp_of_a_file_outside_the_package_is_refused(tmp_path):
    outside = tmp_path / "script.py"
    outside.write_text("x = 1\n")
    with pytest.raises(ValueError, match="entry_file must be a module"):
        provenance.stamp(outside)
    with pytest.raises(ValueError, match="entry_file must be a module"):
        provenance.stamp(provenance.ROOT / "vitlesson/no_such_module.py")


def test_changed_and_vanished_modules_are_named():
    code = {"modules": {"vitlesson/core.py": "0" * 64, "vitlesson/x.py": ""}}
    reader = {"vitlesson/core.py": "import os\n"}.get
    assert provenance.changed_modules(code, reader) == [
        "vitlesson/core.py",
        "vitlesson/x.py",
    ]
    code["modules"]["vitlesson/core.py"] = provenance.code_hash("import os")
    assert provenance.changed_modules(code, reader) == ["vitlesson/x.py"]


def test_every_shipped_record_names_the_code_it_ran():
    for record in RECORDS:
        content = json.loads(
            (provenance.ROOT / record.path).read_text(encoding="utf-8")
        )
        runs = content.values() if record.runs else [content]
        for run in runs:
            code = run["code"]
            datetime.date.fromisoformat(code["date"])
            assert code["torch"] and code["modules"]
            entry = code["entry"].replace(".", "/")
            assert f"{entry}.py" in code["modules"] or (
                f"{entry}/__init__.py" in code["modules"]
            )


def test_the_training_command_stamps_its_record(tmp_path, monkeypatch):
    """The command's own record writing, with the minutes of training and
    evaluating left out (the model is an untrained tiny ViT)."""
    import vitlesson.lab.train as train_module

    monkeypatch.setattr(
        train_module,
        "train",
        lambda **options: (train_module.tiny_vit(), {"steps": 0}),
    )
    monkeypatch.setattr(
        train_module, "results", lambda model, colours="families": {}
    )
    monkeypatch.chdir(tmp_path)
    train_module.main(["--output", "run.pt"])
    record = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    expected = provenance.stamp(provenance.ROOT / "vitlesson/lab/train.py")
    assert record["code"] == expected
