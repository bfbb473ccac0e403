"""train.py end to end on a tiny UNet: stock output folder, exact resume, 2-process DDP, one-line errors; and
`pipelines.training.loop.train` in-process on an 8×8 image folder, against an independent few-line loop
(tests/helpers/train_reference.py): the loss falls, each target and min-SNR-γ weighting, accumulation, EMA,
checkpoints."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from helpers.tiny import TINY_TRAIN_FLAGS, ema_weights

ROOT = Path(__file__).resolve().parents[2]


def run_train(args, timeout=600, launcher=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = (launcher or [sys.executable]) + [str(ROOT / "train.py"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def test_tiny_run_writes_a_stock_ddpm_folder(tmp_path):
    out = tmp_path / "run"
    result = run_train(
        [
            "--output_dir",
            str(out),
            "--max_train_steps",
            "20",
            "--checkpointing_steps",
            "10",
            "--save_images_steps",
            "20",
            *TINY_TRAIN_FLAGS,
            "--logger",
            "tensorboard",
        ]
    )
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
    common = [*TINY_TRAIN_FLAGS, "--checkpointing_steps", "10", "--save_images_steps", "1000"]
    full = run_train(["--output_dir", str(tmp_path / "full"), "--max_train_steps", "20", *common])
    assert full.returncode == 0, full.stderr[-2000:]
    first = run_train(["--output_dir", str(tmp_path / "split"), "--max_train_steps", "10", *common])
    assert first.returncode == 0, first.stderr[-2000:]
    second = run_train(
        [
            "--output_dir",
            str(tmp_path / "split"),
            "--max_train_steps",
            "20",
            "--resume_from_checkpoint",
            "latest",
            *common,
        ]
    )
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resumed from" in second.stdout + second.stderr
    # resumed, not retrained from scratch (which, being deterministic, would also give the same weights)
    assert json.loads((tmp_path / "split" / "training_summary.json").read_text())["images_seen_this_run"] == 10 * 8
    a, b = ema_weights(tmp_path / "full"), ema_weights(tmp_path / "split")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key
    raw_a = load_file(tmp_path / "full" / "checkpoint-20" / "model.safetensors")
    raw_b = load_file(tmp_path / "split" / "checkpoint-20" / "model.safetensors")
    assert all(torch.allclose(raw_a[k], raw_b[k], atol=1e-6) for k in raw_a)
    # and the seed matters: a different seed gives different weights
    other = run_train(
        [
            "--output_dir",
            str(tmp_path / "other"),
            "--max_train_steps",
            "10",
            *common[:-2],
            "--seed",
            "8",
            "--save_images_steps",
            "1000",
        ]
    )
    assert other.returncode == 0
    c = ema_weights(tmp_path / "other")
    d = load_file(tmp_path / "split" / "checkpoint-10" / "unet_ema" / "diffusion_pytorch_model.safetensors")
    assert any(not torch.allclose(c[k], d[k]) for k in c)


def test_two_process_ddp_on_cpu(tmp_path):
    out = tmp_path / "ddp"
    launcher = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        "0",
    ]
    result = run_train(
        [
            "--output_dir",
            str(out),
            "--max_train_steps",
            "4",
            "--checkpointing_steps",
            "2",
            "--save_images_steps",
            "4",
            *TINY_TRAIN_FLAGS,
        ],
        launcher=launcher,
    )
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


@pytest.mark.parametrize(
    "args,words",
    [
        (["--train_batch_size", "0"], ["--train_batch_size", ">= 1"]),
        (["--learning_rate=-1e-4"], ["--learning_rate", "> 0"]),
        (["--learning_rate", "nan"], ["--learning_rate"]),
        (["--prediction_type", "noise"], ["--prediction_type", "epsilon"]),
        (["--mixed_precision", "fp8"], ["--mixed_precision"]),
        (["--num_inference_steps", "2000"], ["--num_inference_steps", "[1, 1000]"]),
        (["--train_batch_size", "abc"], ["--train_batch_size", "invalid int"]),
        (["--resolution", "31"], ["resolution", "multiple of 2"]),
    ],
)
def test_bad_flags_exit_with_one_line(tmp_path, args, words):
    _one_line_error(
        run_train(["--output_dir", str(tmp_path / "x"), "--max_train_steps", "1", *TINY_TRAIN_FLAGS, *args]), *words
    )


def test_bad_data_folders(tmp_path):
    base = ["--output_dir", str(tmp_path / "x"), "--max_train_steps", "2", "--resolution", "16", *TINY_TRAIN_FLAGS]
    _one_line_error(
        run_train([*base, "--train_data_dir", str(tmp_path / "missing")]), "train_data_dir", "does not exist"
    )
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
    ok = run_train(
        [
            *base,
            "--train_data_dir",
            str(mixed),
            "--train_batch_size",
            "4",
            "--channels",
            "3",
            "--save_images_steps",
            "1000",
            "--checkpointing_steps",
            "1000",
        ]
    )
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "skipped 1 unreadable image file" in ok.stderr


def test_dataset_name_offline_fails_fast(tmp_path):
    result = run_train(
        [
            "--output_dir",
            str(tmp_path / "x"),
            "--max_train_steps",
            "1",
            "--dataset_name",
            "huggan/smithsonian_butterflies_subset",
            *TINY_TRAIN_FLAGS,
        ],
        timeout=120,
    )
    _one_line_error(result, "dataset_name", "offline")


@pytest.mark.parametrize(
    "flags,down,up",
    [
        ([], ["DownBlock2D", "DownBlock2D", "AttnDownBlock2D"], ["AttnUpBlock2D", "UpBlock2D", "UpBlock2D"]),
        (["--no_attention"], ["DownBlock2D"] * 3, ["UpBlock2D"] * 3),
        (
            ["--block_out_channels", "16", "32", "64", "128"],
            ["DownBlock2D"] * 3 + ["AttnDownBlock2D"],
            ["AttnUpBlock2D"] + ["UpBlock2D"] * 3,
        ),
    ],
)
def test_model_flags_build_the_unet_they_name(flags, down, up):
    import train
    from pipelines.training.config import unet_kwargs

    kwargs = unet_kwargs(train.parse_config(["--output_dir", "x", *flags]))
    assert (kwargs["down_block_types"], kwargs["up_block_types"]) == (down, up)


# ---------------------------------------------------------------------------------------------------------------
# In-process runs of pipelines.training.loop.train on 12 8×8 images, checked against tests/helpers/train_reference.py.
#
# Weights are compared through the function they compute (the UNet's output on fixed inputs), not entry by entry:
# some parameters have an exactly zero gradient in exact arithmetic (a conv bias just before a GroupNorm of one
# channel per group, an attention key bias), so their float gradient is rounding noise, which Adam normalises to
# steps of size ~lr; two correct implementations differ there by ~1e-3 while computing the same function to 1e-6.
# A wrong target, weighting, accumulation or one step more or less changes the output by > 1e-2.

from helpers.tiny import TINY_UNET  # noqa: E402
from helpers.train_reference import alphas_cumprod, denoising_loss, min_snr_weight, reference_train  # noqa: E402

RES, N_IMAGES, BATCH, SEED, WARMUP = 8, 12, 4, 7, 3  # 3 batches an epoch: runs cross epochs (and accumulations)
REF_UNET = {**TINY_UNET, "sample_size": RES, "in_channels": 1, "out_channels": 1}
SAME = 1e-4  # the outputs of two runs of the same training agree to ~1e-6


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """A folder of 12 structured 8×8 grayscale PNGs, its tensor in [-1, 1], and a --model_config of TINY_UNET."""
    import numpy as np

    from pipelines.data.sources import load_image_folder

    root = tmp_path_factory.mktemp("tiny-data")
    folder = root / "images"
    folder.mkdir()
    yy, xx = np.mgrid[0:RES, 0:RES]
    arrays = [
        ((np.sin(xx * (1 + i % 3) / 2 + i) * np.cos(yy / 2 + i / 3) + 1) * 127.5).astype(np.uint8)
        for i in range(N_IMAGES)
    ]
    for i, array in enumerate(arrays):
        Image.fromarray(array, "L").save(folder / f"{i:02d}.png")
    images = load_image_folder(folder, RES, 1)
    # the data the reference trains on is the data written, not whatever the loader returns
    expected = torch.from_numpy(np.stack(arrays)[:, None].astype(np.float32) / 127.5 - 1.0)
    assert torch.equal(images, expected)
    model_config = root / "unet.json"
    model_config.write_text(json.dumps(REF_UNET))
    return {"folder": folder, "images": images, "model_config": model_config}


def train_tiny(tiny_data, out, **overrides):
    """train() in this process on the tiny folder; returns the output folder."""
    from pipelines.training.config import TrainConfig
    from pipelines.training.loop import train

    config = dict(
        output_dir=str(out),
        train_data_dir=str(tiny_data["folder"]),
        resolution=RES,
        model_config=str(tiny_data["model_config"]),
        train_batch_size=BATCH,
        lr_warmup_steps=WARMUP,
        seed=SEED,
        num_inference_steps=1,
        logger="none",
        checkpointing_steps=1000,
        save_images_steps=1000,
        max_train_steps=10,
        use_ema=False,
        heldout_fraction=0.0,  # the reference trains on every image of the folder
    )
    config.update(overrides)
    return train(TrainConfig(**config))


def reference(tiny_data, **kwargs):
    kwargs = {"seed": SEED, "steps": 10, "batch_size": BATCH, "warmup": WARMUP, **kwargs}
    return reference_train(tiny_data["images"], REF_UNET, **kwargs)


_probe = torch.Generator().manual_seed(99)
PROBE = (torch.randn(16, 1, RES, RES, generator=_probe), torch.randint(0, 1000, (16,), generator=_probe))


def outputs(weights) -> torch.Tensor:
    """The UNet's prediction on fixed (x_t, t): from a state dict, a safetensors file or a model folder."""
    from diffusers import UNet2DModel

    if isinstance(weights, Path) and weights.is_dir():
        model = UNet2DModel.from_pretrained(weights)
    else:
        model = UNet2DModel(**REF_UNET)
        model.load_state_dict(load_file(weights) if isinstance(weights, Path) else weights)
    with torch.no_grad():
        return model.eval()(*PROBE).sample


