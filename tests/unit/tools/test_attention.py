"""``python -m vitlesson.tools.attention``: one distinct new folder per image
inside ``--output-dir``, nothing there before replaced, every mistake one
line before any work, and a full disk or Ctrl-C leaving only complete
folders."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from tests.support import faults
from tests.support.refusals import expect
from vitlesson.tools import attention
from vitlesson.tools.attention import main
from vitlesson.vit import VisionTransformer

PROG = "python -m vitlesson.tools.attention"


FILES = sorted(
    ["image.png"]
    + [f"{k}-head{j}.png" for j in range(4) for k in ("attn", "mask")]
)


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A folder with a tiny checkpoint (width 64: 4 heads), as the cwd."""
    torch.manual_seed(0)
    model = VisionTransformer(
        img_size=16, patch_size=8, embed_dim=64, depth=1, num_heads=4
    )
    torch.save(model.state_dict(), tmp_path / "tiny.pth")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def picture(path, height=16, width=24, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="PNG")
    return path


def command(*args) -> list[str]:
    return ["--checkpoint", "tiny.pth", *map(str, args)]


def refused(capsys, argv, code=2) -> str:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == code, err
    assert err.count("\n") == 1 and err.startswith(PROG), err
    return err


def snapshot(folder):
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def complete_folders(maps):
    """Every entry of ``maps``: a folder with the full set of files, no
    temporary folder left beside them."""
    entries = sorted(os.listdir(maps))
    assert not [e for e in entries if e.startswith(".")], entries
    for entry in entries:
        assert sorted(os.listdir(maps / entry)) == FILES, entry
    return entries


def test_dotted_and_equal_stems_get_distinct_safe_folders(work, capsys):
    picture(work / "...png")
    picture(work / "a" / "photo.png", seed=1)
    picture(work / "b" / "photo.jpg", seed=2)
    picture(work / "image.png", seed=3)  # the user's file in the cwd
    before = (work / "image.png").read_bytes()
    main(
        command("...png", "a/photo.png", "b/photo.jpg", "--output-dir", "maps")
    )
    out = capsys.readouterr().out
    assert complete_folders(work / "maps") == ["image", "photo", "photo-2"]
    assert "maps/image (a safe folder name for '...png')" in out
    assert (
        "maps/photo-2 (photo is used by an earlier image: a new name)" in out
    )
    assert (work / "image.png").read_bytes() == before
    assert sorted(p.name for p in work.iterdir()) == [
        "...png",
        "a",
        "b",
        "image.png",
        "maps",
        "tiny.pth",
    ]
    one = Image.open(work / "maps" / "photo" / "image.png")
    two = Image.open(work / "maps" / "photo-2" / "image.png")
    assert np.asarray(one).tobytes() != np.asarray(two).tobytes()


@pytest.mark.parametrize(
    "name,folder",
    [("../up.png", "up"), ("we ird;name.png", "we_ird_name"), ("-.png", "-")],
)
def test_names_stay_inside_the_output_folder(work, capsys, name, folder):
    picture(work / "sub" / name)
    main(command(work / "sub" / name, "--output-dir", "maps"))
    assert complete_folders(work / "maps") == [folder]


def test_an_existing_folder_is_never_replaced(work, capsys):
    picture(work / "photo.png")
    (work / "maps" / "photo").mkdir(parents=True)
    (work / "maps" / "photo" / "image.png").write_bytes(b"the user's own")
    (work / "maps" / "photo-2").write_text("a file, not a folder")
    before = snapshot(work / "maps")
    main(command("photo.png", "--output-dir", "maps"))
    out = capsys.readouterr().out
    assert "maps/photo already exists and is left as it is" in out
    after = snapshot(work / "maps")
    assert {k: after[k] for k in before} == before
    assert sorted(os.listdir(work / "maps" / "photo-3")) == FILES


def test_the_folder_is_checked_again_just_before_it_is_made(work):
    image, _ = attention.read_image(picture(work / "photo.png"), 8)
    model = attention.load_vit(work / "tiny.pth")[0]
    (work / "maps" / "photo").mkdir(parents=True)
    with pytest.raises(ValueError, match="already exists: name a new folder"):
        attention.attention_figures(model, image, work / "maps" / "photo")
    assert os.listdir(work / "maps" / "photo") == []


@pytest.mark.parametrize(
    "where,message",
    [
        (
            "notes.txt/maps",
            "cannot be made: notes.txt is a file, not a folder",
        ),
        ("notes.txt", "cannot be made: notes.txt is a file, not a folder"),
        ("", "must name a file or folder, got an empty string"),
        (" ", "must name a file or folder, got an empty string"),
    ],
)
def test_an_unwritable_output_dir_is_refused_before_any_work(
    work, capsys, monkeypatch, where, message
):
    (work / "notes.txt").write_text("mine")
    picture(work / "photo.png")
    monkeypatch.setattr(attention, "load_vit", None)  # never reached
    err = refused(capsys, command("photo.png", "--output-dir", where))
    assert message in err
    assert (work / "notes.txt").read_text() == "mine"


