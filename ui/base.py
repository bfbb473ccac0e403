"""What every tab shares: the Markdown helpers (LaTeX delimiters), queue presets, the stream interval and
concurrency ids."""

from __future__ import annotations

import gradio as gr

# ---------------------------------------------------------------------------------------------- numbers
# gradio Markdown's math delimiters: $$…$$ on its own line, $…$ inline (KaTeX).
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


# ---------------------------------------------------------------------------------------------- page style
# The page's own CSS (app.py hands it to launch).
CSS = """
/* 32×32 digits shown large must stay crisp pixels */
.pixelated img { image-rendering: pixelated; }
/* the final images: as tall as their rows (gradio's default fixed height left an empty area under them) */
#final-images .grid-wrap.fixed-height { height: auto; min-height: 0; max-height: none; }
/* the candidates too (one row; a fixed height left an empty band under it) */
#posterior-candidates .grid-wrap.fixed-height { height: auto; min-height: 0; max-height: none; }
/* the candidates' "#index: weight" is drawn in each picture; the API's caption would repeat it, cut short */
#posterior-candidates .caption-label { display: none; }
/* the exact tab's "sample | nearest" pairs carry their verdict drawn above them: no caption over the picture, and
   cells of the pictures' own shape (210 × 140 px), not squares with empty bands above and below */
#exact-gallery .caption-label, #model-gallery .caption-label { display: none; }
#exact-gallery .thumbnail-item, #model-gallery .thumbnail-item { aspect-ratio: 3 / 2; }
"""


# ---------------------------------------------------------------------------------------------- queues
# Concurrency ids: events with the same id share one queue slot pool (gradio's concurrency_id).
SAMPLE_QUEUE_ID = "sample"  # /sample and /exact_sample: the UNet over many steps
UI_QUEUE_ID = "ui"  # scrubbing, finishing, plotting: cheap clicks
POSTERIOR_QUEUE_ID = "posterior"  # /posterior: one UNet call and one pass over the data
TRAINING_QUEUE_ID = "toy_train"  # every live training (2-D tab and transition tab): one at a time

UI_CONCURRENCY = 4  # cheap clicks at once
POSTERIOR_CONCURRENCY = 2  # /posterior at once: cheap, but not free
STREAM_INTERVAL_S = 0.5  # a live training sends a picture at most this often

UI_QUEUE = dict(concurrency_limit=UI_CONCURRENCY, concurrency_id=UI_QUEUE_ID)
POSTERIOR_QUEUE = dict(concurrency_limit=POSTERIOR_CONCURRENCY, concurrency_id=POSTERIOR_QUEUE_ID)
TRAINING_QUEUE = dict(concurrency_limit=1, concurrency_id=TRAINING_QUEUE_ID)
LOCAL = dict(api_visibility="private", queue=False)  # a UI-only event answered in the browser's connection


def sample_queue(sample_concurrency: int) -> dict:
    """The queue of the long sampling runs; how many at once is the app's --sample-concurrency."""
    return dict(concurrency_limit=sample_concurrency, concurrency_id=SAMPLE_QUEUE_ID)


# ---------------------------------------------------------------------------------------------- variances
# p_θ's variances, keyed by the scheduler's `variance_type` values (the one spelling): VARIANCE_SYMBOLS is the
# scheduler's own LaTeX table (with its $…$, as the library's plots use it); VARIANCE_LABELS are the same choices in
# plain text, for a radio's or dropdown's options.
from pipelines.ddpm.scheduler import VARIANCE_SYMBOLS  # noqa: E402, F401  (re-exported: the page reads it here)

VARIANCE_LABELS = {
    "fixed_small": "β̃_t (posterior variance)",
    "fixed_large": "β_t",
    "analytic": "σ*² (Analytic-DPM, optimal on average over x_t)",
}


# ---------------------------------------------------------------------------------------------- components
def picture(label: str, elem_id: str, **options) -> gr.Image:
    """An output picture: a PNG the handler returns as a PIL image, not editable, its label hidden (a heading or a
    caption on the page says what it shows; the label names it in the API). `options` add or override gr.Image's."""
    settings = dict(label=label, show_label=False, type="pil", format="png", interactive=False, elem_id=elem_id)
    return gr.Image(**{**settings, **options})


def eager_pictures(*elem_ids: str) -> str:
    """The JS that makes the pictures of these components load at once: gradio's pictures load lazily (one far below
    the fold only once scrolled to), so a view drawn when its tab opens would wait there, half-loaded."""
    selector = ", ".join(f"#{elem_id} img" for elem_id in elem_ids)
    return f"() => document.querySelectorAll('{selector}').forEach(i => i.loading = 'eager')"


# The page's CSS for bold text (app.py adds it to its own): gradio's theme registers Source Sans Pro at 600 from a file
# holding only "A" and "B", so bold runs mixed it with a system bold glyph by glyph (a lighter "B" in "By brute force",
# "Bayes'"); the full bold file gradio ships, under a name of its own, draws every bold glyph of the Markdown.
BOLD_FACE_CSS = """
@font-face {
  font-family: 'Source Sans Pro Bold';
  src: url('static/fonts/SourceSansPro/SourceSansPro-Bold.woff2') format('woff2');
  font-weight: 500 900;
  font-style: normal;
}
.prose strong, .prose b, .prose th, .prose h1, .prose h2, .prose h3, .prose h4 {
  font-family: 'Source Sans Pro Bold', 'Source Sans Pro', ui-sans-serif, system-ui, sans-serif;
}
"""