def assert_same_function(got, want, what):
    a, b = outputs(got), outputs(want)
    gap = (a - b).abs().max().item()
    assert gap < SAME, f"{what}: outputs differ by {gap:.2e} (scale {b.abs().max().item():.2f})"


def saved_unet(out: Path) -> Path:
    return out / "unet" / "diffusion_pytorch_model.safetensors"


def summary_of(out: Path) -> dict:
    return json.loads((out / "training_summary.json").read_text())


def logged_scalars(out: Path, tag: str) -> list[float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = (out / "logs" / "train").glob("events.out.tfevents.*")  # the run's own file (hparams: a subfolder)
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    return [event.value for event in sorted(accumulator.Scalars(tag), key=lambda e: e.step)]


def test_training_lowers_the_loss(tiny_data, tmp_path):
    """30 steps with the defaults (EMA on): the logged loss falls, and the saved model denoises better than its
    initial weights on a fixed yardstick (same x0, ε, t for both)."""
    out = train_tiny(tiny_data, tmp_path / "run", max_train_steps=30, use_ema=True, logger="tensorboard")
    losses = logged_scalars(out, "loss")
    assert len(losses) == 30
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.7 * first, (first, last)
    from diffusers import UNet2DModel

    torch.manual_seed(SEED)
    initial = denoising_loss(UNet2DModel(**REF_UNET), tiny_data["images"])
    trained = denoising_loss(UNet2DModel.from_pretrained(out / "unet"), tiny_data["images"])
    assert trained < 0.6 * initial, (initial, trained)


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
@pytest.mark.parametrize("snr_gamma", [None, 5.0], ids=["plain", "snr5"])
def test_each_target_and_weighting_matches_an_independent_loop(tiny_data, tmp_path, prediction_type, snr_gamma):
    """10 steps of train() (no EMA) == 10 steps of the few-line reference that regresses ε, x0 or
    v = √ᾱ ε − √(1−ᾱ) x0, weighted by min-SNR-γ when --snr_gamma is set."""
    out = train_tiny(tiny_data, tmp_path / "run", prediction_type=prediction_type, snr_gamma=snr_gamma)
    raw, _, _ = reference(tiny_data, prediction_type=prediction_type, snr_gamma=snr_gamma)
    assert_same_function(saved_unet(out), raw, f"{prediction_type}, snr_gamma={snr_gamma}")


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
def test_snr_weights_are_min_snr_gamma(prediction_type):
    """pipelines.training.loop.snr_weights == min(SNR, γ)/SNR (ε), min(SNR, γ) (x0), min(SNR, γ)/(SNR+1) (v), with
    SNR_t = ᾱ_t/(1−ᾱ_t) from the scheduler's public alphas_cumprod, at every t."""
    from pipelines import PosteriorDDPMScheduler
    from pipelines.training.loop import snr_weights

    scheduler = PosteriorDDPMScheduler(num_train_timesteps=1000, prediction_type=prediction_type)
    t = torch.arange(1000)
    abar = scheduler.alphas_cumprod.double()
    assert torch.allclose(abar, alphas_cumprod(1000), rtol=1e-6)  # the linear schedule of Ho et al.
    snr = abar / (1 - abar)
    gamma = 5.0
    want = {
        "epsilon": torch.clamp(snr, max=gamma) / snr,
        "sample": torch.clamp(snr, max=gamma),
        "v_prediction": torch.clamp(snr, max=gamma) / (snr + 1),
    }[prediction_type]
    got = snr_weights(scheduler, t, gamma, prediction_type).double()
    assert got.shape == (1000,)
    assert torch.allclose(got, want, rtol=1e-5)
    assert torch.allclose(got, min_snr_weight(snr, gamma, prediction_type), rtol=1e-5)
    # the clip bites where SNR > γ (small t) and nowhere else: the weighting is not the identity
    high, low = snr > gamma, snr < gamma
    assert high.any() and low.any()
    if prediction_type == "epsilon":
        assert torch.all(got[high] < 1) and torch.allclose(got[low], torch.ones_like(got[low]))
    if prediction_type == "sample":
        assert torch.allclose(got[high], torch.full_like(got[high], gamma)) and torch.allclose(got[low], snr[low])


def test_gradient_accumulation_equals_a_bigger_batch(tiny_data, tmp_path):
    """--gradient_accumulation_steps 2 with batch 4 == one optimizer step per 8 images (the same images and noise,
    the same update-step lr schedule), in the reference; and each update consumes two micro-batches."""
    import train as cli

    config = cli.parse_config(["--gradient_accumulation_steps", "2", "--train_batch_size", str(BATCH)])
    assert (config.gradient_accumulation_steps, config.train_batch_size) == (2, BATCH)
    out = train_tiny(tiny_data, tmp_path / "run", gradient_accumulation_steps=2, max_train_steps=6)
    raw, _, _ = reference(tiny_data, accumulation=2, steps=6)
    assert_same_function(saved_unet(out), raw, "accumulation 2 × batch 4 vs batch 8")
    summary = summary_of(out)
    assert (summary["global_step"], summary["images_seen_this_run"]) == (6, 6 * 2 * BATCH)


def test_checkpoints_total_limit_keeps_the_newest(tiny_data, tmp_path):
    """Limit 2, a checkpoint every 5 of 20 steps: checkpoint-15 and checkpoint-20 remain, each its own step."""
    out = train_tiny(tiny_data, tmp_path / "run", max_train_steps=20, checkpointing_steps=5, checkpoints_total_limit=2)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("checkpoint")) == [
        "checkpoint-15",
        "checkpoint-20",
    ]
    for step in (15, 20):
        assert json.loads((out / f"checkpoint-{step}" / "training_state.json").read_text()) == {"global_step": step}
    raw15, _, _ = reference(tiny_data, steps=15)
    assert_same_function(out / "checkpoint-15" / "model.safetensors", raw15, "checkpoint-15")


