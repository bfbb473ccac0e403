"""The Hub commands, `python -m pipelines.hub`: push a model, write its card, check a folder or repo as the app
loads it, deploy the Space.

    python -m pipelines.hub push MODEL_DIR --repo-id USER/NAME [--private] [--token T] [--regenerate-card]
    python -m pipelines.hub card MODEL_DIR [--repo-id USER/NAME] [--force]   # write README.md + sample_grid.png
    python -m pipelines.hub check PATH_OR_REPO_ID [--token T]                # load it as the app does
    python -m pipelines.hub deploy-space USER/SPACE [--private] [--token T] [--root DIR]
        [--model MODEL_DIR [--data PATH_OR_ID] [--max-data-mb 256]]

`check` loads with `pipelines.hub.loading.load_pipeline` (any DDPM folder or repo, safely); `deploy-space`
uploads the files the project root's space.json lists and sets the Space variable DDPM_MODEL (app.py's model);
with --model, a user's model folder replaces the default one, with its training images (`space_data_files`).

Errors are one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from pipelines.checks import OneLineParser, first_line
from pipelines.hub.card import (
    write_model_card,
)
from pipelines.hub.errors import HubError, redact
from pipelines.hub.loading import load_pipeline
from pipelines.hub.push import push_to_hub
from pipelines.hub.space import DEFAULT_MAX_DATA_MB, PROJECT_ROOT, SPACE_MANIFEST, deploy_space


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
