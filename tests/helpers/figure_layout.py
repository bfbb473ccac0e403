"""The clipping guard for plots: from matplotlib's own text extents, every visible text of a figure (titles, axis
labels, tick labels, legend entries, annotations) must lie inside the figure, and no two may overlap; a legend's
frame may not cover a text outside it. `layout_problems(fig)` lists what is wrong, in words; `assert_layout_ok`
fails a test with that list."""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.legend import Legend
from matplotlib.text import Text

TOLERANCE_PX = 1.0  # overlaps and overhangs smaller than this (anti-aliasing) are not faults


def _drawn_tick_labels(fig) -> tuple[list[Text], set[int]]:
    """(the tick labels matplotlib draws, the ids of every tick label it holds, drawn or not)."""
    drawn, every = [], set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            span = (high - low) or 1.0
            for ticks, locs in (
                (axis.get_major_ticks(), axis.get_majorticklocs()),
                (axis.get_minor_ticks(), axis.get_minorticklocs()),
            ):
                for tick, loc in zip(ticks, locs):
                    inside = low - 1e-9 * span <= loc <= high + 1e-9 * span
                    for label in (tick.label1, tick.label2):
                        every.add(id(label))
                        if inside and tick.get_visible() and label.get_visible() and label.get_text().strip():
                            drawn.append(label)
    return drawn, every


def _name(text: Text) -> str:
    return repr(text.get_text()[:40])


def layout_problems(fig) -> list[str]:
    """Every clipped or overlapping text of `fig`, drawn at its own size and dpi."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    ticks, tick_ids = _drawn_tick_labels(fig)
    texts = [t for t in fig.findobj(Text) if id(t) not in tick_ids and t.get_visible() and t.get_text().strip()]
    texts = list(dict.fromkeys(texts + ticks))
    boxes = [(t, t.get_window_extent(renderer)) for t in texts]
    width, height = fig.bbox.width, fig.bbox.height
    problems = []
    for text, box in boxes:
        if (
            box.x0 < -TOLERANCE_PX
            or box.y0 < -TOLERANCE_PX
            or box.x1 > width + TOLERANCE_PX
            or box.y1 > height + TOLERANCE_PX
        ):
            problems.append(
                f"{_name(text)} is clipped: its box ({box.x0:.0f}, {box.y0:.0f})–({box.x1:.0f}, {box.y1:.0f}) "
                f"leaves the {width:.0f}×{height:.0f} figure"
            )
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[i + 1 :]:
            dx = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
            dy = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
            if dx > TOLERANCE_PX and dy > TOLERANCE_PX:
                problems.append(f"{_name(a)} and {_name(b)} overlap ({dx:.0f}×{dy:.0f} px)")
    legends = [artist for artist in fig.findobj(Legend) if artist.get_visible()]
    for legend in legends:
        frame = legend.get_window_extent(renderer)
        own = {id(t) for t in legend.findobj(Text)}
        for text, box in boxes:
            if id(text) in own:
                continue
            dx = min(frame.x1, box.x1) - max(frame.x0, box.x0)
            dy = min(frame.y1, box.y1) - max(frame.y0, box.y0)
            if dx > TOLERANCE_PX and dy > TOLERANCE_PX:
                problems.append(f"the legend covers {_name(text)} ({dx:.0f}×{dy:.0f} px)")
    return problems


def assert_layout_ok(fig, what: str = "figure") -> None:
    problems = layout_problems(fig)
    assert not problems, f"{what}: " + "; ".join(problems)