def test_a_read_only_output_dir_is_refused(work):
    """The command runs in a fork that obeys file permissions even as root
    (CI runs as root, whom a read-only folder does not stop otherwise)."""
    (work / "locked").mkdir(mode=0o555)
    picture(work / "photo.png")
    argv = command("photo.png", "--output-dir", "locked/maps")
    code = (
        "from tests.support.faults import obey_file_permissions\n"
        "from vitlesson.tools.attention import main\n"
        f"obey_file_permissions(); main({argv!r})"
    )
    result = faults.run_forked(["-c", code], work)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(PROG), result.stderr
    assert "no permission to write in locked" in result.stderr
    assert os.listdir(work / "locked") == []


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: p.mkdir(), "is a folder, expected an image file"),
        (lambda p: None, "No image at"),
        (lambda p: p.write_text("hello"), "Could not read"),
        (
            lambda p: p.write_bytes(
                picture(p.with_suffix(".png")).read_bytes()[:60]
            ),
            "truncated or damaged",
        ),
        (lambda p: picture(p, 4, 4), "smaller than one 8×8 patch"),
    ],
)
def test_every_image_is_checked_before_any_folder_is_written(
    work, capsys, make, message
):
    picture(work / "good.png")
    make(work / "bad.img")
    err = refused(
        capsys, command("good.png", "bad.img", "--output-dir", "maps")
    )
    assert message in err and "bad.img" in err
    assert not (work / "maps").exists()


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_attention_of_a_non_finite_image_is_refused(work, bad):
    model = attention.load_vit(work / "tiny.pth")[0]
    image = torch.rand(3, 16, 16)
    image[0, 3, 3] = bad
    with pytest.raises(ValueError, match="image must hold finite values"):
        attention.cls_attention(model, image)


def test_an_image_too_large_for_memory_is_refused_first(
    work, capsys, monkeypatch
):
    picture(work / "photo.png", 64, 64)
    monkeypatch.setattr(attention, "available_memory", lambda device: 1000)
    err = refused(capsys, command("photo.png", "--output-dir", "maps"))
    assert "64×64 image (64 patches of 8 pixels) needs about" in err
    assert not (work / "maps").exists()


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "is empty (0 bytes)"),
        (b"text, not weights", "not like a file written by torch.save"),
    ],
)
def test_a_broken_checkpoint_is_one_line(work, capsys, content, message):
    (work / "tiny.pth").write_bytes(content)
    picture(work / "photo.png")
    assert message in refused(capsys, command("photo.png"))
    assert not (work / "attention-maps").exists()


def test_a_non_square_checkpoint_with_its_size(work, capsys):
    torch.manual_seed(0)
    tall = VisionTransformer(
        img_size=(32, 16), patch_size=8, embed_dim=64, depth=1, num_heads=4
    )
    torch.save(tall.state_dict(), work / "tall.pth")
    picture(work / "photo.png", 32, 16)
    argv = ["--checkpoint", "tall.pth", "photo.png", "--output-dir", "maps"]
    assert "--img-size HEIGHT WIDTH" in refused(capsys, argv)
    main([*argv, "--img-size", "32", "16"])
    assert complete_folders(work / "maps") == ["photo"]


def test_a_device_that_is_not_there(work, capsys):
    picture(work / "photo.png")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU: --device cuda is there")
    err = refused(capsys, command("photo.png", "--device", "cuda"))
    assert "--device cuda: this machine has no CUDA GPU" in err
    err = refused(capsys, command("photo.png", "--device", "gpu"))
    assert "invalid choice: 'gpu'" in err
    main(command("photo.png", "--device", "cpu", "--output-dir", "maps"))
    assert complete_folders(work / "maps") == ["photo"]


