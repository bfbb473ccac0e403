"""The Hub workflow end to end against a local Hub-compatible HTTP endpoint (tests/helpers/hub_server.py), offline.

huggingface_hub reads HF_ENDPOINT when it is imported, and other test modules may import it first in this
process, so everything that talks to the endpoint runs in fresh processes started with HF_ENDPOINT set:
`train.py --push_to_hub`, one real `python -m pipelines.hub` CLI, and tests/helpers/hub_client.py, which runs the other
CLI calls, pulls and card loads in one process (one torch import). Checks that need no network run in-process.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers.hub_server import FakeHub
from helpers.tiny import save_tiny_pipeline as _save_tiny

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = ROOT / "models" / "ddpm-mnist"
SENTINEL = "hf_SENTINELtoken0123456789abcdefXYZ"  # the tester's token: must never be seen anywhere
WRONG = "hf_WRONGtoken9876543210zyxwvutsrqABC"  # a token the hub does not know: 401, and never seen either
PIPELINE_FILES = {
    "model_index.json",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "scheduler/scheduler_config.json",
}
TRAIN_COMMAND = "accelerate launch train.py --dataset mnist --max_train_steps 10 --output_dir tiny"


def save_tiny_pipeline(path: Path, seed: int = 0) -> Path:
    """A stock diffusers DDPM folder (8×8), as a model on the Hub is written."""
    return _save_tiny(path, sample_size=8, seed=seed, stock=True)


def png(size=(20, 20), color=128) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def one_error_line(result: dict) -> str:
    """The CLI's contract for errors: exit status 1 and exactly one line on stderr, no traceback."""
    assert result.get("rc") == 1, result
    lines = [line for line in result["err"].splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("pipelines.hub: error: "), result["err"]
    return lines[0]


def client_env(hub: FakeHub, home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "TRANSFORMERS_OFFLINE")
    }
    env.update(
        HF_ENDPOINT=hub.url,
        HF_HUB_DISABLE_XET="1",
        HF_HUB_OFFLINE="0",
        HF_HOME=str(home),
        HF_HUB_DISABLE_TELEMETRY="1",
        PYTHONPATH=str(ROOT),
        OMP_NUM_THREADS="1",
    )
    return env


