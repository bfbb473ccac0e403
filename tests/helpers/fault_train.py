"""Run train.py's `main` with one fault installed: the harness of tests/training/test_training_faults.py.

    python tests/helpers/fault_train.py FAULT STEP [train.py flags ...]

FAULT (STEP is a global step, or the N of checkpoint-N):
  none           no fault: the reference run
  mid_step       SIGKILL inside the optimizer step of global step STEP (the update is done in memory, not counted,
                 not saved)
  during_write   SIGKILL while checkpoint-STEP.tmp is being written: the model weights are in it, the optimizer
                 state is half a file, the rest is missing
  before_rename  SIGKILL when checkpoint-STEP.tmp is complete (training_state.json included), just before its rename
  after_rename   SIGKILL right after checkpoint-STEP.tmp was renamed to checkpoint-STEP
  enospc         writing the optimizer state of checkpoint-STEP fails with OSError(ENOSPC) after half the file;
                 $FAULT_SNAPSHOT (a JSON path) receives the hashes of the complete checkpoints as they were when
                 that checkpoint's write began

The faults monkeypatch library functions (accelerate's optimizer step and checkpoint writer, os.replace) in this
process only: production code has no fault hooks. The kills are real: the process sends itself SIGKILL, so no
`finally`, atexit or flush runs, exactly as with the OOM killer or a pre-empted machine.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FAULTS = ("none", "mid_step", "during_write", "before_rename", "after_rename", "enospc")
# What a process that runs many faulted trainings (the tests' fork server) imports once, before forking.
PRELOAD = (
    "helpers.fault_train",
    "torch",
    "accelerate",
    "accelerate.checkpointing",
    "diffusers.models.unets.unet_2d",
    "diffusers.training_utils",
    "diffusers.optimization",
    "pipelines.training",
    "pipelines.data",
    "pipelines.ddpm.pipeline",
    "pipelines.pictures.images",
    "train",
)


def _die() -> None:
    """SIGKILL this process. The streams are flushed first only so a test can show what happened before the kill."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def checkpoint_hashes(output_dir: str | os.PathLike) -> dict[str, str]:
    """sha256 of every file of every complete checkpoint-N folder, by path relative to output_dir."""
    from pipelines.training.loop import list_checkpoints

    root = Path(output_dir)
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for _, folder in list_checkpoints(root)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def install(fault: str, step: int, snapshot: str | None = None) -> None:
    """Install FAULT for global step / checkpoint STEP in this process (see the module docstring)."""
    if fault not in FAULTS:
        raise ValueError(f"fault must be one of {', '.join(FAULTS)}, got {fault!r}")
    tmp_name, final_name = f"checkpoint-{step}.tmp", f"checkpoint-{step}"

    if fault == "mid_step":
        from accelerate.optimizer import AcceleratedOptimizer

        original_step = AcceleratedOptimizer.step
        calls = 0

        def step_then_die(self, *args, **kwargs):
            nonlocal calls
            calls += 1  # one call per global step: the tests train without gradient accumulation
            result = original_step(self, *args, **kwargs)
            if calls == step:
                _die()
            return result

        AcceleratedOptimizer.step = step_then_die

    elif fault in ("during_write", "enospc"):
        import accelerate.checkpointing

        original_save = accelerate.checkpointing.save  # writes each file of accelerator.save_state

        def faulty_save(obj, f, *args, **kwargs):
            path = Path(f)
            if path.parent.name != tmp_name:
                return original_save(obj, f, *args, **kwargs)
            if path.name == "model.safetensors" and fault == "enospc" and snapshot:
                Path(snapshot).write_text(json.dumps(checkpoint_hashes(path.parent.parent)))
            if path.name != "optimizer.bin":
                return original_save(obj, f, *args, **kwargs)
            original_save(obj, f, *args, **kwargs)
            with open(path, "r+b") as handle:  # a torn file: what a kill or a full disk leaves mid-write
                handle.truncate(path.stat().st_size // 2)
            if fault == "during_write":
                _die()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

        accelerate.checkpointing.save = faulty_save

    elif fault in ("before_rename", "after_rename"):
        original_replace = os.replace

        def faulty_replace(src, dst, *args, **kwargs):
            if fault == "before_rename" and Path(src).name == tmp_name:
                _die()
            original_replace(src, dst, *args, **kwargs)
            if fault == "after_rename" and Path(dst).name == final_name:
                _die()

        os.replace = faulty_replace


def child(
    fault: str, step: int, argv: list[str], stdout_path: str, stderr_path: str, snapshot: str | None = None
) -> None:
    """Entry point of a forked test process: stdout/stderr to files, FAULT installed, then train.py's main."""
    for fd, path in ((1, stdout_path), (2, stderr_path)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", encoding="utf-8", buffering=1, closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", buffering=1, closefd=False)
    install(fault, step, snapshot)
    import train

    sys.exit(train.main(argv))


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in FAULTS or not sys.argv[2].isdigit():
        sys.exit(f"usage: {sys.argv[0]} FAULT STEP [train.py flags ...]; FAULT is one of {', '.join(FAULTS)}")
    install(sys.argv[1], int(sys.argv[2]), os.environ.get("FAULT_SNAPSHOT"))
    import train

    sys.exit(train.main(sys.argv[3:]))
