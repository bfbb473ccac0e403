"""Train a DDPM UNet: `accelerate launch train.py --dataset mnist --output_dir DIR …` or `python train.py …`.

Parses flags into `pipelines.training.config.TrainConfig`, calls `train`, then pushes to the Hub when asked
(`pipelines.hub.push.push_to_hub`). Bad flags exit with a one-line message."""

from __future__ import annotations

import argparse
import shlex
import sys
import warnings
from dataclasses import fields

from pipelines.checks import OneLineParser


def build_parser() -> argparse.ArgumentParser:
    from pipelines.training.config import TrainConfig

    defaults = TrainConfig()
    p = OneLineParser(prog="train.py", description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    data = p.add_argument_group("data")
    data.add_argument("--dataset", default=defaults.dataset, help="built-in data set: mnist (4,500 train digits)")
    data.add_argument("--train_data_dir", help="a folder of your own images (png/jpg/webp)")
    data.add_argument("--dataset_name", help="a 🤗 datasets image data set (Hub id or local path)")
    data.add_argument("--resolution", type=int, default=defaults.resolution)
    data.add_argument("--channels", type=int, default=defaults.channels, help="1 (grayscale) or 3 (RGB)")
    data.add_argument(
        "--heldout_fraction",
        type=float,
        default=defaults.heldout_fraction,
        help="seeded part of a folder / 🤗 data set never trained on (the yardstick); mnist keeps its 500 held-out",
    )
    data.add_argument("--subset_size", type=int, default=None, help="train on only this many training images …")
    data.add_argument(
        "--subset_index",
        type=int,
        default=defaults.subset_index,
        help="… block number K of a seeded permutation (blocks never share an image)",
    )
    data.add_argument("--subset_seed", type=int, default=defaults.subset_seed, help="the permutation's seed")
    model = p.add_argument_group("model")
    model.add_argument("--model_config", help="JSON file of UNet2DModel arguments (overrides the flags below)")
    model.add_argument("--block_out_channels", type=int, nargs="+", default=defaults.block_out_channels)
    model.add_argument("--layers_per_block", type=int, default=defaults.layers_per_block)
    model.add_argument(
        "--no_attention",
        dest="attention",
        action="store_false",
        help="no self-attention at the lowest resolution (without this flag it is on)",
        default=argparse.SUPPRESS,
    )
    model.add_argument("--ddpm_num_steps", type=int, default=defaults.ddpm_num_steps)
    model.add_argument("--ddpm_beta_schedule", default=defaults.ddpm_beta_schedule)
    model.add_argument("--prediction_type", default=defaults.prediction_type)
    model.add_argument("--snr_gamma", type=float, default=None, help="min-SNR-γ loss weighting (e.g. 5)")
    opt = p.add_argument_group("optimisation")
    opt.add_argument("--train_batch_size", type=int, default=defaults.train_batch_size, help="per process")
    opt.add_argument("--gradient_accumulation_steps", type=int, default=defaults.gradient_accumulation_steps)
    opt.add_argument("--learning_rate", type=float, default=defaults.learning_rate)
    opt.add_argument("--lr_scheduler", default=defaults.lr_scheduler)
    opt.add_argument("--lr_warmup_steps", type=int, default=defaults.lr_warmup_steps)
    opt.add_argument("--adam_beta1", type=float, default=defaults.adam_beta1)
    opt.add_argument("--adam_beta2", type=float, default=defaults.adam_beta2)
    opt.add_argument("--adam_weight_decay", type=float, default=defaults.adam_weight_decay)
    opt.add_argument("--adam_epsilon", type=float, default=defaults.adam_epsilon)
    opt.add_argument("--max_grad_norm", type=float, default=defaults.max_grad_norm)
    opt.add_argument("--no_ema", dest="use_ema", action="store_false")
    opt.add_argument("--ema_max_decay", type=float, default=defaults.ema_max_decay)
    opt.add_argument("--ema_inv_gamma", type=float, default=defaults.ema_inv_gamma)
    opt.add_argument("--ema_power", type=float, default=defaults.ema_power)
    opt.add_argument("--mixed_precision", default=defaults.mixed_precision, help="no, fp16 or bf16")
    opt.add_argument("--seed", type=int, default=defaults.seed)
    opt.add_argument("--num_threads", type=int, default=None, help="torch CPU threads")
    run = p.add_argument_group("run")
    run.add_argument("--output_dir", default=defaults.output_dir)
    run.add_argument("--max_train_steps", type=int, default=None, help="overrides --num_epochs")
    run.add_argument("--num_epochs", type=int, default=defaults.num_epochs)
    run.add_argument("--checkpointing_steps", type=int, default=defaults.checkpointing_steps)
    run.add_argument("--checkpoints_total_limit", type=int, default=defaults.checkpoints_total_limit)
    run.add_argument("--resume_from_checkpoint", default=None, help="'latest' or a checkpoint folder")
    run.add_argument("--save_images_steps", type=int, default=defaults.save_images_steps)
    run.add_argument(
        "--num_inference_steps",
        type=int,
        default=defaults.num_inference_steps,
        help="steps for the sample grids (at most --ddpm_num_steps)",
    )
    run.add_argument("--logger", default=defaults.logger, help="tensorboard or none")
    hub = p.add_argument_group("hub")
    hub.add_argument("--push_to_hub", action="store_true")
    hub.add_argument("--hub_model_id", default=None)
    hub.add_argument("--hub_token", default=None, help="else HF_TOKEN or the login file")
    return p


def redact_token(argv: list[str]) -> list[str]:
    """The command line without --hub_token and its value: a token is never recorded."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--hub_token":
            skip = True
        elif not arg.startswith("--hub_token="):
            out.append(arg)
    return out


def parse_config(argv: list[str]):
    """The flags as a `TrainConfig` (not yet validated); a malformed flag exits with a one-line message."""
    args = build_parser().parse_args(argv)
    from pipelines.training.config import TrainConfig

    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig(
        **{k: v for k, v in vars(args).items() if k in names},
        command="accelerate launch train.py " + shlex.join(redact_token(argv)),
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Warnings (e.g. skipped image files) as one plain line each, like the errors.
    warnings.formatwarning = lambda message, category, *args, **kwargs: f"train.py: warning: {message}\n"
    config = parse_config(argv)
    from pipelines.data.sources import DataError
    from pipelines.hub.errors import HubError
    from pipelines.hub.push import preflight_push
    from pipelines.training.config import TrainingError
    from pipelines.training.loop import train

    try:
        config.validate()
        if config.push_to_hub:  # a missing or rejected token fails now, not after hours of training
            preflight_push(config.hub_model_id, config.hub_token, "--hub_token", "--hub_model_id")
        out = train(config)
        if config.push_to_hub:
            push(out, config)
    except (TrainingError, DataError, HubError) as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return 2
    print(f"saved the pipeline to {out}")
    return 0


def push(output_dir, config) -> None:
    """Push the trained pipeline to config.hub_model_id, from the main process only (under `accelerate launch` every
    process runs this script); a failed push says how to push the saved model again."""
    from accelerate import PartialState

    from pipelines.hub.errors import HubError
    from pipelines.hub.push import push_to_hub

    if not PartialState().is_main_process:
        return
    try:
        push_to_hub(output_dir, config.hub_model_id, token=config.hub_token)
    except HubError as error:
        raise HubError(
            f"{error} (the model is saved in {output_dir}: push it again with "
            f"python -m pipelines.hub push {output_dir} --repo-id {config.hub_model_id})"
        ) from None


if __name__ == "__main__":
    sys.exit(main())
