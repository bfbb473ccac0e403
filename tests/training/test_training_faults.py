"""Killed and failing training runs: `--resume_from_checkpoint latest` picks the last complete checkpoint and ends
exactly where an uninterrupted run ends; a checkpoint write that fails is one clear line and harms nothing.

Each run is a real process (forked from a server that imported torch/diffusers/accelerate once, so the file runs in
seconds, not minutes) running train.py's `main` with one fault from tests/helpers/fault_train.py; the kills are real
SIGKILLs (exit code -9).
"""

import json
import multiprocessing
import os
import shutil
import signal
import subprocess
from collections import namedtuple
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from helpers import fault_train
from helpers.tiny import TINY_TRAIN_FLAGS, ema_weights
from pipelines.training.config import TrainConfig
from pipelines.training.loop import resolve_checkpoint

STEPS, EVERY = 6, 2  # checkpoints 2, 4, 6; sample grids at the same steps, as with the defaults (500 / 1000)
FLAGS = [
    *TINY_TRAIN_FLAGS,
    "--max_train_steps",
    str(STEPS),
    "--checkpointing_steps",
    str(EVERY),
    "--save_images_steps",
    str(EVERY),
    "--num_threads",
    "1",
]
Result = namedtuple("Result", "returncode stdout stderr")


@pytest.fixture(scope="module")
def launch(tmp_path_factory):
    """launch(output_dir, fault="none", step=0, resume=False, snapshot=None) -> Result of one training process."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(fault_train.PRELOAD))
    logs = tmp_path_factory.mktemp("logs")
    count = 0

    def run(output_dir, fault="none", step=0, resume=False, snapshot=None):
        nonlocal count
        count += 1
        stdout, stderr = logs / f"{count}.out", logs / f"{count}.err"
        argv = ["--output_dir", str(output_dir), *FLAGS] + (["--resume_from_checkpoint", "latest"] if resume else [])
        process = context.Process(
            target=fault_train.child, args=(fault, step, argv, str(stdout), str(stderr), snapshot and str(snapshot))
        )
        process.start()
        process.join(300)
        if process.exitcode is None:
            process.kill()
            process.join()
            pytest.fail(f"training ({fault} at {step}) did not finish in 300 s: {stderr.read_text()[-2000:]}")
        return Result(process.exitcode, stdout.read_text(), stderr.read_text())

    return run


@pytest.fixture(scope="module")
def reference(launch, tmp_path_factory):
    """An uninterrupted run with the same seed and steps."""
    out = tmp_path_factory.mktemp("reference") / "run"
    result = launch(out)
    assert result.returncode == 0, result.stderr[-2000:]
    return out


def latest(output_dir: Path) -> Path | None:
    """The folder `--resume_from_checkpoint latest` would load."""
    return resolve_checkpoint(TrainConfig(output_dir=str(output_dir), resume_from_checkpoint="latest"))


def assert_resumes_exactly(launch, out: Path, reference: Path, from_step: int) -> None:
    """Resume from latest: logs the step, exits 0, writes the stock folder, ends with the reference's weights."""
    result = launch(out, resume=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resumed from {out / f'checkpoint-{from_step}'} at step {from_step}" in result.stdout + result.stderr
    for name in (
        "model_index.json",
        "scheduler/scheduler_config.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
    ):
        assert (out / name).is_file(), name
    assert not list(out.glob("*.tmp")), "a partial checkpoint was left behind"
    assert latest(out) == out / f"checkpoint-{STEPS}"
    a, b = ema_weights(reference), ema_weights(out)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), f"EMA weights differ from the uninterrupted run: {key}"
    raw_a = load_file(reference / f"checkpoint-{STEPS}" / "model.safetensors")
    raw_b = load_file(out / f"checkpoint-{STEPS}" / "model.safetensors")
    for key in raw_a:
        assert torch.allclose(raw_a[key], raw_b[key], atol=1e-6), f"weights differ from the uninterrupted run: {key}"


