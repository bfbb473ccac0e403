"""Offline quality metrics for MNIST samples, judged by a small CNN the project trains itself.

The judge (judge.py: `MnistJudge`, weights in models/mnist-judge/, safetensors only) classifies 1×32×32 digits in
[-1, 1]; its penultimate layer gives the features for a classifier-FID. For N samples (N, 1, 32, 32) in [-1, 1]:

- classifier-FID: Fréchet distance between the judge features of the samples and of the 500 held-out digits,
  with its floor: the FID of N real train digits (a fixed seeded subset, N capped at 4,500) against the same
  reference. Finite samples alone put the floor above 0; fid_ratio = fid / fid_floor.
- confident rate: the fraction of samples whose judge max-softmax is ≥ 0.9.
- class histogram: counts and fractions of the judge's labels, and the smallest fraction (mode dropping).
- copies by the project's one copy rule (Gu et al., TMLR 2025; `neighbours.is_copy_by_ratio`): the fraction of
  samples whose nearest train digit is closer than 1/3 of the second-nearest (`copy_fraction`).
- memorization ratio, a second number by another rule (the median-distance ratio, not the copy rule): median over
  samples of the L2 distance to the nearest train digit ÷ the same median over the held-out digits. ≈ 1: new
  digits; ≪ 1: copies of the training set; ≫ 1: not digit-like.

A classifier is confident even on noise: the confident rate alone proves nothing, FID and memorization keep it
honest. `passes_bar` checks the bar of the shipped model.

Python:
    from pipelines.evaluation import evaluate_images, evaluate_pipeline, format_table, passes_bar
    report = evaluate_pipeline(pipe, num_samples=1000, num_inference_steps=100, eta=1.0)
    print(format_table(report)); ok, failures = passes_bar(report)

The command line (`python -m pipelines.evaluation`) is pipelines/evaluation/cli.py.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pipelines import checks
from pipelines.evaluation.judge import (
    IMAGE_SHAPE,
    NUM_CLASSES,
    MnistJudge,
    judge_outputs,
    load_judge,
)
from pipelines.exact.neighbours import COPY_RATIO, COPY_RATIO_TEXT, is_copy_by_ratio, nearest_distances, nearest_two

CONFIDENCE_THRESHOLD = 0.9


FLOOR_SEED = 0  # fixes which train digits make the FID floor, so floors at equal N are comparable across runs


FLOOR_SIZES = (100, 500, 1000, 4500)  # the floors the judge's README lists


MAX_NUM_SAMPLES = 100_000


# The bar of the shipped default model.
BAR_FID_RATIO = 4.0


BAR_CONFIDENT_RATE = 0.90


BAR_MIN_CLASS_FRACTION = 0.05


BAR_MEMORIZATION_RATIO = 0.9


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
    from pipelines.data.sources import load_mnist

    train_images, _ = load_mnist("train")
    heldout_images, heldout_labels = load_mnist("heldout")
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
    """The classifier-FID of `num_samples` real train digits (a fixed seeded subset, capped at the train split's
    size) against the held-out reference: what a perfect generator scores at this sample count."""
    reference = reference or load_reference()
    n = min(int(num_samples), len(reference.train_features))
    subset = torch.randperm(len(reference.train_features), generator=torch.Generator().manual_seed(FLOOR_SEED))[:n]
    mu, sigma = feature_statistics(reference.train_features[subset])
    return frechet_distance(mu, sigma, reference.heldout_mu, reference.heldout_sigma)


def evaluate_images(images: torch.Tensor, judge: MnistJudge | None = None) -> dict[str, Any]:
    """All metrics for samples (N ≥ 2, 1, 32, 32) in [-1, 1]; judge None = the shipped judge.

    Returns a JSON-ready dict: num_samples; fid, fid_floor, fid_ratio; confident_rate (max-softmax ≥
    confidence_threshold); class_counts, class_fractions (10 each, by judge label), min_class_fraction;
    copy_fraction and copy_rule (the project's one copy rule); memorization_ratio (another rule, named in
    memorization_ratio_rule), nearest_train_median, heldout_nearest_train_median; judge (path, held-out accuracy)."""
    images = check_images(images)
    reference = load_reference(judge)
    features, probs = judge_outputs(reference.judge, images)
    n = len(images)
    mu, sigma = feature_statistics(features)
    fid = frechet_distance(mu, sigma, reference.heldout_mu, reference.heldout_sigma)
    floor = fid_floor(n, reference)
    floor_n = min(n, len(reference.train_features))
    confidence, labels = probs.max(dim=1)
    counts = torch.bincount(labels, minlength=NUM_CLASSES).tolist()
    d1, d2, _ = nearest_two(images, reference.train_images)
    nearest_median = _median(d1)
    return {
        "num_samples": n,
        "fid": fid,
        "fid_floor": floor,
        "fid_floor_num_train": floor_n,
        "fid_ratio": fid / floor if floor > 0 else math.inf,
        "confident_rate": float((confidence >= CONFIDENCE_THRESHOLD).double().mean()),
        "confidence_threshold": CONFIDENCE_THRESHOLD,
        "class_counts": counts,
        "class_fractions": [c / n for c in counts],
        "min_class_fraction": min(counts) / n,
        "copy_fraction": float(is_copy_by_ratio(d1, d2).double().mean()),
        "copy_rule": f"Gu et al. (TMLR 2025): nearest train digit < {COPY_RATIO:.4g} × the second-nearest",
        "memorization_ratio": nearest_median / reference.heldout_nearest_median,
        "memorization_ratio_rule": "median nearest-train distance of the samples ÷ that of the held-out digits "
        "(not the copy rule)",
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

    from pipelines.ddpm.pipeline import to_unit_range

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
        (
            f"FID floor ({report.get('fid_floor_num_train', report['num_samples'])} train digits)",
            f"{report['fid_floor']:.3f}",
            "",
            "",
        ),
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
        *(
            [(f"copies (Gu et al.: d1/d2 < {COPY_RATIO_TEXT})", f"{report['copy_fraction']:.3f}", "", "")]
            if "copy_fraction" in report
            else []
        ),
        (
            "memorization ratio (median d1 ÷ held-out's)",
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


def sanity_reports(judge: MnistJudge | None = None) -> dict[str, dict[str, Any]]:
    """The metrics of known image sets, which show what the numbers mean: the held-out digits (the reference
    itself), 500 and 1,000 train digits (copies: memorization ratio 0), uniform noise (FID huge). Each report
    carries "bar": {"passed", "failures"} of `passes_bar`."""
    reference = load_reference(judge)
    train = reference.train_images
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(FLOOR_SEED + 1))
    noise = torch.rand((1000, *IMAGE_SHAPE), generator=torch.Generator().manual_seed(0)) * 2 - 1
    reports = {
        f"held-out digits ({len(reference.heldout_images)})": evaluate_images(
            reference.heldout_images, reference.judge
        ),
        "train digits (500)": evaluate_images(train[pick[:500]], reference.judge),
        "train digits (1000)": evaluate_images(train[pick[:1000]], reference.judge),
        "uniform noise (1000)": evaluate_images(noise, reference.judge),
    }
    for report in reports.values():
        passed, failures = passes_bar(report)
        report["bar"] = {"passed": passed, "failures": failures}
    return reports
