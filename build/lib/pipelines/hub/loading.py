"""TODO."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pipelines.checks import first_line
from pipelines.ddpm.pipeline import (
    ModelFolderError,
    PosteriorDDPMPipeline,
    check_model_folder,
    check_pipeline_layout,
    read_json_object,
)


# ---------------------------------------------------------------------------------------------- loading
def _check_remote(repo_id: str, revision: str | None, token) -> None:
    """The Hub repo holds a DDPM pipeline (`check_pipeline_layout`, on its file list and small JSON files only)."""
    from huggingface_hub import HfApi, hf_hub_download

    from pipelines.hub.errors import HubError, hub_errors

    api = HfApi()
    with hub_errors("load", repo_id, token if isinstance(token, str) else None):
        info = api.model_info(repo_id, revision=revision, token=token)
        files = [s.rfilename for s in info.siblings or []]

        def read(name: str) -> dict:
            # The same cache diffusers downloads into: these small files are not fetched twice.
            path = hf_hub_download(repo_id, name, revision=info.sha, token=token)
            return read_json_object(Path(path))

        try:
            check_pipeline_layout(files, read, f"model repo {repo_id}")
        except ModelFolderError as error:
            raise HubError(str(error)) from None


def load_pipeline(path_or_repo_id: str | os.PathLike, **kwargs):
    """Load a DDPM pipeline from a local folder or a Hub repo id (USER/NAME) as a `PosteriorDDPMPipeline`, safely.

    kwargs go to `PosteriorDDPMPipeline.from_pretrained` (torch_dtype, revision, token, cache_dir, …). Any stock
    diffusers DDPM folder/repo works (e.g. google/ddpm-cifar10-32: RGB 32×32). Raises HubError, one line, for a
    missing folder or repo (404), a rejected token (401), a repo with only pickle weights (refused, never
    unpickled), or anything that is not an unconditional UNet2DModel DDPM pipeline."""
    from huggingface_hub import constants, try_to_load_from_cache

    from pipelines.hub.errors import HubError, HubNotFoundError, hub_errors, redact

    target = os.fspath(path_or_repo_id)
    if not target.strip():  # Path("") is the current folder: never load that by accident
        raise HubError(f"model must be a model folder or a Hub repo id (USER/NAME), got {target!r}")
    local = Path(target)
    if local.exists():
        try:
            check_model_folder(local)
        except ModelFolderError as error:
            raise HubError(str(error)) from None
    elif re.fullmatch(r"[\w.-]+/[\w.-]+", target) and not target.startswith("."):
        if constants.is_offline_mode() or kwargs.get("local_files_only"):
            # The Hub cannot be asked: diffusers loads from its cache, still safetensors only (from_pretrained
            # forces use_safetensors=True).
            cached = try_to_load_from_cache(
                target, "model_index.json", cache_dir=kwargs.get("cache_dir"), revision=kwargs.get("revision")
            )
            if not isinstance(cached, str):
                raise HubNotFoundError(
                    f"no folder {target!r}, and no cached copy of the Hub repo {target} "
                    "(offline: HF_HUB_OFFLINE=1 or local_files_only)"
                )
        else:
            try:
                _check_remote(target, kwargs.get("revision"), kwargs.get("token"))
            except HubNotFoundError as error:
                raise HubNotFoundError(f"no folder {target!r}, and {error}") from None
    else:
        raise HubError(f"model {target!r}: no such folder (and not a Hub id of the form USER/NAME)")

    token = kwargs.get("token")
    with hub_errors("load", target, token if isinstance(token, str) else None):
        try:
            return PosteriorDDPMPipeline.from_pretrained(target, **kwargs)
        except (OSError, ValueError) as error:
            from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

            if isinstance(error, (HfHubHTTPError, OfflineModeIsEnabled, HubError)):
                raise
            text = redact(first_line(error), token)  # our loader's messages already start with the path
            raise HubError(text if text.startswith(target) else f"could not load {target!r}: {text}") from None
