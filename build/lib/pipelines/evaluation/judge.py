"""The MNIST judge: the small digit classifier the evaluation scores samples with, its weights and its training.

`MnistJudge` classifies 1×32×32 digits in [-1, 1]; its penultimate layer gives the features of the classifier-FID
(evaluation.py). Weights live in models/mnist-judge/ (safetensors only, read by `load_judge`); `train_judge`
trains it on the 4,500 train digits and writes model.safetensors and config.json; `write_judge_readme` writes the
folder's README.md from the training record and the metrics the caller measured with it.

    OMP_NUM_THREADS=1 python -m pipelines.evaluation train-judge [--output_dir models/mnist-judge] [--seed 0]
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import platform
import time
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pipelines import checks

DEFAULT_JUDGE_DIR = Path(__file__).resolve().parents[2] / "models" / "mnist-judge"


IMAGE_SHAPE = (1, 32, 32)


NUM_CLASSES = 10


JUDGE_BATCH = 500


class MnistJudge(nn.Module):
    """A small VGG-style digit classifier: (N, 1, 32, 32) in [-1, 1] → logits (N, 10).

    Three stages of two 3×3 conv + BatchNorm + ReLU and a 2×2 max-pool (32 → 16 → 8 → 4), then
    Linear → ReLU to `feature_dim` (the FID features, `features()`), then Linear to the 10 classes."""

    def __init__(self, channels: Sequence[int] = (16, 32, 64), feature_dim: int = 64, num_classes: int = NUM_CLASSES):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = IMAGE_SHAPE[0]
        for c in channels:
            for _ in range(2):
                layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
                c_in = c
            layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)
        side = IMAGE_SHAPE[1] // 2 ** len(channels)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c_in * side * side, feature_dim), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(0.3)  # active in training only
        self.classifier = nn.Linear(feature_dim, num_classes)
        self.config = {"channels": list(channels), "feature_dim": int(feature_dim), "num_classes": int(num_classes)}

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The penultimate activations (N, feature_dim): what the classifier sees, and what FID compares."""
        return self.head(self.body(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.features(images)))


def load_judge(path: str | os.PathLike | None = None) -> MnistJudge:
    """The judge from a folder with config.json + model.safetensors (default: models/mnist-judge), in eval mode
    on the CPU. Weights are read with safetensors only, never unpickled."""
    from safetensors.torch import load_file

    folder = Path(path) if path is not None else DEFAULT_JUDGE_DIR
    config_file, weights_file = folder / "config.json", folder / "model.safetensors"
    if not config_file.is_file() or not weights_file.is_file():
        raise ValueError(
            f"judge {str(folder)!r} must be a folder with config.json and model.safetensors "
            "(train one with: python -m pipelines.evaluation train-judge)"
        )
    config = json.loads(config_file.read_text())
    judge = MnistJudge(
        channels=config["channels"],
        feature_dim=config["feature_dim"],
        num_classes=config.get("num_classes", NUM_CLASSES),
    )
    judge.load_state_dict(load_file(str(weights_file)))
    repo = DEFAULT_JUDGE_DIR.parent.parent
    # Reports name the judge relative to the repo: shipped JSON should not carry this machine's paths.
    judge.path = str(folder.resolve().relative_to(repo)) if folder.resolve().is_relative_to(repo) else str(folder)
    judge.training_info = config.get("training", {})
    return judge.eval()


@torch.inference_mode()
def judge_outputs(judge: MnistJudge, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (N, feature_dim) float64, softmax probabilities (N, 10) float64), in batches of 500 on the CPU."""
    feats, probs = [], []
    for batch in images.split(JUDGE_BATCH):
        f = judge.features(batch.float().cpu())
        feats.append(f.double())
        probs.append(judge.classifier(f).double().softmax(dim=1))
    return torch.cat(feats), torch.cat(probs)


# ------------------------------------------------------------------------------------------ training the judge
def _shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Random integer translations of up to ±max_shift pixels, the background (−1) filling in."""
    n, _, h, w = images.shape
    padded = F.pad(images, (max_shift,) * 4, value=-1.0)
    dx, dy = (torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator)).tolist()
    return torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])


@torch.inference_mode()
def judge_accuracy(judge: MnistJudge, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of `images` the judge labels correctly."""
    _, probs = judge_outputs(judge.eval(), images)
    return float((probs.argmax(dim=1) == labels).double().mean())


def train_judge(
    output_dir: str | os.PathLike = DEFAULT_JUDGE_DIR,
    seed: int = 0,
    epochs: int = 6,
    batch_size: int = 128,
    learning_rate: float = 4e-3,
    max_shift: int = 2,
    command: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train the judge on the 4,500 train digits (AdamW + one-cycle LR, random ±max_shift px shifts) and write
    output_dir/{model.safetensors, config.json} (the README.md comes from `write_judge_readme`). Same seed and
    thread count → same weights on a CPU. Returns the training record (held-out accuracy, seconds, …) that
    config.json also holds."""
    from safetensors.torch import save_file

    from pipelines.data.sources import load_mnist

    for name, value, low in (("epochs", epochs, 1), ("batch_size", batch_size, 1), ("max_shift", max_shift, 0)):
        checks.check_int(name, value, low)
    if not (isinstance(learning_rate, numbers.Real) and 0 < learning_rate < 1):
        raise ValueError(f"learning_rate must be a number in (0, 1), got {learning_rate!r}")
    train_images, train_labels = load_mnist("train")
    heldout_images, heldout_labels = load_mnist("heldout")

    torch.manual_seed(seed)  # the weight init
    judge = MnistJudge()
    start, start_cpu = time.perf_counter(), time.process_time()
    _fit(judge, train_images, train_labels, seed, epochs, batch_size, learning_rate, max_shift, progress)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    accuracy = judge_accuracy(judge, heldout_images, heldout_labels)
    train_accuracy = judge_accuracy(judge, train_images, train_labels)

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "command": command
        or f"OMP_NUM_THREADS=1 python -m pipelines.evaluation train-judge --output_dir {out} "
        f"--seed {seed} --epochs {epochs} --batch_size {batch_size} "
        f"--learning_rate {learning_rate:g} --max_shift {max_shift}",
        "seed": seed,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "max_shift": max_shift,
        "heldout_accuracy": accuracy,
        "train_accuracy": train_accuracy,
        "train_seconds": round(seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 1),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "platform": platform.platform(),
    }
    state = {k: v.contiguous() for k, v in judge.state_dict().items()}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architecture": "MnistJudge",
        **judge.config,
        "input": "(N, 1, 32, 32) float in [-1, 1]",
        "training": record,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return record


