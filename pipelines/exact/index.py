"""Nearest training images through a FAISS index, for data sets that do not fit in memory.

`NeighbourIndex` answers what `neighbours.nearest_neighbours` answers (the k nearest items by L2 distance over all
values) for a shard set on disk (`pipelines.data.shards`) or a tensor, in parts: the data are split into
`num_parts` groups of shards, each part is its own FAISS index, and a search asks every part and merges their lists
(FAISS's sharded index, one part in memory at a time; the parts could as well live on K machines). Two kinds:

- `flat`: exact, brute force through BLAS (FAISS's knn / IndexFlatL2) over float32 values. Nothing is stored
  beyond the shards: a part is read from them when it is searched (held in memory when the whole set is at most
  HOLD_VALUES values).
- `ivf`: compressed, FAISS's IndexIVFScalarQuantizer with 8-bit direct codes (one byte per value, lossless for
  8-bit pixels) over `nlist` ≈ √n k-means cells, of which a search visits `nprobe`: approximate. Built once and cached
  beside the shards (`index/` in the shard folder), keyed by their content hash.

Every search re-ranks its candidates by the exact float64 distance (an exact copy is at distance exactly 0) and
measures its own recall@2 against brute force (`neighbours.nearest_neighbours`) on a sample of the queries: the
`SearchResult` carries it. Distances are L2, not squared, as in `neighbours.nearest_two`.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pipelines.checks import check_choice, check_int
from pipelines.data.record import content_hash
from pipelines.data.shards import ShardSet
from pipelines.data.sources import DataError
from pipelines.exact.neighbours import nearest_neighbours

KINDS = ("auto", "flat", "ivf")


# A flat index's parts stay in memory when the data hold at most this many values (float32: 1 GiB).
HOLD_VALUES = 1 << 28


# `auto` picks `flat` (exact) up to this many values N·D, `ivf` beyond (bench/bench_index.py measured both).
AUTO_FLAT_MAX_VALUES = 4 * 10**9


DEFAULT_RECALL_SAMPLE = 64  # queries whose neighbours are checked against brute force in every search


DEFAULT_NPROBE = 8  # ivf cells visited per query unless told: at least this many (at most nlist) …


NPROBE_FRACTION = 1 / 4  # … and this fraction of the cells


EXTRA_CANDIDATES = 2  # candidates beyond k fetched per query, for the exact re-ranking


KMEANS_ITERATIONS = 10  # k-means passes when an ivf part is trained (FAISS's default is 25: building cost most)


INDEX_FOLDER = "index"  # the cached compressed indexes, inside the shard folder


class _TensorSource:
    """A tensor (N, C, H, W) in the shape of a ShardSet's reading interface (one shard, in memory)."""

    def __init__(self, images: torch.Tensor):
        if not isinstance(images, torch.Tensor) or images.ndim < 2 or len(images) == 0:
            raise ValueError(f"data must be a non-empty tensor (N, …) or a ShardSet, got {type(images).__name__}")
        self.data = images.detach().float().cpu()
        self.image_shape = tuple(images.shape[1:])
        self.count, self.counts, self.starts = len(images), [len(images)], np.array([0, len(images)])
        self.num_shards, self.folder, self.source = 1, None, "a tensor"
        self.dim = int(np.prod(self.image_shape))
        self.content_hash = content_hash(self.data) if self.data.ndim == 4 else ""

    def __len__(self) -> int:
        return self.count

    def images(self, shard: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return self.data.to(dtype)

    def pixels(self, shard: int) -> np.ndarray:
        return ((self.data.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()

    def rows(self, indices, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return self.data[torch.as_tensor(indices, dtype=torch.int64)].to(dtype)


@dataclass
class SearchResult:
    """k nearest items per query: distances (B, k) float64, L2 (not squared), nearest first; indices (B, k) int64
    into the data; recall_at_2 (the fraction of the true two nearest found, on `recall_sample` queries, against
    brute force; None when not measured); the kind, the parts and the seconds the search took."""

    distances: torch.Tensor
    indices: torch.Tensor
    recall_at_2: float | None
    recall_sample: int
    kind: str
    num_parts: int
    seconds: float

    def summary(self) -> dict:
        """The numbers a report keeps beside its result."""
        return {
            "engine": f"faiss {self.kind}",
            "num_parts": self.num_parts,
            "recall_at_2": self.recall_at_2,
            "recall_sample": self.recall_sample,
            "search_seconds": self.seconds,
        }


def _faiss():
    import faiss

    return faiss


def _rows(queries, image_shape) -> torch.Tensor:
    """The queries as float64 rows (B, D), checked."""
    q = torch.as_tensor(queries)
    if q.ndim < 1 or tuple(q.shape[1:]) != tuple(image_shape) or len(q) == 0 or q.is_complex():
        raise ValueError(f"queries must have shape (B ≥ 1, {', '.join(map(str, image_shape))}), got {tuple(q.shape)}")
    rows = q.detach().reshape(len(q), -1).double().cpu()
    if not bool(torch.isfinite(rows).all()):
        raise ValueError("queries must hold finite values")
    return rows


def nlist_for(size: int) -> int:
    """k-means cells for an ivf part of `size` items: about √size, at least 1, at most size / 40."""
    return int(max(1, min(round(math.sqrt(size)), size // 40)))


def _merge(distances: list[np.ndarray], indices: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k smallest of several parts' (B, k_i) lists, ids already global."""
    d, i = np.concatenate(distances, 1), np.concatenate(indices, 1)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, order, 1), np.take_along_axis(i, order, 1)


class NeighbourIndex:
    """k-nearest search over data (a ShardSet or a tensor (N, C, H, W)), in `num_parts` parts (see the module doc).

    kind: "flat" (exact), "ivf" (compressed, approximate) or "auto" (flat up to AUTO_FLAT_MAX_VALUES values N·D).
    num_parts: 1 … number of shards (a tensor is one shard: 1). nprobe (ivf): cells visited per query, 1 … nlist
    (default: a fraction of each part's cells, `part_nprobe`).
    rebuild: a cached ivf index whose content hash is not the data's is rebuilt (True) or refused (False)."""

    def __init__(self, data, kind: str = "auto", num_parts: int = 1, nprobe: int | None = None, rebuild: bool = True):
        self.source = data if isinstance(data, ShardSet) else _TensorSource(data)
        kind = check_choice("kind", kind, KINDS)
        values = len(self.source) * self.source.dim
        self.kind = ("flat" if values <= AUTO_FLAT_MAX_VALUES else "ivf") if kind == "auto" else kind
        self.num_parts = check_int("num_parts", num_parts, 1, self.source.num_shards, meaning=" (at most the shards)")
        bounds = np.linspace(0, self.source.num_shards, self.num_parts + 1).round().astype(int)
        self.part_shards = [list(range(bounds[p], bounds[p + 1])) for p in range(self.num_parts)]
        self.part_starts = [int(self.source.starts[shards[0]]) for shards in self.part_shards]
        self._held: list | None = None
        self.cache = "none: the shards are its storage" if self.kind == "flat" else ""
        self.build_seconds = 0.0
        start = time.perf_counter()
        if self.kind == "flat" and values <= HOLD_VALUES:
            self._held = [self._flat_part(p) for p in range(self.num_parts)]
        elif self.kind == "ivf":
            self._ivf_files = self._build_or_load_ivf(rebuild)
            if nprobe is not None:
                check_int("nprobe", nprobe, 1, max(self.nlists), meaning=" (the index's cells per part)")
            self.nprobe = nprobe  # None: a fraction of each part's cells (a smaller one lost recall in the bench)
        self.build_seconds = time.perf_counter() - start

    def __len__(self) -> int:
        return len(self.source)

    def __repr__(self) -> str:
        return f"NeighbourIndex({self.kind}, N={len(self):,}, parts={self.num_parts})"

    # ------------------------------------------------------------------ parts
    def _part_images(self, part: int) -> np.ndarray:
        """A part's images as float32 rows (n, D) in [-1, 1]."""
        chunks = [self.source.images(s).reshape(self.source.counts[s], -1) for s in self.part_shards[part]]
        return np.ascontiguousarray((chunks[0] if len(chunks) == 1 else torch.cat(chunks)).numpy())

    def _flat_part(self, part: int):
        index = _faiss().IndexFlatL2(self.source.dim)
        index.add(self._part_images(part))
        return index

    def _search_part(self, part: int, rows: np.ndarray, k: int, images) -> tuple[np.ndarray, np.ndarray]:
        """(squared distances in model space, global ids), each (B, k), of one part (images: its rows, when read)."""
        faiss = _faiss()
        if self.kind == "ivf":
            index = faiss.read_index(str(self._ivf_files[part]))
            index.nprobe = self.part_nprobe(part)
            sq, ids = index.search((rows + 1.0) * 127.5, k)  # the codes are 8-bit pixels
            sq = sq / 127.5**2
        elif self._held is not None:
            sq, ids = self._held[part].search(rows, k)
        else:
            sq, ids = faiss.knn(rows, self._part_images(part) if images is None else images, k)
        ids = np.where(ids < 0, -1, ids + self.part_starts[part])
        return np.where(ids < 0, np.inf, sq), ids

    # ------------------------------------------------------------------ ivf: build, cache, load
    @property
    def nlists(self) -> list[int]:
        """k-means cells of each ivf part (`nlist_for` its size)."""
        return [nlist_for(self._part_size(p)) for p in range(self.num_parts)]

    def part_nprobe(self, part: int) -> int:
        """Cells a search visits in `part`: nprobe (at most its cells), or by default nlist · NPROBE_FRACTION
        rounded up, at least DEFAULT_NPROBE, at most nlist."""
        nlist = self.nlists[part]
        if self.nprobe is not None:
            return min(self.nprobe, nlist)
        return min(nlist, max(DEFAULT_NPROBE, math.ceil(nlist * NPROBE_FRACTION)))

    @property
    def nlist(self) -> int:
        """The most cells of any part."""
        return max(self.nlists)

    def _meta(self) -> dict:
        return {
            "kind": "ivf",
            "content_hash": self.source.content_hash,
            "source": self.source.source,
            "count": len(self),
            "num_parts": self.num_parts,
            "nlists": self.nlists,
        }

    def _build_or_load_ivf(self, rebuild: bool) -> list[Path]:
        if self.source.folder is None:
            raise ValueError("kind 'ivf' needs a ShardSet (its index is cached beside the shards), got a tensor")
        folder = self.source.folder / INDEX_FOLDER
        meta_path = folder / f"ivf-{self.num_parts}parts.json"
        files = [folder / f"ivf-part{p}of{self.num_parts}.faiss" for p in range(self.num_parts)]
        changed = False
        if meta_path.is_file():
            meta = json.loads(meta_path.read_text())
            if meta == self._meta() and all(f.is_file() for f in files):
                self.cache = f"loaded from {folder}"
                return files
            changed = meta.get("content_hash") != self.source.content_hash
            if changed and not rebuild:
                raise DataError(
                    f"index {str(meta_path)!r} was built for other data ({meta.get('source')!r}, "
                    f"{str(meta.get('content_hash'))[:19]}…), not these shards ({self.source.content_hash[:19]}…): "
                    "rebuild it (rebuild=True, or --rebuild_index)"
                )
        self.cache = f"built into {folder}" + (" (the cached one was for other data)" if changed else "")
        for part, path in enumerate(files):
            _write_atomic(path, self._train_ivf(part))
        _write_text_atomic(meta_path, json.dumps(self._meta(), indent=1) + "\n")
        return files

    def _train_ivf(self, part: int):
        faiss = _faiss()
        pixels = self._part_images(part)
        pixels += 1.0
        pixels *= 127.5
        quantizer = faiss.IndexFlatL2(self.source.dim)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, self.source.dim, self.nlists[part], faiss.ScalarQuantizer.QT_8bit_direct, faiss.METRIC_L2
        )
        index.cp.niter = KMEANS_ITERATIONS
        index.by_residual = False  # the codes are the pixels themselves, not residuals (which 8-bit codes clip)
        rng = np.random.default_rng(0)
        train = pixels[np.sort(rng.choice(len(pixels), min(len(pixels), 40 * self.nlists[part]), replace=False))]
        index.train(train)
        index.add(pixels)
        return index

    # ------------------------------------------------------------------ search
    def search(self, queries: torch.Tensor, k: int = 2, recall_sample: int = DEFAULT_RECALL_SAMPLE) -> SearchResult:
        """The k nearest items (1 ≤ k ≤ N) of each query (B, C, H, W): a SearchResult, nearest first, re-ranked by
        the exact float64 distance. recall_sample: queries (≥ 0, at most B are used, evenly spaced) whose two
        nearest are checked against brute force; 0 skips the check."""
        start = time.perf_counter()
        rows_d = _rows(queries, self.source.image_shape)
        rows = np.ascontiguousarray(rows_d.float().numpy())
        k = check_int("k", k, 1, len(self), meaning=" (at most the data's items)")
        recall_sample = min(check_int("recall_sample", recall_sample, 0, meaning=" (queries checked)"), len(rows))
        fetch = min(len(self), k + EXTRA_CANDIDATES)
        picked = np.unique(np.linspace(0, len(rows) - 1, recall_sample).round().astype(int)) if recall_sample else []
        found, truth = [], []
        for part in range(self.num_parts):  # one part in memory at a time; its rows read once for both searches
            streamed = self.kind == "flat" and self._held is None
            images = self._part_images(part) if streamed or len(picked) else None
            found.append(self._search_part(part, rows, min(fetch, self._part_size(part)), images))
            if len(picked):
                truth.append(self._brute_force_two(rows_d[torch.from_numpy(picked)], images, part))
        _, ids = _merge([f[0] for f in found], [f[1] for f in found], fetch)
        distances, indices = self._rerank(rows_d, ids, k)
        recall = None
        if len(picked):
            _, true_ids = _merge([t[0] for t in truth], [t[1] for t in truth], min(2, len(self)))
            recall = _recall(indices[torch.from_numpy(picked)], true_ids)
        return SearchResult(
            distances, indices, recall, len(picked), self.kind, self.num_parts, time.perf_counter() - start
        )

    def _brute_force_two(self, q: torch.Tensor, images: np.ndarray, part: int) -> tuple[np.ndarray, np.ndarray]:
        """The reference: `neighbours.nearest_neighbours` (float64, brute force) of queries q in one part's images,
        (distances, global ids), each (len(q), ≤ 2)."""
        distances, ids, offset = [], [], 0
        for shard in self.part_shards[part]:  # shard by shard: its float64 copy is the largest temporary
            rows = torch.from_numpy(images[offset : offset + self.source.counts[shard]])
            d, i = nearest_neighbours(q, rows, k=min(2, len(rows)), chunk_size=len(rows))
            distances.append(d.numpy())
            ids.append((i + self.part_starts[part] + offset).numpy())
            offset += len(rows)
        return _merge(distances, ids, 2)

    def _part_size(self, part: int) -> int:
        return sum(self.source.counts[s] for s in self.part_shards[part])

    def _rerank(self, rows_d: torch.Tensor, ids: np.ndarray, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The candidates' exact float64 distances, sorted, the first k (a missing candidate, id −1, is last)."""
        index = torch.from_numpy(ids.astype(np.int64))
        valid = index >= 0
        candidates = self.source.rows(index.clamp_min(0), torch.float64).reshape(*index.shape, -1)
        distances = (rows_d.unsqueeze(1) - candidates).norm(dim=2).masked_fill(~valid, math.inf)
        order = distances.argsort(dim=1, stable=True)[:, :k]
        return distances.gather(1, order), index.gather(1, order)

    def nearest_two(self, queries: torch.Tensor, recall_sample: int = DEFAULT_RECALL_SAMPLE):
        """(d1 (B,), d2 (B,), nearest index (B,), SearchResult): `neighbours.nearest_two` through the index."""
        if len(self) < 2:
            raise ValueError(f"reference must hold at least 2 items for a second-nearest distance, got {len(self)}")
        result = self.search(queries, 2, recall_sample)
        return result.distances[:, 0], result.distances[:, 1], result.indices[:, 0], result


def _recall(found: torch.Tensor, truth: np.ndarray) -> float:
    """recall@2: the fraction of the true two nearest (truth, (S, 2)) among the found ones (found, (S, ≥ 2))."""
    k = truth.shape[1]
    hits = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(found[:, :k], truth))
    return hits / truth.size


def _write_atomic(path: Path, index) -> None:
    """faiss.write_index to a temporary name, then rename: a full disk leaves the old file and names the path."""
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _faiss().write_index(index, str(tmp))
        os.replace(tmp, path)
    except (OSError, RuntimeError) as error:  # faiss reports a failed write as a RuntimeError
        tmp.unlink(missing_ok=True)
        raise DataError(f"index {str(path)!r} could not be written ({str(error).splitlines()[0][:200]})") from None


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise DataError(f"index {str(path)!r} could not be written ({error.strerror or error})") from None


# The search's measured cost (bench/bench_index.py, 2 cores, 1,000 queries of 3×32×32 per search, without the recall
# check; bench/results/index.json and index-1e6.json): milliseconds per query. A copy here, so that the app (which
# ships without bench/) can draw it; tests/exact/test_index_costs.py checks it against the files.
MEASURED_INDEX_COSTS = (
    {"N": 10_000, "D": 3072, "kind": "flat", "ms_per_query": 2.9961127639999177},
    {"N": 10_000, "D": 3072, "kind": "ivf", "ms_per_query": 1.9223769069999435},
    {"N": 100_000, "D": 3072, "kind": "flat", "ms_per_query": 38.568649322000056},
    {"N": 100_000, "D": 3072, "kind": "ivf", "ms_per_query": 10.783356427999934},
    {"N": 1_000_000, "D": 3072, "kind": "flat", "ms_per_query": 119.12155388300016},
    {"N": 1_000_000, "D": 3072, "kind": "ivf", "ms_per_query": 44.85471372399934},
)
MEASURED_INDEX_BATCH = 1000  # queries per search in that measurement


def index_costs_from_bench(paths) -> list[dict]:
    """MEASURED_INDEX_COSTS's rows read from bench/results/index*.json files (for the check that the copy holds)."""
    rows = []
    for path in paths:
        result = json.loads(Path(path).read_text())
        queries = int(result["settings"]["queries"])
        dim = int(np.prod(result["settings"]["shape"]))
        for row in result["results"]:
            for kind, numbers in row["kinds"].items():
                ms = numbers["query_without_recall_check_s"] * 1e3 / queries
                rows.append({"N": int(row["N"]), "D": dim, "kind": kind, "ms_per_query": ms})
    return sorted(rows, key=lambda r: (r["N"], r["kind"]))
