"""Tab "Why do we need p_θ?": for one training image x_0 (an MNIST digit by default) and a step t, the tractable
q(x_{t-1} | x_t, x_0), the exact data-set posterior q(x_{t-1} | x_t) and the learned p_θ(x_{t-1} | x_t) side by
side, with what each one needs."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import torch
from PIL import Image

from pipelines.data.sources import prepare_digit
from pipelines.exact.comparisons import PosteriorComparison, compare_estimates
from pipelines.exact.neighbours import l2_distance
from pipelines.pictures.images import digit_image, grid_uint8, labelled_row, to_uint8
from ui.base import LATEX, LOCAL, POSTERIOR_QUEUE, UI_QUEUE, picture
from ui.context import AppContext
from ui.format import tex_int
from ui.inputs import MAX_SEED, api_outputs, check_int, check_seed, integer_input, read_digit, unchecked, user_errors
from ui.tabs.exact import exact_step_ms, step_costs
from ui.text import posterior as text

DEFAULT_POSTERIOR_T = 300
GALLERY_PER_CLASS = 2  # the "pick a training digit" gallery: the first 2 train digits of each class
GALLERY_SIZE = 20  # other data has no classes: its first 20 training images
SKETCH_CANVAS = (280, 280)  # 10× a 28×28 MNIST digit
DISPLAY_PIXELS = 128  # estimates shown 128 pixels wide (a 32×32 digit 4×, a 64×64 image 2×)
NUM_CANDIDATES = 5  # the training digits the exact posterior weighs most, shown under x_0 and x_t
CANDIDATE_PIXELS = 96  # each candidate shown 96 pixels wide (3× a 32×32 digit) with its "#index: weight" above it


def rest_line(scale: dict, noun: str) -> str:
    """At scale, the labelled line beside the exact estimate: it is restricted to the k nearest training images of
    N, and the weight the others could hold at most (with the index's recall@2 when it is a compressed one)."""
    recall = scale.get("recall_at_2")
    measured = "" if recall is None else f"; recall@2 of the compressed index: {recall:.3f}"
    return (
        f"\n\n**Exact estimate at this data set's size:** restricted to the {scale['k']} nearest of "
        f"$N = {tex_int(scale['N'])}$ training {noun}s; the rest can hold at most {scale['max_rest_bound']:.2g} of the "
        f"weight{measured}."
    )


def _picture(label: str, elem_id: str) -> gr.Image:
    """x_0 or x_t: 180 pixels tall, pixelated, no buttons."""
    return picture(label, elem_id, show_label=True, elem_classes="pixelated", height=180, buttons=[])


def _estimate_picture(name: str, label: str) -> gr.Image:
    """One estimate's "x_t-1 | x̂0" picture; no label badge and no buttons over it: they covered its own captions."""
    return picture(f"{label}: xₜ₋₁ and x̂₀", f"estimate-{name}", buttons=[], elem_classes="pixelated", height=None)


class PosteriorTab:
    """Tractable q(x_{t-1}|x_t,x0) vs the exact data-set posterior q(x_{t-1}|x_t) vs the model's p_θ(x_{t-1}|x_t)."""

    title = "Why do we need p_θ?"

    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.block = None  # the gr.Tab, set by build_demo

    # -- layout ---------------------------------------------------------------------------------------------
    def scale(self, pixels: int) -> int:
        """The integer upscale that shows one of the model's images about `pixels` wide."""
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
        num_train = len(ctx.train_images()) if ctx.has_data else 1
        if not ctx.has_data:
            gr.Markdown(f"⚠️ **{ctx.data_notice()}**", elem_id="posterior-notice")
        elif ctx.at_scale:
            gr.Markdown(ctx.scale_notice(), latex_delimiters=LATEX, elem_id="posterior-scale")
        gr.Markdown(text.posterior_question(num_train, ctx.noun), latex_delimiters=LATEX, elem_id="posterior-question")
        gallery = self._gallery()
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                controls = self._controls(num_train)
            with gr.Column(scale=3):
                views = self._views()
        # The derivation is part of the answer (after the estimates, before the numbers that check it); without data
        # there is no answer, so it stands here alone.
        gr.Markdown(
            text.training_target(num_train, ctx.noun),
            latex_delimiters=LATEX,
            elem_id="training-target",
            visible=not ctx.has_data,
        )
        gr.Markdown(text.bayes(ctx.noun), latex_delimiters=LATEX, elem_id="posterior-bayes")
        with gr.Accordion(
            "JSON summary (every number on this tab; as a program calling the demo gets it)",
            open=False,
            elem_id="posterior-summary-accordion",
        ):
            views.summary = gr.JSON(label="summary", elem_id="posterior-summary")
        self._wire(gallery, controls, views)

    def _gallery(self) -> gr.Gallery:
        """The training images to pick x_0 from, under a Markdown title (gradio's label badge sat over the top of
        the first row of pictures)."""
        self.gallery_indices, items = self.gallery_digits()
        title = text.gallery_title(self.ctx.noun)
        gr.Markdown(title, latex_delimiters=LATEX, elem_id="digit-gallery-title")
        return gr.Gallery(
            items,
            label=title.replace("$x_0$", "x₀"),
            show_label=False,
            columns=max(1, (len(items) + 1) // 2),
            height=260,
            allow_preview=False,
            format="png",
            interactive=False,
            elem_id="digit-gallery",
            elem_classes="pixelated",
        )

    def _controls(self, num_train: int) -> SimpleNamespace:
        """The left column: digit_index, an upload (and for MNIST a sketchpad), t, seed and the button."""
        ctx, T = self.ctx, self.ctx.num_train_timesteps
        info = text.index_info(ctx.noun, num_train)
        digit_index = integer_input(
            gr.Number(
                0, label="which training image is x₀ (its index)", precision=None, elem_id="digit-index", info=info
            ),
            0,
            num_train - 1,
        )
        with gr.Accordion(text.own_image(ctx.is_mnist), open=False):
            image = unchecked(
                gr.Image(
                    label=text.upload_label(ctx.noun, ctx.is_mnist, ctx.image_shape[-1]),
                    type="filepath",
                    sources=["upload", "clipboard"],
                    format="png",
                    height=160,
                    elem_id="digit-image",
                    elem_classes="pixelated",
                )
            )
            # Drawing a digit is for the MNIST data.
            sketch = gr.Sketchpad(
                label=text.SKETCH_LABEL,
                canvas_size=SKETCH_CANVAS,
                type="numpy",
                elem_id="digit-sketch",
                visible=ctx.is_mnist,
            )
            use_sketch = gr.Button("use my drawing", elem_id="use-sketch", visible=ctx.is_mnist)
        t = integer_input(
            gr.Slider(
                1,
                T - 1,
                value=min(DEFAULT_POSTERIOR_T, T - 1),
                step=1,
                label=f"t: how noisy xₜ is (1 … {T - 1})",
                elem_id="posterior-t",
            )
        )
        seed = integer_input(
            gr.Number(
                0,
                label="seed",
                info=f"integer in [0, {MAX_SEED}]: fixes the noise of xₜ",
                precision=None,
                elem_id="posterior-seed",
            ),
            0,
            MAX_SEED,
        )
        button = gr.Button("Compare", variant="primary", elem_id="posterior-button", interactive=ctx.has_data)
        return SimpleNamespace(
            digit_index=digit_index, image=image, sketch=sketch, use_sketch=use_sketch, t=t, seed=seed, button=button
        )

    def _views(self) -> SimpleNamespace:
        """The right column: x_0 and x_t, the candidates, then each estimate's picture and text, and the answer."""
        noun = self.ctx.noun
        with gr.Row():
            x0 = _picture(text.x0_label(noun), "posterior-x0")
            xt = _picture("xₜ ~ q(xₜ | x₀)", "posterior-xt")
        # Its own full-width row, as many columns as candidates: the strip fits (it was cut off at the right when it
        # shared a row with x0 and x_t). Each candidate's "#index: weight" is drawn into its picture: a gradio
        # caption was cut off ("#75: 0.0…") when the strip was narrow.
        gr.Markdown(text.candidates_title(noun), latex_delimiters=LATEX, elem_id="posterior-candidates-title")
        candidates = gr.Gallery(
            label=text.candidates_label(noun),
            show_label=False,
            columns=NUM_CANDIDATES,
            height="auto",
            format="png",
            interactive=False,
            allow_preview=False,
            object_fit="contain",
            elem_id="posterior-candidates",
            elem_classes="pixelated",
            buttons=[],
        )
        gr.Markdown(text.pair_note(noun), latex_delimiters=LATEX, elem_id="pair-note")
        estimates, texts = [], []
        with gr.Row(equal_height=False):
            for name, label in text.ESTIMATE_LABELS.items():
                with gr.Column(min_width=220):
                    estimates.append(_estimate_picture(name, label))
                    texts.append(gr.Markdown(elem_id=f"estimate-{name}-text", latex_delimiters=LATEX))
        answer = gr.Markdown(elem_id="posterior-answer", latex_delimiters=LATEX)
        return SimpleNamespace(x0=x0, xt=xt, candidates=candidates, estimates=estimates, texts=texts, answer=answer)

    def _wire(self, gallery: gr.Gallery, c: SimpleNamespace, v: SimpleNamespace) -> None:
        """/posterior from the button; UI only, the same comparison after a gallery click, an upload or a drawing."""
        inputs = [c.digit_index, c.t, c.seed, c.image]
        # The API's names of its outputs (README, view_api()).
        outputs = api_outputs(
            x0=v.x0,
            x_t=v.xt,
            candidates=v.candidates,
            **{f"{name}_image": view for name, view in zip(text.ESTIMATE_LABELS, v.estimates)},
            **{f"{name}_text": box for name, box in zip(text.ESTIMATE_LABELS, v.texts)},
            answer=v.answer,
            summary=v.summary,
        )
        c.button.click(self.posterior, inputs=inputs, outputs=outputs, api_name="posterior", **POSTERIOR_QUEUE)
        compare = dict(fn=self.posterior, inputs=inputs, outputs=outputs, api_visibility="private", **POSTERIOR_QUEUE)
        if self.block is not None and self.ctx.has_data:  # the default comparison when the tab is opened
            self.block.select(**compare)
        gallery.select(self.pick_digit, outputs=[c.digit_index, c.image], **LOCAL).success(**compare)
        c.image.upload(**compare)
        c.use_sketch.click(
            self.use_drawing, inputs=[c.sketch], outputs=[c.image], api_visibility="private", **UI_QUEUE
        ).success(**compare)

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
        images, labels = ctx.mnist_train()
        digit_index = check_int("digit_index", digit_index, 0, len(images) - 1)
        t = check_int("t", t, 1, ctx.num_train_timesteps - 1)
        seed = check_seed(seed)
        # Uploads live in gradio's upload folder; drawings (use_drawing) in this app's run store.
        uploads = (gr.utils.get_upload_folder(), ctx.store.root)
        x0 = read_digit(image, ctx.image_shape, allowed_dirs=uploads, digit=ctx.is_mnist)
        if x0 is None:
            x0 = images[digit_index : digit_index + 1]
            source = {"source": "digit_index", "digit_index": digit_index}
            if labels is not None:  # MNIST: the digit's class
                source["label"] = int(labels[digit_index])
        else:
            source = {"source": "image"}
        exact = ctx.dataset_posterior()
        if ctx.at_scale:
            exact.reset_bounds()
        c = compare_estimates(x0, t, ctx.pipe, exact, generator=torch.Generator().manual_seed(seed))
        # "took" for the exact and model steps: the app's one cost measurement (the Exact posterior sampler tab's
        # numbers), not this request's single timing, which depends on whatever else the machine is doing. At scale
        # the exact step is an index search, not the measured brute-force step: its own time (this request).
        costs = step_costs(ctx)
        step_ms = {"exact": exact_step_ms(costs, c.num_data), "model": costs.model_ms, "N": c.num_data}
        scale = exact.rest_bounds() if ctx.at_scale else None
        if scale is not None:
            step_ms["exact"] = None
        texts = text.estimate_texts(c.num_data, c.num_pixels, c.num_parameters, ctx.noun)
        estimate_texts = [
            text.estimate_text(c, texts[name], name, text.took_text(name, e.seconds, step_ms, ctx.noun))
            for name, e in c.estimates.items()
        ]
        return (
            digit_image(c.x0, scale=self.scale(DISPLAY_PIXELS)),
            digit_image(c.x_t, scale=self.scale(DISPLAY_PIXELS)),
            self._candidates(c),
            *self._estimate_pictures(c),
            *estimate_texts,
            text.explain_comparison(c, ctx.noun, step_ms, x0_coefficient=self.x0_coefficient(t))
            + (rest_line(scale, ctx.noun) if scale is not None else ""),
            {**self._summary(c, source, seed, step_ms, texts), **({"at_scale": scale} if scale is not None else {})},
        )

    def _estimate_pictures(self, c: PosteriorComparison) -> list:
        """Per estimate, its x_{t-1} mean beside its x̂0, DISPLAY_PIXELS wide each."""
        return [
            labelled_row(
                [to_uint8(e.mean, model_space=True)[0], to_uint8(e.pred_original_sample, model_space=True)[0]],
                ["mean of xₜ₋₁", "x̂₀"],
                scale=self.scale(DISPLAY_PIXELS),
            )
            for e in c.estimates.values()
        ]

    def _candidates(self, c: PosteriorComparison) -> list[tuple]:
        """The training images the exact posterior weighs most, each with its "#index: weight" drawn above it (and
        as its caption, for API clients)."""
        data = self.ctx.dataset_posterior().data
        items = []
        for i, w in zip(c.top_indices, c.top_weights):
            caption = text.candidate_caption(i, w)
            picture = to_uint8(data[i : i + 1].float(), model_space=True)[0]
            items.append((labelled_row([picture], [caption], scale=self.scale(CANDIDATE_PIXELS)), caption))
        # One size for all: a wider caption ("#220: 0.0123") widened its picture, which the gallery then showed
        # smaller and lower than the others.
        width, height = max(p.width for p, _ in items), max(p.height for p, _ in items)
        return [(_pad(p, width, height), caption) for p, caption in items]

    def _summary(self, c: PosteriorComparison, source: dict, seed: int, step_ms: dict, texts: dict) -> dict:
        """The JSON summary: every number on the tab (the comparison's, the distances to x0, the training loss and
        the step costs), each estimate named as the page names it."""
        summary = {
            **source,
            "seed": seed,
            **c.as_dict(),
            "distance_to_x0": {n: l2_distance(e.mean, c.x0) for n, e in c.estimates.items()},
            "x0_error": {n: l2_distance(e.pred_original_sample, c.x0) for n, e in c.estimates.items()},
            "model_id": self.ctx.model_id,
        }
        loss = c.training_loss  # L_{t-1} of eq. 8 in nats; None at t = 0
        summary["training_loss"] = (
            None
            if loss is None
            else {part: {name: float(value) for name, value in loss[part].items()} for part in ("this_x0", "expected")}
        )
        summary["step_ms"] = {
            "exact": step_ms["exact"],
            "model": step_ms["model"],
            "tractable": c.estimates["tractable"].seconds * 1e3,
            "N": c.num_data,
            "source": "measure_step_costs, batch 1, median (the Exact posterior sampler tab's "
            "cost measurement); tractable: this request",
        }
        for name, entry in summary["estimates"].items():  # the API's summary names each estimate as the page does
            summary["estimates"][name] = {**texts[name], **entry}
        return summary


def _pad(picture: Image.Image, width: int, height: int) -> Image.Image:
    """The picture centred left to right on a width × height canvas of its own background (its top-left pixel)."""
    out = Image.new(picture.mode, (width, height), color=picture.getpixel((0, 0)))
    out.paste(picture, ((width - picture.width) // 2, 0))
    return out
