"""Paper 2 (Chen, Huang, Novoselov, Li, arXiv 2511.12842): reported settings and numbers.

Quoted for comparison in the closing tables of the stochastic chapters; nothing in ``support``
computes a result from them. Source of every value: ``shared/papers/paper2.md`` (the digest of the
paper and of its official code and result files); the section of the digest is given per constant.
"""

# §2.1 (config/config.yaml, run.sh): the stochastic predator–prey SPDE experiment.
SPDE = {
    "dt": 0.01,                       # Euler–Maruyama step
    "noise": 0.02,                    # additive noise 0.02·√dt per grid value
    "n_small": 100,                   # grid values of the small (upsampling source) system
    "n_large": 200,                   # grid values of the large system
    "patch": 40,                      # grid values per patch (--n_s 40)
    "n_patches": 5,                   # K
    "n_train_traj": 50,               # small-system training trajectories
    "n_steps": 3000,                  # steps per trajectory (T = 30)
    "n_pairs": 150_000,               # partial-evolution pairs
    "n_test_traj": 50,                # large-system test trajectories per (k, m) condition
    "n_test_conditions": 9,           # (k, m) ∈ {0.05, 0.1, 0.15} × {0.45, 0.5, 0.55}
    "lambdas": (1.0, 2.5, 5.0, 10.0, 20.0),   # run.sh λ sweep (= 1, K/2, K, 2K, 4K)
    "seeds": (0, 1, 2),
    "latent_dim": 4,                  # (ū, v̄, ẑ_u, ẑ_v)
    "sde_lr": 1e-3, "sde_epochs": 100, "sde_batch": 1024, "eps": 1e-5,
    "ae_lr": 1e-4, "ae_epochs": 10, "ae_batch": 256, "ae_weight_decay": 1e-4,
    "ae_betas": (0.9, 0.95),
    # §2.1 "Results": test/mmd_dict.pkl is missing from the official mirror (§5 item 15), so the
    # paper's MMD values are unavailable; the figure's claim is that λ = K is (near-)optimal.
    "mmd": None,
}

# §2.4 (Ising_phase_transition/train/hyperparams.py): hand-tuned λ at T = 2.27 ≈ T_c, per K = (L/16)².
ISING_CRITICAL_LAMBDA = {4: 2.2, 9: 5.4, 16: 10.0, 64: 32.0}

#: Curie–Weiss (paper 2 §2.2; official ``Curie_Weiss/test/curie_weiss_results.csv``): relative squared
#: error of the ensemble-mean trajectory, mean over the 5 initial magnetisations, per patch side ℓ
#: (L = 64, T = 1.1, h = 0.1); and the stationary std over trajectories measured from the official
#: prediction pickles (steps ≥ 100).
CURIE_WEISS = {
    "errors": {64: {"ours": 4.05e-4, "naive": 4.08e-4}, 32: {"ours": 7.85e-4, "naive": 1.01e-3},
               16: {"ours": 1.06e-3, "naive": 2.53e-3}, 8: {"ours": 4.38e-3, "naive": 1.26e-2}},
    "std": {"true": 0.0237, "ours": {64: 0.021, 32: 0.029, 16: 0.029, 8: 0.028},
            "naive": {64: 0.021, 32: 0.039, 16: 0.078, 8: 0.163}},
}

#: 2-D Ising, h = 0.1, T = 2.5 (paper 2 §2.3; official ``Ising/test/ising_results.csv``): relative
#: squared error of the ensemble-mean latent trajectory (all 4 min–max normalised dims, m unscaled),
#: mean over the 7 initial magnetisations, per patch side ℓ (L = 64). The prediction pickles are
#: missing from the official mirror (§5 item 15), so no stds are available.
ISING = {
    "errors": {64: {"ours": 1.95e-3, "naive": 2.09e-3}, 32: {"ours": 4.50e-4, "naive": 1.29e-3},
               16: {"ours": 7.98e-4, "naive": 3.20e-2}, 8: {"ours": 2.84e-2, "naive": 1.31e-1}},
    "test_m0": (-0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75),
    "mean_sweep_time": 6.2021,       # mean physical time of one large-system sweep (test/plot.ipynb)
}