@pytest.mark.parametrize(
    "fault,step,partial,resume_step",
    [
        # killed inside the optimizer step of step 3: checkpoint-2 is the last one, nothing of step 3 is on disk
        ("mid_step", 3, None, 2),
        # killed while checkpoint-4.tmp holds the weights and half the optimizer state
        ("during_write", 4, "checkpoint-4.tmp", 2),
        # killed with checkpoint-4.tmp complete, training_state.json included, one rename away from counting
        ("before_rename", 4, "checkpoint-4.tmp", 2),
        # killed right after the rename: checkpoint-4 is complete and is the one to resume from
        ("after_rename", 4, None, 4),
    ],
)
def test_sigkill_then_resume_latest(launch, reference, tmp_path, fault, step, partial, resume_step):
    out = tmp_path / "run"
    killed = launch(out, fault, step)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-2000:])
    assert not (out / "model_index.json").exists(), "the killed run must not have finished"
    if partial:
        assert (out / partial).is_dir(), "the kill must leave a partial checkpoint on disk"
    assert latest(out) == out / f"checkpoint-{resume_step}"
    assert_resumes_exactly(launch, out, reference, resume_step)


def one_error_line(stderr: str) -> str:
    """The error line; it must be the only one, start its own line (not glued to a progress bar) and no traceback."""
    assert "Traceback" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.split("\n") if "error" in line.lower()]
    assert len(errors) == 1, stderr[-3000:]
    assert errors[0].startswith("train.py: error: "), errors[0]
    return errors[0]


def test_injected_enospc_leaves_the_previous_checkpoint_intact(launch, reference, tmp_path):
    out, snapshot = tmp_path / "run", tmp_path / "before.json"
    failed = launch(out, "enospc", 4, snapshot=snapshot)
    assert failed.returncode == 2, (failed.returncode, failed.stderr[-2000:])  # train.py's error exit
    line = one_error_line(failed.stderr)
    assert "checkpoint-4" in line and "No space left on device" in line, line
    before = json.loads(snapshot.read_text())  # checkpoint-2's files as the write of checkpoint-4 began
    assert "checkpoint-2/model.safetensors" in before and all(p.startswith("checkpoint-2/") for p in before)
    assert fault_train.checkpoint_hashes(out) == before, "checkpoint-2 changed"
    assert not (out / "checkpoint-4.tmp").exists() and not (out / "checkpoint-4").exists()
    assert latest(out) == out / "checkpoint-2"
    assert_resumes_exactly(launch, out, reference, 2)


@pytest.fixture
def small_tmpfs(tmp_path):
    """A tmpfs mount point (root only); yields (path, remount(size_bytes))."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")

    def resize(size: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(mount)], check=True)

    try:
        yield mount, resize
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_leaves_the_previous_checkpoint_intact(launch, reference, small_tmpfs):
    """A real full disk (torch.save and safetensors do not raise OSError there): same promise as the injected one."""
    mount, resize = small_tmpfs
    checkpoint = sum(p.stat().st_size for p in (reference / "checkpoint-2").rglob("*") if p.is_file())
    samples = sum(p.stat().st_size for p in (reference / "samples").glob("*"))
    resize(checkpoint + samples + checkpoint // 2)  # room for checkpoint-2, not for checkpoint-4
    out = mount / "run"
    failed = launch(out)
    assert failed.returncode == 2, (failed.returncode, failed.stderr[-2000:])  # train.py's error exit
    line = one_error_line(failed.stderr)
    assert "checkpoint-4" in line and "No space left on device" in line, line
    reference_hashes = {
        p: h for p, h in fault_train.checkpoint_hashes(reference).items() if p.startswith("checkpoint-2/")
    }
    assert fault_train.checkpoint_hashes(out) == reference_hashes, "checkpoint-2 is not the one the run wrote"
    assert not (out / "checkpoint-4.tmp").exists() and not (out / "checkpoint-4").exists()
    resize(64 * 2**20)  # space freed: resume from latest
    assert_resumes_exactly(launch, out, reference, 2)
