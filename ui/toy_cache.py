"""What the tab "2-D world" keeps between clicks, for every session: the exact reverse process over the first N
points of a data set, the shipped p_θ of each data set, Γ_t per model, and the shipped models' sampler answers; and
which p_θ drives a session's views (the one it trained, else the shipped one).

Each is kept under one lock and bounded (the most recent first); the tab (ui/tabs/toy.py) checks inputs, draws and
trains, and asks this cache for what it can reuse."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

from pipelines import toy2d
from pipelines.exact.posterior import DatasetPosterior

MAX_CACHED_POSTERIORS = 8
MAX_CACHED_GAMMAS = 64  # Γ_t per model (one per t, N, data set and seed clicked)
MAX_CACHED_RUNS = 4  # the shipped models' sampler answers kept (the default one is drawn when the tab opens)
SHIPPED = "shipped"


class ToyCache:
    """The 2-D tab's kept posteriors, shipped models, Γ_t values and shipped sampler answers."""

    def __init__(self, scheduler):
        self.scheduler = scheduler
        self._lock = threading.Lock()
        self._posteriors: OrderedDict[tuple[str, int], DatasetPosterior] = OrderedDict()
        self._shipped: dict[str, toy2d.ToyEpsilonMLP] = {}
        self._shipped_runs: OrderedDict[tuple, tuple] = OrderedDict()  # toy_sample answers of the shipped models
        self._gammas: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model → {(dataset, N, t, seed): Γ_t}

    def posterior(self, dataset: str, num_points: int) -> DatasetPosterior:
        """The exact reverse process over the first N points of a data set (a few kept, most recent first)."""
        key = (dataset, num_points)
        with self._lock:
            if key not in self._posteriors:
                points = toy2d.as_images(toy2d.load_points(dataset, num_points))
                self._posteriors[key] = DatasetPosterior(points, self.scheduler)
                while len(self._posteriors) > MAX_CACHED_POSTERIORS:
                    self._posteriors.popitem(last=False)
            self._posteriors.move_to_end(key)
            return self._posteriors[key]

    def gamma(self, model, dataset: str, num_points: int, posterior: DatasetPosterior, t: int, seed: int) -> float:
        """Γ_t of a model over the first N points (`toy2d.gamma`), kept per model: it does not depend on x_t or the
        stride, so clicks on the plane reuse it (a model's entries go with the model)."""
        key = (dataset, num_points, t, seed)
        with self._lock:
            kept = self._gammas.setdefault(model, OrderedDict())
            if key in kept:
                kept.move_to_end(key)
                return kept[key]
        value = toy2d.gamma(model, self.scheduler, toy2d.as_points(posterior.data), t, seed)
        with self._lock:
            kept[key] = value
            while len(kept) > MAX_CACHED_GAMMAS:
                kept.popitem(last=False)
        return value

    def model_for(self, state: dict | None, dataset: str) -> tuple[toy2d.ToyEpsilonMLP, dict]:
        """This session's trained p_θ for the data set if it trained one, else the shipped one; and what it is."""
        mine = (state or {}).get(dataset)
        if mine is not None:
            return mine["model"], {key: value for key, value in mine.items() if key != "model"}
        with self._lock:
            if dataset not in self._shipped:
                self._shipped[dataset] = toy2d.load_toy_model(dataset)
        return self._shipped[dataset], shipped_info(dataset)

    def shipped_run(self, key: tuple) -> tuple | None:
        """A shipped model's kept sampler answer for these inputs, or None."""
        with self._lock:
            return self._shipped_runs.get(key)

    def keep_shipped_run(self, key: tuple, answer: tuple) -> None:
        """Keep a shipped model's sampler answer (a seed fixes every point), the MAX_CACHED_RUNS most recent."""
        with self._lock:
            self._shipped_runs[key] = answer
            while len(self._shipped_runs) > MAX_CACHED_RUNS:
                self._shipped_runs.popitem(last=False)


def shipped_info(dataset: str) -> dict:
    """What the shipped p_θ of a data set is (without loading it)."""
    return {
        "source": SHIPPED,
        "dataset": dataset,
        "num_points": toy2d.DEFAULT_NUM_POINTS,
        "train_steps": toy2d.SHIPPED_TRAIN_STEPS,
        "seed": 0,
    }
