"""The true reverse step over a data set, and how the model compares with it.

- `posterior`: `DatasetPosterior`, the exact q(x_{t−1}|x_t) when the data are N images, and its sampler;
- `local`: `LocalPosterior`, the best denoiser that sees only a patch around each pixel (Kamb & Ganguli);
- `sampling`: the loop from pure noise that both posteriors' samplers walk (`denoise_from_noise`, `last_sample`);
- `neighbours`: L2 distances, the k-nearest search and the one copy rule (Gu et al.'s d₁/d₂ < 1/3);
- `comparisons`: tractable vs exact vs model at one step, and exact vs model samplers from the same noise;
- `trajectory`: the network's run kept (`model_run`) and any denoiser's r² along it (`r2_along`);
- `denoisers`: the network against the local and the exact denoiser along its run, and the samplers' copies;
- `denoiser_record`: the shipped denoisers.json (LS, ELS, exact: r² per step and band, copies, costs) and its CLI;
- `variance`: the exact step's variance along a chain and the exact Γ_t;
- `costs`: what an exact step costs against the model's, measured and extrapolated;
- `plots`: their pictures (costs, commitment, nearest distances, the chain's variances, r² along the steps).
"""
