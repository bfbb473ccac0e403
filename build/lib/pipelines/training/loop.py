"""The accelerate training loop: ε/x0/v regression on q(x_t|x_0) samples (Ho et al. 2020, Algorithm 1).

One function, `train(config)`, used by `train.py` (and `accelerate launch train.py`), in four phases: setup,
resume, the loop, save. It handles mixed precision, gradient accumulation, DDP (through accelerate), EMA weights,
atomic checkpoints with exact resume, sample grids, TensorBoard logs, and writes a stock diffusers DDPM folder with
the EMA weights at the end. Pushing to the Hub is train.py's (`pipelines.hub.push.push_to_hub`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from torch.utils.data import DataLoader, Sampler, TensorDataset

from pipelines.checks import first_line
from pipelines.training.config import CHECKPOINT_RE, TrainConfig, TrainingError, unet_kwargs


class EpochPermutation(Sampler):
    """A seeded shuffle that depends only on (seed, epoch): resuming at any epoch replays the same order."""

    def __init__(self, n: int, seed: int, epoch: int):
        self.n, self.seed, self.epoch = n, seed, epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=generator).tolist())

    def __len__(self) -> int:
        return self.n


def list_checkpoints(output_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """Complete checkpoints, oldest first. Only `checkpoint-N` folders count: partial ones are `*.tmp`."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = CHECKPOINT_RE.match(path.name)
        if match and path.is_dir() and (path / "training_state.json").is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def resolve_checkpoint(config: TrainConfig) -> Path | None:
    if not config.resume_from_checkpoint:
        return None
    if config.resume_from_checkpoint == "latest":
        found = list_checkpoints(config.output_dir)
        return found[-1][1] if found else None
    path = Path(config.resume_from_checkpoint)
    if not (path / "training_state.json").is_file():
        raise TrainingError(f"--resume_from_checkpoint {str(path)!r} is not a complete checkpoint folder")
    return path


def snr_weights(scheduler, timesteps: torch.Tensor, gamma: float, prediction_type: str) -> torch.Tensor:
    """Min-SNR-γ loss weights (Hang et al. 2023), expressed for the chosen regression target."""
    alpha_bar = scheduler.alphas_cumprod.to(timesteps.device)[timesteps]
    snr = alpha_bar / (1 - alpha_bar)
    clipped = torch.clamp(snr, max=gamma)
    if prediction_type == "epsilon":
        return clipped / snr
    if prediction_type == "v_prediction":
        return clipped / (snr + 1)
    return clipped