# ---- the folders and the one session against the hub ------------------------------------------------------------
@pytest.fixture(scope="module")
def folders(tmp_path_factory, rgb_model_dir):
    base = tmp_path_factory.mktemp("hub-folders")
    # a trained-looking model: training grid, summary, evaluation, plus what must never be uploaded
    tiny = save_tiny_pipeline(base / "tiny")
    (tiny / "samples").mkdir()
    (tiny / "samples" / "step-0000010.png").write_bytes(png((34, 34)))
    (tiny / "training_summary.json").write_text(
        json.dumps(
            {
                "global_step": 10,
                "images_seen_this_run": 80,
                "seconds_this_run": 3.5,
                "num_processes": 1,
                "config": {
                    "dataset": "mnist",
                    "learning_rate": 0.001,
                    "num_inference_steps": 2,
                    "command": TRAIN_COMMAND,
                },
            }
        )
    )
    (tiny / "evaluation.json").write_text(
        json.dumps(
            {"num_samples": 16, "classifier_fid": 12.34567, "confident_rate": 0.9375, "class_histogram": [2] * 8}
        )
    )
    (tiny / "checkpoint-10").mkdir()
    (tiny / "checkpoint-10" / "optimizer.bin").write_bytes(b"junk")
    (tiny / "logs").mkdir()
    (tiny / "logs" / "events.out.tfevents").write_bytes(b"junk")
    (tiny / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"a pickle that must not travel")
    # nothing but the pipeline: the card's grid is drawn with the pipeline
    bare = save_tiny_pipeline(base / "bare", seed=1)
    # a summary written by something that did not redact the token: the push must refuse it
    leaky = save_tiny_pipeline(base / "leaky")
    (leaky / "training_summary.json").write_text(json.dumps({"config": {"command": f"--hub_token {SENTINEL}"}}))
    # a card a person wrote: kept
    manual = save_tiny_pipeline(base / "manual")
    (manual / "README.md").write_text(
        "---\nlicense: apache-2.0\ntags:\n- mnist-demo\n---\n# My own card\n\n"
        "Words a person wrote. ![grid](figures/grid.png)\n"
    )
    (manual / "figures").mkdir()
    (manual / "figures" / "grid.png").write_bytes(png())
    # two project trees for deploy-space: everything a real checkout holds that a Space must not get
    space = base / "project"
    for rel, content in {
        "space.json": (ROOT / "space.json").read_bytes(),  # the project's own manifest
        "app.py": b"print('demo')\n",
        "requirements.txt": b"torch\n",
        "README.md": b"---\ntitle: demo\nsdk: gradio\nsdk_version: 6.31.0\napp_file: app.py\n---\n# demo\n"
        b"![the demo](docs/shot.png) ![badge](https://example.com/badge.svg)\n",
        "docs/shot.png": b"png",
        "docs/notes.md": b"junk",
        "pipelines/__init__.py": b"",
        "pipelines/hub/push.py": b"",
        "pipelines/extra/mod.py": b"",
        "ui/__init__.py": b"",
        "ui/tab_x.py": b"",
        "models/toy2d/spiral/config.json": b"{}",
        "models/toy2d/spiral/diffusion_pytorch_model.safetensors": b"weights",
        "models/toy2d/notes.txt": b"junk",
        "models/transition2d/two_moons/transition.json": b"{}",
        "models/transition2d/two_moons/n0004/a/config.json": b"{}",
        "models/transition2d/two_moons/n0004/a/subset.json": b"{}",
        "models/transition2d/two_moons/n0004/a/diffusion_pytorch_model.safetensors": b"weights",
        "models/transition-mnist/README.md": b"# card",
        "models/transition-mnist/transition.json": b"{}",
        "models/transition-mnist/walltimes.tsv": b"junk",
        "models/transition-mnist/n16-a/unet/diffusion_pytorch_model.safetensors": b"weights",
        "models/transition-mnist/n16-a/training_data.json": b"{}",
        "models/transition-mnist/n16-a/samples/step-0006000.png": b"junk",
        "ui/__pycache__/tab_x.cpython-311.pyc": b"junk",
        "pipelines/__pycache__/hub.cpython-311.pyc": b"junk",
        "pipelines/notes.txt": b"junk",
        "tests/test_x.py": b"junk",
        "bench/bench_x.py": b"junk",
        ".git/config": b"junk",
        "runs/log.txt": b"junk",
        "checkpoint-5/model.safetensors": b"junk",
        ".env": b"junk",
        "models/mnist-judge/config.json": b"{}",
        "models/mnist-judge/judge.safetensors": b"weights",
        "models/mnist-judge/train.log": b"junk",
    }.items():
        (space / rel).parent.mkdir(parents=True, exist_ok=True)
        (space / rel).write_bytes(content)
    shutil.copytree(tiny, space / "models" / "ddpm-mnist")
    (space / "models" / "ddpm-mnist" / "README.md").write_text("---\nlicense: mit\n---\n# the default model\n")
    space2 = base / "project-2"
    shutil.copytree(space, space2)
    (space2 / "pipelines" / "extra" / "mod.py").unlink()
    # a user's model: train.py on a folder of RGB shapes (it records its data), with a memorization report
    user = shutil.copytree(rgb_model_dir, base / "shapes-model")
    from pipelines.evaluation.cli import main as evaluation_main

    report = ["memorization", "--model", str(user), "--num_samples", "4", "--num_inference_steps", "2", "--no_progress"]
    assert evaluation_main(report) == 0
    plain = shutil.copytree(rgb_model_dir, base / "plain-model")  # the same model, its record lost
    (plain / "training_data.json").unlink()
    return {
        "tiny": tiny,
        "bare": bare,
        "leaky": leaky,
        "manual": manual,
        "space": space,
        "space2": space2,
        "user": user,
        "plain": plain,
    }


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with FakeHub(tmp_path_factory.mktemp("hub-store"), tokens={SENTINEL: "tester"}) as server:
        yield server


