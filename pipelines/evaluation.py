"""Offline quality metrics for MNIST samples, judged by a small CNN the project trains itself.

The judge (`MnistJudge`, weights in models/mnist-judge/, safetensors only) classifies 1×32×32 digits in [-1, 1];
its penultimate layer gives the features for a classifier-FID. For N samples (N, 1, 32, 32) in [-1, 1]:

- classifier-FID: Fréchet distance between the judge features of the samples and of the 500 held-out digits,
  with its floor: the FID of N real train digits (a fixed seeded subset, N capped at 4,500) against the same
  reference. Finite samples alone put the floor above 0; fid_ratio = fid / fid_floor.
- confident rate: the fraction of samples whose judge max-softmax is ≥ 0.9.
- class histogram: counts and fractions of the judge's labels, and the smallest fraction (mode dropping).
- memorization ratio: median over samples of the L2 distance to the nearest train digit ÷ the same median over
  the held-out digits. ≈ 1: new digits; ≪ 1: copies of the training set; ≫ 1: not digit-like.

A classifier is confident even on noise: the confident rate alone proves nothing, FID and memorization keep it
honest. `passes_bar` checks the bar of the shipped model.

Python:
    from pipelines.evaluation import evaluate_images, evaluate_pipeline, format_table, passes_bar
    report = evaluate_pipeline(pipe, num_samples=1000, num_inference_steps=100, eta=1.0)
    print(format_table(report)); ok, failures = passes_bar(report)

CLI:
    python -m pipelines.evaluation --model DIR [--num_samples 1000] [--num_inference_steps 1000] [--eta 1.0]
        [--variance_type fixed_small|fixed_large|analytic] [--seed 0] [--batch_size 64] [--device cpu|cuda]
        [--judge DIR] [--output JSON_PATH]
  On CPU it samples with channels-last UNet weights, as app.py does. Prints the table and writes the report as
  JSON; by default to
  DIR/evaluation-{num_samples}-samples-{num_inference_steps}-steps-eta-{eta}[-{variance_type}].json.
  Exit status: 0 = evaluated (whether or not the bar is met), 2 = bad input (one-line message).

    OMP_NUM_THREADS=1 python -m pipelines.evaluation train-judge [--output_dir models/mnist-judge] [--seed 0]
  trains the judge on the 4,500 train digits and writes model.safetensors, config.json and README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import numbers
import os
import platform
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import checks

DEFAULT_JUDGE_DIR = Path(__file__).resolve().parent.parent / "models" / "mnist-judge"
IMAGE_SHAPE = (1, 32, 32)
NUM_CLASSES = 10
CONFIDENCE_THRESHOLD = 0.9
FLOOR_SEED = 0  # fixes which train digits make the FID floor, so floors at equal N are comparable across runs
JUDGE_BATCH = 500
MAX_NUM_SAMPLES = 100_000

# The bar of the shipped default model.
BAR_FID_RATIO = 4.0
BAR_CONFIDENT_RATE = 0.90
BAR_MIN_CLASS_FRACTION = 0.05
BAR_MEMORIZATION_RATIO = 0.9


# --------------------------------------------------------------------------------------------------- the judge
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


# ------------------------------------------------------------------------------------------------ the metrics
def feature_statistics(features: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D), float64, of features (N, D); N ≥ 2."""
    x = features.double().cpu().numpy()
    return x.mean(axis=0), np.cov(x, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance of two Gaussians: ‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1^½ Σ2 Σ1^½)^½).

    tr((Σ1 Σ2)^½) is computed as the trace of the square root of the symmetric PSD matrix Σ1^½ Σ2 Σ1^½
    (same eigenvalues), with eigh: stable for the singular covariances of small N."""

    def psd_sqrt(m: np.ndarray) -> np.ndarray:
        w, v = np.linalg.eigh((m + m.T) / 2)
        return (v * np.sqrt(np.clip(w, 0, None))) @ v.T

    root1 = psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    value = float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)
    return max(value, 0.0)  # rounding can leave −1e-12 for identical sets


def nearest_distances(images: torch.Tensor, reference: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """L2 distance (N,) from each image to its nearest image in `reference` (M, C, H, W), over all pixels.

    One implementation of nearest neighbours for the project: `exact_posterior.nearest_neighbours` (chunked,
    float64, an exact copy gives exactly 0)."""
    from .exact_posterior import nearest_neighbours

    return nearest_neighbours(images, reference, chunk_size=chunk)[1]


def _median(values: torch.Tensor) -> float:
    return float(np.median(values.cpu().numpy()))  # the mean of the two middle values for even N (torch: the lower)


@dataclass
class Reference:
    """What a judge needs to score samples, computed once per judge: the mnist split, the held-out feature
    statistics (the FID reference), the train features (for the floor) and the held-out nearest-train median."""

    judge: MnistJudge
    train_images: torch.Tensor
    heldout_images: torch.Tensor
    heldout_labels: torch.Tensor
    train_features: torch.Tensor
    heldout_mu: np.ndarray
    heldout_sigma: np.ndarray
    heldout_accuracy: float
    heldout_nearest_median: float


_cache_lock = threading.Lock()
_references: "weakref.WeakKeyDictionary[MnistJudge, Reference]" = weakref.WeakKeyDictionary()
_default_judge: MnistJudge | None = None
_mnist_cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}


def mnist_splits() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{"train": (images, labels), "heldout": (images, labels)} of the fixed mnist split, loaded once per process."""
    from .data import load_mnist, mnist_split

    with _cache_lock:
        if not _mnist_cache:
            # One load of all 5,000 indexed by the split, rather than load_mnist twice: parsing the CSV is slow.
            images, labels = load_mnist("all")
            for name, (idx, _) in mnist_split().items():
                index = torch.from_numpy(np.asarray(idx, dtype=np.int64))
                _mnist_cache[name] = (images[index], labels[index])
        return dict(_mnist_cache)


