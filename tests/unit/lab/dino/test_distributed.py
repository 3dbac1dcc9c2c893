"""DINO across processes: the command under torchrun on the CPU (gloo)
trains the teacher one process trains, and only with the center's
all-reduce (two processes forked from the test's show it).

Tolerance: 1e-6 on every teacher weight. Two processes sum the same
numbers in another order (the gradient average of DDP, the center's
all-reduce), which changes float32 results in the last bits (measured:
8e-8 after 4 steps); without the center's all-reduce the teachers differ
by 1.8e-5, far above it.
"""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch.multiprocessing import start_processes

from tests.support import ROOT, faults
from vitlesson.lab.dino import DINOConfig, train

# torchrun with two processes: tens of seconds on two cores
pytestmark = pytest.mark.slow


FLAGS = [
    "--steps",
    "4",
    "--batch-size",
    "16",
    "--drop-path-rate",
    "0",
    "--local-crops",
    "2",
    "--out-dim",
    "32",
    "--quiet",
    "--threads",
    "1",
    "--device",
    "cpu",
]


TOLERANCE = 1e-6


def run(tmp_path, name, *extra):
    """The command on two processes under torchrun: the teacher it wrote."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "vitlesson.lab.dino",
            *FLAGS,
            *extra,
            "--output",
            str(tmp_path / f"{name}.pt"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return torch.load(tmp_path / f"{name}.pt", weights_only=True)


def difference(a, b):
    return max((a[k] - b[k]).abs().max().item() for k in a)


# What FLAGS ask of the command, trained here in one process.
CONFIG = DINOConfig(
    steps=4,
    batch_size=16,
    drop_path_rate=0,
    out_dim=32,
    crops=replace(DINOConfig().crops, local_crops=2),
)


@pytest.fixture
def one_thread():
    """One torch thread, as the command's ``--threads 1``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train_without_center_all_reduce(rank: int, folder: Path) -> None:
    """One of two processes forked from the test's (no interpreter or torch
    to start): train CONFIG with each process centring on its own share of
    the batch; process 0 saves the teacher."""
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=(folder / "rendezvous").as_uri(),
        rank=rank,
        world_size=2,
    )
    teacher, _ = train(
        CONFIG, progress=False, device="cpu", all_reduce_center=False
    )
    if rank == 0:
        torch.save(teacher.state_dict(), folder / "local.pt")
    dist.destroy_process_group()


def test_two_processes_train_the_same_teacher_and_need_the_center_all_reduce(
    tmp_path, one_thread
):
    one = train(CONFIG, progress=False, device="cpu")[0].state_dict()
    two = run(tmp_path, "two")  # the command, under torchrun
    assert difference(one, two) <= TOLERANCE
    record = json.loads((tmp_path / "two.json").read_text(encoding="utf-8"))
    assert record["processes"] == 2 and set(record["metrics"]) == {
        "knn_accuracy",
        "iou_per_head",
        "iou_best_head",
        "iou_mean",
    }  # process 0 evaluated the teacher
    start_processes(
        train_without_center_all_reduce,
        args=(tmp_path,),
        nprocs=2,
        start_method="fork",
    )
    local = torch.load(tmp_path / "local.pt", weights_only=True)
    assert difference(one, local) > 10 * TOLERANCE


def test_a_process_that_never_arrives_stops_the_other_in_one_line(tmp_path):
    alone = {
        "WORLD_SIZE": "2",
        "RANK": "0",
        "LOCAL_RANK": "0",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": "29533",
    }
    done = faults.run_forked(
        ["-m", "vitlesson.lab.dino", *FLAGS, "--dist-timeout", "1"]
        + ["--output", str(tmp_path / "x.pt")],
        tmp_path,
        env=alone,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "process 0 of 2 stopped" in lines[0], (
        done.stderr[-1500:]
    )
    assert not (tmp_path / "x.pt").exists()
