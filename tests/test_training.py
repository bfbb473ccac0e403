"""train.py end to end on a tiny UNet: stock output folder, exact resume, 2-process DDP, one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--block_out_channels", "8", "16", "--train_batch_size", "8", "--num_inference_steps", "2",
        "--logger", "none", "--lr_warmup_steps", "5", "--seed", "7"]


def run_train(args, timeout=600, launcher=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = (launcher or [sys.executable]) + [str(ROOT / "train.py"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def ema_weights(folder: Path) -> dict:
    return load_file(folder / "unet" / "diffusion_pytorch_model.safetensors")


def test_tiny_run_writes_a_stock_ddpm_folder(tmp_path):
    out = tmp_path / "run"
    result = run_train(["--output_dir", str(out), "--max_train_steps", "20", "--checkpointing_steps", "10",
                        "--save_images_steps", "20", *TINY, "--logger", "tensorboard"])
    assert result.returncode == 0, result.stderr[-2000:]
    from diffusers import DDPMPipeline

    stock = DDPMPipeline.from_pretrained(out)  # no code of ours
    stock.set_progress_bar_config(disable=True)
    images = stock(batch_size=2, generator=torch.Generator().manual_seed(0), num_inference_steps=3).images
    assert len(images) == 2 and images[0].size == (32, 32)
    assert json.loads((out / "model_index.json").read_text())["scheduler"] == ["diffusers", "DDPMScheduler"]
    assert Image.open(out / "samples" / "step-0000020.png").size[0] > 32
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-10", "checkpoint-20"]
    assert list((out / "logs").rglob("events.out.tfevents.*")), "TensorBoard logs"
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["global_step"] == 20 and "train.py" in summary["config"]["command"]
    assert not list(out.rglob("*.tmp"))


def test_resume_is_exact(tmp_path):
    """10 steps + checkpoint, then resume to 20 == an uninterrupted 20-step run with the same seed."""
    common = [*TINY, "--checkpointing_steps", "10", "--save_images_steps", "1000"]
    full = run_train(["--output_dir", str(tmp_path / "full"), "--max_train_steps", "20", *common])
    assert full.returncode == 0, full.stderr[-2000:]
    first = run_train(["--output_dir", str(tmp_path / "split"), "--max_train_steps", "10", *common])
    assert first.returncode == 0, first.stderr[-2000:]
    second = run_train(["--output_dir", str(tmp_path / "split"), "--max_train_steps", "20",
                        "--resume_from_checkpoint", "latest", *common])
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resumed from" in second.stdout + second.stderr
    a, b = ema_weights(tmp_path / "full"), ema_weights(tmp_path / "split")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key
    raw_a = load_file(tmp_path / "full" / "checkpoint-20" / "model.safetensors")
    raw_b = load_file(tmp_path / "split" / "checkpoint-20" / "model.safetensors")
    assert all(torch.allclose(raw_a[k], raw_b[k], atol=1e-6) for k in raw_a)
    # and the seed matters: a different seed gives different weights
    other = run_train(["--output_dir", str(tmp_path / "other"), "--max_train_steps", "10", *common[:-2],
                       "--seed", "8", "--save_images_steps", "1000"])
    assert other.returncode == 0
    c = ema_weights(tmp_path / "other")
    d = load_file(tmp_path / "split" / "checkpoint-10" / "unet_ema" / "diffusion_pytorch_model.safetensors")
    assert any(not torch.allclose(c[k], d[k]) for k in c)


def test_two_process_ddp_on_cpu(tmp_path):
    out = tmp_path / "ddp"
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                "--main_process_port", "0"]
    result = run_train(["--output_dir", str(out), "--max_train_steps", "4", "--checkpointing_steps", "2",
                        "--save_images_steps", "4", *TINY], launcher=launcher)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["num_processes"] == 2 and summary["global_step"] == 4
    assert summary["images_seen_this_run"] == 4 * 8 * 2
    ckpt = out / "checkpoint-4"
    assert (ckpt / "random_states_0.pkl").is_file() and (ckpt / "random_states_1.pkl").is_file()
    assert len(list((out / "samples").glob("*.png"))) == 1  # rank 0 alone writes samples
    assert (out / "unet" / "diffusion_pytorch_model.safetensors").is_file()


def _one_line_error(result, *words):
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize("args,words", [
    (["--train_batch_size", "0"], ["--train_batch_size", ">= 1"]),
    (["--learning_rate=-1e-4"], ["--learning_rate", "> 0"]),
    (["--learning_rate", "nan"], ["--learning_rate"]),
    (["--prediction_type", "noise"], ["--prediction_type", "epsilon"]),
    (["--mixed_precision", "fp8"], ["--mixed_precision"]),
    (["--num_inference_steps", "2000"], ["--num_inference_steps", "[1, 1000]"]),
    (["--train_batch_size", "abc"], ["--train_batch_size", "invalid int"]),
    (["--resolution", "31"], ["resolution", "multiple of 2"]),
])
def test_bad_flags_exit_with_one_line(tmp_path, args, words):
    _one_line_error(run_train(["--output_dir", str(tmp_path / "x"), "--max_train_steps", "1", *TINY, *args]), *words)


def test_bad_data_folders(tmp_path):
    base = ["--output_dir", str(tmp_path / "x"), "--max_train_steps", "2", "--resolution", "16", *TINY]
    _one_line_error(run_train([*base, "--train_data_dir", str(tmp_path / "missing")]), "train_data_dir", "does not exist")
    (tmp_path / "empty").mkdir()
    _one_line_error(run_train([*base, "--train_data_dir", str(tmp_path / "empty")]), "train_data_dir", "no images")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"not a png")
    _one_line_error(run_train([*base, "--train_data_dir", str(broken)]), "none of its 1 image files could be read")
    # a readable folder with one corrupt file: trains, and the warning counts the skipped file
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i in range(10):
        Image.new("RGB", (20, 24), (i * 20, 0, 0)).save(mixed / f"{i}.jpg")
    (mixed / "bad.webp").write_bytes(b"garbage")
    ok = run_train([*base, "--train_data_dir", str(mixed), "--train_batch_size", "4", "--channels", "3",
                    "--save_images_steps", "1000", "--checkpointing_steps", "1000"])
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "skipped 1 unreadable image file" in ok.stderr


def test_dataset_name_offline_fails_fast(tmp_path):
    result = run_train(["--output_dir", str(tmp_path / "x"), "--max_train_steps", "1",
                        "--dataset_name", "huggan/smithsonian_butterflies_subset", *TINY], timeout=120)
    _one_line_error(result, "dataset_name", "offline")


@pytest.mark.parametrize("flags,down,up", [
    ([], ["DownBlock2D", "DownBlock2D", "AttnDownBlock2D"], ["AttnUpBlock2D", "UpBlock2D", "UpBlock2D"]),
    (["--no_attention"], ["DownBlock2D"] * 3, ["UpBlock2D"] * 3),
    (["--block_out_channels", "16", "32", "64", "128"], ["DownBlock2D"] * 3 + ["AttnDownBlock2D"],
     ["AttnUpBlock2D"] + ["UpBlock2D"] * 3),
])
def test_model_flags_build_the_unet_they_name(flags, down, up):
    import train

    from pipelines.training import unet_kwargs

    kwargs = unet_kwargs(train.parse_config(["--output_dir", "x", *flags]))
    assert (kwargs["down_block_types"], kwargs["up_block_types"]) == (down, up)
