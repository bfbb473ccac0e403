"""The app's temporary files, bounded: per-run folders (`RunStore`) and gradio's cache of served files
(`ServedFiles`), deleted oldest first so a busy server's temporary files stay under a size bound."""

from __future__ import annotations

import atexit
import heapq
import math
import os
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import gradio as gr

RUN_MAX_AGE_S = 3600  # per-run folders (recorded steps, GIF, PNG) older than this are deleted …
DEFAULT_MAX_TEMP_MB = 1024  # … and a size bound on all temporary files (half runs, half served files)


class RunStore:
    """Per-run folders under gradio's cache folder, deleted by age and total size so they never pile up.

    Each /sample run writes its recorded steps, GIF and PNG into its own folder; folders of runs still in
    progress are never deleted. Gradio copies every file it serves (each streamed frame, each result) into its
    own cache and `delete_cache` removes them only by age; `served` (a ServedFiles, set by build_demo) lets
    `prune` bound their total size as well, so the temporary files of a busy server stay under
    `max_bytes + max_served_bytes` whatever the traffic."""

    def __init__(
        self,
        root: Path | None = None,
        max_age_s: float = RUN_MAX_AGE_S,
        max_bytes: int = DEFAULT_MAX_TEMP_MB << 19,
        max_served_bytes: int = DEFAULT_MAX_TEMP_MB << 19,
    ):
        base = Path(gr.utils.get_upload_folder()) / "ddpm-demo"
        self.root = root or base / f"runs-{os.getpid()}"
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self.max_served_bytes = max_served_bytes
        self.served: ServedFiles | None = None  # set by build_demo
        self._active: set[Path] = set()
        self._lock = threading.Lock()
        if root is None:
            _remove_dead_siblings(base, self.root)
            atexit.register(shutil.rmtree, self.root, True)

    @contextmanager
    def run(self) -> Iterator[Path]:
        """A fresh folder for one run; protected from pruning until the run ends."""
        self.prune()
        folder = Path(tempfile.mkdtemp(prefix="run-", dir=self.root))
        with self._lock:
            self._active.add(folder)
        try:
            yield folder
        finally:
            with self._lock:
                self._active.discard(folder)

    def prune(self) -> None:
        """Delete finished runs older than max_age_s, then the oldest until the total is under max_bytes."""
        with self._lock:
            active = set(self._active)
        runs = []
        for folder in self.root.glob("run-*"):
            try:
                size = sum(f.stat().st_size for f in folder.iterdir())
                runs.append((folder.stat().st_mtime, size, folder))
            except OSError:
                continue  # deleted by a concurrent prune
        runs.sort()
        total = sum(size for _, size, _ in runs)
        now = time.time()
        for mtime, size, folder in runs:
            if folder in active:
                continue
            if now - mtime > self.max_age_s or total > self.max_bytes:
                shutil.rmtree(folder, ignore_errors=True)
                total -= size
        if self.served is not None:
            self.served.prune()


class ServedFiles:
    """Gradio's cache folder kept under `max_bytes`: the oldest files are deleted first.

    Gradio writes each image it sends (every streamed frame, every gallery image) into a folder of its own under
    its cache, and tracks only some of them for its age-based `delete_cache`: so the app bounds the cache itself.
    Never deleted: the folder `keep` (the run store, bounded on its own) and the components' `keep_in_cache` files
    (their initial values, e.g. the digit gallery).

    `prune` runs on every request, so it must not walk the whole cache (4,000 cached files took 0.5 s a request,
    bench_streaming.py): the index is incremental. Each prune lists the cache's top level (one scandir, no stat
    per entry), reads only the folders it has not seen, and drops the ones that vanished; a full rescan every
    RESCAN_S seconds also catches files added to or removed from folders it knows. A prune already running in
    another thread is not waited for."""

    RESCAN_S = 300.0

    def __init__(self, blocks: gr.Blocks, max_bytes: int, keep: Path):
        self.blocks = blocks
        self.max_bytes = max_bytes
        self.cache = os.path.realpath(gr.utils.get_upload_folder())
        keep = os.path.realpath(keep)
        self.keep_name = os.path.basename(keep) if os.path.dirname(keep) == self.cache else None
        self._folders: dict[str, tuple[int, int, list[str]]] = {}  # name → (generation, bytes, its files)
        self._oldest: list[tuple[float, int, str]] = []  # heap of (mtime, generation, name)
        self._kept: set[str] = set()
        self._total = 0
        self._generation = 0
        self._last_rescan = -math.inf
        self._lock = threading.Lock()

    @property
    def total_bytes(self) -> int:
        """The bytes of the cached files the index knows (after the last prune)."""
        return self._total

    def prune(self) -> None:
        """Update the index, then delete the oldest folders' files until the total is at most max_bytes."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._update()
            while self._total > self.max_bytes and self._oldest:
                _, generation, name = heapq.heappop(self._oldest)
                entry = self._folders.get(name)
                if entry is None or entry[0] != generation:
                    continue  # vanished or re-indexed since it was pushed
                del self._folders[name]
                self._total -= entry[1]
                for path in entry[2]:
                    try:
                        os.remove(path)
                    except OSError:
                        pass  # already gone
                try:
                    os.rmdir(os.path.join(self.cache, name))  # once empty (a kept file stays)
                except OSError:
                    pass
        finally:
            self._lock.release()

    def _update(self) -> None:
        now = time.monotonic()
        if now - self._last_rescan >= self.RESCAN_S:
            self._last_rescan = now
            self._folders.clear()
            self._oldest.clear()
            self._total = 0
            self._kept = {
                os.path.realpath(path)
                for component in self.blocks.blocks.values()
                for path in getattr(component, "keep_in_cache", ())
            }
        try:
            names = {entry.name for entry in os.scandir(self.cache) if entry.is_dir(follow_symlinks=False)}
        except OSError:
            return
        names.discard(self.keep_name)
        for name in self._folders.keys() - names:  # deleted by gradio's delete_cache, or by hand
            self._total -= self._folders.pop(name)[1]
        for name in names - self._folders.keys():
            self._index(name)

    def _index(self, name: str) -> None:
        files, size, newest = [], 0, 0.0
        try:
            for entry in os.scandir(os.path.join(self.cache, name)):
                if entry.is_file(follow_symlinks=False) and entry.path not in self._kept:
                    stat = entry.stat(follow_symlinks=False)
                    files.append(entry.path)
                    size += stat.st_size
                    newest = max(newest, stat.st_mtime)
        except OSError:
            return  # deleted meanwhile
        if not files:
            return  # being written right now (gradio makes the folder, then the file), or kept files only: next time
        self._generation += 1
        self._folders[name] = (self._generation, size, files)
        self._total += size
        heapq.heappush(self._oldest, (newest, self._generation, name))


def _remove_dead_siblings(base: Path, own: Path) -> None:
    """Run folders left by app processes that no longer exist (killed before their atexit ran)."""
    for folder in base.glob("runs-*"):
        try:
            pid = int(folder.name.split("-", 1)[1])
        except ValueError:
            continue
        if folder == own:
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass  # alive but not ours