def load_reference(judge: MnistJudge | None = None) -> Reference:
    """The `Reference` for `judge` (default: the shipped judge), cached for as long as the judge lives."""
    global _default_judge
    if judge is None:
        with _cache_lock:
            if _default_judge is None:
                _default_judge = load_judge()
            judge = _default_judge
    with _cache_lock:
        if judge in _references:
            return _references[judge]
    splits = mnist_splits()
    train_images, _ = splits["train"]
    heldout_images, heldout_labels = splits["heldout"]
    train_features, _ = judge_outputs(judge, train_images)
    heldout_features, heldout_probs = judge_outputs(judge, heldout_images)
    mu, sigma = feature_statistics(heldout_features)
    reference = Reference(
        judge=judge,
        train_images=train_images,
        heldout_images=heldout_images,
        heldout_labels=heldout_labels,
        train_features=train_features,
        heldout_mu=mu,
        heldout_sigma=sigma,
        heldout_accuracy=float((heldout_probs.argmax(dim=1) == heldout_labels).double().mean()),
        heldout_nearest_median=_median(nearest_distances(heldout_images, train_images)),
    )
    with _cache_lock:
        _references[judge] = reference
    return reference


def check_images(images) -> torch.Tensor:
    """Samples must be a float tensor (N ≥ 2, 1, 32, 32) with finite values in [-1, 1] (model space): FID needs a
    covariance. Returned detached, float32, on the CPU."""
    return checks.check_images(images, "images", IMAGE_SHAPE, min_batch=2, model_space=True).detach().float().cpu()


def fid_floor(num_samples: int, reference: Reference | None = None) -> float:
    """The classifier-FID of `num_samples` real train digits (a fixed seeded subset, capped at 4,500) against
    the held-out reference: what a perfect generator scores at this sample count."""
    reference = reference or load_reference()
    n = min(int(num_samples), len(reference.train_features))
    subset = torch.randperm(len(reference.train_features), generator=torch.Generator().manual_seed(FLOOR_SEED))[:n]
    mu, sigma = feature_statistics(reference.train_features[subset])
    return frechet_distance(mu, sigma, reference.heldout_mu, reference.heldout_sigma)


