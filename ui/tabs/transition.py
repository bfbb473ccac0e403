"""Tab "Copies or new points?": when a trained p_θ copies its training points and when it makes new ones.

Two p_θ of one recipe, trained on two disjoint N-point subsets of a 2-D data set and sampled from the same noise:
the shipped table over a ladder of N (`pipelines.transition`, models/transition2d/), its plot and a sentence
built from its numbers; the two shipped models' samples side by side at a chosen N; and training a pair live,
for this session only, which adds a point to this user's plot. What the table says is read here (`read_table`);
the words are ui/text/transition.py's."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import gradio as gr

from pipelines import toy2d
from pipelines.exact.neighbours import copy_fraction_by_ratio
from pipelines.transition import ladders as transition
from pipelines.transition import mnist as transition_mnist
from pipelines.transition.floor import data_floor
from pipelines.transition.plots import mnist_pair_picture, plot_pair_samples, plot_transition
from ui.base import LATEX, LOCAL, STREAM_INTERVAL_S, TRAINING_QUEUE, UI_QUEUE
from ui.base import picture as output_picture
from ui.context import AppContext
from ui.figures import drawn
from ui.inputs import MAX_SEED, api_outputs, check_choice, check_int, integer_input, unchecked, user_errors
from ui.text import transition as text
from ui.text.page import dataset_choices
from ui.training_thread import on_training_thread

DEFAULT_LIVE_POINTS, DEFAULT_LIVE_STEPS, DEFAULT_LIVE_SAMPLES = 64, 2000, 256
MAX_LIVE_ROWS = 20  # live pairs kept per data set and session
PAIR_SAMPLES = 256  # samples per model in the side-by-side view
MNIST_PAIR_EXAMPLES = 6  # same-noise columns in the MNIST side-by-side view
COPY_HIGH, COPY_LOW = 0.8, 0.2  # "copies" / "does not copy" in the sentence under the plot
AGREE_FRACTION = 0.75  # "the two models agree": their pair distance at most 3/4 of the exact processes'


@dataclass(frozen=True)
class TransitionReading:
    """What a transition table says (its rows by N; ratios: pair distance / spacing, the models' and the exact
    processes'). copying_until: the largest N where the models copy (mean copy fraction >= COPY_HIGH; None if
    nowhere), copying_least: the least copy fraction of either model there; new_from: the first N where they make new
    points (<= COPY_LOW), new_most: the most copies from there on; agreeing: (N, model ratio, exact ratio) of the
    rows from new_from on where the models agree (within AGREE_FRACTION of the exact processes), empty unless the
    largest N agrees; rises: (N, ratio, next N, its ratio) where the models' pair distance grows from one N to the
    next from new_from on; exact_copies: the exact processes' least copy fraction, exact_low/high: their ratios'
    range; both_rise: (N, next N) where the models' and the exact processes' pair distances both grow; between: (N,
    model ratio, exact ratio) of the rows from new_from on before the first agreeing N (new points, no agreement)."""

    first_n: int
    first_copies: float
    first_ratio: float
    first_exact_ratio: float
    last_n: int
    last_copies: float
    last_ratio: float
    last_exact_ratio: float
    exact_copies: float
    exact_low: float
    exact_high: float
    copying_until: int | None = None
    copying_least: float | None = None
    new_from: int | None = None
    new_most: float | None = None
    agreeing: list[tuple[int, float, float]] = field(default_factory=list)
    rises: list[tuple[int, float, int, float]] = field(default_factory=list)
    both_rise: list[tuple[int, int]] = field(default_factory=list)
    between: list[tuple[int, float, float]] = field(default_factory=list)


def _mean_copies(row: dict) -> float:
    return (row["copy_fraction"]["a"] + row["copy_fraction"]["b"]) / 2


def _ratios(row: dict) -> tuple[float, float]:
    return row["pair_distance_over_spacing"], row["exact"]["pair_distance_over_spacing"]


def _agree(row: dict) -> bool:
    model, exact = _ratios(row)
    return model <= AGREE_FRACTION * exact


def read_table(rows: list[dict]) -> TransitionReading:
    """What the rows of a transition table (at least one) say."""
    rows = sorted(rows, key=lambda r: r["num_points"])
    first, last = rows[0], rows[-1]
    exact_ratio = [r["exact"]["pair_distance_over_spacing"] for r in rows]
    found: dict = {}
    copying = [r for r in rows if _mean_copies(r) >= COPY_HIGH]
    if copying:
        found.update(
            copying_until=copying[-1]["num_points"],
            copying_least=min(min(r["copy_fraction"].values()) for r in copying),
        )
    new = [r for r in rows if _mean_copies(r) <= COPY_LOW]
    if new:
        later = rows[rows.index(new[0]) :]
        found.update(new_from=new[0]["num_points"], new_most=max(_mean_copies(r) for r in later))
        if _agree(last):
            found["agreeing"] = [(r["num_points"], *_ratios(r)) for r in later if _agree(r)]
            start = found["agreeing"][0][0]
            found["between"] = [(r["num_points"], *_ratios(r)) for r in later if r["num_points"] < start]
        found["rises"] = [
            (r["num_points"], _ratios(r)[0], s["num_points"], _ratios(s)[0])
            for r, s in zip(later, later[1:])
            if _ratios(s)[0] > _ratios(r)[0]
        ]
    found["both_rise"] = [
        (r["num_points"], s["num_points"])
        for r, s in zip(rows, rows[1:])
        if all(b > a for a, b in zip(_ratios(r), _ratios(s)))
    ]
    return TransitionReading(
        first_n=first["num_points"],
        first_copies=_mean_copies(first),
        first_ratio=_ratios(first)[0],
        first_exact_ratio=_ratios(first)[1],
        last_n=last["num_points"],
        last_copies=_mean_copies(last),
        last_ratio=_ratios(last)[0],
        last_exact_ratio=_ratios(last)[1],
        exact_copies=min(min(r["exact"]["copy_fraction"].values()) for r in rows),
        exact_low=min(exact_ratio),
        exact_high=max(exact_ratio),
        **found,
    )


def transition_sentence(rows: list[dict], noun: str = "points", floor=None) -> str:
    """What the table says, in one paragraph built from its numbers (noun: "points" in 2-D, "digits" for MNIST)."""
    if not rows:
        return text.NO_ROWS
    samples = min(int(r.get("num_samples", 256)) for r in rows)
    return text.transition_sentence(read_table(rows), noun, floor, samples)


class TransitionTab:
    """The shipped transition table, one pair side by side, and training a pair live."""

    title = "Copies or new points?"

    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.block = None
        self._lock = threading.Lock()
        self._models: dict[tuple[str, int], tuple] = {}

    # -- shared pieces --------------------------------------------------------------------------------------
    def datasets(self) -> list[str]:
        """The data sets with a shipped table: the 2-D ones, then mnist (models/transition-mnist)."""
        mnist = (transition_mnist.DEFAULT_FOLDER / transition.TABLE_NAME).is_file()
        return transition.shipped_datasets() + ([transition_mnist.DATASET] if mnist else [])

    def _dataset(self, dataset) -> str:
        choices = self.datasets() or list(toy2d.DATASETS)
        return check_choice("dataset", dataset, choices)

    def shipped_pair(self, dataset: str, num_points: int) -> tuple:
        """The shipped (model A, indices A, model B, indices B) at N (loaded once, shared read-only)."""
        key = (dataset, num_points)
        with self._lock:
            if key not in self._models:
                folder = transition.pair_folder(transition.DEFAULT_OUTPUT, dataset, num_points)
                self._models[key] = (
                    *transition.load_pair_model(folder, "a"),
                    *transition.load_pair_model(folder, "b"),
                )
            return self._models[key]

    def _table(self, dataset: str, state: dict | None) -> tuple[dict, list[dict]]:
        try:
            is_mnist = dataset == transition_mnist.DATASET
            table = transition_mnist.load_table() if is_mnist else transition.load_table(dataset)
        except FileNotFoundError:
            table = {"dataset": dataset, "command": None, "wall_seconds": None, "rows": []}
        return table, list((state or {}).get(dataset, []))

    def _picture(self, table: dict, live: list[dict]):
        mnist = table["dataset"] == transition_mnist.DATASET
        title = text.plot_title(table["dataset"], mnist)
        return drawn(plot_transition, table["rows"], live, title, "digits" if mnist else "points")

    # -- handlers -------------------------------------------------------------------------------------------
    @user_errors
    def transition_table(self, dataset, state=None):
        """The shipped copy-to-new table of a 2-D data set, its plot and what it says.

        Parameters:
            dataset: a data set with a shipped table (two_moons, …, mnist)
        Returns:
            the plot (copy fractions and pair distance / spacing against N, the exact processes' line, and this
            session's live pairs), the sentence the numbers support, and the table (see README).
        """
        dataset = self._dataset(dataset)
        table, live = self._table(dataset, state)
        summary = {**table, "live_rows": live}
        noun = "digits" if dataset == transition_mnist.DATASET else "points"
        floor = None if dataset == transition_mnist.DATASET or not table["rows"] else data_floor(dataset)
        words = transition_sentence(table["rows"], noun, floor) if table["rows"] else text.NO_TABLE
        if table["rows"] and table["rows"][0].get("spacing"):
            n = toy2d.DEFAULT_NUM_POINTS  # the 2-D tab's N
            gap = (
                None
                if noun == "digits"
                else (n, float(toy2d.nearest_other_distances(toy2d.load_points(dataset, n)).median()))
            )
            words += " " + text.yardstick_words(float(table["rows"][0]["spacing"]), gap)
        recipe = table.get("recipe") or {}
        if table["rows"] and recipe.get("train_steps"):
            mnist = dataset == transition_mnist.DATASET
            words = text.recipe_words(int(recipe["train_steps"]), mnist, recipe.get("batch_size")) + words
        return self._picture(table, live), words, summary

    @user_errors
    def pair_samples(self, dataset, num_points):
        """The two shipped models of the pair at N, sampled from the same noises (seed 0), side by side.

        Parameters:
            dataset: a data set with a shipped table (two_moons, …, mnist)
            num_points: N, one of its shipped ladder's
        Returns:
            the picture: in 2-D, 256 samples of each model over its own subset and both together; on mnist, six
            same-noise columns with each sample's nearest digit of its own block and d₁/d₂ (the recorded samples of
            seed 0: what sampling them live returns, drawn without the minute of sampling).
        """
        dataset, num_points = self._pair_args(dataset, num_points)
        if dataset == transition_mnist.DATASET:
            return self.mnist_pair(num_points)
        return self._pair_2d(dataset, num_points, 0)

    @user_errors
    def pair_live(self, dataset, num_points, seed):
        """UI only: the pair at N sampled live now from the seed's noises (on mnist: 100 steps of both UNets)."""
        dataset, num_points = self._pair_args(dataset, num_points)
        seed = check_int("seed", seed, 0, MAX_SEED)  # sampling only: the other tabs' range
        if dataset == transition_mnist.DATASET:
            return self.mnist_pair(num_points, seed)
        return self._pair_2d(dataset, num_points, seed)

    def _pair_args(self, dataset, num_points) -> tuple[str, int]:
        dataset = self._dataset(dataset)
        ladder = self.ladder(dataset)
        num_points = check_int("num_points", num_points, transition.MIN_POINTS, MAX_PAIR_POINTS)
        if num_points not in ladder:
            raise ValueError(f"num_points must be one of the shipped ladder {ladder}, got {num_points}")
        return dataset, num_points

    def _pair_2d(self, dataset: str, num_points: int, seed: int):
        model_a, indices_a, model_b, indices_b = self.shipped_pair(dataset, num_points)
        pool = transition.pool(dataset)
        samples_a = transition.sample_model(model_a, PAIR_SAMPLES, seed)
        samples_b = transition.sample_model(model_b, PAIR_SAMPLES, seed)
        copies = (
            copy_fraction_by_ratio(samples_a, pool[indices_a]),
            copy_fraction_by_ratio(samples_b, pool[indices_b]),
        )
        return drawn(plot_pair_samples, pool[indices_a], pool[indices_b], samples_a, samples_b, num_points, copies)

    def mnist_pair(self, num_points: int, seed: int | None = None):
        """The MNIST pair at N side by side: with seed None the recorded samples of seed 0 (models/transition-mnist/
        pair_examples.npz, written once by `python -m pipelines.transition.mnist --examples_only`; drawn once per
        N and kept), else sampled live now from that seed. The copy fractions in its title are the shipped table's
        row (its M samples per model), the same numbers as the plot above."""
        key = ("mnist-picture", num_points)
        if seed is None:
            with self._lock:
                if key in self._models:
                    return self._models[key]
        table = transition_mnist.load_table()
        row = next(r for r in table["rows"] if r["num_points"] == num_points)
        copies = (row["copy_fraction"]["a"], row["copy_fraction"]["b"])
        recorded = transition_mnist.load_pair_examples(num_points) if seed is None else None
        if recorded is not None:
            examples, meta = recorded
            note = text.recorded_pair_note(meta["seed"])
        else:
            a, b = transition_mnist.pair_folders()[num_points]
            examples = transition_mnist.pair_examples(a, b, MNIST_PAIR_EXAMPLES, seed or 0)
            note = text.live_pair_note(seed or 0)
        picture = mnist_pair_picture(examples, num_points, copies, row["num_samples"], note)
        if seed is None:
            with self._lock:
                self._models[key] = picture
        return picture

    def ladder(self, dataset: str) -> list[int]:
        """The N of a data set's shipped table."""
        table = self._table(dataset, None)[0]
        return [row["num_points"] for row in table["rows"]]

    def ladder_choices(self, dataset):
        """UI only: the N dropdown of the side-by-side view follows the data set."""
        try:
            ladder = self.ladder(self._dataset(dataset))
        except ValueError:
            return gr.update()
        return gr.update(choices=ladder, value=ladder[0] if ladder else None)

    @user_errors
    @on_training_thread
    def transition_train(self, dataset, num_points, train_steps, num_samples, seed, state=None):
        """Train the pair at N (two p_θ on disjoint subsets, one recipe), then measure it; the new row is added to
        this session's plot. Streamed; one training at a time on the server, others queue.

        Parameters:
            dataset: two_moons, eight_gaussians or spiral
            num_points: N, points per subset, 4 to 2000
            train_steps: optimizer steps of each model, 100 to 20000
            num_samples: M, samples per model and per exact process, 8 to 1024
            seed: subsets, initial weights, batches and sampling noise; 0 to 2147483647
        Returns (streamed, every ~0.5 s):
            the plot, a status text and a summary: step, done and, when done, the new row (as /transition's).
        """
        dataset = check_choice("dataset", dataset, list(toy2d.DATASETS))  # MNIST pairs train for hours: shipped only
        num_points = check_int("num_points", num_points, transition.MIN_POINTS, transition.MAX_POINTS)
        train_steps = check_int("train_steps", train_steps, transition.MIN_TRAIN_STEPS, transition.MAX_TRAIN_STEPS)
        num_samples = check_int("num_samples", num_samples, transition.MIN_SAMPLES, transition.MAX_SAMPLES)
        seed = check_int("seed", seed, 0, MAX_PAIR_SEED)
        state = {key: list(rows) for key, rows in (state or {}).items()}
        table, live = self._table(dataset, state)
        picture = self._picture(table, live)
        pair = transition.TransitionPair(dataset, num_points, train_steps, seed)
        start = last = time.perf_counter()

        def status(step: int, done: bool, row: dict | None = None) -> dict:
            return {
                "dataset": dataset,
                "num_points": num_points,
                "train_steps": train_steps,
                "num_samples": num_samples,
                "seed": seed,
                "step": step,
                "done": done,
                "seconds": time.perf_counter() - start,
                "row": row,
            }

        for record in pair.train():
            if time.perf_counter() - last >= STREAM_INTERVAL_S:
                yield picture, text.training_status(record.step, train_steps), status(record.step, False), state
                last = time.perf_counter()
        yield picture, text.SAMPLING_STATUS, status(train_steps, False), state
        row = pair.measure(num_samples, seed).as_dict()
        state[dataset] = [*live, row][-MAX_LIVE_ROWS:]
        yield self._picture(table, state[dataset]), text.trained_row_text(row), status(train_steps, True, row), state

    def forget(self, dataset, state):
        """UI only: drop this session's live pairs of the data set."""
        state = dict(state or {})
        state.pop(dataset, None)
        return state

    # -- layout ---------------------------------------------------------------------------------------------
    def layout(self) -> None:
        shipped = self.datasets()
        # mnist first when shipped: its result (digits copied at small N, new ones at large N) shows on opening
        default = transition_mnist.DATASET if transition_mnist.DATASET in shipped else (shipped or [None])[0]
        default = default or toy2d.DEFAULT_DATASET
        state = gr.State({}, time_to_live=3600)
        dataset, show_outputs = self._table_section(shipped, default, state)
        self._pair_section(dataset, self.ladder(default) if shipped else [4])
        self._train_section(state)
        if self.block is not None:  # the shipped plot when the tab is opened
            self.block.select(
                self.transition_table, [dataset, state], show_outputs, api_visibility="private", **UI_QUEUE
            )

    def _table_section(self, shipped: list[str], default: str, state) -> tuple:
        """The shipped table: its plot, the sentence and the JSON (/transition); returns (dataset, its outputs)."""
        gr.Markdown(text.INTRO, latex_delimiters=LATEX, elem_id="transition-intro")
        dataset = unchecked(
            gr.Dropdown(
                dataset_choices(shipped or [default]), value=default, label="data set", elem_id="transition-dataset"
            )
        )
        show = gr.Button("Show the shipped results", variant="primary", elem_id="transition-button")
        picture = output_picture("copies and agreement against N", "transition-plot")
        sentence = gr.Markdown(elem_id="transition-text", latex_delimiters=LATEX)
        with gr.Accordion("The table (as a program calling the demo gets it)", open=False):
            table = gr.JSON(label="table", elem_id="transition-table")
        show_outputs = api_outputs(picture=picture, text=sentence, table=table)
        show.click(self.transition_table, [dataset, state], show_outputs, api_name="transition", **UI_QUEUE)
        dataset.change(self.transition_table, [dataset, state], show_outputs, api_visibility="private", **UI_QUEUE)
        return dataset, show_outputs

    def _pair_section(self, dataset, ladder: list[int]) -> None:
        """One shipped pair side by side, at an N of the ladder (UI only)."""
        gr.Markdown(text.PAIR_INTRO, latex_delimiters=LATEX, elem_id="transition-pair-intro")
        pair_n = integer_input(
            gr.Dropdown(
                ladder, value=ladder[0], label="N, items per subset (one of the shipped ladder)", elem_id="transition-n"
            ),
            transition.MIN_POINTS,
            MAX_PAIR_POINTS,
        )
        with gr.Row():
            pair_button = gr.Button("Sample the shipped pair", elem_id="transition-pair-button")
            live_seed = integer_input(
                gr.Number(0, label="seed of a live re-sample", precision=None,
                          info=f"integer in [0, {MAX_SEED}]; on MNIST sampling live takes 10–60 s",
                          elem_id="transition-pair-seed"),
                0,
                MAX_SEED,
            )  # fmt: skip
            live_button = gr.Button("Sample the pair live", elem_id="transition-pair-live-button")
        pair_picture = output_picture("the pair from the same noise", "transition-pair")
        dataset.change(self.ladder_choices, dataset, pair_n, **LOCAL)
        pair_button.click(
            self.pair_samples, [dataset, pair_n], api_outputs(picture=pair_picture), api_name="transition_pair",
            show_progress="full", **UI_QUEUE,
        )  # fmt: skip
        live_button.click(
            self.pair_live, [dataset, pair_n, live_seed], pair_picture, api_visibility="private",
            show_progress="full", **UI_QUEUE,
        )  # fmt: skip
        if self.block is not None:  # the first pair drawn when the tab is opened
            self.block.select(self.pair_samples, [dataset, pair_n], pair_picture, api_visibility="private", **UI_QUEUE)

    def _train_section(self, state) -> None:
        """Train a pair live (/transition_train) on a 2-D data set (its own menu: MNIST pairs train for hours); its
        row joins this session's plot of that data set, drawn here (and above when that data set is chosen)."""
        gr.Markdown(text.TRAIN_INTRO, latex_delimiters=LATEX, elem_id="transition-train-intro")
        choices = list(toy2d.DATASETS)
        with gr.Row():
            dataset = unchecked(
                gr.Dropdown(dataset_choices(choices), value=choices[0], label="2-D data set",
                            elem_id="transition-train-dataset")
            )  # fmt: skip
            num_points = integer_input(
                gr.Slider(transition.MIN_POINTS, transition.MAX_POINTS, value=DEFAULT_LIVE_POINTS, step=1,
                          label="N, points per subset", elem_id="transition-train-n")
            )  # fmt: skip
            train_steps = integer_input(
                gr.Slider(transition.MIN_TRAIN_STEPS, transition.MAX_TRAIN_STEPS, value=DEFAULT_LIVE_STEPS,
                          step=100, label="training steps (each model)", elem_id="transition-train-steps")
            )  # fmt: skip
            num_samples = integer_input(
                gr.Slider(transition.MIN_SAMPLES, transition.MAX_SAMPLES, value=DEFAULT_LIVE_SAMPLES, step=1,
                          label="M, samples per model", elem_id="transition-train-samples")
            )  # fmt: skip
            seed = integer_input(
                gr.Number(0, label="seed", precision=None,
                          info=f"integer in [0, {MAX_PAIR_SEED}] (half the other tabs' range: model A trains with "
                          "seed 2·seed, model B with 2·seed + 1)",
                          elem_id="transition-seed"),
                0,
                MAX_PAIR_SEED,
            )  # fmt: skip
        with gr.Row():
            train_button = gr.Button("Train the pair at this N", variant="primary", elem_id="transition-train-button")
            forget_button = gr.Button("Forget my pairs", elem_id="transition-forget-button")
        train_text = gr.Markdown(text.TRAIN_EMPTY, elem_id="transition-train-text", latex_delimiters=LATEX)
        with gr.Accordion(
            "JSON summary of the training (as a program calling the demo gets it)",
            open=False,
        ):
            train_summary = gr.JSON(label="summary", elem_id="transition-train-summary")
        picture = output_picture("this session's pairs on the data set's table", "transition-train-plot")
        plot_words = gr.Markdown(elem_id="transition-train-plot-text", latex_delimiters=LATEX)
        train_button.click(
            self.transition_train,
            [dataset, num_points, train_steps, num_samples, seed, state],
            [*api_outputs(picture=picture, text=train_text, summary=train_summary), state],
            api_name="transition_train",
            **TRAINING_QUEUE,
        )
        shown = [picture, plot_words]
        dataset.change(self.train_plot, [dataset, state], shown, api_visibility="private", **UI_QUEUE)
        if self.block is not None:  # the data set's table drawn when the tab is opened, ready for a live pair
            self.block.select(self.train_plot, [dataset, state], shown, api_visibility="private", **UI_QUEUE)
        forget_button.click(self.forget, [dataset, state], state, **LOCAL).then(
            self.train_plot, [dataset, state], shown, api_visibility="private", **UI_QUEUE
        )

    def train_plot(self, dataset, state=None):
        """UI only: the training section's plot (the data set's shipped table with this session's live pairs) and
        the sentence under it (the shipped pairs' training length and the copy rule's floor on the data)."""
        dataset = check_choice("dataset", dataset, list(toy2d.DATASETS))
        table, live = self._table(dataset, state)
        floor = data_floor(dataset) if table["rows"] else None
        steps = (table.get("recipe") or {}).get("train_steps")
        between = read_table(table["rows"]).between if table["rows"] else []
        return self._picture(table, live), text.train_plot_words(dataset, floor, steps, between)


MAX_PAIR_POINTS = 2250  # the largest shipped N: half of the 4,500 mnist training digits (2-D: 2,000)
MAX_PAIR_SEED = (2**32 - 2) // 2  # the pair's models use seeds 2·seed and 2·seed + 1