def test_no_ema_saves_the_raw_trained_weights(tiny_data, tmp_path):
    """--no_ema: the saved UNet is exactly the trained model (== the checkpoint's raw weights == the reference),
    not an average, and the folder is a stock DDPM pipeline."""
    import train as cli

    assert cli.parse_config(["--no_ema"]).use_ema is False and cli.parse_config([]).use_ema is True
    out = train_tiny(tiny_data, tmp_path / "run", use_ema=False)
    saved, raw = load_file(saved_unet(out)), load_file(out / "checkpoint-10" / "model.safetensors")
    assert saved.keys() == raw.keys() and all(torch.equal(saved[k], raw[k]) for k in saved)
    assert not (out / "checkpoint-10" / "unet_ema").exists()
    reference_raw, reference_ema, _ = reference(tiny_data, ema_max_decay=0.9999)
    assert_same_function(saved_unet(out), reference_raw, "--no_ema output vs the reference's raw weights")
    assert (outputs(reference_raw) - outputs(reference_ema)).abs().max() > 100 * SAME  # EMA would be told apart
    from diffusers import DDPMPipeline

    pipe = DDPMPipeline.from_pretrained(out)
    pipe.set_progress_bar_config(disable=True)
    images = pipe(
        batch_size=1, generator=torch.Generator().manual_seed(0), num_inference_steps=2, output_type="np"
    ).images
    assert images.shape == (1, RES, RES, 1)


