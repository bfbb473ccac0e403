"""plot_r2_curves: r² of the local, equivariant and exact denoisers against the network along its run."""

import matplotlib
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from helpers.figure_layout import assert_layout_ok
from pipelines.exact.plots import plot_r2_curves

matplotlib.use("Agg")
TS = np.arange(975, -1, -25)  # a 40-step chain
K = len(TS)


def curves(batch: int = 4, low: float = -0.3):
    rng = np.random.default_rng(0)
    base = np.linspace(low, 0.95, K)[:, None]
    return [np.clip(base + 0.05 * rng.standard_normal((K, batch)) + shift, -3, 1) for shift in (0.0, -0.05, -0.2)]


def legend_texts(fig):
    """The figure's legend, drawn below the axes so that it covers no curve."""
    (legend,) = fig.legends
    assert fig.axes[0].get_legend() is None
    return [t.get_text() for t in legend.get_texts()]


def test_three_named_curves_and_the_patch_sizes_readable_at_900_px():
    local, els, exact = curves()
    patch = np.where(TS > 500, 15, np.where(TS > 100, 7, 1))
    fig = plot_r2_curves(TS, local, exact, els, patch, title="r² along the run, seed 0")
    assert isinstance(fig, Figure) and round(fig.get_figwidth() * fig.dpi) == 900
    assert legend_texts(fig) == [
        "local (LS, patch P per t)",
        "equivariant (ELS)",
        "exact posterior (whole image; wide, pale)",
        "patch size $P$ (right)",
    ]
    ax = fig.axes[0]
    left, right = ax.get_xlim()
    assert left > right and left >= 975 and right <= 0  # T on the left, 0 on the right
    assert ax.get_ylim()[0] == pytest.approx(-0.52) and ax.get_ylim()[1] == pytest.approx(1.02)
    assert "$r^2$" in ax.get_ylabel() and "$t$" in ax.get_xlabel()
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 3  # min–max bands, B > 1
    medians = ax.get_lines()[0].get_ydata()
    np.testing.assert_allclose(medians, np.maximum(np.median(local, axis=1), -0.5))
    assert fig.axes[1].get_ylabel().startswith("patch side")
    assert_layout_ok(fig, "plot_r2_curves")


def test_one_image_has_no_band_and_the_clip_is_said():
    local, _, exact = curves(batch=1, low=-2.0)
    fig = plot_r2_curves(TS, local[:, 0], exact[:, 0])
    ax = fig.axes[0]
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert "below -0.5" in ax.get_ylabel() and len(legend_texts(fig)) == 2
    unclipped = plot_r2_curves(TS, np.full(K, 0.5), np.full(K, 0.2))
    assert "below" not in unclipped.axes[0].get_ylabel()
    assert_layout_ok(fig, "plot_r2_curves, one image")


def test_nan_steps_are_skipped_not_fatal():
    local, _, exact = curves()
    local[3] = np.nan
    fig = plot_r2_curves(TS, local, exact)
    assert np.isnan(fig.axes[0].get_lines()[0].get_ydata()[3])


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"r2_exact must be \(40,\) or \(40, B\)"):
        plot_r2_curves(TS, np.zeros(K), np.zeros(K - 1))
    with pytest.raises(ValueError, match=r"patch_sizes must hold one patch side per step \(40,\)"):
        plot_r2_curves(TS, np.zeros(K), np.zeros(K), patch_sizes=[3, 5])
    with pytest.raises(ValueError, match="timesteps must be a non-empty"):
        plot_r2_curves([], [], [])


def test_the_steps_where_the_fitted_patch_size_means_nothing_are_shaded_and_named():
    local, _, exact = curves()
    patch = np.where(TS > 500, 15, np.where(TS > 100, 7, 1))
    fig = plot_r2_curves(TS, local, exact, patch_sizes=patch, fit_below=725)
    ax = fig.axes[0]
    (span,) = [p for p in ax.patches if p.get_facecolor()[:3] == pytest.approx((0.85, 0.85, 0.85))]
    xs = span.get_transform().transform(span.get_path().vertices)  # display coordinates → back to data
    xs = ax.transData.inverted().transform(xs)[:, 0]
    assert min(xs) == pytest.approx(725) and max(xs) >= TS.max()
    assert any("the fitted $P$ means nothing" in t for t in legend_texts(fig))
    assert_layout_ok(fig, "plot_r2_curves, shaded")
    assert not [p for p in plot_r2_curves(TS, local, exact, patch_sizes=patch).axes[0].patches]
