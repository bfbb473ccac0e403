"""The Hub's failures as one-line errors: `HubError` (and `HubNotFoundError` for a 404), and `hub_errors`, which
turns huggingface_hub's exceptions into them (most specific first, the token never shown). Shared by the loader
(`pipelines.hub.loading.load_pipeline`) and the Hub commands (pipelines.hub.cli)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pipelines.checks import first_line


class HubError(ValueError):
    """A Hub operation that cannot be done; the message is one line that says why and what to do."""


class HubNotFoundError(HubError):
    """The repo (or revision, or file) does not exist, or the token cannot see it (404)."""


def endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def token_source(token: str | None) -> str:
    """Where a token came from, for error messages (never the token itself)."""
    from huggingface_hub import constants

    if not token:
        return ""
    if token in (os.environ.get("HF_TOKEN"), os.environ.get("HUGGING_FACE_HUB_TOKEN")):
        return " from HF_TOKEN"
    try:
        if Path(constants.HF_TOKEN_PATH).read_text().strip() == token:
            return " from the login file"
    except OSError:
        pass
    return " given on the command line"


def redact(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def _network_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module in ("httpx2", "httpx"):  # huggingface_hub 2.x talks through httpx2; diffusers through httpx
        try:
            errors.append(__import__(module).TransportError)
        except (ImportError, AttributeError):
            pass
    return tuple(errors)


@contextmanager
def hub_errors(action: str, repo_id: str, token: str | None = None, kind: str = "model repo") -> Iterator[None]:
    """Turn huggingface_hub's exceptions into one-line HubErrors (most specific first). The token is redacted."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        yield
    except HubError:
        raise
    except OfflineModeIsEnabled:
        raise HubError(f"HF_HUB_OFFLINE=1 forbids Hub access: unset it to {action} {repo_id}") from None
    except GatedRepoError:
        raise HubError(
            f"{kind} {repo_id} is gated: accept its conditions on the Hub with the account of your token"
        ) from None
    except RevisionNotFoundError:
        raise HubNotFoundError(f"{kind} {repo_id}: revision not found (404)") from None
    except RemoteEntryNotFoundError:
        raise HubNotFoundError(f"{kind} {repo_id}: a file it needs is missing (404)") from None
    except RepositoryNotFoundError:
        raise HubNotFoundError(
            f"{kind} {repo_id} not found on {endpoint()} (404): check the id; a private repo "
            "also needs a token with access (--token, HF_TOKEN or `hf auth login`)"
        ) from None
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else None
        if status == 401:
            raise HubError(
                f"the Hub rejected the token{token_source(token)} (401 Unauthorized): check the token "
                "you pass, HF_TOKEN or `hf auth login`"
            ) from None
        if status == 403:
            raise HubError(
                f"the token may not {action} {repo_id} (403 Forbidden): it needs write access to "
                f"{repo_id.split('/')[0]!r}"
            ) from None
        detail = redact(error.server_message or first_line(error), token)
        raise HubError(f"the Hub answered {status} to {action} {repo_id}: {detail}") from None
    except _network_errors() as error:
        raise HubError(
            f"could not reach the Hub at {endpoint()} to {action} {repo_id} "
            f"({type(error).__name__}): check the connection or HF_ENDPOINT"
        ) from None
