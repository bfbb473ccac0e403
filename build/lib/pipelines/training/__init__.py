"""The 🤗 accelerate training loop behind train.py (it knows no Hub).

- `config`: `TrainConfig` (every flag of train.py) and the UNet's arguments;
- `loop`: setup, resume, the loop, checkpoints and the saved folder.
"""
