"""Tab "Why doesn't p_θ copy?": why a network trained toward the exact posterior (the loss's optimum, which copies)
makes new images. Four views, each a named endpoint: the exact and the learned denoiser over the 2-D plane
(/denoiser_fields), the training loss of both on training and held-out points (/loss_gap), training time against N
(/training_dynamics), and on the model's images the local (patch) posterior of Kamb & Ganguli beside the UNet and
the exact posterior from one seed (/local_posterior). The library computes; the words are ui/text/mechanism.py's."""

from __future__ import annotations

import threading
from collections import OrderedDict
from types import SimpleNamespace

import gradio as gr
import numpy as np
import torch

from pipelines.data.record import model_data_folder
from pipelines.exact.calibration import load_patch_table
from pipelines.exact.denoisers import DEFAULT_BAND_EDGES, model_run, r2_along
from pipelines.exact.heldout_seed import patch_fit
from pipelines.exact.local import LocalPosterior
from pipelines.exact.neighbours import is_copy_by_ratio, nearest_two
from pipelines.exact.plots import plot_r2_curves
from pipelines.exact.posterior import DatasetPosterior
from pipelines.pictures.images import labelled_row, to_uint8
from pipelines.toy2d.fields import denoiser_fields
from pipelines.toy2d.model import toy_scheduler
from pipelines.toy2d.plots import plot_denoiser_fields
from pipelines.transition import dynamics as transition_dynamics
from pipelines.transition import ladders as transition
from pipelines.transition import loss_gap as transition_loss_gap
from pipelines.transition.plots import plot_loss_gap, plot_training_dynamics
from ui.base import LATEX, LOCAL, UI_QUEUE, eager_pictures, picture
from ui.context import AppContext
from ui.figures import drawn
from ui.inputs import MAX_SEED, api_outputs, check_choice, check_int, check_seed, integer_input, unchecked, user_errors
from ui.mechanism_records import records_markdown
from ui.text import mechanism as text
from ui.text.page import dataset_choices

DEFAULT_FIELDS_N, DEFAULT_FIELDS_T = 64, 20  # the 2-D view's first picture: where the two fields differ most
FIELDS_GRID = 21  # arrows per side
LOCAL_STEPS = 40  # the local view's chain: the app's default K
DEFAULT_PATCH = 5  # the slider's first value (and the patch of a model without a calibrated table)
RUN_CACHE = 8  # UNet runs kept (one per seed)
LOCAL_CACHE = 32  # local-posterior results kept (one per seed and patch setting): a slider moved back is free
R2_LOW_T = 200  # the caption's "small t" band: [0, R2_LOW_T)
PICTURES = ("fields-plot", "loss-gap-plot", "dynamics-plot", "local-samples", "local-r2")  # drawn on opening


def _check_calibrated(value) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"calibrated must be true or false, got {value!r}")


