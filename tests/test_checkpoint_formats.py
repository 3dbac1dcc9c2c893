"""Every checkpoint format ``python -m vitlesson.attention`` reads, built here
from the package's own models (and Hugging Face's ViTModel for its format)."""

import argparse

import numpy as np
import pytest
import torch
from PIL import Image

from vitlesson.attention import cls_attention, main, read_image
from vitlesson.checkpoints import (
    architecture,
    from_hf_vit_state_dict,
    hf_vit_reference,
    load_vit,
    to_hf_vit_state_dict,
)
from vitlesson.data.images import normalize
from vitlesson.vit import VisionTransformer

safetensors = pytest.importorskip(
    "safetensors.torch", reason="safetensors comes with transformers"
)


def small(width=384, heads=6, seed=0, **kwargs):
    """A two-block ViT-S-wide model that reads any size, as the loader's
    models do: the width decides the heads."""
    torch.manual_seed(seed)
    kwargs = {
        "img_size": 32,
        "patch_size": 8,
        "depth": 2,
        "dynamic_img_size": True,
        **kwargs,
    }
    return VisionTransformer(embed_dim=width, num_heads=heads, **kwargs).eval()


def same_network(a, b, size=(40, 24)):
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        torch.testing.assert_close(
            a.forward_features(x), b.forward_features(x), atol=2e-5, rtol=0
        )
        torch.testing.assert_close(
            a.get_last_selfattention(x),
            b.get_last_selfattention(x),
            atol=2e-6,
            rtol=0,
        )


def full_checkpoint(teacher, student):
    """DINO's ``checkpoint.pth``: DDP's ``module.`` on the student, heads beside both backbones."""
    head = {
        "head.mlp.0.weight": torch.randn(8, 384),
        "head.last_layer.weight_g": torch.ones(16, 1),
        "head.last_layer.weight_v": torch.randn(16, 8),
    }
    return {
        "student": {
            "module." + k: v
            for k, v in {
                **{
                    "backbone." + k: v for k, v in student.state_dict().items()
                },
                **head,
            }.items()
        },
        "teacher": {
            **{"backbone." + k: v for k, v in teacher.state_dict().items()},
            **head,
        },
        "optimizer": {
            "state": {},
            "param_groups": [{"lr": 0.1, "params": [0, 1]}],
        },
        "epoch": 100,
        "args": argparse.Namespace(arch="vit_small", patch_size=8, out_dim=16),
        "dino_loss": {"center": torch.zeros(1, 16)},
    }


@pytest.mark.slow
def test_backbone_pth(tmp_path):
    model = small()
    torch.save(model.state_dict(), tmp_path / "dino_vits8_pretrain.pth")
    loaded, config = load_vit(tmp_path / "dino_vits8_pretrain.pth")
    assert config == dict(
        img_size=32,
        patch_size=8,
        in_channels=3,
        embed_dim=384,
        depth=2,
        num_heads=6,
        mlp_ratio=4.0,
        qkv_bias=True,
        num_classes=0,
    )
    assert loaded.dynamic_img_size and not loaded.training
    same_network(model, loaded)


@pytest.mark.slow
def test_full_dino_checkpoint_teacher_and_student(tmp_path):
    teacher, student = small(seed=1), small(seed=2)
    torch.save(full_checkpoint(teacher, student), tmp_path / "checkpoint.pth")
    same_network(teacher, load_vit(tmp_path / "checkpoint.pth")[0])
    same_network(
        student,
        load_vit(tmp_path / "checkpoint.pth", checkpoint_key="student")[0],
    )


@pytest.mark.slow
def test_full_checkpoint_of_an_unknown_width_takes_num_heads(tmp_path):
    """A 96-wide ViT, a width the table does not know: the heads are asked
    for (DINO's saved ``args.arch`` always names a width the table knows)."""
    teacher = small(width=96, heads=3)
    checkpoint = full_checkpoint(teacher, teacher)
    torch.save(checkpoint, tmp_path / "checkpoint.pth")
    with pytest.raises(ValueError, match="heads of a 96-wide ViT"):
        load_vit(tmp_path / "checkpoint.pth")
    loaded, config = load_vit(tmp_path / "checkpoint.pth", num_heads=3)
    assert config["num_heads"] == 3
    same_network(teacher, loaded)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["model.safetensors", "pytorch_model.bin"])
