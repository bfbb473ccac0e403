"""Copies or new images as the number of training images N grows.

- `ladders`: the 2-D ladders (pairs of models on disjoint halves; `python -m pipelines.transition`);
- `mnist`: the MNIST pairs (`python -m pipelines.transition.mnist`);
- `loss_gap`: the network against the training loss's optimum, on training and held-out points
  (`python -m pipelines.transition.loss_gap`);
- `dynamics`: the losses (network and optimum, training and held-out) and the copy fraction as one model trains,
  and the times τ_gen and τ_mem read off them (`python -m pipelines.transition.dynamics`);
- `plots`: their pictures.
"""
