"""What a maintainer relies on when reading the package: every attribute of
a layer is assigned in its own class, checks only return or raise, and no
``forward`` asks the operating system anything (``torch.compile`` would
break its graph there)."""

import ast
import inspect
import textwrap
from pathlib import Path

import pytest
import torch.nn as nn

import vitlesson
from vitlesson import _validation as check
from vitlesson.embedding import VisionTransformerEmbedding
from vitlesson.lab.dino.head import DINOHead, MultiCropWrapper
from vitlesson.lab.dino.loss import DINOLoss
from vitlesson.patching import FlexiblePatchEmbedding

PACKAGE = Path(vitlesson.__file__).parent


# What nn.Module and torch's parametrizations create on every module.
TORCH_ATTRIBUTES = {"training", "parametrizations"}


def layers() -> list[nn.Module]:
    """One small instance of every layer class the package defines."""
    sizes = dict(img_size=16, patch_size=4, embed_dim=16, num_heads=2)
    backbone = vitlesson.VisionTransformer(
        **sizes, depth=1, drop_path_rate=0.1, num_classes=0
    )
    head = DINOHead(16, 32, hidden_dim=24, bottleneck_dim=8)
    roots = [
        MultiCropWrapper(backbone, head),
        vitlesson.VisionTransformer(**sizes, depth=1, num_classes=3),
        FlexiblePatchEmbedding(16, 4, embed_dim=16),
        VisionTransformerEmbedding(16, 4, embed_dim=16),
        DINOLoss(32),
    ]
    return [
        module
        for root in roots
        for module in root.modules()
        if type(module).__module__.startswith("vitlesson")
    ]


def assigned_in_class(cls: type) -> set[str]:
    """Names a class (or a vitlesson base class) assigns on ``self``:
    ``self.x = ...``, ``self.x, self.y = ...``, ``self.x: T = ...`` or
    ``self.register_buffer("x", ...)``."""
    names: set[str] = set()
    for klass in cls.__mro__:  # and a torch layer it extends (Conv2d)
        if klass is nn.Module or not klass.__module__.startswith(
            ("vitlesson", "torch.nn.modules")
        ):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = (
                    node.targets
                    if isinstance(node, ast.Assign)
                    else [node.target]
                )
                for target in targets:
                    for part in ast.walk(target):
                        if (
                            isinstance(part, ast.Attribute)
                            and isinstance(part.value, ast.Name)
                            and part.value.id == "self"
                        ):
                            names.add(part.attr)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"register_buffer", "register_parameter"}
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(node.args[0].value)
    return names


def test_every_layer_class_is_covered():
    classes = {type(module) for module in layers()}
    defined = {
        obj
        for module in (
            vitlesson.vit,
            vitlesson.patching,
            vitlesson.position,
            vitlesson.embedding,
            vitlesson.lab.dino.head,
            vitlesson.lab.dino.loss,
        )
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, nn.Module)
        and obj.__module__ == module.__name__
    }
    assert defined <= classes, defined - classes


@pytest.mark.parametrize(
    "module", layers(), ids=lambda m: type(m).__qualname__
)
def test_every_attribute_of_a_layer_is_assigned_in_its_class(module):
    own = {
        name
        for name in (
            *vars(module),
            *module._parameters,
            *module._buffers,
            *module._modules,
        )
        if not name.startswith("_") and name not in TORCH_ATTRIBUTES
    }
    missing = own - assigned_in_class(type(module))
    assert not missing, (
        f"{type(module).__name__} has {sorted(missing)} that its class "
        "never assigns: set them in __init__ where a reader looks"
    )


def test_checks_never_set_attributes():
    tree = ast.parse((PACKAGE / "_validation.py").read_text())
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = (
                node.targets if isinstance(node, ast.Assign) else [node.target]
            )
        for target in targets:
            assert not isinstance(target, ast.Attribute), (
                f"_validation.py:{node.lineno} assigns an attribute"
            )
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"setattr", "delattr"}, node.lineno


def forward_methods():
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name == "forward":
                yield path.relative_to(PACKAGE.parent), node