def test_timm_files_with_and_without_a_head(tmp_path, name):
    model = small(num_classes=5, qkv_bias=False, mlp_ratio=2.0)
    if name.endswith(".safetensors"):
        safetensors.save_file(model.state_dict(), tmp_path / name)
    else:
        torch.save(model.state_dict(), tmp_path / name)
    loaded, config = load_vit(tmp_path / name)
    assert (
        config["num_classes"],
        config["qkv_bias"],
        config["mlp_ratio"],
    ) == (5, False, 2.0)
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(model(x), loaded(x))


@pytest.mark.slow
def test_safetensors_metadata_names_the_heads(tmp_path):
    model = small(width=48, heads=3)
    safetensors.save_file(
        model.state_dict(),
        tmp_path / "m.safetensors",
        metadata={"num_heads": "3"},
    )
    same_network(model, load_vit(tmp_path / "m.safetensors")[0])


@pytest.mark.slow
def test_hugging_face_folder_file_and_memory_names(tmp_path):
    model = small(width=64, heads=2)
    reference = hf_vit_reference(model)
    reference.save_pretrained(
        tmp_path / "hf"
    )  # on disk: encoder.layer.N.attention.attention.query
    on_disk = safetensors.load_file(tmp_path / "hf" / "model.safetensors")
    assert "encoder.layer.0.attention.attention.query.weight" in on_disk
    loaded, config = load_vit(
        tmp_path / "hf"
    )  # config.json: 2 heads, not the table's 4
    assert config["num_heads"] == 2
    same_network(model, loaded)
    torch.save(
        reference.state_dict(), tmp_path / "memory.bin"
    )  # 5.x names: layers.N.attention.q_proj
    same_network(model, load_vit(tmp_path / "memory.bin", num_heads=2)[0])
    with (
        torch.no_grad()
    ):  # and the loaded model agrees with Hugging Face's own forward pass
        x = torch.randn(2, 3, 32, 32)
        torch.testing.assert_close(
            loaded.forward_features(x),
            reference(pixel_values=x).last_hidden_state,
            atol=2e-5,
            rtol=0,
        )


@pytest.mark.slow
def test_hf_names_round_trip_and_pooler():
    state = small().state_dict()
    hf = to_hf_vit_state_dict(state)
    hf |= {"pooler.dense.weight": torch.zeros(384, 384)}
    back = from_hf_vit_state_dict({"vit." + k: v for k, v in hf.items()})
    assert back.keys() == state.keys()
    assert all(torch.equal(back[k], state[k]) for k in state)


@pytest.mark.parametrize(
    "content,message",
    [
        (b"not a checkpoint", "Could not read .* as a PyTorch checkpoint"),
        (
            {"weights": torch.zeros(3)},
            r"Not a ViT backbone: missing \['cls_token'",
        ),
        (
            {"student": {"backbone.cls_token": torch.zeros(1)}},
            r"No 'teacher' entry in the checkpoint; it has \['student'\]",
        ),
        ({"epoch": 3}, "No tensors and no 'teacher' entry"),
        ([1, 2], "holds a list, expected a dictionary of tensors"),
        (
            {
                "encoder.layer.0.attention.attention.query.weight": torch.zeros(
                    2, 2
                )
            },
            "needs query, key and value weights; missing k, v",
        ),
        (
            {
                "embeddings.cls_token": torch.zeros(1),
                "embeddings.mask_token": torch.zeros(1),
            },
            "Unknown Hugging Face ViT key 'embeddings.mask_token'",
        ),
    ],
)
def test_unreadable_or_unknown_files(tmp_path, content, message):
    path = tmp_path / "weights.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(ValueError, match=message):
        load_vit(path)


