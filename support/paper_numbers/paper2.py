"""Paper 2 (Chen, Huang, Novoselov, Li, arXiv 2511.12842): reported settings and numbers.

Quoted for comparison in the closing tables of the stochastic chapters; nothing in ``support``
computes a result from them. Every value was read in the configuration and result files of the
official code (github.com/mengyi-chen/Scalable-learning-of-macroscopic-stochastic-dynamics, commit
02e9047); the file is given per constant.
"""

# The stochastic predator–prey SPDE experiment (Stochastic_Predator_Prey/config/config.yaml, run.sh).
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
    # test/mmd_dict.pkl is missing from the official mirror (its blob is absent), so the paper's
    # MMD values are unavailable; the figure's claim is that λ = K is (near-)optimal.
    "mmd": None,
}

# Ising phase transition (Ising_phase_transition/train/hyperparams.py): hand-tuned λ at T = 2.27 ≈ T_c, per K = (L/16)².
ISING_CRITICAL_LAMBDA = {4: 2.2, 9: 5.4, 16: 10.0, 64: 32.0}

#: Ising phase transition, results (Ising_phase_transition/test/plot.ipynb): power-law fits of the learned SDE's
#: statistics at T = 2.27 over L = 16, 32, 64, 128 (⟨|M|⟩, χ; with R²) and of |dU/dT| at T_c over
#: L = 16, 32, 48, 64; the official code printed no true-vs-predicted numbers.
ISING_CRITICAL = {
    "fits": {"beta_over_nu": 0.1199, "gamma_over_nu": 1.7918, "one_over_nu": 1.0546},
    "r2": {"beta_over_nu": 0.976, "gamma_over_nu": 0.998},
    "dU_dT": {16: 0.631, 32: 1.282, 48: 1.830, 64: 2.844},
    "temperatures": (2.25, 2.26, 2.27, 2.28, 2.29),
    "sizes": (16, 32, 48, 64, 128),
}

#: Curie–Weiss (paper 2; official ``Curie_Weiss/test/curie_weiss_results.csv``): relative squared
#: error of the ensemble-mean trajectory, mean over the 5 initial magnetisations, per patch side ℓ
#: (L = 64, T = 1.1, h = 0.1); and the stationary std over trajectories measured from the official
#: prediction pickles (steps ≥ 100).
CURIE_WEISS = {
    "errors": {64: {"ours": 4.05e-4, "naive": 4.08e-4}, 32: {"ours": 7.85e-4, "naive": 1.01e-3},
               16: {"ours": 1.06e-3, "naive": 2.53e-3}, 8: {"ours": 4.38e-3, "naive": 1.26e-2}},
    "std": {"true": 0.0237, "ours": {64: 0.021, 32: 0.029, 16: 0.029, 8: 0.028},
            "naive": {64: 0.021, 32: 0.039, 16: 0.078, 8: 0.163}},
}

#: 2-D Ising, h = 0.1, T = 2.5 (paper 2; official ``Ising/test/ising_results.csv``): relative
#: squared error of the ensemble-mean latent trajectory (all 4 min–max normalised dims, m unscaled),
#: mean over the 7 initial magnetisations, per patch side ℓ (L = 64). The prediction pickles are
#: missing from the official mirror (their blobs are absent), so no stds are available.
ISING = {
    "errors": {64: {"ours": 1.95e-3, "naive": 2.09e-3}, 32: {"ours": 4.50e-4, "naive": 1.29e-3},
               16: {"ours": 7.98e-4, "naive": 3.20e-2}, 8: {"ours": 2.84e-2, "naive": 1.31e-1}},
    "test_m0": (-0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75),
    "mean_sweep_time": 6.2021,       # mean physical time of one large-system sweep (test/plot.ipynb)
}

#: NbMoTa alloy (paper 2; official ``NbMoTa_Alloy/test/sro_predicted.npy``, rows T = 400 … 3000 K):
#: stationary SRO δ (NbNb, NbMo, NbTa, MoMo, MoTa, TaTa) predicted by the published
#: S-OnsagerNet per temperature (K); ``kmc_2000`` is the time average of the official KMC algorithm
#: over hops 21k–100k of the 1024-site cell at 2000 K (±0.03; run with the official KMC functions for
#: this book); ``macro_std`` the
#: predicted std range of the 6 components at t = 1e-5 s, 2000 K (``test/macro_stats.npz``).
NBMOTA = {
    "sro_predicted": {
        400: (-0.10, -0.08, 0.14, 0.00, 0.09, -0.22),
        600: (-0.36, 0.53, -0.25, -1.18, 0.61, -0.45),
        800: (-0.25, 0.60, -0.33, -1.67, 1.12, -0.76),
        1000: (-0.14, 0.39, -0.31, -1.54, 1.12, -0.84),
        1400: (-0.08, 0.26, -0.21, -1.03, 0.76, -0.57),
        2000: (-0.05, 0.17, -0.13, -0.64, 0.46, -0.34),
        3000: (-0.04, 0.11, -0.08, -0.42, 0.30, -0.23),
    },
    "kmc_2000": (-0.055, 0.189, -0.144, -0.656, 0.469, -0.360),
    "mean_wait_2000": 1.67e-10,       # s per hop, 1024 sites, one vacancy (official KMC functions)
    "macro_std": {1024: (0.064, 0.093), 8192: (0.025, 0.039)},
    "partial_hops": 124, "n_patches": 8, "lambda": 8,
}
