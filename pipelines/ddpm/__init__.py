"""How p_θ samples: the DDPM scheduler and the step-by-step pipeline (Ho et al., 2020).

- `scheduler`: `PosteriorDDPMScheduler`: q(x_t|x₀) (`add_noise`), the posterior q(x_{t−1}|x_t,x₀)
  (`q_posterior`, eq. 6–7), x̂₀ (`predict_x0`, eq. 15), p_θ's Gaussian
  (`p_mean_variance`) and `step` with η and every variance;
- `schedule`: the noise schedule β_t (`make_betas`), the descending timesteps of a run (`plan_timesteps`) and
  dynamic thresholding (`threshold_sample`);
- `multistep`: x̂₀ extrapolated from the last steps' x̂₀ (orders 2–3, DPM-Solver++ in posterior form), which
  `step(order=…, history=…)` builds the posterior from;
- `optimal_variance`: Bao et al.'s KL-optimal σ*² with its sampler's clippings, and the model folder's Γ_t file
  (a leaf the scheduler imports);
- `gamma`: Γ_t estimated with the model (`python -m pipelines.ddpm.gamma --model DIR`);
- `pipeline`: `PosteriorDDPMPipeline`, whose `denoise()` yields a `DenoisingStep` per step, and what a model folder is;
- `plots`: the noise schedule's curves.
It knows no Hub: loading by Hub id lives in `pipelines.hub`.
"""