@pytest.mark.slow
def test_no_forward_asks_the_operating_system():
    asked = []
    for path, function in forward_methods():
        for node in ast.walk(function):
            name = (
                node.attr
                if isinstance(node, ast.Attribute)
                else node.id
                if isinstance(node, ast.Name)
                else None
            )
            if name in {"sysconf", "physical_memory", "fits_in_memory"}:
                asked.append(f"{path}:{node.lineno} {name}")
    assert list(forward_methods()), "no forward methods found"
    assert not asked, asked


# --- checks are pure --------------------------------------------------------


def test_no_check_sets_an_attribute_on_anything():
    """No function of _validation assigns to an attribute (``x.a = ...``)."""
    tree = ast.parse(inspect.getsource(check))
    assigned = [
        f"line {node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign))
        for target in getattr(node, "targets", [getattr(node, "target", None)])
        if isinstance(target, ast.Attribute)
    ]
    assert assigned == []


@pytest.mark.parametrize(
    "cls,attributes",
    [
        (
            vitlesson.PatchEmbedding,
            [
                "img_size",
                "patch_size",
                "in_channels",
                "embed_dim",
                "dynamic_img_size",
                "grid_size",
                "n_patches",
            ],
        ),
        (vitlesson.PositionalEmbedding, ["n_patches", "embed_dim"]),
        (
            vitlesson.FlexiblePatchEmbedding,
            ["img_size", "patch_size", "grid_size", "n_patches", "patch_dim"],
        ),
    ],
)
def test_each_init_assigns_its_own_attributes(cls, attributes):
    """A reader of ``__init__`` sees every attribute assigned there."""
    source = inspect.getsource(cls.__init__)
    for name in attributes:
        assert f"self.{name}" in source, name


def test_physical_memory_is_read_once_at_import():
    """os.sysconf breaks torch.compile(fullgraph=True): it is read once."""
    source = inspect.getsource(check)
    assert source.count("os.sysconf") == 2  # page size and pages, at import
    assert check.physical_memory() == check.PHYSICAL_MEMORY > 2**20


# --- tests by subject -------------------------------------------------------

TESTS = Path(__file__).resolve().parents[1]


def test_every_module_has_a_unit_test_file_named_after_it():
    """vitlesson/lab/dino/loss.py is tested in tests/unit/lab/dino/test_loss.py."""
    missing = []
    for module in sorted(PACKAGE.rglob("*.py")):
        relative = module.relative_to(PACKAGE)
        if module.name in ("__init__.py", "__main__.py"):
            continue
        name = "test_" + module.stem.lstrip("_") + ".py"
        if not (TESTS / "unit" / relative.parent / name).exists():
            missing.append(relative.as_posix())
    assert not missing, missing


def imported(path: Path) -> list[str]:
    """Every module name a file's import statements name."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            names.append(node.module or "")
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


def test_no_test_module_imports_another():
    """Shared helpers live in tests/support; a test file imports only them."""
    imports = [
        f"{path.relative_to(TESTS)}: {name}"
        for path in sorted(TESTS.rglob("test_*.py"))
        for name in imported(path)
        if name.startswith("tests") and not name.startswith("tests.support")
    ]
    assert not imports, imports


def test_the_lesson_never_imports_the_lab_or_the_tools():
    """The tree reads top-down: the lesson's modules (and the data and
    figures they draw) stand alone; lab/ and tools/ build on them."""
    # Part 6's check refuses the lab's DINO loss and EMA update, the
    # package's own answers to that exercise, while it runs: it must name
    # them, and runs none of their code.
    refuses = {"exercises/dino_loss.py": "vitlesson.lab.dino"}
    upward = [
        f"{module.relative_to(PACKAGE)}: {name}"
        for module in sorted(PACKAGE.rglob("*.py"))
        if module.relative_to(PACKAGE).parts[0] not in ("lab", "tools")
        and module.name != "_moved.py"  # it names where modules went
        for name in imported(module)
        if name.startswith(("vitlesson.lab", "vitlesson.tools"))
        and refuses.get(module.relative_to(PACKAGE).as_posix()) != name
    ]
    assert not upward, upward
