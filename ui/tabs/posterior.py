"""Tab "Why do we need p_θ?": for one digit x_0 and a step t, the tractable q(x_{t-1} | x_t, x_0), the exact
data-set posterior q(x_{t-1} | x_t) and the learned p_θ(x_{t-1} | x_t) side by side, with what each one needs."""

from __future__ import annotations

import gradio as gr
import torch

from pipelines.data.sources import prepare_digit
from pipelines.exact.comparisons import compare_estimates
from pipelines.exact.neighbours import l2_distance
from pipelines.pictures.images import digit_image, grid_uint8, labelled_row, to_uint8
from ui import format as fmt
from ui.base import LATEX, UI_CONCURRENCY
from ui.context import AppContext
from ui.inputs import MAX_SEED, api_outputs, check_int, check_seed, integer_input, read_digit, unchecked, user_errors
from ui.tabs.exact import exact_step_ms, step_costs
from ui.text import posterior as text

POSTERIOR_CONCURRENCY = 2  # /posterior is one UNet call and one pass over the data: cheap, but not free
DEFAULT_POSTERIOR_T = 300
GALLERY_PER_CLASS = 2  # the "pick a training digit" gallery: the first 2 train digits of each class
GALLERY_SIZE = 20  # other data has no classes: its first 20 training images
SKETCH_CANVAS = (280, 280)  # 10× a 28×28 MNIST digit
DISPLAY_PIXELS = 128  # estimates shown 128 pixels wide (a 32×32 digit 4×, a 64×64 image 2×)
NUM_CANDIDATES = 5  # the training digits the exact posterior weighs most, shown under x_0 and x_t
CANDIDATE_PIXELS = 96  # each candidate shown 96 pixels wide (3× a 32×32 digit) with its "#index: weight" above it


