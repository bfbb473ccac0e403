"""The Hugging Face Hub: loading any folder or Hub id, push, the model card, Space deploy (imports ddpm, never the
other way).

- `loading`: `load_pipeline`, a folder or a Hub repo, safely (safetensors only);
- `push`: a model folder to a Hub repo;
- `space`: the Space's files (`space.json`) and `deploy_space`;
- `card`: the model card;
- `errors`: the Hub's failures as one-line `HubError`s;
- `cli` (`python -m pipelines.hub push|deploy-space`).
"""