@pytest.mark.slow
def test_a_full_disk_leaves_complete_folders_only(work):
    picture(work / "small.png", 16, 16)
    picture(work / "large.png", 96, 96)  # its image.png is over the limit
    (work / "maps" / "old").mkdir(parents=True)
    (work / "maps" / "old" / "keep.txt").write_text("from before")
    limit = 8000
    result = faults.run_forked(
        ["-m", "vitlesson.tools.attention"]
        + command("small.png", "large.png", "--output-dir", "maps"),
        work,
        limit=limit,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1
    assert "could not write maps/large (File too large)" in result.stderr
    assert (work / "maps" / "old" / "keep.txt").read_text() == "from before"
    entries = sorted(os.listdir(work / "maps"))
    assert entries == ["old", "small"]  # no half folder, no temporary one
    assert sorted(os.listdir(work / "maps" / "small")) == FILES
    assert max(p.stat().st_size for p in (work / "maps").rglob("*")) <= limit


@pytest.mark.slow
def test_ctrl_c_leaves_complete_folders_only(work):
    names = [f"p{i:02}.png" for i in range(40)]
    for i, name in enumerate(names):
        picture(work / name, 128, 128, seed=i)
    code, out, err = faults.interrupt(
        ["-m", "vitlesson.tools.attention"]
        + command(*names, "--output-dir", "maps"),
        work,
        when="files in maps/p00",
        stream="stdout",
    )
    assert code == 130, err
    assert err == (
        f"{PROG}: interrupted; every folder written so far is complete, "
        "nothing else was left\n"
    )
    done = complete_folders(work / "maps")
    assert "p00" in done and len(done) < len(names)


PEAK = """
import ctypes, torch
from vitlesson.tools.attention import attention_peak_bytes, cls_attention
from vitlesson.vit import VisionTransformer
torch.set_num_threads(1)

def resident(field):  # VmRSS (now) or VmHWM (the peak), in bytes
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field))
    return int(line.split()[1]) * 1024

model = VisionTransformer(img_size=32, patch_size=4, embed_dim=384, depth=2,
                          num_heads=6, dynamic_img_size=True).eval()
cls_attention(model, torch.rand(3, 32, 32))  # warm up
image = torch.rand(3, 280, 280)
ctypes.CDLL(None).malloc_trim(0)  # freed memory goes back to the system
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")  # the peak restarts from the memory in use now
before = resident("VmRSS")
cls_attention(model, image)
print(resident("VmHWM") - before, attention_peak_bytes(model, 280, 280))
"""


@pytest.mark.slow
def test_the_memory_guard_covers_the_measured_peak(tmp_path):
    """280×280 at 4-pixel patches (4,900 tokens) at ViT-S width: the
    guard's estimate is at least the peak memory really added, and not
    more than twice it.

    The peak is Linux's VmHWM, reset just before the call, less the memory
    in use then (the process's earlier peak, from importing torch, would
    hide the call's own: measured against it, one CI run saw 118 MiB
    instead of about 200)."""
    result = faults.run(["-c", PEAK], tmp_path)
    assert result.returncode == 0, result.stderr
    measured, estimated = map(int, result.stdout.split())
    print(
        f"peak rise {measured / 2**20:.0f} MiB, guard {estimated / 2**20:.0f}"
    )
    assert measured > 50 * 2**20  # the measurement saw the work
    assert measured <= estimated <= 2 * measured


def test_a_hostile_pickle_is_refused_in_one_line_without_torchs_warning(
    work,
):
    """A pickle that would run a command if unpickled: torch's
    weights-only loader refuses it (nothing runs) and warns first about
    the pickle protocol; the command says only its own line."""

    class Hostile:
        def __reduce__(self):
            return (os.system, ("touch pwned",))

    import pickle

    (work / "hostile.pt").write_bytes(pickle.dumps(Hostile(), protocol=4))
    picture(work / "photo.png")
    result = faults.run_forked(
        [
            "-m",
            "vitlesson.tools.attention",
            "--checkpoint",
            "hostile.pt",
            "photo.png",
        ],
        work,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"{PROG}: error: Could not read hostile")
    assert not (work / "pwned").exists()
    assert not (work / "attention-maps").exists()


@pytest.mark.parametrize(
    ("call", "names", "values"),
    [
        (lambda: attention.read_image("photo.png", 0), ("patch_size",), (0,)),
        (
            lambda: attention.read_image("photo.png", "8"),
            ("patch_size",),
            ("8",),
        ),
        (
            lambda: attention.attention_figures(
                tiny(), torch.rand(3, 16, 24), "out", threshold=5.0
            ),
            ("threshold",),
            (5.0,),
        ),
        (
            lambda: attention.attention_figures(
                tiny(), torch.rand(3, 16, 24) * 255, "out"
            ),
            ("image",),
            ("255",),
        ),
        (
            lambda: attention.attention_figures(
                tiny(), torch.rand(16, 24), "out"
            ),
            ("image",),
            ((16, 24),),
        ),
        (
            lambda: attention.attention_figures(
                tiny(), torch.rand(3, 16, 24), 5
            ),
            ("folder",),
            (5,),
        ),
        (
            lambda: attention.output_folders("photo.png", "maps"),
            ("images",),
            ("photo.png",),
        ),
        (
            lambda: attention.output_folders(["photo.png"], 5),
            ("output_dir",),
            (5,),
        ),
        (
            lambda: attention.writable_folder(5),
            ("--output-dir",),
            (5,),
        ),
    ],
)
def test_the_public_functions_name_what_is_wrong(work, call, names, values):
    picture(work / "photo.png")
    expect(
        call,
        lambda result: pytest.fail(f"accepted: {result!r}"),
        names=names,
        values=values,
    )
    assert not (work / "out").exists()


def tiny():
    torch.manual_seed(0)
    return VisionTransformer(
        img_size=16,
        patch_size=8,
        embed_dim=64,
        depth=1,
        num_heads=4,
        dynamic_img_size=True,
    )
