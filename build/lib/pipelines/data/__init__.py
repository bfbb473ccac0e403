"""Where images come from, and the record of what a model was trained on.

- `sources`: MNIST-5k (padded to 32×32, the fixed 4,500/500 split), image folders, 🤗 datasets, an upload made like a
  training image;
- `record`: `training_data.json`, the bundle beside a model, the images a model is compared with, the memory bound.
"""
