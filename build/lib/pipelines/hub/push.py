"""Pushing a trained model folder to the Hub: the repo id and token checks, the files a model folder uploads
(MODEL_FILES), and one commit (`commit_files`, which the Space deploy uses too).

The token comes from --token, else HF_TOKEN, else the login file (`hf auth login`). It is passed to
huggingface_hub only: never printed, logged or written, and a push refuses files that contain it.

The model card is pipelines.hub.card's (a person's README.md is kept; `--regenerate-card` always regenerates).
"""

from __future__ import annotations

import os
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Iterable

from pipelines.data.record import BUNDLE_FILE, RECORD_FILE
from pipelines.ddpm.optimal_variance import GAMMA_FILE
from pipelines.hub.card import (
    SAMPLE_GRID,
    _check_folder,
    model_card_files,
)
from pipelines.hub.errors import HubError, endpoint, hub_errors

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
    GAMMA_FILE,  # Γ_t for variance_type="analytic" (pipelines.ddpm.gamma)
    RECORD_FILE,  # what it was trained on (pipelines.data.record); stock diffusers ignores it
    BUNDLE_FILE,  # its training images, when a Space or a pull needs them (deploy-space --model writes one)
    "memorization*.json",  # the memorization report (pipelines.evaluation.memorization) and its picture
    "memorization*.png",
    "README.md",
    SAMPLE_GRID,
)


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


def select_files(folder: Path, patterns: Iterable[str]) -> dict[str, Path]:
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


def commit_files(
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
    files: dict[str, bytes | Path] = dict(select_files(folder, MODEL_FILES))
    files.pop(SAMPLE_GRID, None)
    # Cheap refusals first, before a card's sample grid is drawn: a leaked token, a token the Hub rejects.
    _refuse_token_in(files, token)
    check_token(token, hub_model_id)
    files.update(model_card_files(folder, hub_model_id, regenerate=regenerate_card))
    commit_files(hub_model_id, files, token, private, "model", commit_message)
    return f"{endpoint()}/{hub_model_id}"
