"""ui/files.py: the app's temporary files stay bounded — run folders by size and age (never a run in progress),
gradio's cache of served files by size, oldest first, sparing the files components keep."""

import gradio as gr

from ui.files import RunStore, ServedFiles


def test_run_folders_are_deleted_by_size_and_age_but_never_while_running(tmp_path):
    import os
    import time

    store = RunStore(root=tmp_path / "runs", max_age_s=3600, max_bytes=1500)
    with store.run() as running:
        (running / "a.npy").write_bytes(b"x" * 1000)
        with store.run() as second:
            (second / "b.npy").write_bytes(b"x" * 1000)
        os.utime(second, (time.time() - 10, time.time() - 10))
        os.utime(running, (time.time() - 20, time.time() - 20))  # the oldest, but still running
        with store.run() as third:
            assert running.exists() and not second.exists()  # over 1500 bytes: oldest finished run goes
        (third / "c.npy").write_bytes(b"x" * 10)
        os.utime(third, (time.time() - 7200, time.time() - 7200))
        store.prune()
        assert not third.exists() and running.exists()  # older than max_age_s goes too
    store.prune()
    assert running.exists()  # 1000 bytes, young: kept


def test_served_files_are_bounded_oldest_first_sparing_kept_files(tmp_path, monkeypatch):
    """gradio's cache under a byte budget: the oldest folders go first; the run store and the components'
    keep_in_cache files (e.g. the digit gallery) are never deleted; folders deleted by others leave the count."""
    import os
    import time
    from types import SimpleNamespace

    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setattr(gr.utils, "get_upload_folder", lambda: str(cache))
    now = time.time()

    def cached(name, size, age):
        folder = cache / name
        folder.mkdir()
        path = folder / "image.png"
        path.write_bytes(b"x" * size)
        os.utime(path, (now - age, now - age))
        return path

    files = [cached(f"h{i}", 1000, age=100 - i) for i in range(6)]  # h0 oldest … h5 newest
    kept = cached("gallery", 1000, age=1000)  # the oldest of all, but a component keeps it
    store = cache / "ddpm-demo"
    store.mkdir()
    (store / "run.npy").write_bytes(b"x" * 5000)
    blocks = SimpleNamespace(blocks={1: SimpleNamespace(keep_in_cache={str(kept)}), 2: SimpleNamespace()})
    served = ServedFiles(blocks, max_bytes=3500, keep=store)

    served.prune()
    assert [f.exists() for f in files] == [False, False, False, True, True, True]
    assert not (cache / "h0").exists()  # the emptied folder goes too
    assert kept.exists() and (store / "run.npy").exists()
    assert served.total_bytes == 3000

    new = cached("h6", 1000, age=0)  # a request later: one more file, the oldest left goes
    served.prune()
    assert not files[3].exists() and files[4].exists() and new.exists() and served.total_bytes == 3000
    os.remove(files[4])
    os.rmdir(files[4].parent)  # gradio's own delete_cache removed one
    served.prune()
    assert served.total_bytes == 2000 and files[5].exists() and new.exists()
