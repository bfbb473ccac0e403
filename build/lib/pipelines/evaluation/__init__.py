"""Judging samples offline: the judge network, quality and memorization.

- `judge`: the MNIST classifier the scores use;
- `quality`: classifier-FID with its floor, confident rate, class histogram, copies;
- `memorization`: the memorization report of any model (Gu et al.'s copy rule, the held-out yardstick);
- `plots`: the report's picture;
- `cli` (`python -m pipelines.evaluation`, with the `memorization` and `train-judge` subcommands).
"""
