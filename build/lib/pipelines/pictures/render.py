"""Drawing matplotlib figures safely from many threads at once.

matplotlib's mathtext parser (every `$…$` label, and the tick labels of log axes) is one shared pyparsing object
that is not thread-safe: two requests laying out TeX labels at the same moment can make either raise a parse error.
Every figure the demo shows is therefore built and rendered under one lock, `RENDER_LOCK`; the numbers it shows
are computed before, outside the lock, so concurrent requests still compute in parallel and queue only to draw."""

from __future__ import annotations

import io
import threading
import time
from typing import Callable

import numpy as np
from PIL import Image


class _RenderLock:
    """A re-entrant lock that also counts, for the benchmarks, how long callers waited for it and held it (seconds,
    outermost acquisitions only)."""

    def __init__(self):
        self._lock = threading.RLock()
        self._local = threading.local()
        self._stats_lock = threading.Lock()
        self.waited_s = self.held_s = 0.0
        self.acquisitions = 0

    def __enter__(self):
        depth = getattr(self._local, "depth", 0)
        start = time.perf_counter()
        self._lock.acquire()
        if depth == 0:
            self._local.since = time.perf_counter()
            with self._stats_lock:
                self.waited_s += self._local.since - start
                self.acquisitions += 1
        self._local.depth = depth + 1
        return self

    def __exit__(self, *exc):
        self._local.depth -= 1
        if self._local.depth == 0:
            with self._stats_lock:
                self.held_s += time.perf_counter() - self._local.since
        self._lock.release()
        return False

    def stats(self) -> dict[str, float]:
        """{"acquisitions", "waited_s", "held_s"} since the process started."""
        with self._stats_lock:
            return {"acquisitions": self.acquisitions, "waited_s": self.waited_s, "held_s": self.held_s}


RENDER_LOCK = _RenderLock()


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