def _fit(judge, images, labels, seed, epochs, batch_size, learning_rate, max_shift, progress) -> None:
    """AdamW + one-cycle LR over `epochs` shuffled passes, each batch shifted by up to ±max_shift px."""
    from tqdm.auto import tqdm

    generator = torch.Generator().manual_seed(seed)  # shuffling and shifts
    steps_per_epoch = math.ceil(len(images) / batch_size)
    optimizer = torch.optim.AdamW(judge.parameters(), lr=learning_rate, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=learning_rate, epochs=epochs, steps_per_epoch=steps_per_epoch
    )
    bar = tqdm(total=epochs * steps_per_epoch, desc="training judge", disable=not progress)
    for epoch in range(epochs):
        judge.train()
        order = torch.randperm(len(images), generator=generator)
        for index in order.split(batch_size):
            x = _shift(images[index], max_shift, generator) if max_shift else images[index]
            loss = F.cross_entropy(judge(x), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
    bar.close()
    judge.eval()


def write_judge_readme(
    out: str | os.PathLike,
    judge: MnistJudge,
    record: dict[str, Any],
    sanity: dict[str, dict[str, Any]],
    floors: dict[int, float],
) -> None:
    """out/README.md for the judge in `out`: its architecture, training record, reproduction command, and what the
    evaluation's metrics read on known image sets — sanity: {name: report with "bar": {"passed"}}, floors: {N: FID
    floor} (both from `pipelines.evaluation`, measured with this judge)."""
    out = Path(out)
    digest = hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()
    n_params = sum(p.numel() for p in judge.parameters())
    rows = []
    for name, r in sanity.items():
        rows.append(
            f"| {name} | {r['fid']:.3f} | {r['fid_floor']:.3f} | {r['confident_rate']:.3f} | "
            f"{r['min_class_fraction']:.3f} | {r['memorization_ratio']:.3f} | "
            f"{'pass' if r['bar']['passed'] else 'fail'} |"
        )
    floor_text = ", ".join(f"N={n}: {floor:.3f}" for n, floor in floors.items())
    channels, dim = judge.config["channels"], judge.config["feature_dim"]
    text = f"""# mnist-judge: the digit classifier behind the project's evaluation

A small CNN (`pipelines.evaluation.judge.MnistJudge`, {n_params:,} parameters): three stages of 2 × (conv 3×3,
BatchNorm, ReLU)
and a 2×2 max-pool at channels {channels}, then a {dim}-d ReLU layer (the classifier-FID features) and a
linear classifier. Input: (N, 1, 32, 32) in [-1, 1], as `pipelines.data.sources.load_mnist` gives.

- Trained on the 4,500 train digits of the fixed mnist split only: {record["epochs"]} epochs, batch \
{record["batch_size"]}, AdamW + one-cycle LR (max {record["learning_rate"]:g}), random ±{record["max_shift"]} px \
shifts, seed {record["seed"]}.
- **Held-out accuracy: {record["heldout_accuracy"]:.1%}** on the 500 held-out digits (train: \
{record["train_accuracy"]:.1%}).
- Training time: {record["train_seconds"]} s wall, {record["train_cpu_seconds"]} s CPU, {record["torch_threads"]} \
thread(s), torch {record["torch_version"]} (the wall time grows with whatever else shares the core; the CPU time is \
the cost).
- Weights: `model.safetensors` (safetensors only; read by `pipelines.evaluation.judge.load_judge`), sha256 `{digest}`.

Reproduce (same seed and thread count → the same weights on a CPU; compare the sha256):

```bash
{record["command"]}
```

## Use

```bash
python -m pipelines.evaluation --model models/ddpm-mnist --num_samples 1000 --num_inference_steps 1000 --eta 1
```
or from Python: `evaluate_images(images)` for a tensor (N, 1, 32, 32) in [-1, 1], `evaluate_pipeline(pipe, …)`,
`format_table(report)`, `passes_bar(report)` (all in `pipelines.evaluation`).

## What the metrics read on known image sets

From `pipelines.evaluation.quality.sanity_reports()`, against the 500 held-out digits; the floor is the FID of the
same number of train digits. Held-out digits are the reference itself (FID 0, memorization ratio 1 by
construction); train digits are exact copies of training data (memorization ratio 0 — the metric catches
copying); noise is confidently "classified" yet its FID is enormous.

FID floor (N train digits against the 500 held-out): {floor_text}.
The "train digits" rows below use another random subset than the floor's: their FID shows how much the FID of
real digits moves between subsets.

| images | classifier-FID | FID floor | confident rate | min class fraction | memorization ratio | bar |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}
"""
    (out / "README.md").write_text(text)
