"""Figures as the page shows them: built and rendered under the library's one render lock
(`pipelines.pictures.render.RENDER_LOCK`), so concurrent requests never lay out TeX labels at the same time."""

from __future__ import annotations

import base64
from typing import Callable

from gradio.components.plot import PlotData

from pipelines.pictures.render import RENDER_LOCK, drawn, figure_png

__all__ = ["drawn", "plot_output"]


def plot_output(plot: Callable, *args, **kwargs) -> PlotData:
    """What a `gr.Plot` shows for `plot(*args, **kwargs)` (a function returning a matplotlib Figure): the figure
    built and saved as PNG under the lock, so gradio's own postprocessing does not draw it again unlocked."""
    with RENDER_LOCK:
        png = figure_png(plot(*args, **kwargs))
    return PlotData(type="matplotlib", plot="data:image/png;base64," + base64.b64encode(png).decode("ascii"))