def test_errors_for_widths_folders_and_extra_keys(tmp_path):
    state = small(width=48, heads=3).state_dict()
    with pytest.raises(
        ValueError,
        match=r"heads of a 48-wide ViT .* known widths: \[64, 192, 384, 768, 1024\]",
    ):
        architecture(state)
    torch.save(
        state | {"blocks.0.ls1.gamma": torch.ones(48)},
        tmp_path / "layer_scale.pth",
    )
    with pytest.raises(
        ValueError, match="does not fit a ViT .* Unexpected key.*ls1.gamma"
    ):
        load_vit(tmp_path / "layer_scale.pth", num_heads=3)
    (tmp_path / "folder").mkdir()
    with pytest.raises(
        ValueError, match="not a Hugging Face model: expected config.json"
    ):
        load_vit(tmp_path / "folder")
    with pytest.raises(FileNotFoundError, match="No checkpoint at"):
        load_vit(tmp_path / "missing.pth")
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(ValueError, match="as a safetensors file"):
        load_vit(tmp_path / "bad.safetensors")


def photo(path, height, width):
    rng = np.random.default_rng(0)
    Image.fromarray(
        rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    ).save(path)


@pytest.mark.slow
def test_attention_command_writes_every_head_at_the_image_resolution(
    tmp_path, capsys
):
    model = small(width=64, heads=4)  # 4 heads: the width table's tiny model
    torch.save(model.state_dict(), tmp_path / "tiny.pth")
    photo(tmp_path / "street.png", 45, 70)
    main(
        [
            "--checkpoint",
            str(tmp_path / "tiny.pth"),
            str(tmp_path / "street.png"),
            "--output-dir",
            str(tmp_path / "maps"),
        ]
    )
    out = capsys.readouterr().out
    assert (
        "5×8 patches, cut from 45×70 to 40×64 (a multiple of the patch size 8)"
        in out
    )
    folder = tmp_path / "maps" / "street"
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(
        ["image.png"]
        + [f"{k}-head{j}.png" for j in range(4) for k in ("attn", "mask")]
    )
    assert Image.open(folder / "attn-head0.png").size == (
        64,
        40,
    )  # (width, height): the image's own size
    image, _ = read_image(tmp_path / "street.png", 8)
    maps = cls_attention(model, image)
    expected = model.get_last_selfattention(normalize(image)[None])[
        0, :, 0, 1:
    ]
    torch.testing.assert_close(maps.reshape(4, -1), expected)
    masked = np.asarray(Image.open(folder / "mask-head1.png"))[..., :3] / 255
    dimmed = (
        0.35 * image.permute(1, 2, 0).numpy()
    )  # what a pixel outside the mask shows
    kept = (
        np.abs(masked - dimmed).max(axis=-1)[::8, ::8] > 3 / 255
    )  # one pixel per patch
    weights = maps[1].numpy()
    share = weights[kept].sum() / weights.sum()
    assert (
        0.6 <= share < 0.6 + weights.max() / weights.sum() + 1e-6
    )  # the smallest set holding 60%


@pytest.mark.parametrize(
    "argv,code,message",
    [
        (
            ["--threshold", "0"],
            2,
            "must be a fraction of the attention in (0, 1], got 0",
        ),
        (["--num-heads", "-1"], 2, "must be a positive integer, got -1"),
        (["--checkpoint-key", "ema"], 2, "invalid choice: 'ema'"),
    ],
)
def test_attention_command_refuses_bad_flags(
    tmp_path, capsys, argv, code, message
):
    with pytest.raises(SystemExit) as stop:
        main(["--checkpoint", "x.pth", "img.png", *argv])
    assert stop.value.code == code
    assert message in capsys.readouterr().err


def test_attention_command_names_a_bad_image_or_checkpoint(tmp_path, capsys):
    torch.save(small(width=64, heads=4).state_dict(), tmp_path / "tiny.pth")
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "--checkpoint",
                str(tmp_path / "tiny.pth"),
                str(tmp_path / "notes.txt"),
            ]
        )
    assert stop.value.code == 2 and "Could not read" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "--checkpoint",
                str(tmp_path / "none.pth"),
                str(tmp_path / "notes.txt"),
            ]
        )
    assert (
        stop.value.code == 2 and "No checkpoint at" in capsys.readouterr().err
    )
