"""``load_vit`` on broken files and bad arguments: each is one line naming
the file (or the argument) and what was expected; the package's own
non-square model loads."""

import json
import re

import numpy as np
import pytest
import torch

from vitlesson import checkpoints, vit
from vitlesson.checkpoints import (
    HEADS_BY_WIDTH,
    load_vit,
    to_hf_vit_state_dict,
)
from vitlesson.vit import VisionTransformer

safetensors = pytest.importorskip(
    "safetensors.torch", reason="safetensors comes with transformers"
)


def tiny(**kwargs):
    torch.manual_seed(0)
    options = dict(img_size=16, patch_size=8, embed_dim=64, depth=1)
    return VisionTransformer(**(options | {"num_heads": 4} | kwargs)).eval()


def one_line_error(error, call, *args, **kwargs) -> str:
    with pytest.raises(error) as caught:
        call(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and message.strip()
    return message


def test_empty_text_and_truncated_files_name_the_file(tmp_path):
    empty, text = tmp_path / "empty.pth", tmp_path / "notes.pth"
    empty.write_bytes(b"")
    text.write_text("these are my notes\n")
    message = one_line_error(ValueError, load_vit, empty)
    assert str(empty) in message and "is empty (0 bytes)" in message
    message = one_line_error(ValueError, load_vit, text)
    assert str(text) in message and "b'these ar'" in message
    whole = tmp_path / "whole.pth"
    torch.save(tiny().state_dict(), whole)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    message = one_line_error(ValueError, load_vit, cut)
    assert f"Could not read {cut} as a PyTorch checkpoint" in message
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"{}")
    assert str(bad) in one_line_error(ValueError, load_vit, bad)


@pytest.mark.parametrize(
    "argument,error,message",
    [
        (None, TypeError, "path must name a checkpoint .* got NoneType"),
        (3.5, TypeError, "got float"),
        ("", ValueError, "path is empty"),
        ("   ", ValueError, "path is empty"),
    ],
)
def test_a_path_that_is_not_a_path(argument, error, message):
    assert pytest.raises(error, load_vit, argument).match(message)


def test_arguments_of_the_wrong_kind(tmp_path):
    torch.save(tiny().state_dict(), tmp_path / "m.pth")
    message = one_line_error(
        TypeError, load_vit, tmp_path / "m.pth", checkpoint_key=1
    )
    assert "checkpoint_key must be a string" in message
    for heads in ("six", "²", 4.5, True, 0, -4):
        message = one_line_error(
            ValueError, load_vit, tmp_path / "m.pth", num_heads=heads
        )
        assert f"num_heads must be a positive whole number, got {heads!r}" in (
            message
        )
    message = one_line_error(
        ValueError, load_vit, tmp_path / "m.pth", num_heads=np.int64(0)
    )
    assert "num_heads must be a positive whole number, got 0" in message
    for heads in (np.int64(4), "4", " 4 "):  # whole numbers, any spelling
        assert (
            load_vit(tmp_path / "m.pth", num_heads=heads)[1]["num_heads"] == 4
        )
    message = one_line_error(
        ValueError, load_vit, tmp_path / "m.pth", num_heads=3
    )
    assert str(tmp_path / "m.pth") in message and "3" in message


def hf_folder(tmp_path, **config):
    """A Hugging Face model folder (the names of transformers 5.x)."""
    model = tiny()
    folder = tmp_path / "hf"
    folder.mkdir()
    weights = to_hf_vit_state_dict(model.state_dict())
    safetensors.save_file(weights, folder / "model.safetensors")
    settings = {"num_attention_heads": 4, "image_size": 16} | config
    (folder / "config.json").write_text(json.dumps(settings))
    return model, folder


@pytest.mark.parametrize(
    "value,accepted",
    [("six", False), (4.5, False), (True, False), (0, False), ("4", True)],
)
def test_config_heads_must_be_a_whole_number(tmp_path, value, accepted):
    model, folder = hf_folder(tmp_path, num_attention_heads=value)
    if accepted:
        loaded, config = load_vit(folder)
        assert config["num_heads"] == 4
        x = torch.randn(1, 3, 16, 16)
        torch.testing.assert_close(loaded(x), model(x))
        return
    message = one_line_error(ValueError, load_vit, folder)
    assert str(folder / "config.json") in message
    assert "num_attention_heads must be a positive whole number, got " in (
        message
    )
    assert repr(value) in message  # 4.5 is refused, never truncated to 4


