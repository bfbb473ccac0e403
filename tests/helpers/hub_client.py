"""Runs Hub-client jobs for tests/hub/test_hub.py in ONE fresh process, so huggingface_hub is imported with HF_ENDPOINT
pointing at the local test hub (it reads the endpoint at import) and torch/diffusers are imported once.

    HF_ENDPOINT=http://127.0.0.1:PORT python tests/helpers/hub_client.py JOBS.json RESULTS.json

JOBS.json is a list of {"name": ..., <one of the ops below>}; RESULTS.json maps each name to its result.
  {"cli": [argv…], "env": {VAR: value or null}}  pipelines.hub.cli.main(argv) with that environment; stdout and stderr
                                                  are captured at the file-descriptor level → {"rc", "out", "err"}
  {"pull": REPO_ID, "local": DIR, "steps": K, "seed": S, "save": FILE.npz}
        images (output_type="np") from PosteriorDDPMPipeline.from_pretrained(REPO_ID), from the local DIR, and from
        stock diffusers DDPMPipeline.from_pretrained(REPO_ID), same seed → saved as hub / local / stock arrays; and
        with variance_type="analytic" (σ*) from the repo and the folder → hub_analytic / local_analytic, or the
        error in "analytic_error" when the repo has no Γ_t table
  {"card": REPO_ID}                               ModelCard.load(REPO_ID) → {"data": metadata dict, "text": body}
An exception is recorded as {"error": traceback} instead of stopping the other jobs.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from contextlib import contextmanager


@contextmanager
def captured_fds():
    """Redirect fds 1 and 2 (so tqdm, logging and C-level writes are caught too); yields a dict filled on exit."""
    box: dict[str, str] = {}
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            yield box
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            out.seek(0)
            err.seek(0)
            box["out"] = out.read().decode("utf-8", "replace")
            box["err"] = err.read().decode("utf-8", "replace")


@contextmanager
def environment(changes: dict[str, str | None]):
    old = {k: os.environ.get(k) for k in changes}
    try:
        for key, value in changes.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_cli(job: dict) -> dict:
    from pipelines.hub.cli import main

    with environment(job.get("env", {})), captured_fds() as box:
        try:
            rc = main(job["cli"])
        except SystemExit as exit_:  # argparse
            rc = exit_.code
    return {"rc": rc, **box}


def run_pull(job: dict) -> dict:
    import numpy as np
    import torch
    from diffusers import DDPMPipeline

    from pipelines import PosteriorDDPMPipeline

    def draw(pipe, **options):
        pipe.set_progress_bar_config(disable=True)
        return pipe(
            batch_size=2,
            generator=torch.Generator().manual_seed(job["seed"]),
            num_inference_steps=job["steps"],
            output_type="np",
            **options,
        ).images

    hub_pipe = PosteriorDDPMPipeline.from_pretrained(job["pull"])
    local_pipe = PosteriorDDPMPipeline.from_pretrained(job["local"])
    stock_pipe = DDPMPipeline.from_pretrained(job["pull"])
    arrays = {"hub": draw(hub_pipe), "local": draw(local_pipe), "stock": draw(stock_pipe)}
    result = {"saved": job["save"]}
    try:  # σ* (variance_type="analytic") needs the repo's Γ_t table
        arrays["hub_analytic"] = draw(hub_pipe, variance_type="analytic")
        arrays["local_analytic"] = draw(local_pipe, variance_type="analytic")
    except ValueError as error:
        result["analytic_error"] = str(error)
    np.savez(job["save"], **arrays)
    return result


def run_card(job: dict) -> dict:
    from huggingface_hub import ModelCard

    card = ModelCard.load(job["card"])
    return {"data": card.data.to_dict(), "text": card.text}


def main() -> None:
    jobs_path, results_path = sys.argv[1], sys.argv[2]
    with open(jobs_path) as f:
        jobs = json.load(f)
    results = {}
    for job in jobs:
        try:
            if "cli" in job:
                results[job["name"]] = run_cli(job)
            elif "pull" in job:
                results[job["name"]] = run_pull(job)
            else:
                results[job["name"]] = run_card(job)
        except Exception:
            results[job["name"]] = {"error": traceback.format_exc()}
    with open(results_path, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
