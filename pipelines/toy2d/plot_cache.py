"""The 2-D step view's pictures drawn fast, as images: what stays the same from one step to the next (the plane's
training points, ticks and legend; the zoomed step's legend) is rendered once and kept, and each call restores it and
draws only the changing artists over it (Agg blitting), under `pipelines.pictures.render`'s lock. The pictures are
those of `plot_toy_plane` and `plot_toy_step` (`pipelines.toy2d.plots`), built from the same parts."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

from pipelines.toy2d.plots import PLANE_LIMIT, STEP_SIZE, _plane_figure, _plane_step, _step_axes, _step_legend

_PLANE_BACKGROUNDS: OrderedDict = OrderedDict()  # (points' bytes digest, limit) → (figure, axes, canvas, background)
MAX_PLANE_BACKGROUNDS = 8


def draw_toy_plane(view, limit: float = PLANE_LIMIT):
    """`plot_toy_plane`'s picture as an RGB PIL image, drawn fast: the static part (`_plane_figure`: the training
    points, ticks, labels, legend) is rendered once per set of training points and kept; each call restores it and
    draws only the changing artists over it (Agg blitting), under the render lock."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    from pipelines.pictures.render import RENDER_LOCK

    pts = np.ascontiguousarray(view.points.numpy(), dtype=float)
    key = (hashlib.blake2b(pts.tobytes(), digest_size=16).hexdigest(), float(limit))
    with RENDER_LOCK:
        if key not in _PLANE_BACKGROUNDS:
            fig, ax = _plane_figure(pts, limit)
            canvas = FigureCanvasAgg(fig)
            canvas.draw()
            _PLANE_BACKGROUNDS[key] = (fig, ax, canvas, canvas.copy_from_bbox(fig.bbox))
            while len(_PLANE_BACKGROUNDS) > MAX_PLANE_BACKGROUNDS:
                _PLANE_BACKGROUNDS.popitem(last=False)
        _PLANE_BACKGROUNDS.move_to_end(key)
        fig, ax, canvas, background = _PLANE_BACKGROUNDS[key]
        canvas.restore_region(background)
        artists = _plane_step(ax, view, limit)
        try:
            for artist in sorted(artists, key=lambda a: a.get_zorder()):
                ax.draw_artist(artist)
            return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())
        finally:
            for artist in artists[:-1]:
                artist.remove()
            ax.set_title("")


_STEP_BACKGROUND: list = []  # [(figure, canvas, background)]: the legend, rendered once


def draw_toy_step(view):
    """`plot_toy_step`'s picture as an RGB PIL image, drawn faster: the legend (the same for every step) is rendered
    once and kept; each call restores it and draws only the two axes over it, under the render lock."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    from pipelines.pictures.render import RENDER_LOCK

    with RENDER_LOCK:
        if not _STEP_BACKGROUND:
            fig = Figure(figsize=STEP_SIZE, dpi=100)
            _step_legend(fig)
            canvas = FigureCanvasAgg(fig)
            canvas.draw()
            _STEP_BACKGROUND.append((fig, canvas, canvas.copy_from_bbox(fig.bbox)))
        fig, canvas, background = _STEP_BACKGROUND[0]
        canvas.restore_region(background)
        axes = _step_axes(fig, view)
        try:
            for ax in axes:
                fig.draw_artist(ax)
            return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())
        finally:
            for ax in axes:
                fig.delaxes(ax)