@pytest.fixture(scope="module")
def session(hub, folders, tmp_path_factory, shapes_dir):
    """train.py --push_to_hub, then every client job in one process, then one real CLI call; returns the results."""
    work = tmp_path_factory.mktemp("hub-session")
    home = work / "hf-home"
    home.mkdir()
    env = client_env(hub, home)
    outputs = []

    trained = work / "trained"
    train = subprocess.run(
        [
            sys.executable,
            "train.py",
            "--output_dir",
            str(trained),
            "--block_out_channels",
            "8",
            "16",
            "--max_train_steps",
            "2",
            "--train_batch_size",
            "8",
            "--save_images_steps",
            "2",
            "--checkpointing_steps",
            "2",
            "--num_inference_steps",
            "2",
            "--logger",
            "none",
            "--push_to_hub",
            "--hub_model_id",
            "tester/trained",
            "--hub_token",
            SENTINEL,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    outputs += [train.stdout, train.stderr]

    tiny = folders["tiny"]
    hub.put(
        "tester/pickle-only",
        {
            "model_index.json": (tiny / "model_index.json").read_bytes(),
            "unet/config.json": (tiny / "unet" / "config.json").read_bytes(),
            "unet/diffusion_pytorch_model.bin": b"not unpickled, ever",
            "scheduler/scheduler_config.json": (tiny / "scheduler" / "scheduler_config.json").read_bytes(),
        },
    )
    (home / "token").write_text(SENTINEL)  # the login file: jobs without HF_TOKEN use it
    with_token = {"HF_TOKEN": SENTINEL}
    jobs = [
        {"name": "push", "cli": ["push", str(tiny), "--repo-id", "tester/tiny"], "env": with_token},
        {"name": "push_again", "cli": ["push", str(tiny), "--repo-id", "tester/tiny"], "env": with_token},
        {
            "name": "push_bare",
            "cli": ["push", str(folders["bare"]), "--repo-id", "tester/bare", "--private"],
            "env": {"HF_TOKEN": None},
        },
        {"name": "push_leaky", "cli": ["push", str(folders["leaky"]), "--repo-id", "tester/leaky"], "env": with_token},
        {
            "name": "push_manual",
            "cli": ["push", str(folders["manual"]), "--repo-id", "tester/manual"],
            "env": with_token,
        },
        {"name": "push_forbidden", "cli": ["push", str(tiny), "--repo-id", "someone-else/tiny"], "env": with_token},
        {"name": "check_missing", "cli": ["check", "tester/missing"], "env": with_token},
        {"name": "check_pickle", "cli": ["check", "tester/pickle-only"], "env": with_token},
        {"name": "check_tiny", "cli": ["check", "tester/tiny"], "env": {"HF_TOKEN": None}},
        {"name": "deploy", "cli": ["deploy-space", "tester/demo", "--root", str(folders["space"])], "env": with_token},
        {
            "name": "redeploy",
            "cli": ["deploy-space", "tester/demo", "--root", str(folders["space2"])],
            "env": with_token,
        },
        {
            "name": "pull_tiny",
            "pull": "tester/tiny",
            "local": str(tiny),
            "steps": 3,
            "seed": 7,
            "save": str(work / "tiny.npz"),
        },
        {"name": "card_tiny", "card": "tester/tiny"},
        {"name": "card_manual", "card": "tester/manual"},
        {"name": "push_user", "cli": ["push", str(folders["user"]), "--repo-id", "tester/shapes"], "env": with_token},
        {
            "name": "pull_user",
            "pull": "tester/shapes",
            "local": str(folders["user"]),
            "steps": 2,
            "seed": 1,
            "save": str(work / "user.npz"),
        },
        {"name": "card_user", "card": "tester/shapes"},
        {
            "name": "deploy_user",
            "cli": [
                "deploy-space",
                "tester/shapes-demo",
                "--root",
                str(folders["space"]),
                "--model",
                str(folders["user"]),
            ],
            "env": with_token,
        },
        {
            "name": "deploy_user_data",
            "cli": [
                "deploy-space",
                "tester/plain-demo",
                "--root",
                str(folders["space"]),
                "--model",
                str(folders["plain"]),
                "--data",
                str(shapes_dir),
            ],
            "env": with_token,
        },  # fmt: skip
        {
            "name": "deploy_too_big",
            "cli": [
                "deploy-space",
                "tester/big-demo",
                "--root",
                str(folders["space"]),
                "--model",
                str(folders["user"]),
                "--max-data-mb",
                "0.1",
            ],
            "env": with_token,
        },  # fmt: skip
    ]
    if train.returncode == 0:
        jobs.append(
            {
                "name": "pull_trained",
                "pull": "tester/trained",
                "local": str(trained),
                "steps": 2,
                "seed": 3,
                "save": str(work / "trained.npz"),
            }
        )
    if (DEFAULT_MODEL / "model_index.json").is_file():
        jobs += [
            {
                "name": "push_default",
                "cli": ["push", str(DEFAULT_MODEL), "--repo-id", "tester/ddpm-mnist"],
                "env": with_token,
            },
            {
                "name": "pull_default",
                "pull": "tester/ddpm-mnist",
                "local": str(DEFAULT_MODEL),
                "steps": 3,
                "seed": 0,
                "save": str(work / "default.npz"),
            },
            {"name": "card_default", "card": "tester/ddpm-mnist"},
        ]
    (work / "jobs.json").write_text(json.dumps(jobs))
    client = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "helpers" / "hub_client.py"),
            str(work / "jobs.json"),
            str(work / "results.json"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    outputs += [client.stdout, client.stderr]
    assert client.returncode == 0, client.stderr[-3000:]
    results = json.loads((work / "results.json").read_text())

    # the real entry point, with a token the hub rejects
    cli = subprocess.run(
        [sys.executable, "-m", "pipelines.hub", "push", str(tiny), "--repo-id", "tester/other", "--token", WRONG],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    results["cli_wrong_token"] = {"rc": cli.returncode, "out": cli.stdout, "err": cli.stderr}
    outputs += [cli.stdout, cli.stderr]
    for result in results.values():
        outputs += [result.get("out", ""), result.get("err", ""), result.get("error", "")]
    return {"results": results, "train": train, "trained": trained, "outputs": outputs}


def ok(session, name: str) -> dict:
    result = session["results"][name]
    assert "error" not in result, result["error"]
    if "rc" in result:
        assert result["rc"] == 0, result
    return result


# ---- push, pull, card -------------------------------------------------------------------------------------------
def test_push_uploads_the_pipeline_with_its_card_and_nothing_else(session, hub, folders):
    result = ok(session, "push")
    assert result["out"].strip() == f"pushed {folders['tiny']} to {hub.url}/tester/tiny"
    assert set(hub.files("tester/tiny")) == PIPELINE_FILES | {
        ".gitattributes",
        "README.md",
        "sample_grid.png",
        "training_summary.json",
        "evaluation.json",
    }
    ok(session, "push_again")  # pushing again to an existing repo works (and changes nothing)
    repo = hub.repos[("model", "tester/tiny")]
    assert repo.private is False


def test_pulled_model_draws_the_same_images_as_the_local_folder(session):
    ok(session, "pull_tiny")
    images = np.load(session["results"]["pull_tiny"]["saved"])
    assert images["hub"].shape == (2, 8, 8, 1)
    # the tiny folder has no Γ_t table: σ* sampling from its repo names the missing file and how to make it
    error = session["results"]["pull_tiny"]["analytic_error"]
    assert "the Hub repo tester/tiny has no analytic_variance.json" in error and "pipelines.ddpm.gamma" in error
    np.testing.assert_array_equal(images["hub"], images["local"])
    # stock diffusers pulls the same repo with no code of ours and draws the same images (float round-off only)
    np.testing.assert_allclose(images["stock"], images["hub"], atol=1e-5)
    assert "ok: tester/tiny: 1×8×8 images" in ok(session, "check_tiny")["out"]


def test_model_card_has_metadata_grid_usage_training_and_evaluation(session, hub, folders):
    card = ok(session, "card_tiny")
    data, text = card["data"], card["text"]
    assert data["library_name"] == "diffusers"
    assert data["pipeline_tag"] == "unconditional-image-generation"
    assert data["license"] == "mit"
    assert {"diffusers", "ddpm", "mnist"} <= set(data["tags"])
    assert data["datasets"] == ["ylecun/mnist"]
    assert "![samples](sample_grid.png)" in text and "training at step 10" in text
    assert 'DDPMPipeline.from_pretrained("tester/tiny")' in text
    assert 'PosteriorDDPMPipeline.from_pretrained("tester/tiny")' in text
    assert TRAIN_COMMAND in text and '"learning_rate": 0.001' in text
    assert "| classifier_fid | 12.35 |" in text and "| confident_rate | 0.9375 |" in text
    from PIL import Image

    grid = Image.open(io.BytesIO(hub.files("tester/tiny")["sample_grid.png"]))
    assert grid.size == (34, 34)  # the newest training grid of the folder


def test_card_of_a_bare_folder_draws_its_grid_and_private_repos_stay_private(session, hub):
    ok(session, "push_bare")  # token from the login file (no HF_TOKEN, no --token)
    assert hub.repos[("model", "tester/bare")].private is True
    files = hub.files("tester/bare")
    assert set(files) == PIPELINE_FILES | {".gitattributes", "README.md", "sample_grid.png"}
    from PIL import Image

    grid = Image.open(io.BytesIO(files["sample_grid.png"]))
    assert grid.size[0] > 4 * 8 and grid.text["Description"].startswith("16 samples: seed 0")
    assert "η = 0 (DDIM)" in files["README.md"].decode()


def test_a_hand_written_card_is_kept_with_its_images(session, hub):
    ok(session, "push_manual")
    card = ok(session, "card_manual")
    assert card["text"].strip() == "# My own card\n\nWords a person wrote. ![grid](figures/grid.png)"
    assert card["data"]["license"] == "apache-2.0"  # the author's choice wins
    assert (
        card["data"]["library_name"] == "diffusers" and card["data"]["pipeline_tag"] == "unconditional-image-generation"
    )
    assert {"mnist-demo", "diffusers"} <= set(card["data"]["tags"])
    assert "figures/grid.png" in hub.files("tester/manual")


def test_train_py_push_to_hub_end_to_end(session, hub):
    train = session["train"]
    assert train.returncode == 0, train.stderr[-3000:]
    files = hub.files("tester/trained")
    assert PIPELINE_FILES | {"README.md", "sample_grid.png", "training_summary.json"} <= set(files)
    readme = files["README.md"].decode()
    assert "--push_to_hub --hub_model_id tester/trained" in readme and "training at step 2" in readme
    ok(session, "pull_trained")
    images = np.load(session["results"]["pull_trained"]["saved"])
    assert images["hub"].shape == (2, 32, 32, 1)
    np.testing.assert_array_equal(images["hub"], images["local"])


def test_a_users_model_goes_up_with_its_data_record_and_memorization_report(session, hub, folders):
    ok(session, "push_user")
    files = hub.files("tester/shapes")
    report = "memorization-4-samples-2-steps"
    assert PIPELINE_FILES | {"training_data.json", f"{report}.json", f"{report}.png", "README.md"} <= set(files)
    assert files["training_data.json"] == (folders["user"] / "training_data.json").read_bytes()
    # stock diffusers still loads the repo (and ignores the extra files), drawing our pipeline's images
    images = np.load(ok(session, "pull_user")["saved"])
    np.testing.assert_allclose(images["stock"], images["hub"], atol=1e-5)
    text = ok(session, "card_user")["text"]
    result = json.loads((folders["user"] / f"{report}.json").read_text())
    copies = f"**{result['samples']['copies']} of 4 samples ({result['samples']['copy_fraction']:.1%}) are copies**"
    assert "## Is it copying? The memorization report" in text and copies in text
    assert "Yardstick, the 12 held-out images the model never saw" in text
    assert result["command"] in text and f"![closest pairs and the copy rule]({report}.png)" in text
    assert "| training data (`training_data.json`) | 108 images of folder `images`, 12 held out" in text


@pytest.mark.skipif(not (DEFAULT_MODEL / "model_index.json").is_file(), reason="models/ddpm-mnist not trained yet")
def test_default_model_round_trip(session, hub):
    ok(session, "push_default")
    images = np.load(ok(session, "pull_default")["saved"])
    np.testing.assert_array_equal(images["hub"], images["local"])
    np.testing.assert_allclose(images["stock"], images["hub"], atol=1e-5)
    # the pulled pipeline brings its Γ_t table: σ* (variance_type="analytic") draws what the local folder draws
    assert "analytic_error" not in session["results"]["pull_default"]
    np.testing.assert_array_equal(images["hub_analytic"], images["local_analytic"])
    assert not np.array_equal(images["hub_analytic"], images["hub"])  # and it is not the default variance
    data = ok(session, "card_default")["data"]
    assert data["library_name"] == "diffusers" and data["pipeline_tag"] == "unconditional-image-generation"
    assert not any(name.endswith(".bin") or name.startswith("checkpoint") for name in hub.files("tester/ddpm-mnist"))


# ---- deploy-space -----------------------------------------------------------------------------------------------
def test_deploy_space_uploads_exactly_the_app(session, hub):
    result = ok(session, "deploy")
    assert result["out"].strip() == f"deployed the demo to {hub.url}/spaces/tester/demo"
    repo = hub.repos[("space", "tester/demo")]
    assert repo.sdk == "gradio"
    expected = {
        "app.py",
        "requirements.txt",
        "README.md",
        "pipelines/__init__.py",
        "pipelines/hub/push.py",
        "ui/__init__.py",
        "ui/tab_x.py",
        "models/toy2d/spiral/config.json",
        "models/toy2d/spiral/diffusion_pytorch_model.safetensors",
        "models/transition2d/two_moons/transition.json",
        "models/transition2d/two_moons/n0004/a/config.json",
        "models/transition2d/two_moons/n0004/a/subset.json",
        "models/transition2d/two_moons/n0004/a/diffusion_pytorch_model.safetensors",
        "models/transition-mnist/README.md",
        "models/transition-mnist/transition.json",
        "models/transition-mnist/n16-a/unet/diffusion_pytorch_model.safetensors",
        "models/transition-mnist/n16-a/training_data.json",
        *(
            f"models/ddpm-mnist/{name}"
            for name in PIPELINE_FILES | {"README.md", "training_summary.json", "evaluation.json"}
        ),
        "docs/shot.png",
    }
    deployed = set(repo.files(repo.commits[-2]))  # the first deploy (the redeploy is the last commit)
    assert deployed == expected | {"pipelines/extra/mod.py", ".gitattributes"}
    ok(session, "redeploy")  # a file gone from the project is gone from the Space
    assert set(hub.files("tester/demo", repo_type="space")) == expected | {".gitattributes"}
    assert repo.variables["DDPM_MODEL"]["value"] == "models/ddpm-mnist"  # app.py's --model in the Space


def space_copy(hub: FakeHub, space_id: str, folder: Path) -> Path:
    """The Space's files, as the Space holds them, in a local folder."""
    for rel, content in hub.files(space_id, repo_type="space").items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(content)
    return folder


def folder_pixels(folder: Path) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.png"))])


def as_pixels(images) -> np.ndarray:
    return ((images.permute(0, 2, 3, 1) + 1) * 127.5).round().numpy().astype(np.uint8)


def test_deploy_space_with_a_users_model_carries_its_training_images(session, hub, folders, shapes_dir, tmp_path):
    """The user's model replaces the default one, with its record and its images as a bundle: the Space's app
    (DDPM_MODEL) finds the training and held-out images with no --data flag, pixel for pixel the folder's."""
    from pipelines.data.record import resolve_model_data

    assert ok(session, "deploy_user")["out"].strip() == (
        f"deployed the demo to {hub.url}/spaces/tester/shapes-demo with {folders['user']}"
    )
    repo = hub.repos[("space", "tester/shapes-demo")]
    served = repo.variables["DDPM_MODEL"]["value"]
    assert served == "models/shapes-model"
    files = set(hub.files("tester/shapes-demo", repo_type="space"))
    assert {
        f"{served}/{name}" for name in PIPELINE_FILES | {"training_data.json", "training_images.safetensors"}
    } <= files
    assert not any(name.startswith("models/ddpm-mnist") for name in files) and "app.py" in files
    space = space_copy(hub, "tester/shapes-demo", tmp_path / "space")
    shutil.move(shapes_dir, tmp_path / "moved")  # the Space has no copy of the user's folder: the bundle must do
    try:
        data = resolve_model_data(space / served, (3, 32, 32))
    finally:
        shutil.move(tmp_path / "moved", shapes_dir)
    record = json.loads((folders["user"] / "training_data.json").read_text())
    pixels = folder_pixels(shapes_dir)
    np.testing.assert_array_equal(as_pixels(data.train), pixels[record["train_indices"]])
    np.testing.assert_array_equal(as_pixels(data.heldout), pixels[record["heldout_indices"]])
    assert len(data.train) == 108 and len(data.heldout) == 12 and "bundle" in data.description


def test_deploy_space_of_a_model_without_a_record_bundles_the_data_flag(session, hub, shapes_dir, tmp_path):
    from pipelines.data.record import resolve_model_data

    ok(session, "deploy_user_data")
    assert hub.repos[("space", "tester/plain-demo")].variables["DDPM_MODEL"]["value"] == "models/plain-model"
    data = resolve_model_data(
        space_copy(hub, "tester/plain-demo", tmp_path / "space") / "models/plain-model", (3, 32, 32)
    )
    np.testing.assert_array_equal(as_pixels(data.train), folder_pixels(shapes_dir))  # all 120: none held out
    assert len(data.heldout) == 0


def test_deploy_space_refuses_training_images_above_the_bound(session, hub):
    line = one_error_line(session["results"]["deploy_too_big"])
    assert "--max-data-mb: the training images (108 + 12 held out, 3×32×32, 8-bit) take 0.4 MB, above the bound " \
        "of 0.1 MB" in line  # fmt: skip
    assert ("space", "tester/big-demo") not in hub.repos  # refused before anything was created


def test_space_files_of_this_project_are_the_app_only():
    from pipelines.hub.errors import HubError
    from pipelines.hub.space import space_files

    if not ((ROOT / "app.py").is_file() and (DEFAULT_MODEL / "model_index.json").is_file()):
        with pytest.raises(HubError, match="the Space needs|not a"):
            space_files(ROOT)
        pytest.skip("app.py or models/ddpm-mnist not there yet: checked that deploy-space refuses")
    files = space_files(ROOT)
    assert {
        "app.py",
        "requirements.txt",
        "README.md",
        "pipelines/__init__.py",
        "pipelines/hub/push.py",
        "ui/__init__.py",
        "ui/tabs/sample.py",
        "models/ddpm-mnist/model_index.json",
        "models/ddpm-mnist/unet/diffusion_pytorch_model.safetensors",
        "models/toy2d/two_moons/config.json",
        "models/toy2d/two_moons/diffusion_pytorch_model.safetensors",
        # the tab "Copies or new points?": the shipped tables and the pairs it samples
        "models/transition2d/two_moons/transition.json",
        "models/transition2d/two_moons/n0004/a/diffusion_pytorch_model.safetensors",
        "models/transition2d/two_moons/n0004/b/subset.json",
        "models/transition-mnist/transition.json",
        "models/transition-mnist/n16-a/unet/diffusion_pytorch_model.safetensors",
        "models/transition-mnist/n2250-b/training_data.json",
    } <= set(files)
    for name in files:
        assert not name.startswith(("tests/", "bench/", "scripts/", "runs/", ".")), name
        assert "__pycache__" not in name and "checkpoint" not in name and not name.endswith((".pyc", ".bin")), name


def test_the_judge_goes_into_the_space_the_day_the_app_evaluates():
    """models/mnist-judge stays out of the Space (space.json) while nothing the app runs imports pipelines.evaluation
    or pipelines.judge."""
    from pipelines.hub.space import read_space_manifest

    sources = [
        p
        for p in [ROOT / "app.py", *(ROOT / "pipelines").glob("*.py"), *(ROOT / "ui").glob("*.py")]
        if p.is_file() and p.name not in ("evaluation.py", "judge.py")
    ]
    importers = [
        p.name
        for p in sources
        if re.search(
            r"^\s*(from\s+(pipelines)?\.?(evaluation|judge)\s+import|import\s+pipelines\.(evaluation|judge)|"
            r"from\s+(pipelines|\.)\s+import\s+[^\n]*\b(evaluation|judge)\b)",
            p.read_text(),
            re.M,
        )
    ]
    shipped = any(rel.startswith("models/mnist-judge") for rel in read_space_manifest(ROOT))
    assert shipped == bool(importers), f"{importers} import the judge: add models/mnist-judge to space.json"


def test_the_space_manifest_comes_from_the_project_root(tmp_path):
    """deploy-space reads the file list from the root it deploys; a missing or malformed space.json is one line."""
    from pipelines.hub.errors import HubError
    from pipelines.hub.space import read_space_manifest, space_files

    with pytest.raises(HubError, match=r"the Space's manifest .*space.json cannot be read"):
        space_files(tmp_path)
    (tmp_path / "space.json").write_text(json.dumps({"files": {"app.py": 3}}))
    with pytest.raises(HubError, match=r"'app.py' must map to null, 'ddpm-pipeline' or a list of globs, got 3"):
        read_space_manifest(tmp_path)
    (tmp_path / "space.json").write_text(json.dumps({"files": {"app.py": None, "ui": ["*.py"]}}))
    assert read_space_manifest(tmp_path) == {"app.py": None, "ui": ("*.py",)}
    with pytest.raises(HubError, match=r"the Space needs app.py, which is missing"):
        space_files(tmp_path)


def test_the_deployed_file_set_alone_starts_the_app_and_serves_sample(hub, tmp_path):
    """deploy-space of this project to the local Hub; the Space's files, and nothing else, copied into an empty
    folder; `python app.py` there (imports resolve inside that folder) serves /sample with the shipped model."""
    from gradio_client import Client

    from helpers.app_server import serve_app

    home = tmp_path / "hf-home"
    home.mkdir()
    env = {**client_env(hub, home), "HF_TOKEN": SENTINEL}
    env.pop("PYTHONPATH")  # the deploy is a plain `python -m pipelines.hub` from the project folder
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.hub", "deploy-space", "tester/live-demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    space = tmp_path / "space"
    for rel, content in hub.files("tester/live-demo", repo_type="space").items():
        (space / rel).parent.mkdir(parents=True, exist_ok=True)
        (space / rel).write_bytes(content)
    assert (space / "ui" / "tabs" / "sample.py").is_file() and not (space / "tests").exists()
    where = subprocess.run(
        [sys.executable, "-c", "import ui, pipelines; print(ui.__file__); print(pipelines.__file__)"],
        cwd=space,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert all(Path(line).is_relative_to(space) for line in where.stdout.split()), where.stdout + where.stderr
    with serve_app("models/ddpm-mnist", cwd=space, log_path=tmp_path / "space.log") as url:
        result = Client(url, verbose=False).predict(
            seed=0,
            num_images=2,
            num_inference_steps=3,
            eta=1.0,
            timestep_spacing="leading",
            variance="fixed_small",
            api_name="/sample",
        )
    assert len(result[3]) == 2 and result[6]["model"] == "models/ddpm-mnist"
    assert "Traceback" not in (tmp_path / "space.log").read_text()


def test_a_space_deployed_with_a_users_model_serves_it(hub, folders, tmp_path):
    """deploy-space --model of this project: the Space's files alone, with the Space variable DDPM_MODEL as the
    app's environment (as the Space runs it), serve /sample from the user's RGB model."""
    from gradio_client import Client

    from helpers.app_server import serve_app

    home = tmp_path / "hf-home"
    home.mkdir()
    env = {**client_env(hub, home), "HF_TOKEN": SENTINEL}
    env.pop("PYTHONPATH")
    command = [
        sys.executable,
        "-m",
        "pipelines.hub",
        "deploy-space",
        "tester/live-user",
        "--model",
        str(folders["user"]),
    ]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    served = hub.repos[("space", "tester/live-user")].variables["DDPM_MODEL"]["value"]
    space = space_copy(hub, "tester/live-user", tmp_path / "space")
    assert not (space / "models" / "ddpm-mnist").exists() and (space / served / "training_images.safetensors").is_file()
    with serve_app(served, cwd=space, env={"DDPM_MODEL": served}, log_path=tmp_path / "space.log") as url:
        result = Client(url, verbose=False).predict(seed=0, num_images=2, num_inference_steps=2, api_name="/sample")
    assert len(result[3]) == 2 and result[6]["model"] == served and result[6]["image_shape"] == [3, 32, 32]
    assert "Traceback" not in (tmp_path / "space.log").read_text()


# ---- secrets and errors -----------------------------------------------------------------------------------------
def test_the_token_appears_in_no_output_and_no_uploaded_file(session, hub):
    for text in session["outputs"]:
        assert SENTINEL not in text and WRONG not in text
    for repo in hub.repos.values():
        for commit in repo.commits:
            for path, file in repo.files(commit).items():
                content = file.read_bytes()
                assert SENTINEL.encode() not in content and WRONG.encode() not in content, (repo.repo_id, path)
    # a folder holding the token is refused before anything is created
    assert "contains your Hub token" in one_error_line(session["results"]["push_leaky"])
    assert ("model", "tester/leaky") not in hub.repos
    assert SENTINEL not in (session["trained"] / "training_summary.json").read_text()  # train.py --hub_token


def test_rejected_token_missing_repo_and_foreign_namespace_are_one_line_errors(session):
    line = one_error_line(session["results"]["cli_wrong_token"])  # the real `python -m pipelines.hub`
    assert "rejected the token given on the command line (401 Unauthorized)" in line
    assert "(404)" in one_error_line(session["results"]["check_missing"])
    assert "(403 Forbidden)" in one_error_line(session["results"]["push_forbidden"])


def test_a_repo_with_only_pickle_weights_is_refused_and_never_downloaded(session, hub):
    line = one_error_line(session["results"]["check_pickle"])
    assert "only pickle weights (unet/diffusion_pytorch_model.bin)" in line and "arbitrary code" in line
    assert not [r for r in hub.requests if "/resolve/" in r[1] and r[1].endswith(".bin")]


def test_the_hub_answered_every_call_the_client_made(session, hub):
    assert not [r for r in hub.requests if r[2] == 501]


# ---- no network needed ------------------------------------------------------------------------------------------
def _write(folder: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(content.encode() if isinstance(content, str) else content)
    return folder


@pytest.mark.parametrize(
    "case, expected",
    [
        ("empty", "no model_index.json"),
        ("latent", "not an unconditional DDPM pipeline"),
        ("pickle", "only pickle weights"),
        ("no-scheduler", "scheduler/scheduler_config.json is missing"),
    ],
)
def test_push_refuses_a_folder_that_is_not_a_ddpm_pipeline(case, expected, tmp_path, stock_ddpm_dir, capsys):
    from pipelines.hub.cli import main

    folder = tmp_path / case
    if case == "empty":
        folder.mkdir()
    else:
        shutil.copytree(stock_ddpm_dir, folder)
    if case == "latent":
        index = json.loads((folder / "model_index.json").read_text())
        index["vqvae"] = ["diffusers", "VQModel"]
        (folder / "model_index.json").write_text(json.dumps(index))
    elif case == "pickle":
        weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
        weights.rename(weights.with_suffix(".bin"))
    elif case == "no-scheduler":
        shutil.rmtree(folder / "scheduler")
    rc = main(["push", str(folder), "--repo-id", "tester/x", "--token", SENTINEL])
    err = capsys.readouterr().err
    assert one_error_line({"rc": rc, "err": err}) and expected in err and SENTINEL not in err


def test_push_without_any_token_says_where_a_token_comes_from(tmp_path, stock_ddpm_dir, monkeypatch, capsys):
    import huggingface_hub.constants

    from pipelines.hub.cli import main

    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-login-file"))
    rc = main(["push", str(stock_ddpm_dir), "--repo-id", "tester/x"])
    line = one_error_line({"rc": rc, "err": capsys.readouterr().err})
    assert "no Hugging Face token" in line and "HF_TOKEN" in line and "hf auth login" in line


@pytest.mark.parametrize("repo_id", ["no-namespace", "a/b/c", "user/bad name"])
def test_push_refuses_a_malformed_repo_id(repo_id, stock_ddpm_dir, capsys):
    from pipelines.hub.cli import main

    rc = main(["push", str(stock_ddpm_dir), "--repo-id", repo_id, "--token", SENTINEL])
    assert "repo_id must look like USER/NAME" in one_error_line({"rc": rc, "err": capsys.readouterr().err})


def test_load_pipeline_gives_clean_errors_and_loads_stock_folders(tmp_path, stock_ddpm_dir):
    from pipelines import PosteriorDDPMPipeline
    from pipelines.hub.errors import HubError
    from pipelines.hub.loading import load_pipeline

    with pytest.raises(HubError, match="no such folder"):
        load_pipeline(tmp_path / "missing")
    pickled = shutil.copytree(stock_ddpm_dir, tmp_path / "pickled")
    weights = pickled / "unet" / "diffusion_pytorch_model.safetensors"
    weights.rename(weights.with_suffix(".bin"))
    with pytest.raises(HubError, match="only pickle weights .* refused: unpickling a file can run arbitrary code"):
        load_pipeline(pickled)
    pipe = load_pipeline(stock_ddpm_dir)
    assert isinstance(pipe, PosteriorDDPMPipeline) and pipe.image_shape == (1, 8, 8)


def test_card_command_writes_a_card_into_the_folder_and_keeps_an_existing_one(tmp_path, stock_ddpm_dir, capsys):
    from huggingface_hub import ModelCard

    from pipelines.hub.cli import main

    folder = shutil.copytree(stock_ddpm_dir, tmp_path / "model")
    _write(folder, {"samples/step-0000004.png": png()})
    assert main(["card", str(folder), "--repo-id", "me/model"]) == 0
    card = ModelCard.load(folder / "README.md")
    assert card.data.library_name == "diffusers" and 'from_pretrained("me/model")' in card.text
    assert (folder / "sample_grid.png").is_file()
    assert main(["card", str(folder)]) == 1  # never overwrites a README.md without --force
    assert "pass --force" in capsys.readouterr().err


def test_offline_mode_gives_one_line_errors_for_hub_ids(tmp_path, stock_ddpm_dir, monkeypatch, capsys):
    import huggingface_hub.constants

    from pipelines.hub.cli import main
    from pipelines.hub.errors import HubError
    from pipelines.hub.loading import load_pipeline

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubError, match="no folder 'someone/model', and no cached copy of the Hub repo"):
        load_pipeline("someone/model", cache_dir=str(tmp_path / "empty-cache"))
    rc = main(["push", str(stock_ddpm_dir), "--repo-id", "tester/x", "--token", SENTINEL])
    assert "HF_HUB_OFFLINE=1 forbids Hub access" in one_error_line({"rc": rc, "err": capsys.readouterr().err})