def evaluate_images(images: torch.Tensor, judge: MnistJudge | None = None) -> dict[str, Any]:
    """All metrics for samples (N ≥ 2, 1, 32, 32) in [-1, 1]; judge None = the shipped judge.

    Returns a JSON-ready dict: num_samples; fid, fid_floor, fid_ratio; confident_rate (max-softmax ≥
    confidence_threshold); class_counts, class_fractions (10 each, by judge label), min_class_fraction;
    memorization_ratio, nearest_train_median, heldout_nearest_train_median; judge (path, held-out accuracy)."""
    images = check_images(images)
    reference = load_reference(judge)
    features, probs = judge_outputs(reference.judge, images)
    n = len(images)
    mu, sigma = feature_statistics(features)
    fid = frechet_distance(mu, sigma, reference.heldout_mu, reference.heldout_sigma)
    floor = fid_floor(n, reference)
    confidence, labels = probs.max(dim=1)
    counts = torch.bincount(labels, minlength=NUM_CLASSES).tolist()
    nearest_median = _median(nearest_distances(images, reference.train_images))
    return {
        "num_samples": n,
        "fid": fid,
        "fid_floor": floor,
        "fid_ratio": fid / floor if floor > 0 else math.inf,
        "confident_rate": float((confidence >= CONFIDENCE_THRESHOLD).double().mean()),
        "confidence_threshold": CONFIDENCE_THRESHOLD,
        "class_counts": counts,
        "class_fractions": [c / n for c in counts],
        "min_class_fraction": min(counts) / n,
        "memorization_ratio": nearest_median / reference.heldout_nearest_median,
        "nearest_train_median": nearest_median,
        "heldout_nearest_train_median": reference.heldout_nearest_median,
        "judge": {
            "path": getattr(reference.judge, "path", None),
            "heldout_accuracy": reference.heldout_accuracy,
            "feature_dim": reference.judge.config["feature_dim"],
        },
    }


def _check_num_samples(num_samples) -> int:
    return checks.check_int("num_samples", num_samples, 2, MAX_NUM_SAMPLES, meaning=" (FID needs 2)")