class PosteriorTab:
    """Tractable q(x_{t-1}|x_t,x0) vs the exact data-set posterior q(x_{t-1}|x_t) vs the model's p_θ(x_{t-1}|x_t)."""

    title = "Why do we need p_θ?"

    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.block = None  # the gr.Tab, set by build_demo

    # -- layout ---------------------------------------------------------------------------------------------
    def words(self, markdown: str) -> str:
        """The page's words for this model's data (digit for MNIST, image otherwise)."""
        return fmt.for_data(markdown, self.ctx.noun, self.ctx.image_shape)

    def scale(self, pixels: int) -> int:
        return max(1, pixels // self.ctx.image_shape[-1])

    def gallery_digits(self) -> tuple[list[int], list]:
        """The gallery to pick x_0 from: for MNIST the first GALLERY_PER_CLASS train digits of each class, for other
        data its first GALLERY_SIZE training images; their indices and (image, caption) items (none without data)."""
        if not self.ctx.has_data:
            return [], []
        images, labels = self.ctx.mnist_train()
        if labels is None:
            indices = list(range(min(GALLERY_SIZE, len(images))))
        else:
            indices = sorted(
                int(i) for digit in range(10) for i in torch.nonzero(labels == digit).flatten()[:GALLERY_PER_CLASS]
            )
        items = [(digit_image(images[i : i + 1], scale=1), f"#{i}") for i in indices]
        return indices, items

    def layout(self) -> None:
        ctx = self.ctx
        T = ctx.num_train_timesteps
        self.gallery_indices, items = self.gallery_digits()
        num_train = len(ctx.train_images()) if ctx.has_data else 1
        words = self.words
        if not ctx.has_data:
            gr.Markdown(f"⚠️ **{ctx.data_notice()}**", elem_id="posterior-notice")
        gr.Markdown(words(text.posterior_question(num_train)), latex_delimiters=LATEX, elem_id="posterior-question")
        # The galleries' titles are Markdown above them, not gradio's label badge, which sat over the top of the
        # first row of pictures.
        gr.Markdown(words(text.DIGIT_GALLERY_TITLE), elem_id="digit-gallery-title")
        gallery = gr.Gallery(
            items,
            label=words(text.DIGIT_GALLERY_TITLE),
            show_label=False,
            columns=max(1, (len(items) + 1) // 2),
            height=260,
            allow_preview=False,
            format="png",
            interactive=False,
            elem_id="digit-gallery",
            elem_classes="pixelated",
        )
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                digit_index = integer_input(
                    gr.Number(
                        0,
                        label="digit_index",
                        precision=None,
                        elem_id="digit-index",
                        info=words(f"which training digit, 0 … {num_train - 1} (unless an image is given)"),
                    ),
                    0,
                    num_train - 1,
                )
                own = "… or upload or draw your own digit" if ctx.is_mnist else "… or upload your own image"
                with gr.Accordion(own, open=False):
                    image = unchecked(
                        gr.Image(
                            label=words("image: an uploaded digit, used instead of digit_index")
                            + ("" if ctx.is_mnist else f" (resized and cropped to {ctx.image_shape[-1]}²)"),
                            type="filepath",
                            sources=["upload", "clipboard"],
                            format="png",
                            height=160,
                            elem_id="digit-image",
                            elem_classes="pixelated",
                        )
                    )
                    sketch = gr.Sketchpad(
                        label="draw a digit (white ink on dark is what MNIST looks like; any ink works)",
                        canvas_size=SKETCH_CANVAS,
                        type="numpy",
                        elem_id="digit-sketch",
                        visible=ctx.is_mnist,  # drawing a digit is for the MNIST data
                    )
                    use_sketch = gr.Button("use my drawing", elem_id="use-sketch", visible=ctx.is_mnist)
                t = integer_input(
                    gr.Slider(
                        1,
                        T - 1,
                        value=min(DEFAULT_POSTERIOR_T, T - 1),
                        step=1,
                        label=f"t: how noisy x_t is (1 … {T - 1})",
                        elem_id="posterior-t",
                    )
                )
                seed = integer_input(
                    gr.Number(
                        0,
                        label="seed",
                        info=f"integer in [0, {MAX_SEED}]: fixes the noise of x_t",
                        precision=None,
                        elem_id="posterior-seed",
                    ),
                    0,
                    MAX_SEED,
                )
                button = gr.Button("Compare", variant="primary", elem_id="posterior-button", interactive=ctx.has_data)
            with gr.Column(scale=3):
                with gr.Row():
                    x0_view = gr.Image(
                        label=words("x₀: the digit"),
                        type="pil",
                        format="png",
                        interactive=False,
                        elem_id="posterior-x0",
                        elem_classes="pixelated",
                        height=180,
                        buttons=[],
                    )
                    xt_view = gr.Image(
                        label="xₜ ~ q(xₜ | x₀)",
                        type="pil",
                        format="png",
                        interactive=False,
                        elem_id="posterior-xt",
                        elem_classes="pixelated",
                        height=180,
                        buttons=[],
                    )
                # Its own full-width row, as many columns as candidates: the strip fits (it was cut off at the
                # right when it shared a row with x0 and x_t).
                gr.Markdown(words(text.CANDIDATES_TITLE), latex_delimiters=LATEX, elem_id="posterior-candidates-title")
                # Each candidate's "#index: weight" is drawn into its picture: a gradio caption was cut off
                # ("#75: 0.0…") when the strip was narrow.
                candidates = gr.Gallery(
                    label=words("the training digits the exact posterior weighs most"),
                    show_label=False,
                    columns=NUM_CANDIDATES,
                    height=240,
                    format="png",
                    interactive=False,
                    allow_preview=False,
                    object_fit="contain",
                    elem_id="posterior-candidates",
                    elem_classes="pixelated",
                    buttons=[],
                )
                gr.Markdown(words(text.PAIR_NOTE), latex_delimiters=LATEX, elem_id="pair-note")
                views, texts = [], []
                with gr.Row(equal_height=False):
                    for name, label in text.ESTIMATE_LABELS.items():
                        with gr.Column(min_width=220):
                            # No label badge and no buttons over the picture: they covered its own captions.
                            views.append(
                                gr.Image(
                                    label=f"{label}: xₜ₋₁ and x̂₀",
                                    show_label=False,
                                    type="pil",
                                    format="png",
                                    interactive=False,
                                    buttons=[],
                                    elem_id=f"estimate-{name}",
                                    elem_classes="pixelated",
                                    height=None,
                                )
                            )
                            texts.append(gr.Markdown(elem_id=f"estimate-{name}-text", latex_delimiters=LATEX))
                answer = gr.Markdown(elem_id="posterior-answer", latex_delimiters=LATEX)
        gr.Markdown(words(text.training_target(num_train)), latex_delimiters=LATEX, elem_id="training-target")
        gr.Markdown(words(text.BAYES), latex_delimiters=LATEX, elem_id="posterior-bayes")
        with gr.Accordion(
            "JSON summary (every number on this tab; the API's last output)",
            open=False,
            elem_id="posterior-summary-accordion",
        ):
            summary = gr.JSON(label="summary", elem_id="posterior-summary")

        inputs = [digit_index, t, seed, image]
        # The API's names of its outputs (README, view_api()).
        outputs = api_outputs(
            x0=x0_view,
            x_t=xt_view,
            candidates=candidates,
            **{f"{name}_image": view for name, view in zip(text.ESTIMATE_LABELS, views)},
            **{f"{name}_text": box for name, box in zip(text.ESTIMATE_LABELS, texts)},
            answer=answer,
            summary=summary,
        )
        shared = dict(concurrency_limit=POSTERIOR_CONCURRENCY, concurrency_id="posterior")
        button.click(self.posterior, inputs=inputs, outputs=outputs, api_name="posterior", **shared)
        # UI-only ways in (not in the API): a gallery click, an upload, a drawing; each then runs the comparison.
        gallery.select(self.pick_digit, outputs=[digit_index, image], api_visibility="private", queue=False).success(
            self.posterior, inputs=inputs, outputs=outputs, api_visibility="private", **shared
        )
        image.upload(self.posterior, inputs=inputs, outputs=outputs, api_visibility="private", **shared)
        use_sketch.click(
            self.use_drawing,
            inputs=[sketch],
            outputs=[image],
            api_visibility="private",
            concurrency_limit=UI_CONCURRENCY,
            concurrency_id="ui",
        ).success(self.posterior, inputs=inputs, outputs=outputs, api_visibility="private", **shared)

    # -- handlers -------------------------------------------------------------------------------------------
    def x0_coefficient(self, t: int) -> float:
        """The weight of x_0 in the tractable mean μ̃_t of the step t → t − 1 (eq. 7), from the model's scheduler."""
        return self.ctx.pipe.scheduler.posterior_coefficients(t, t - 1)[0]

    def pick_digit(self, evt: gr.SelectData):
        """A click on the gallery: that digit's index, and no uploaded image (which would win over the index)."""
        return self.gallery_indices[evt.index], None

    @user_errors
    def use_drawing(self, sketch):
        """The sketchpad's drawing → a 28×28 PNG for the image input, so the comparison uses it."""
        composite = sketch.get("composite") if isinstance(sketch, dict) else None
        if composite is None or getattr(composite, "size", 0) == 0:
            raise ValueError("sketch is empty: draw a digit first")
        try:
            digit = prepare_digit(composite)  # (1, 1, 32, 32): the drawing made 28×28 and padded like MNIST
        except ValueError as exc:
            raise ValueError(f"sketch: {exc}") from None
        if float(digit.max()) <= -1.0 + 1e-6:
            raise ValueError("sketch is empty: draw a digit first")
        # Without the 2-pixel padding: the 28×28 digit, which the image input pads back exactly.
        pixels = to_uint8(digit[:, :, 2:-2, 2:-2], model_space=True)
        with self.ctx.store.run() as folder:
            path = folder / "drawing.png"
            grid_uint8(pixels, padding=0).save(path)
        return str(path)

    @user_errors
    def posterior(self, digit_index, t, seed, image=None):
        """Three estimates of the reverse step x_t → x_{t-1} for one digit x0, and what each one needs.

        Parameters:
            digit_index: which training image is x0 (a digit of the default MNIST model), 0 to N − 1 (4499 for
                MNIST; ignored when image is given)
            t: the noise level of x_t, 1 to T − 1 (the step shown is t → t − 1)
            seed: integer in [0, 4294967295]: fixes the draw of x_t (and of the model's step)
            image: optional: an uploaded digit (PNG, JPEG, WebP, BMP or GIF, at most 2 MiB and 1024×1024;
                28×28 like MNIST is best; for a model of other data any image, resized and center-cropped to its
                size) used as x0 instead of digit_index
        Returns:
            x0, x_t, the training digits the exact posterior weighs most, one picture per estimate (its x_{t-1}
            mean and its x̂0), one text per estimate (formula, input, time, distances), the answer in words, and
            a JSON summary with every number shown: among them training_loss {"this_x0", "expected"} (L_{t-1} of
            eq. 8 in nats for each mean, σ_t² = β̃_t) and step_ms (the app's one cost measurement of the exact and
            model steps, the numbers /exact_sample's summary["cost"] quotes).
        """
        ctx = self.ctx
        ctx.require_data()
        T = ctx.num_train_timesteps
        images, labels = ctx.mnist_train()
        digit_index = check_int("digit_index", digit_index, 0, len(images) - 1)
        t = check_int("t", t, 1, T - 1)
        seed = check_seed(seed)
        # Uploads live in gradio's upload folder; drawings (use_drawing) in this app's run store.
        words = self.words
        uploads = (gr.utils.get_upload_folder(), ctx.store.root)
        x0 = read_digit(image, ctx.image_shape, allowed_dirs=uploads, digit=ctx.is_mnist)
        if x0 is None:
            x0 = images[digit_index : digit_index + 1]
            source = {"source": "digit_index", "digit_index": digit_index}
            if labels is not None:  # MNIST: the digit's class
                source["label"] = int(labels[digit_index])
        else:
            source = {"source": "image"}
        dataset_posterior = ctx.dataset_posterior()
        comparison = compare_estimates(
            x0, t, ctx.pipe, dataset_posterior, generator=torch.Generator().manual_seed(seed)
        )
        texts = text.estimate_texts(comparison.num_data, comparison.num_pixels, comparison.num_parameters)
        # "took" for the exact and model steps: the app's one cost measurement (the Exact posterior sampler tab's
        # numbers), not this request's single timing, which depends on whatever else the machine is doing.
        costs = step_costs(ctx)
        step_ms = {
            "exact": exact_step_ms(costs, comparison.num_data),
            "model": costs.model_ms,
            "N": comparison.num_data,
        }

        estimates = comparison.estimates
        x0_cpu = comparison.x0
        distance_to_x0 = {n: l2_distance(e.mean, x0_cpu) for n, e in estimates.items()}
        x0_error = {n: l2_distance(e.pred_original_sample, x0_cpu) for n, e in estimates.items()}
        views = [
            labelled_row(
                [to_uint8(e.mean, model_space=True)[0], to_uint8(e.pred_original_sample, model_space=True)[0]],
                ["x_t-1", "x̂0"],
                scale=self.scale(DISPLAY_PIXELS),
            )
            for e in estimates.values()
        ]
        estimate_texts = [
            words(
                text.estimate_text(
                    comparison,
                    texts[name],
                    name,
                    distance_to_x0[name],
                    text.took_text(name, estimates[name].seconds, step_ms),
                )
            )
            for name in estimates
        ]
        data = dataset_posterior.data
        candidates = [
            (
                labelled_row(
                    [to_uint8(data[i : i + 1].float(), model_space=True)[0]],
                    [text.candidate_caption(i, w)],
                    scale=self.scale(CANDIDATE_PIXELS),
                ),
                text.candidate_caption(i, w),  # for API clients; the page shows the one drawn in the picture
            )
            for i, w in zip(comparison.top_indices, comparison.top_weights)
        ]
        summary = {
            **source,
            "seed": seed,
            **comparison.as_dict(),
            "distance_to_x0": distance_to_x0,
            "x0_error": x0_error,
            "model_id": ctx.model_id,
        }
        loss = comparison.training_loss  # L_{t-1} of eq. 8 in nats; None at t = 0
        summary["training_loss"] = (
            None
            if loss is None
            else {part: {name: float(value) for name, value in loss[part].items()} for part in ("this_x0", "expected")}
        )
        summary["step_ms"] = {
            "exact": step_ms["exact"],
            "model": step_ms["model"],
            "tractable": estimates["tractable"].seconds * 1e3,
            "N": comparison.num_data,
            "source": "measure_step_costs, batch 1, median (the Exact posterior sampler tab's "
            "cost measurement); tractable: this request",
        }
        for name, entry in summary["estimates"].items():  # the API's summary names each estimate as the page does
            summary["estimates"][name] = {**texts[name], **entry}
        return (
            digit_image(x0_cpu, scale=self.scale(DISPLAY_PIXELS)),
            digit_image(comparison.x_t, scale=self.scale(DISPLAY_PIXELS)),
            candidates,
            *views,
            *estimate_texts,
            words(text.explain_comparison(comparison, step_ms, x0_coefficient=self.x0_coefficient(t))),
            summary,
        )