def _write_failure(error: Exception, folder: Path) -> str:
    """Why a write failed, in words: torch.save reports a full disk only as "unexpected pos N vs M"."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    if free is not None and free < 2**20:
        return f"No space left on device: {free} bytes free"
    return f"{type(error).__name__}: {first_line(error)}"


@contextmanager
def _writing(what: str, folder: Path):
    """A failed write of `what` (a full disk, a read-only folder) as one TrainingError line."""
    try:
        yield
    except (OSError, RuntimeError, SafetensorError) as error:
        raise TrainingError(f"could not write {what} ({_write_failure(error, folder)})") from error


def _save_checkpoint(accelerator, output_dir: Path, step: int, ema, config: TrainConfig) -> None:
    """accelerate state + EMA to checkpoint-N.tmp, then one atomic rename to checkpoint-N."""
    final = output_dir / f"checkpoint-{step}"
    tmp = output_dir / f"checkpoint-{step}.tmp"
    try:
        if accelerator.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        accelerator.wait_for_everyone()  # every rank writes its RNG state into tmp
        accelerator.save_state(str(tmp), safe_serialization=True)
        accelerator.wait_for_everyone()  # all ranks done writing before the rename
        if accelerator.is_main_process:
            if ema is not None:
                with torch.random.fork_rng(devices=[]):  # it builds a UNet: see _final_unet
                    ema.save_pretrained(str(tmp / "unet_ema"))
            (tmp / "training_state.json").write_text(json.dumps({"global_step": step}))
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
    except (OSError, RuntimeError, SafetensorError) as error:
        # A full disk is an OSError from Python's own writes, but a RuntimeError from torch.save ("unexpected pos")
        # and a SafetensorError from safetensors: each is a failed checkpoint write, reported in one line.
        cause = _write_failure(error, output_dir)  # before the cleanup frees the space it measures
        if accelerator.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
        raise TrainingError(
            f"could not write checkpoint {final} ({cause}); the previous checkpoints are intact"
        ) from error
    accelerator.wait_for_everyone()
    if accelerator.is_main_process and config.checkpoints_total_limit:
        for _, old in list_checkpoints(output_dir)[: -config.checkpoints_total_limit]:
            shutil.rmtree(old, ignore_errors=True)


def _make_pipeline(unet, scheduler):
    from pipelines.ddpm.pipeline import PosteriorDDPMPipeline

    pipe = PosteriorDDPMPipeline(unet=unet, scheduler=scheduler)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _sample_grid(unet, scheduler, config: TrainConfig, step: int, output_dir: Path, accelerator) -> None:
    from pipelines.pictures.images import make_grid

    pipe = _make_pipeline(unet, scheduler)
    images = pipe(
        batch_size=16,
        generator=torch.Generator().manual_seed(config.seed),
        num_inference_steps=config.num_inference_steps,
        output_type="pt",
    ).images
    grid = make_grid(images, nrow=4)
    (output_dir / "samples").mkdir(parents=True, exist_ok=True)
    grid.save(output_dir / "samples" / f"step-{step:07d}.png")
    if config.logger == "tensorboard":
        tracker = accelerator.get_tracker("tensorboard", unwrap=True)
        tracker.add_images("samples", images.numpy(), step)


@dataclass
class _Run:
    """What the phases of a training run share: the accelerate objects, the data and the schedule of steps."""

    config: TrainConfig
    output_dir: Path
    accelerator: Any
    model: Any
    ema: Any
    optimizer: Any
    lr_scheduler: Any
    noise_scheduler: Any
    dataset: TensorDataset
    batches_per_epoch: int
    max_steps: int
    data_record: Any = None  # pipelines.data.record.DataRecord, saved beside the model
    global_step: int = 0


def train(config: TrainConfig) -> Path:
    """Train a UNet2DModel as configured; returns the output folder (a stock diffusers DDPM pipeline)."""
    config.validate()
    run = _setup(config)
    _resume(run)
    start = time.time()
    images_seen = _loop(run)
    _save(run, images_seen, time.time() - start)
    run.accelerator.end_training()
    return run.output_dir


def _accelerator(config: TrainConfig, output_dir: Path):
    from accelerate import Accelerator
    from accelerate.utils import GradientAccumulationPlugin, ProjectConfiguration

    try:
        return Accelerator(
            # Without an accelerator, `accelerate launch --multi_gpu --num_processes N` (or torchrun) still gives
            # N processes: cpu=True makes accelerate join them over gloo instead of running N separate trainings.
            cpu=not torch.cuda.is_available(),
            mixed_precision=config.mixed_precision,
            gradient_accumulation_plugin=GradientAccumulationPlugin(
                num_steps=config.gradient_accumulation_steps, sync_with_dataloader=False
            ),
            log_with=None if config.logger == "none" else config.logger,
            project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
        )
    except (ValueError, RuntimeError) as error:
        raise TrainingError(f"--mixed_precision {config.mixed_precision}: {error}") from error


def _setup(config: TrainConfig) -> _Run:
    """The data, the accelerator, the UNet (and its EMA copy), the noise schedule, the optimizer and LR schedule."""
    from accelerate.utils import set_seed
    from diffusers import UNet2DModel
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import EMAModel

    from pipelines.data.record import prepare_training_data
    from pipelines.data.sources import check_resolution
    from pipelines.ddpm.scheduler import PosteriorDDPMScheduler

    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    output_dir = Path(config.output_dir)
    kwargs = unet_kwargs(config)
    check_resolution(config.resolution, len(kwargs.get("block_out_channels", (0, 0, 0, 0))) - 1)
    images, record = prepare_training_data(
        config.dataset,
        config.train_data_dir,
        config.dataset_name,
        config.resolution,
        config.channels,
        config.heldout_fraction,
        config.subset_size,
        config.subset_index,
        config.subset_seed,
    )
    dataset = TensorDataset(images)
    accelerator = _accelerator(config, output_dir)
    set_seed(config.seed)  # same seed on every rank: identical initial weights
    try:
        model = UNet2DModel(**kwargs)
    except (TypeError, ValueError) as error:
        raise TrainingError(f"UNet config is invalid: {error}") from error
    noise_scheduler = PosteriorDDPMScheduler(
        num_train_timesteps=config.ddpm_num_steps,
        beta_schedule=config.ddpm_beta_schedule,
        prediction_type=config.prediction_type,
    )
    ema = None
    if config.use_ema:
        ema = EMAModel(
            model.parameters(),
            decay=config.ema_max_decay,
            use_ema_warmup=True,
            inv_gamma=config.ema_inv_gamma,
            power=config.ema_power,
            model_cls=UNet2DModel,
            model_config=model.config,
        )
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=config.learning_rate,
        betas=(config.adam_beta1, config.adam_beta2),
        weight_decay=config.adam_weight_decay,
        eps=config.adam_epsilon,
    )
    per_process = config.train_batch_size
    batches_per_epoch = len(dataset) // (per_process * accelerator.num_processes)
    if batches_per_epoch == 0:
        raise TrainingError(
            f"--train_batch_size {per_process} × {accelerator.num_processes} process(es) is larger "
            f"than the data set ({len(dataset)} images)"
        )
    steps_per_epoch = batches_per_epoch / config.gradient_accumulation_steps
    max_steps = config.max_train_steps or math.ceil(config.num_epochs * steps_per_epoch)
    # AcceleratedScheduler steps once per process per optimizer step: scale to keep the schedule in update steps.
    lr_scheduler = get_scheduler(
        config.lr_scheduler,
        optimizer=optimizer,
        num_warmup_steps=config.lr_warmup_steps * accelerator.num_processes,
        num_training_steps=max_steps * accelerator.num_processes,
    )
    model, optimizer, lr_scheduler = accelerator.prepare(model, optimizer, lr_scheduler)
    return _Run(
        config, output_dir, accelerator, model, ema, optimizer, lr_scheduler, noise_scheduler, dataset,
        batches_per_epoch, max_steps, record,
    )  # fmt: skip


def _resume(run: _Run) -> None:
    """Load the checkpoint to resume from (if any), clear stale temporaries and start the trackers."""
    from diffusers import UNet2DModel
    from diffusers.training_utils import EMAModel

    config, accelerator = run.config, run.accelerator
    checkpoint = resolve_checkpoint(config)
    if checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        if run.ema is not None:
            with torch.random.fork_rng(devices=[]):  # keep the noise RNG as load_state restored it
                loaded = EMAModel.from_pretrained(str(checkpoint / "unet_ema"), UNet2DModel)
            run.ema.load_state_dict(loaded.state_dict())
        run.global_step = json.loads((checkpoint / "training_state.json").read_text())["global_step"]
        accelerator.print(f"resumed from {checkpoint} at step {run.global_step}")
    if accelerator.is_main_process:
        run.output_dir.mkdir(parents=True, exist_ok=True)
        for stale in run.output_dir.glob("checkpoint-*.tmp"):  # left by a killed run: never resumed from
            shutil.rmtree(stale, ignore_errors=True)
        if config.logger != "none":
            accelerator.init_trackers(
                "train", config={k: str(v) for k, v in asdict(config).items() if k != "hub_token"}
            )


def _loss(run: _Run, clean: torch.Tensor) -> torch.Tensor:
    """The regression loss of one batch (Algorithm 1): L_simple, or its min-SNR-γ weighting."""
    config = run.config
    noise = torch.randn_like(clean)
    timesteps = torch.randint(0, config.ddpm_num_steps, (clean.shape[0],), device=clean.device)
    noisy = run.noise_scheduler.add_noise(clean, noise, timesteps)  # q(x_t | x_0), eq. 4
    if config.prediction_type == "epsilon":
        target = noise
    elif config.prediction_type == "sample":
        target = clean
    else:
        target = run.noise_scheduler.get_velocity(clean, noise, timesteps)
    with run.accelerator.autocast():
        prediction = run.model(noisy, timesteps).sample
    if config.snr_gamma is None:
        return F.mse_loss(prediction.float(), target.float())  # Algorithm 1, L_simple
    per_sample = F.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
    return (per_sample * snr_weights(run.noise_scheduler, timesteps, config.snr_gamma, config.prediction_type)).mean()


def _loop(run: _Run) -> int:
    """Optimizer steps until max_steps, resuming mid-epoch where a checkpoint left off; returns the images seen."""
    from tqdm.auto import tqdm

    config, accelerator = run.config, run.accelerator
    epoch, skip = divmod(run.global_step * config.gradient_accumulation_steps, run.batches_per_epoch)
    progress = tqdm(
        total=run.max_steps,
        initial=run.global_step,
        disable=not accelerator.is_local_main_process,
        desc="train",
        dynamic_ncols=True,
    )
    images_seen = 0
    while run.global_step < run.max_steps:
        # The loader's own generator: creating its iterator must not draw from the global RNG (which feeds the
        # noise), or a resumed run would draw different noise than an uninterrupted one.
        loader = DataLoader(
            run.dataset,
            batch_size=config.train_batch_size,
            drop_last=True,
            sampler=EpochPermutation(len(run.dataset), config.seed, epoch),
            generator=torch.Generator().manual_seed(config.seed * 100_003 + epoch),
        )
        loader = accelerator.prepare(loader)
        if skip:
            loader = accelerator.skip_first_batches(loader, skip)  # resume mid-epoch: no re-reading
            skip = 0
        run.model.train()
        for (clean,) in loader:
            with accelerator.accumulate(run.model):
                loss = _loss(run, clean)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(run.model.parameters(), config.max_grad_norm)
                run.optimizer.step()
                run.lr_scheduler.step()
                run.optimizer.zero_grad()
            images_seen += clean.shape[0] * accelerator.num_processes
            if not accelerator.sync_gradients:
                continue
            run.global_step += 1
            try:
                _after_step(run, loss, progress)
            except TrainingError:
                progress.close()  # end the bar's line, so the error is a line of its own
                raise
            if run.global_step >= run.max_steps:
                break
        epoch += 1
    progress.close()
    return images_seen


def _after_step(run: _Run, loss: torch.Tensor, progress) -> None:
    """After an optimizer step: the EMA update, logs, and the checkpoint and sample grid when they are due."""
    config, accelerator, step = run.config, run.accelerator, run.global_step
    if run.ema is not None:
        run.ema.step(run.model.parameters())
    logs = {"loss": loss.detach().item(), "lr": run.lr_scheduler.get_last_lr()[0]}
    if run.ema is not None:
        logs["ema_decay"] = run.ema.cur_decay_value
    progress.update(1)
    progress.set_postfix(loss=f"{logs['loss']:.4f}", lr=f"{logs['lr']:.2e}")
    if config.logger != "none":
        accelerator.log(logs, step=step)
    if step % config.checkpointing_steps == 0 or step == run.max_steps:
        _save_checkpoint(accelerator, run.output_dir, step, run.ema, config)
    if accelerator.is_main_process and (step % config.save_images_steps == 0 or step == run.max_steps):
        with _writing(f"the sample grid of step {step} in {run.output_dir / 'samples'}", run.output_dir):
            unet = _final_unet(accelerator, run.model, run.ema)
            _sample_grid(unet, run.noise_scheduler, config, step, run.output_dir, accelerator)


def _save(run: _Run, images_seen: int, seconds: float) -> None:
    """The trained pipeline (EMA weights when EMA is on) and training_summary.json, from the main process."""
    accelerator = run.accelerator
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return
    pipe = _make_pipeline(_final_unet(accelerator, run.model, run.ema), run.noise_scheduler)
    with _writing(
        f"the trained pipeline to {run.output_dir} (checkpoint-{run.global_step} holds the training state: "
        "free some space and resume with --resume_from_checkpoint latest)",
        run.output_dir,
    ):
        pipe.save_pretrained(str(run.output_dir))
        if run.data_record is not None:
            from pipelines.data.record import save_record

            save_record(run.output_dir, run.data_record)
    summary = {
        "global_step": run.global_step,
        "images_seen_this_run": images_seen,
        "seconds_this_run": round(seconds, 1),
        "num_processes": accelerator.num_processes,
        "config": {k: v for k, v in asdict(run.config).items() if k != "hub_token"},
    }
    (run.output_dir / "training_summary.json").write_text(json.dumps(summary, indent=2))


def _final_unet(accelerator, model, ema):
    """The weights to sample from and save: the EMA copy when EMA is on."""
    unet = accelerator.unwrap_model(model)
    if ema is None:
        return unet
    from diffusers import UNet2DModel

    # Building a UNet draws its (discarded) initial weights from the global RNG, which also feeds the training noise:
    # without the fork, a sample grid at a checkpoint step would make a run resumed from that checkpoint diverge.
    with torch.random.fork_rng(devices=[]):
        ema_unet = UNet2DModel.from_config(unet.config)
    ema.copy_to(ema_unet.parameters())
    return ema_unet.eval()
