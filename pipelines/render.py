"""Drawing matplotlib figures safely from many threads at once.

matplotlib's mathtext parser (every `$…$` label, and the tick labels of log axes) is one shared pyparsing object
that is not thread-safe: two requests laying out TeX labels at the same moment can make either raise a parse error.
Every figure the demo shows is therefore built and rendered under one lock, `RENDER_LOCK`; the numbers it shows
are computed before, outside the lock, so concurrent requests still compute in parallel and queue only to draw."""

from __future__ import annotations

import io
import threading
from typing import Callable

import numpy as np
from PIL import Image

RENDER_LOCK = threading.RLock()


def figure_image(fig) -> Image.Image:
    """A matplotlib Figure rendered to an RGB PIL image (Agg), at the figure's size and dpi, under `RENDER_LOCK`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    with RENDER_LOCK:
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())


def figure_png(fig) -> bytes:
    """A matplotlib Figure saved as PNG bytes (its own size, dpi and layout), under `RENDER_LOCK`."""
    with RENDER_LOCK, io.BytesIO() as out:
        fig.savefig(out, format="png")
        return out.getvalue()


def drawn(plot: Callable, *args, **kwargs) -> Image.Image:
    """`plot(*args, **kwargs)` (a function returning a Figure or an image) built and rendered under `RENDER_LOCK`:
    building a figure can lay out its text (tight_layout) and so parse TeX too."""
    with RENDER_LOCK:
        out = plot(*args, **kwargs)
        return out if isinstance(out, Image.Image) else figure_image(out)