@pytest.mark.parametrize(
    "text", ["{not json", "[1, 2]", "\xff\xfe".encode("latin-1")]
)
def test_a_broken_config_json_is_named(tmp_path, text):
    _, folder = hf_folder(tmp_path)
    config = folder / "config.json"
    if isinstance(text, bytes):
        config.write_bytes(text)
    else:
        config.write_text(text)
    message = one_line_error(ValueError, load_vit, folder)
    assert str(config) in message


def test_a_state_dict_without_blocks_or_with_misshapen_tensors(tmp_path):
    state = tiny().state_dict()
    cases = {
        "no-blocks": (
            {k: v for k, v in state.items() if not k.startswith("blocks.")},
            "no transformer blocks",
        ),
        "cls": (
            state | {"cls_token": torch.zeros(1, 64)},
            r"cls_token must have shape \(1, 1, 64\)",
        ),
        "pos-width": (
            state | {"pos_embed": torch.zeros(1, 5, 32)},
            "pos_embed must have shape",
        ),
        "patch-3d": (
            state | {"patch_embed.proj.weight": torch.zeros(64, 192)},
            r"patch_embed.proj.weight must have shape \(width, channels",
        ),
        "patch-oblong": (
            state | {"patch_embed.proj.weight": torch.zeros(64, 3, 8, 4)},
            "patch_embed.proj.weight must have shape",
        ),
        "qkv": (
            state | {"blocks.0.attn.qkv.weight": torch.zeros(64, 64)},
            "does not fit a ViT",
        ),
        "no-mlp": (
            {k: v for k, v in state.items() if ".mlp." not in k},
            "1 blocks but no 'blocks.0.mlp.fc1.weight'",
        ),
        "no-norm": (
            {k: v for k, v in state.items() if not k.startswith("norm.")},
            r"Not a ViT backbone: missing \['norm.weight'\]",
        ),
    }
    for name, (content, expected) in cases.items():
        path = tmp_path / f"{name}.pth"
        torch.save(content, path)
        message = one_line_error(ValueError, load_vit, path)
        assert str(path) in message, name
        assert re.search(expected, message), (name, message)


def test_the_packages_own_non_square_model_loads(tmp_path):
    model = tiny(img_size=(32, 16))  # a 4×2 grid: 8 positions
    torch.save(model.state_dict(), tmp_path / "tall.pth")
    message = one_line_error(ValueError, load_vit, tmp_path / "tall.pth")
    assert "not a square grid: pass the training size" in message
    loaded, config = load_vit(tmp_path / "tall.pth", img_size=(32, 16))
    assert config["img_size"] == (32, 16)
    x = torch.randn(2, 3, 32, 16)
    torch.testing.assert_close(loaded(x), model(x))
    message = one_line_error(
        ValueError, load_vit, tmp_path / "tall.pth", img_size=(16, 16)
    )
    assert "does not fit the checkpoint: its position table holds 8" in (
        message
    )
    safetensors.save_file(
        model.state_dict(),
        tmp_path / "tall.safetensors",
        metadata={"img_size": "32x16"},
    )  # a file that says its size needs no argument
    loaded, config = load_vit(tmp_path / "tall.safetensors")
    assert config["img_size"] == (32, 16)
    torch.testing.assert_close(loaded(x), model(x))


@pytest.mark.parametrize("hidden", [100, 96, 37])
def test_any_mlp_width_reads_back(tmp_path, hidden):
    model = tiny(embed_dim=48, num_heads=3, mlp_ratio=hidden / 48)
    assert model.blocks[0].mlp.fc1.out_features == hidden
    torch.save(model.state_dict(), tmp_path / "m.pth")
    loaded, _ = load_vit(tmp_path / "m.pth", num_heads=3)
    x = torch.randn(1, 3, 16, 16)
    torch.testing.assert_close(loaded(x), model(x))


def test_the_heads_table_is_the_one_the_factories_use(monkeypatch):
    """vitlesson.vit's ViT-Ti/S/B factories and the loader's table agree."""
    monkeypatch.setattr(vit, "VisionTransformer", lambda **kwargs: kwargs)
    for factory in (vit.vit_tiny, vit.vit_small, vit.vit_base):
        made = factory()
        assert HEADS_BY_WIDTH[made["embed_dim"]] == made["num_heads"]
    assert not hasattr(checkpoints, "_ARCH_HEADS")  # one table, not two
