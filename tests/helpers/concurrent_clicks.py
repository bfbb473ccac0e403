"""The mix of concurrent clicks the load test (tests/app/test_concurrency.py) and its bench (bench/bench_concurrency.py)
send: every endpoint that computes and draws, several times with different inputs and seeds, and one live
training beside them."""

# (endpoint, arguments): every endpoint that computes and draws, several times with different inputs and seeds.
CALLS = [
    ("/toy_step", dict(dataset="two_moons", num_points=256, t=60, stride=50, x=0.0, y=0.0, seed=1)),
    ("/toy_step", dict(dataset="spiral", num_points=512, t=300, stride=100, x=0.3, y=-0.2, seed=2)),
    ("/toy_step", dict(dataset="eight_gaussians", num_points=128, t=500, stride=250, x=-0.5, y=0.5, seed=3)),
    ("/toy_step", dict(dataset="two_moons", num_points=1000, t=30, stride=10, x=0.5, y=0.25, seed=4)),
    ("/toy_step", dict(dataset="spiral", num_points=64, t=120, stride=120, x=0.0, y=0.7, seed=5)),
    ("/toy_sample", dict(dataset="two_moons", num_points=256, num_samples=300, num_inference_steps=40, seed=6)),
    ("/toy_sample", dict(dataset="spiral", num_points=128, num_samples=200, num_inference_steps=60, seed=7)),
    ("/toy_sample", dict(dataset="eight_gaussians", num_points=64, num_samples=100, num_inference_steps=30, seed=8)),
    ("/sample", dict(seed=9, num_images=2, num_inference_steps=4)),
    ("/posterior", dict(digit_index=11, t=300, seed=10)),
    ("/exact_sample", dict(seed=11, num_images=2, num_inference_steps=6)),
    ("/variance", dict(num_inference_steps=10, seed=13)),
    ("/transition", dict(dataset="two_moons")),
    ("/transition_pair", dict(dataset="spiral", num_points=16)),
    ("/denoiser_fields", dict(dataset="two_moons", num_points=64, t=20)),
    ("/denoiser_fields", dict(dataset="spiral", num_points=256, t=40)),
    ("/loss_gap", dict(dataset="eight_gaussians")),
    ("/training_dynamics", dict(dataset="two_moons")),
    ("/local_posterior", dict(seed=14, patch_size=5, calibrated=False)),
    ("/local_posterior", dict(seed=14, patch_size=9, calibrated=False)),
]
TRAIN = dict(dataset="spiral", num_points=64, train_steps=600, seed=12)