def evaluate_pipeline(
    pipe,
    num_samples: int = 1000,
    num_inference_steps: int = 1000,
    eta: float = 1.0,
    variance_type: str | None = None,
    seed: int = 0,
    batch_size: int = 64,
    judge: MnistJudge | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Draw `num_samples` images with `pipe` (a 1×32×32 `PosteriorDDPMPipeline`) and score them.

    Sampling is exactly `pipe(batch_size=b, generator=g, num_inference_steps, eta, variance_type,
    output_type="pt")` batch after batch with one CPU generator seeded by `seed` (so the images depend on the
    seed and batch_size), mapped back from [0, 1] to [-1, 1]. Every argument is checked before any sampling.
    Returns `evaluate_images`' dict plus the settings, sampling_seconds, seconds_per_image, device and `bar`
    ({"passed", "failures"} of `passes_bar`)."""
    from tqdm.auto import tqdm

    from .pipeline_ddpm_posterior import to_unit_range

    num_samples = _check_num_samples(num_samples)
    batch_size = checks.check_batch_size(batch_size)
    seed = checks.check_seed(seed)
    if tuple(pipe.image_shape) != IMAGE_SHAPE:
        raise ValueError(f"the evaluation judges 1×32×32 MNIST digits; this model draws {tuple(pipe.image_shape)}")
    pipe.scheduler.timestep_plan(num_inference_steps=num_inference_steps)  # raises on a bad step count
    eta, variance_type = pipe.scheduler.check_sampling_args(eta, variance_type)
    load_reference(judge)  # load the judge and data before the clock starts

    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    sizes = [min(batch_size, num_samples - start) for start in range(0, num_samples, batch_size)]
    batches = []
    start_time = time.perf_counter()
    for size in tqdm(sizes, desc="sampling", unit="batch", disable=not progress):
        last = None
        # __call__ consumes denoise(); we consume it here to silence its per-step bar, which would nest in ours.
        for last in pipe.denoise(size, generator, num_inference_steps, eta, None, variance_type, progress=False):
            pass
        batches.append(to_unit_range(last.sample).cpu() * 2 - 1)  # what output_type="pt" returns, back in [-1, 1]
    seconds = time.perf_counter() - start_time

    report = evaluate_images(torch.cat(batches), judge)
    report.update(
        {
            "model": str(getattr(pipe, "name_or_path", "") or ""),
            "num_inference_steps": int(num_inference_steps),
            "eta": eta,
            "variance_type": variance_type,
            "seed": int(seed),
            "batch_size": batch_size,
            "device": str(pipe.device),
            "channels_last": pipe.is_channels_last,
            "sampling_seconds": seconds,
            "seconds_per_image": seconds / num_samples,
        }
    )
    passed, failures = passes_bar(report)
    report["bar"] = {"passed": passed, "failures": failures}
    return report


def passes_bar(report: dict[str, Any]) -> tuple[bool, list[str]]:
    """Check a report against the bar the shipped model must meet: fid ≤ 4 × fid_floor, confident_rate ≥ 0.90,
    every digit ≥ 5% of samples, memorization_ratio ≥ 0.9. Returns (passed, failures: one sentence per failed check)."""
    failures = []
    limit = BAR_FID_RATIO * report["fid_floor"]
    if not report["fid"] <= limit:
        failures.append(
            f"classifier-FID {report['fid']:.3g} > {BAR_FID_RATIO:g} × floor {report['fid_floor']:.3g} = {limit:.3g}"
        )
    if not report["confident_rate"] >= BAR_CONFIDENT_RATE:
        failures.append(f"confident rate {report['confident_rate']:.3f} < {BAR_CONFIDENT_RATE:.2f}")
    rare = [d for d, f in enumerate(report["class_fractions"]) if not f >= BAR_MIN_CLASS_FRACTION]
    if rare:
        failures.append(
            f"digit(s) {', '.join(map(str, rare))} below {BAR_MIN_CLASS_FRACTION:.0%} of samples "
            f"(min class fraction {report['min_class_fraction']:.3f})"
        )
    if not report["memorization_ratio"] >= BAR_MEMORIZATION_RATIO:
        failures.append(f"memorization ratio {report['memorization_ratio']:.3f} < {BAR_MEMORIZATION_RATIO}")
    return not failures, failures


def format_table(report: dict[str, Any]) -> str:
    """A readable plain-text table of a report (from `evaluate_images` or `evaluate_pipeline`), with the bar."""
    passed, failures = passes_bar(report)
    ok = lambda good: "ok" if good else "FAIL"  # noqa: E731
    lines = []
    if "model" in report:
        lines.append(
            f"model {report['model'] or '(in memory)'}: {report['num_samples']} samples, "
            f"{report['num_inference_steps']} steps, eta={report['eta']:g}, {report['variance_type']}, "
            f"seed {report['seed']}, batch {report['batch_size']} on {report['device']}"
        )
    else:
        lines.append(f"{report['num_samples']} images")
    floor_limit = BAR_FID_RATIO * report["fid_floor"]
    rows = [
        (
            "classifier-FID",
            f"{report['fid']:.3f}",
            f"<= {BAR_FID_RATIO:g} x floor = {floor_limit:.3f}",
            ok(report["fid"] <= floor_limit),
        ),
        (f"FID floor ({min(report['num_samples'], 4500)} train digits)", f"{report['fid_floor']:.3f}", "", ""),
        ("FID / floor", f"{report['fid_ratio']:.2f}", f"<= {BAR_FID_RATIO:g}", ""),
        (
            f"confident rate (p >= {report['confidence_threshold']:g})",
            f"{report['confident_rate']:.3f}",
            f">= {BAR_CONFIDENT_RATE:.2f}",
            ok(report["confident_rate"] >= BAR_CONFIDENT_RATE),
        ),
        (
            "min class fraction",
            f"{report['min_class_fraction']:.3f}",
            f">= {BAR_MIN_CLASS_FRACTION:.2f}",
            ok(report["min_class_fraction"] >= BAR_MIN_CLASS_FRACTION),
        ),
        (
            "memorization ratio",
            f"{report['memorization_ratio']:.3f}",
            f">= {BAR_MEMORIZATION_RATIO}",
            ok(report["memorization_ratio"] >= BAR_MEMORIZATION_RATIO),
        ),
        (
            "  median L2 to nearest train digit",
            f"{report['nearest_train_median']:.3f}",
            f"held-out: {report['heldout_nearest_train_median']:.3f}",
            "",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    lines.append(f"{'metric':<{width}}  {'value':>9}  bar")
    lines += [f"{name:<{width}}  {value:>9}  {bar:<24} {flag}".rstrip() for name, value, bar, flag in rows]
    lines.append(
        "class histogram: "
        + "  ".join(
            f"{d}:{c} ({f:.1%})" for d, (c, f) in enumerate(zip(report["class_counts"], report["class_fractions"]))
        )
    )
    if "sampling_seconds" in report:
        lines.append(f"sampling time: {report['sampling_seconds']:.1f} s ({report['seconds_per_image']:.3f} s/image)")
    lines.append("bar: PASS" if passed else "bar: FAIL — " + "; ".join(failures))
    return "\n".join(lines)


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
    output_dir/{model.safetensors, config.json, README.md}. Same seed and thread count → same weights on a CPU.
    Returns the training record (held-out accuracy, seconds, …) that config.json also holds."""
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    for name, value, low in (("epochs", epochs, 1), ("batch_size", batch_size, 1), ("max_shift", max_shift, 0)):
        checks.check_int(name, value, low)
    if not (isinstance(learning_rate, numbers.Real) and 0 < learning_rate < 1):
        raise ValueError(f"learning_rate must be a number in (0, 1), got {learning_rate!r}")
    splits = mnist_splits()
    train_images, train_labels = splits["train"]
    heldout_images, heldout_labels = splits["heldout"]

    torch.manual_seed(seed)  # the weight init
    generator = torch.Generator().manual_seed(seed)  # shuffling and shifts
    judge = MnistJudge()
    steps_per_epoch = math.ceil(len(train_images) / batch_size)
    optimizer = torch.optim.AdamW(judge.parameters(), lr=learning_rate, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=learning_rate, epochs=epochs, steps_per_epoch=steps_per_epoch
    )
    start, start_cpu = time.perf_counter(), time.process_time()
    bar = tqdm(total=epochs * steps_per_epoch, desc="training judge", disable=not progress)
    for epoch in range(epochs):
        judge.train()
        order = torch.randperm(len(train_images), generator=generator)
        for index in order.split(batch_size):
            x = _shift(train_images[index], max_shift, generator) if max_shift else train_images[index]
            loss = F.cross_entropy(judge(x), train_labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
    bar.close()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    judge.eval()
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
    judge.path = str(out)
    _write_judge_readme(out, judge, record)
    return record


def sanity_reports(judge: MnistJudge | None = None) -> dict[str, dict[str, Any]]:
    """The metrics of known image sets, which show what the numbers mean: the 500 held-out digits (the
    reference itself), 500 and 1,000 train digits (copies: memorization ratio 0), uniform noise (FID huge)."""
    reference = load_reference(judge)
    train = reference.train_images
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(FLOOR_SEED + 1))
    noise = torch.rand((1000, *IMAGE_SHAPE), generator=torch.Generator().manual_seed(0)) * 2 - 1
    return {
        "held-out digits (500)": evaluate_images(reference.heldout_images, reference.judge),
        "train digits (500)": evaluate_images(train[pick[:500]], reference.judge),
        "train digits (1000)": evaluate_images(train[pick[:1000]], reference.judge),
        "uniform noise (1000)": evaluate_images(noise, reference.judge),
    }


def _write_judge_readme(out: Path, judge: MnistJudge, record: dict[str, Any]) -> None:
    import hashlib

    digest = hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()
    n_params = sum(p.numel() for p in judge.parameters())
    rows = []
    for name, r in sanity_reports(judge).items():
        rows.append(
            f"| {name} | {r['fid']:.3f} | {r['fid_floor']:.3f} | {r['confident_rate']:.3f} | "
            f"{r['min_class_fraction']:.3f} | {r['memorization_ratio']:.3f} | "
            f"{'pass' if passes_bar(r)[0] else 'fail'} |"
        )
    floors = ", ".join(f"N={n}: {fid_floor(n, load_reference(judge)):.3f}" for n in (100, 500, 1000, 4500))
    channels, dim = judge.config["channels"], judge.config["feature_dim"]
    text = f"""# mnist-judge: the digit classifier behind the project's evaluation

A small CNN (`pipelines.evaluation.MnistJudge`, {n_params:,} parameters): three stages of 2 × (conv 3×3, BatchNorm,
ReLU) and a 2×2 max-pool at channels {channels}, then a {dim}-d ReLU layer (the classifier-FID features) and a
linear classifier. Input: (N, 1, 32, 32) in [-1, 1], as `pipelines.data.load_mnist` gives.

- Trained on the 4,500 train digits of the fixed mnist split only: {record["epochs"]} epochs, batch \
{record["batch_size"]}, AdamW + one-cycle LR (max {record["learning_rate"]:g}), random ±{record["max_shift"]} px \
shifts, seed {record["seed"]}.
- **Held-out accuracy: {record["heldout_accuracy"]:.1%}** on the 500 held-out digits (train: \
{record["train_accuracy"]:.1%}).
- Training time: {record["train_seconds"]} s wall, {record["train_cpu_seconds"]} s CPU, {record["torch_threads"]} \
thread(s), torch {record["torch_version"]} (the wall time grows with whatever else shares the core; the CPU time is \
the cost).
- Weights: `model.safetensors` (safetensors only; read by `pipelines.evaluation.load_judge`), sha256 `{digest}`.

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

From `pipelines.evaluation.sanity_reports()`, against the 500 held-out digits; the floor is the FID of the
same number of train digits. Held-out digits are the reference itself (FID 0, memorization ratio 1 by
construction); train digits are exact copies of training data (memorization ratio 0 — the metric catches
copying); noise is confidently "classified" yet its FID is enormous.

FID floor (N train digits against the 500 held-out): {floors}.
The "train digits" rows below use another random subset than the floor's: their FID shows how much the FID of
real digits moves between subsets.

| images | classifier-FID | FID floor | confident rate | min class fraction | memorization ratio | bar |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}
"""
    (out / "README.md").write_text(text)


# ------------------------------------------------------------------------------------------------------ the CLI
def _build_parser() -> argparse.ArgumentParser:
    p = checks.OneLineParser(
        prog="python -m pipelines.evaluation",
        description="Sample a DDPM model folder and score it.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", required=True, help="a model folder (stock diffusers DDPM layout) or Hub id")
    p.add_argument("--num_samples", type=int, default=1000)
    p.add_argument("--num_inference_steps", type=int, default=1000)
    p.add_argument("--eta", type=float, default=1.0, help="0 = deterministic DDIM, 1 = DDPM posterior")
    p.add_argument(
        "--variance_type",
        choices=("fixed_small", "fixed_large", "analytic"),
        default=None,
        help="σ_t² = β̃_t (fixed_small), β_t (fixed_large) or Bao et al.'s σ*² (analytic, needs the folder's "
        "analytic_variance.json); default: the model's scheduler config",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--device", default=None, help="torch device for sampling (default: cuda if available, else cpu)")
    p.add_argument("--judge", default=None, help="judge folder (default: models/mnist-judge)")
    p.add_argument("--output", default=None, help="JSON path (default: MODEL/evaluation-…json, see module doc)")
    p.add_argument("--no_progress", action="store_true", help="no progress bar")
    return p


def _build_train_parser() -> argparse.ArgumentParser:
    p = checks.OneLineParser(
        prog="python -m pipelines.evaluation train-judge",
        description="Train the evaluation judge.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--output_dir",
        default=str(DEFAULT_JUDGE_DIR.relative_to(Path.cwd()))
        if DEFAULT_JUDGE_DIR.is_relative_to(Path.cwd())
        else str(DEFAULT_JUDGE_DIR),
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--batch_size", type=int, default=128)
    p.add_argument("--learning_rate", type=float, default=4e-3)
    p.add_argument("--max_shift", type=int, default=2)
    return p


def default_output_path(
    model: str, num_samples: int, num_inference_steps: int, eta: float, variance_type: str | None
) -> Path:
    """MODEL/evaluation-{N}-samples-{K}-steps-eta-{E}[-{variance_type}].json (a Hub id: in the current folder)."""
    name = f"evaluation-{num_samples}-samples-{num_inference_steps}-steps-eta-{eta:g}"
    name += f"-{variance_type}.json" if variance_type else ".json"
    folder = Path(model)
    return folder / name if folder.is_dir() else Path(name)


def _fail(message: str) -> int:
    print(f"python -m pipelines.evaluation: error: {message}", file=sys.stderr)
    return 2


def _looks_like_hub_id(model: str) -> bool:
    """owner/name, where owner is not a local folder (so a missing models/ddpm-mnist reads as a missing folder)."""
    parts = model.split("/")
    return (
        len(parts) == 2
        and all(parts)
        and not model.startswith((".", "~"))
        and not os.path.isabs(model)
        and not Path(parts[0]).is_dir()
    )


def main(argv: list[str] | None = None) -> int:
    """The CLI (see the module docstring). Returns the exit status: 0 done, 2 bad input."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train-judge"]:
        args = _build_train_parser().parse_args(argv[1:])
        try:  # the recorded command spells out every flag, so it reproduces even if the defaults change
            record = train_judge(
                args.output_dir,
                seed=args.seed,
                epochs=args.epochs,
                batch_size=args.batch_size,
                learning_rate=args.learning_rate,
                max_shift=args.max_shift,
            )
        except ValueError as error:
            return _fail(str(error))
        print(
            f"judge written to {args.output_dir}: held-out accuracy {record['heldout_accuracy']:.2%}, "
            f"{record['train_seconds']} s"
        )
        return 0

    args = _build_parser().parse_args(argv)
    from .scheduling_ddpm_posterior import check_eta

    try:  # everything that needs no model first, so a typo fails in a second
        _check_num_samples(args.num_samples)
        if args.num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be an integer >= 1, got {args.num_inference_steps}")
        check_eta(args.eta)
        checks.check_seed(args.seed)
        checks.check_batch_size(args.batch_size)
    except ValueError as error:
        return _fail(str(error))
    if not Path(args.model).is_dir() and not _looks_like_hub_id(args.model):
        return _fail(f"model {args.model!r} is not a folder (nor a Hub id of the form owner/name)")
    if args.judge is not None and not Path(args.judge).is_dir():
        return _fail(f"judge {args.judge!r} is not a folder")
    # None (no flag) is the default device; an empty --device "" is a mistake, refused below like any bad name
    device = args.device if args.device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError as error:
        return _fail(f"device {args.device!r} is not a torch device: {error}")

    from diffusers.utils import logging as diffusers_logging

    from .pipeline_ddpm_posterior import PosteriorDDPMPipeline

    # diffusers' "Loading pipeline components" bar would precede an error about the flags; ours shows progress.
    bars_were_on = diffusers_logging.is_progress_bar_enabled()
    diffusers_logging.disable_progress_bar()
    try:
        pipe = PosteriorDDPMPipeline.from_pretrained(args.model).to(device)
        if device.type == "cpu":  # the layout app.py samples with (bench/bench_sampling.py)
            pipe.use_channels_last()
    except Exception as error:  # a broken or missing folder, offline Hub: one line, not a traceback
        return _fail(f"model {args.model!r} could not be loaded: {type(error).__name__}: {checks.first_line(error)}")
    finally:
        if bars_were_on:
            diffusers_logging.enable_progress_bar()
    try:
        judge = load_judge(args.judge) if args.judge else None
        report = evaluate_pipeline(
            pipe,
            args.num_samples,
            args.num_inference_steps,
            args.eta,
            args.variance_type,
            args.seed,
            args.batch_size,
            judge=judge,
            progress=not args.no_progress,
        )
    except ValueError as error:
        return _fail(str(error))
    report["model"] = args.model
    print(format_table(report))
    output = (
        Path(args.output)
        if args.output
        else default_output_path(args.model, args.num_samples, args.num_inference_steps, args.eta, args.variance_type)
    )
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2) + "\n")
    except OSError as error:
        return _fail(f"output {str(output)!r} could not be written: {error.strerror or error}")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