class MechanismTab:
    """The exact vs the learned denoiser in 2-D, the loss gap, training time, and the local posterior."""

    title = "Why doesn't p_θ copy?"

    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.block = None  # the gr.Tab, set by build_demo
        self._lock = threading.Lock()
        self._networks: dict[tuple[str, int], tuple] = {}
        self._runs: OrderedDict[int, SimpleNamespace] = OrderedDict()
        self._local: LocalPosterior | None = None
        self._local_results: OrderedDict[tuple, SimpleNamespace] = OrderedDict()
        self._table: list[int] | None = None

    # -- 2-D --------------------------------------------------------------------------------------------------
    def datasets(self) -> list[str]:
        """The 2-D data sets with a shipped ladder."""
        return transition.shipped_datasets()

    def _dataset(self, dataset) -> str:
        return check_choice("dataset", dataset, self.datasets())

    def ladder(self, dataset: str) -> list[int]:
        return [row["num_points"] for row in transition.load_table(dataset)["rows"]]

    def network(self, dataset: str, num_points: int) -> tuple:
        """(model A of the shipped pair at N, its N training points), loaded once."""
        key = (dataset, num_points)
        with self._lock:
            if key not in self._networks:
                folder = transition.pair_folder(transition.DEFAULT_OUTPUT, dataset, num_points)
                model, indices = transition.load_pair_model(folder, "a")
                self._networks[key] = (model, transition.pool(dataset)[indices])
            return self._networks[key]

    @user_errors
    def denoiser_fields(self, dataset, num_points, t):
        """The exact denoiser E[x0 | x_t] over N training points and the network's x̂0 on a grid over the plane.

        Parameters:
            dataset: a 2-D data set with a shipped ladder (two_moons, eight_gaussians, spiral)
            num_points: N, one of the shipped ladder's (4, 16, 64, 256, 1024, 2000)
            t: the timestep, 0 to 999
        Returns:
            the two fields side by side, a sentence with the median distance of each denoiser's guesses to the
            nearest training point, and a JSON summary (t, ᾱ_t, N, both medians).
        """
        dataset = self._dataset(dataset)
        ladder = self.ladder(dataset)
        num_points = check_int("num_points", num_points, min(ladder), max(ladder))
        if num_points not in ladder:
            raise ValueError(f"num_points must be one of the shipped ladder {ladder}, got {num_points}")
        T = int(toy_scheduler().config.num_train_timesteps)
        t = check_int("t", t, 0, T - 1)
        model, points = self.network(dataset, num_points)
        fields = denoiser_fields(model, points, t, grid=FIELDS_GRID)
        exact, network = float(fields.exact_distance.median()), float(fields.network_distance.median())
        summary = {
            "dataset": dataset,
            "num_points": num_points,
            "t": t,
            "alpha_bar": fields.alpha_bar,
            "grid": FIELDS_GRID,
            "exact_median_distance": exact,
            "network_median_distance": network,
            "model": str(transition.pair_folder(transition.DEFAULT_OUTPUT, dataset, num_points) / "a"),
        }
        words = text.fields_caption(dataset, num_points, t, fields.alpha_bar, exact, network)
        return drawn(plot_denoiser_fields, fields, points, transition.pool(dataset)), words, summary

    @user_errors
    def loss_gap(self, dataset):
        """The training loss of the network and of the optimum (the exact posterior) on training and held-out
        points, per N of the shipped ladder (small t).

        Parameters:
            dataset: a 2-D data set with a shipped ladder (two_moons, eight_gaussians, spiral)
        Returns:
            the plot against N, the sentence its numbers support, and the shipped table (with its command).
        """
        dataset = self._dataset(dataset)
        record = transition_loss_gap.load_loss_gap(dataset)
        rows = sorted(record["rows"], key=lambda r: (r["t_low"], r["num_points"]))
        words = text.loss_gap_caption(dataset, rows) + "\n\n" + self._why_not_zero(dataset, rows)
        return drawn(plot_loss_gap, record, dataset), words, record

    def _why_not_zero(self, dataset: str, rows: list[dict]) -> str:
        """Why the optimum's training loss at the smallest t and N is not 0: its loss per training point of set A."""
        first = rows[0]
        band, n = (first["t_low"], first["t_high"]), first["num_points"]
        by_point, widths = transition_loss_gap.smallest_set_by_point(dataset, n, band)
        nested = transition_dynamics.nested_small_t(dataset, n, band)
        return text.why_not_zero(band, n, first["train_optimum"], by_point, widths, nested)

    @user_errors
    def training_dynamics(self, dataset):
        """The losses and the copy fraction as the 2-D network trains, at two N (Bonnaire et al.).

        Parameters:
            dataset: a 2-D data set with a shipped dynamics record (two_moons, …)
        Returns:
            the plot against training steps, the sentence read off the curves, and the shipped record.
        """
        dataset = self._dataset(dataset)
        try:
            record = transition_dynamics.load_dynamics(dataset)
        except FileNotFoundError:
            shipped = [d for d in self.datasets() if transition_dynamics.table_path(d).is_file()]
            return None, text.no_dynamics(dataset, shipped), {}
        rows = [
            {
                "num_points": run["num_points"],
                "train_steps": run["train_steps"],
                "tau_gen": run["tau_gen"],
                "tau_mem": run["tau_mem"],
                "final_copy_fraction": run["checkpoints"]["copy_fraction"][-1],
            }
            for run in record["runs"]
        ]
        return drawn(plot_training_dynamics, record), text.dynamics_caption(rows) + _views_compared(record), record

    # -- the local posterior ----------------------------------------------------------------------------------
    def patch_table(self) -> list[int] | None:
        """The model's calibrated patch size per t (local_patch_sizes.json in its folder), or None."""
        with self._lock:
            if self._table is None:
                folder = model_data_folder(self.ctx.model_id)
                table = load_patch_table(folder, self.ctx.num_train_timesteps) if folder is not None else None
                self._table = table or []
            return self._table or None

    def denoisers(self) -> tuple[LocalPosterior, DatasetPosterior]:
        """The local posterior over the training images in float32 (the page's speed: it computes differences, not
        the expanded square, so float32 stays accurate at small t), built once, its patch size set per call; and the
        app's exact posterior (float64, shared with the other tabs)."""
        with self._lock:
            if self._local is None:
                data, scheduler = self.ctx.train_images(), self.ctx.pipe.scheduler
                self._local = LocalPosterior(data, DEFAULT_PATCH, scheduler, dtype=torch.float32)
        return self._local, self.ctx.dataset_posterior()

    def _local_machine(self, patch) -> LocalPosterior:
        """The shared machine with this patch setting (its data and candidates-last copy shared, nothing copied)."""
        local, _ = self.denoisers()
        return local.with_patch_size(patch)

    def local_result(self, seed: int, patch, entry: SimpleNamespace) -> SimpleNamespace:
        """The local posterior's r² along the UNet's run, its sample from the seed and its patch size per step, for
        one seed and patch setting (an int, or the calibrated table): computed once, the last LOCAL_CACHE kept."""
        key = (seed, patch if isinstance(patch, int) else tuple(patch))
        with self._lock:
            if key in self._local_results:
                self._local_results.move_to_end(key)
                return self._local_results[key]
        local = self._local_machine(patch)
        result = SimpleNamespace(
            r2=r2_along(entry.run, local),
            sample=local.sample(1, torch.Generator().manual_seed(seed), LOCAL_STEPS).float(),
            patch_sizes=[local.patch_size_at(int(t)) for t in entry.run.timesteps],
        )
        with self._lock:
            self._local_results[key] = result
            while len(self._local_results) > LOCAL_CACHE:
                self._local_results.popitem(last=False)
        return result

    def unet_run(self, seed: int) -> SimpleNamespace:
        """The UNet's run from the seed with the exact posterior's r² along it and its sample (none depends on the
        patch size): computed once per seed, the last RUN_CACHE kept."""
        with self._lock:
            if seed in self._runs:
                self._runs.move_to_end(seed)
                return self._runs[seed]
        _, exact = self.denoisers()
        run = model_run(self.ctx.pipe, 1, seed, LOCAL_STEPS)
        entry = SimpleNamespace(
            run=run,
            r2_exact=r2_along(run, exact),
            exact_sample=exact.sample(1, torch.Generator().manual_seed(seed), LOCAL_STEPS).float(),
        )
        entry.nearest = {  # the UNet's and the exact sample's nearest training images: the same for every P
            name: self._nearest(x) for name, x in (("model", run.sample.float()), ("exact", entry.exact_sample))
        }
        with self._lock:
            self._runs[seed] = entry
            while len(self._runs) > RUN_CACHE:
                self._runs.popitem(last=False)
        return entry

    @user_errors
    def local_posterior(self, seed, patch_size, calibrated):
        """The UNet, the local (patch) posterior and the exact posterior from one seed, and how well the local and
        the exact posterior predict the UNet's x̂0 along its run.

        Parameters:
            seed: integer in [0, 4294967295]; the three samplers start from the same x_T
            patch_size: P, an odd integer in [1, 63] (63: every pixel sees the whole 32×32 image: the exact
                posterior); used when calibrated is false
            calibrated: true for the model's calibrated patch size per t (its local_patch_sizes.json)
        Returns:
            the three samples beside their nearest training images, the r² curves along the UNet's run, a
            sentence built from the numbers, and a JSON summary (r² per step, d₁, d₂, nearest index, copy verdict
            per sampler, seconds).
        """
        self.ctx.require_data()
        if self.ctx.at_scale:
            raise ValueError(
                f"this view compares every patch with every training {self.ctx.noun}'s patches, so it holds all of "
                f"them in memory; this model's {len(self.ctx.neighbour_index):,} training {self.ctx.noun}s are read "
                f"from disk (beyond the app's {self.ctx.bound / 1e9:.3g} GB bound), so the view is off for it"
            )
        seed = check_seed(seed)
        largest = 2 * max(self.ctx.image_shape[1:]) - 1
        patch_size = check_int("patch_size", patch_size, 1, largest)
        if patch_size % 2 == 0:
            raise ValueError(f"patch_size must be an odd integer in [1, {largest}], got {patch_size}")
        calibrated = _check_calibrated(calibrated)
        table = self.patch_table()
        patch = table if calibrated and table else patch_size
        entry = self.unet_run(seed)
        result = self.local_result(seed, patch, entry)
        r2_local = result.r2
        samples = {"model": entry.run.sample.float(), "local": result.sample, "exact": entry.exact_sample}
        summary = self._summary(seed, entry, r2_local, samples, text.patch_words(calibrated, patch_size, bool(table)))
        summary["patch_sizes"] = list(result.patch_sizes)
        folder = model_data_folder(self.ctx.model_id)  # where the calibrated P means something: shaded above
        fit = patch_fit(folder) if calibrated and table and folder is not None else None
        fit_below = fit["t_star"] if fit else None
        figure = drawn(plot_r2_curves, entry.run.timesteps, r2_local, entry.r2_exact,
                       patch_sizes=summary["patch_sizes"], fit_below=fit_below)  # fmt: skip
        return self._samples_picture(samples, summary), figure, text.local_caption(summary, self.ctx.noun), summary

    def _nearest(self, x: torch.Tensor) -> dict:
        """One sample's nearest training image: d₁, d₂, d₁/d₂, its index and the copy verdict."""
        d1, d2, index = nearest_two(x, self.denoisers()[1].data)
        return {
            "d1": float(d1[0]),
            "d2": float(d2[0]),
            "ratio": float(d1[0] / d2[0]) if float(d2[0]) > 0 else None,
            "nearest": int(index[0]),
            "copy": bool(is_copy_by_ratio(d1, d2)[0]),
        }

    def _summary(self, seed: int, entry, r2_local: np.ndarray, samples: dict, patch: str) -> dict:
        samplers = {
            name: entry.nearest[name] if name in entry.nearest else self._nearest(x) for name, x in samples.items()
        }
        steps = entry.run.timesteps
        low = steps < R2_LOW_T
        r2 = {"local": r2_local[:, 0], "exact": entry.r2_exact[:, 0]}
        return {
            "seed": seed,
            "num_inference_steps": LOCAL_STEPS,
            "patch": patch,
            "timesteps": [int(t) for t in steps],
            "r2_local": [_finite(v) for v in r2["local"]],
            "r2_exact": [_finite(v) for v in r2["exact"]],
            "r2_median": {k: _median(v) for k, v in r2.items()},
            "r2_band": {"low": 0, "high": R2_LOW_T, **{k: _median(v[low]) for k, v in r2.items()}},
            "bands": DEFAULT_BAND_EDGES,
            "samplers": samplers,
            "model_id": self.ctx.model_id,
        }

    def _samples_picture(self, samples: dict, summary: dict):
        data = self.denoisers()[1].data
        images, captions = [], []
        for name, label in (("model", "UNet"), ("local", "local"), ("exact", "exact")):
            row = summary["samplers"][name]
            nearest = data[row["nearest"]][None].float()
            images += [to_uint8(samples[name], model_space=True)[0], to_uint8(nearest, model_space=True)[0]]
            verdict = "copy" if row["copy"] else "new"
            captions += [f"{label}: {verdict}", f"nearest #{row['nearest']}, d₁ {row['d1']:.1f}"]
        return labelled_row(images, captions, scale=4)

    # -- layout -----------------------------------------------------------------------------------------------
    def layout(self) -> None:
        gr.Markdown(text.PUZZLE, latex_delimiters=LATEX, elem_id="mechanism-puzzle")
        first = []
        datasets = self.datasets()
        if datasets:
            first += self._fields_section(datasets)
            first += self._loss_section()
            first += self._dynamics_section()
        first += self._local_section()
        if self.block is not None:  # every view's default drawn when the tab is opened
            eager = eager_pictures(*PICTURES)
            for handler, inputs, outputs in first:
                self.block.select(handler, inputs, outputs, api_visibility="private", **UI_QUEUE).then(
                    None, js=eager, **LOCAL
                )

    def _fields_section(self, datasets: list[str]) -> list:
        gr.Markdown(text.FIELDS_INTRO, latex_delimiters=LATEX, elem_id="fields-intro")
        default = datasets[0]
        ladder = self.ladder(default)
        with gr.Row():
            dataset = unchecked(
                gr.Dropdown(dataset_choices(datasets), value=default, label="data set", elem_id="fields-dataset")
            )
            num_points = integer_input(
                gr.Dropdown(ladder, value=DEFAULT_FIELDS_N if DEFAULT_FIELDS_N in ladder else ladder[0],
                            label="N, training points", elem_id="fields-n"), min(ladder), max(ladder),
            )  # fmt: skip
            t = integer_input(gr.Slider(0, 999, value=DEFAULT_FIELDS_T, step=1, label="t", elem_id="fields-t"))
        button = gr.Button("Draw both denoisers", variant="primary", elem_id="fields-button")
        plot = picture("the exact and the network's denoiser over the plane", "fields-plot")
        words = gr.Markdown(elem_id="fields-caption", latex_delimiters=LATEX)
        with gr.Accordion("JSON summary (as a program calling the demo gets it)", open=False):
            summary = gr.JSON(label="summary", elem_id="fields-summary")
        outputs = api_outputs(picture=plot, caption=words, summary=summary)
        button.click(self.denoiser_fields, [dataset, num_points, t], outputs, api_name="denoiser_fields", **UI_QUEUE)
        dataset.change(self._ladder_choices, dataset, num_points, api_visibility="private", queue=False)
        self._fields_dataset = dataset  # the next two views read the same dropdown
        return [(self.denoiser_fields, [dataset, num_points, t], outputs)]

    def _ladder_choices(self, dataset):
        try:
            ladder = self.ladder(self._dataset(dataset))
        except (ValueError, FileNotFoundError):
            return gr.update()
        return gr.update(choices=ladder, value=DEFAULT_FIELDS_N if DEFAULT_FIELDS_N in ladder else ladder[0])

    def _shipped_view(self, handler, api_name: str, slug: str, intro: str, button: str, label: str, record: str):
        """A view of a shipped record of the dropdown's data set: its intro, button, picture, caption and JSON (named
        `record` in the API); returns [(handler, inputs, outputs)] to draw it when the tab opens."""
        gr.Markdown(intro, latex_delimiters=LATEX, elem_id=f"{slug}-intro")
        dataset = self._fields_dataset
        show = gr.Button(button, elem_id=f"{slug}-button")
        plot = picture(label, f"{slug}-plot")
        words = gr.Markdown(elem_id=f"{slug}-caption", latex_delimiters=LATEX)
        with gr.Accordion(f"The shipped {record} (as a program calling the demo gets it)", open=False):
            data = gr.JSON(label=record, elem_id=f"{slug}-{record}")
        outputs = api_outputs(picture=plot, caption=words, **{record: data})
        show.click(handler, [dataset], outputs, api_name=api_name, **UI_QUEUE)
        return [(handler, [dataset], outputs)]

    def _loss_section(self) -> list:
        label = "training and held-out loss of the network and the optimum against N"
        return self._shipped_view(
            self.loss_gap, "loss_gap", "loss-gap", text.LOSS_GAP_INTRO, "Show the loss gap", label, "table"
        )

    def _dynamics_section(self) -> list:
        label = "losses and copies against training steps at three N"
        return self._shipped_view(
            self.training_dynamics, "training_dynamics", "dynamics", text.DYNAMICS_INTRO, "Show the training curves",
            label, "record",
        )  # fmt: skip

    def _local_section(self) -> list:
        ctx = self.ctx
        folder = model_data_folder(ctx.model_id)
        fit = patch_fit(folder) if folder is not None else None  # where the fitted P means something
        gr.Markdown(text.local_intro(ctx.noun, fit), latex_delimiters=LATEX, elem_id="local-intro")
        if not ctx.has_data:
            gr.Markdown(f"⚠️ **{ctx.data_notice()}**", elem_id="local-notice")
            return []
        largest = 2 * max(ctx.image_shape[1:]) - 1
        with gr.Row():
            seed = integer_input(
                gr.Number(0, label="seed", info=f"integer in [0, {MAX_SEED}]; the same noise for all three",
                          precision=None, elem_id="local-seed"), 0, MAX_SEED,
            )  # fmt: skip
            calibrated = unchecked(
                gr.Checkbox(True, label="calibrated patch size per t (else P)", elem_id="local-calibrated")
            )
            patch = integer_input(
                gr.Slider(1, largest, value=DEFAULT_PATCH, step=2, elem_id="local-patch",
                          label=f"patch size P, used when calibrated is off (odd; {largest}: the whole image, "
                                "the exact posterior)")
            )  # fmt: skip
        button = gr.Button("Sample all three", variant="primary", elem_id="local-button")
        samples = picture("the three samples, each beside its nearest training image", "local-samples")
        curves = picture("r² of the local and the exact posterior to the UNet along its run", "local-r2")
        words = gr.Markdown(elem_id="local-caption", latex_delimiters=LATEX)
        with gr.Accordion("JSON summary (as a program calling the demo gets it)", open=False):
            summary = gr.JSON(label="summary", elem_id="local-summary")
        outputs = api_outputs(samples=samples, r2=curves, caption=words, summary=summary)
        inputs = [seed, patch, calibrated]
        button.click(self.local_posterior, inputs, outputs, api_name="local_posterior", **UI_QUEUE)
        patch.release(lambda: False, None, calibrated, api_visibility="private", queue=False).then(
            self.local_posterior, inputs, outputs, api_visibility="private", **UI_QUEUE
        )
        records = records_markdown(ctx.model_id, ctx.noun)
        if records:
            gr.Markdown(records, latex_delimiters=LATEX, elem_id="local-records")
        return [(self.local_posterior, inputs, outputs)]


def _views_compared(record: dict) -> str:
    """View 2 and view 3 at the first N and small-t band they share, in words (empty when they share none)."""
    shared = transition_dynamics.shared_with_loss_gap(record)
    return text.views_compared(*shared) if shared else ""


def _finite(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _median(values) -> float | None:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else None
