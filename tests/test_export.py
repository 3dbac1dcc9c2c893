"""torch.export and torch.compile of the lesson's ViT (issue 22, section 4).

A dynamic batch exports; a ``dynamic_img_size`` model exports with dynamic
height and width (multiples of the patch size) and compiles with
``fullgraph=True``: nothing in ``forward`` leaves the graph (the memory
guard reads the machine's memory once, at import).
"""

import pytest
import torch
from torch.export import Dim

import vitlesson


def tiny(**kwargs):
    config = dict(
        img_size=16, patch_size=8, embed_dim=16, depth=1, num_heads=2
    )
    torch.manual_seed(0)
    return vitlesson.VisionTransformer(**(config | kwargs)).eval()


@pytest.mark.slow  # each export traces the model: ~10 s on 2 cores
def test_export_with_a_dynamic_batch():
    model = tiny(num_classes=3)
    program = torch.export.export(
        model,
        (torch.randn(2, 3, 16, 16),),
        dynamic_shapes={"images": {0: Dim("batch")}},
    )
    for batch in (1, 5):
        x = torch.randn(batch, 3, 16, 16)
        with torch.no_grad():
            assert torch.allclose(program.module()(x), model(x), atol=1e-5)


@pytest.mark.slow
def test_export_with_dynamic_height_and_width():
    model = tiny(dynamic_img_size=True)
    # two or more patches a side: torch specialises a side of size 1
    rows, cols = Dim("rows", min=2, max=64), Dim("cols", min=2, max=64)
    program = torch.export.export(
        model,
        (torch.randn(2, 3, 16, 16),),
        dynamic_shapes={"images": {0: Dim("batch"), 2: 8 * rows, 3: 8 * cols}},
    )
    for shape in [(1, 3, 16, 24), (3, 3, 16, 16), (2, 3, 40, 16)]:
        x = torch.randn(shape)
        with torch.no_grad():
            assert torch.allclose(program.module()(x), model(x), atol=1e-5)


@pytest.mark.slow
def test_free_height_and_width_are_refused_without_naming_img_size():
    """Sides that need not be multiples of the patch size: torch says how
    to write them; nothing mentions an img_size the user never passed."""
    with pytest.raises(Exception) as caught:
        torch.export.export(
            tiny(dynamic_img_size=True),
            (torch.randn(2, 3, 16, 16),),
            dynamic_shapes={"images": {2: Dim("h"), 3: Dim("w")}},
        )
    message = str(caught.value)
    assert "img_size" not in message and "SymInt" not in message, message
    assert "% 8" in message  # the guard: a side must be a multiple of P


@pytest.mark.slow
def test_compile_fullgraph_of_a_dynamic_img_size_model():
    model = tiny(dynamic_img_size=True)
    # fullgraph is dynamo's promise (no graph break), whatever the backend;
    # "eager" runs the captured graph without minutes of C++ code generation
    compiled = torch.compile(
        model, fullgraph=True, dynamic=True, backend="eager"
    )
    with torch.no_grad():
        for shape in [(2, 3, 16, 16), (1, 3, 24, 16), (3, 3, 32, 40)]:
            x = torch.randn(shape)
            assert torch.allclose(compiled(x), model(x), atol=1e-5)