def test_ema_is_what_is_saved_by_default(tiny_data, tmp_path):
    """With EMA on (the default), the saved UNet is the warm-up EMA of the trained weights, not the raw ones; and
    writing a checkpoint (which saves the EMA copy) leaves the training as it was: the same loss at every step."""
    out = train_tiny(tiny_data, tmp_path / "run", use_ema=True, checkpointing_steps=5, logger="tensorboard")
    raw, ema, losses = reference(tiny_data, ema_max_decay=0.9999)
    assert_same_function(saved_unet(out), ema, "saved UNet vs the reference EMA")
    assert_same_function(out / "checkpoint-10" / "model.safetensors", raw, "checkpoint raw weights")
    assert torch.allclose(torch.tensor(logged_scalars(out, "loss")), torch.tensor(losses), rtol=1e-4)


def test_resume_from_an_explicit_checkpoint_path(tiny_data, tmp_path):
    """--resume_from_checkpoint DIR/checkpoint-5 into a new folder: trains only steps 6–10 (mid-epoch) and ends
    exactly where the uninterrupted run ends (raw and EMA weights), which is where the reference ends."""
    first = train_tiny(tiny_data, tmp_path / "first", use_ema=True, checkpointing_steps=5, checkpoints_total_limit=None)
    assert (first / "checkpoint-5").is_dir() and (first / "checkpoint-10").is_dir()
    resumed = train_tiny(
        tiny_data,
        tmp_path / "resumed",
        use_ema=True,
        checkpointing_steps=5,
        resume_from_checkpoint=str(first / "checkpoint-5"),
    )
    summary = summary_of(resumed)
    assert (summary["global_step"], summary["images_seen_this_run"]) == (10, 5 * BATCH)
    a, b = load_file(saved_unet(first)), load_file(saved_unet(resumed))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    raw_a = load_file(first / "checkpoint-10" / "model.safetensors")
    raw_b = load_file(resumed / "checkpoint-10" / "model.safetensors")
    assert raw_a.keys() == raw_b.keys() and all(torch.allclose(raw_a[k], raw_b[k], atol=1e-6) for k in raw_a)
    raw, ema, _ = reference(tiny_data, ema_max_decay=0.9999)
    assert_same_function(resumed / "checkpoint-10" / "model.safetensors", raw, "resumed raw weights")
    assert_same_function(saved_unet(resumed), ema, "resumed EMA weights")
