"""Paper 1 (NeurIPS 2024): reported numbers, for the closing tables of its chapters.

These are the *paper's* values, quoted for comparison: Chen & Li, "Learning Macroscopic Dynamics
from Partial Microscopic Observations", NeurIPS 2024 (arXiv:2410.23938), as read in the result files
of its official code (github.com/MLDS-NUS/Learn-Partial; the file is given per constant). Nothing in
``support`` computes a result from them.
"""

# Paper 1, Fig. 2 (predator–prey; official Predator_Prey/results_process/result.csv): (mean, std) over 3 seeds; keys = force computations.
_PP_BUDGETS = (60_000, 150_000, 300_000, 600_000, 1_200_000, 2_400_000)
_PP_TABLE = {
    "L_z": [(1.86e-2, 2.7e-3), (9.58e-3, 4.9e-3), (3.19e-3, 4.9e-4), (1.24e-3, 1.7e-4), (1.03e-3, 4.6e-5), (7.93e-4, 9.4e-5)],
    "L_x": [(1.09e-2, 4.6e-3), (4.70e-3, 3.2e-4), (2.90e-3, 1.3e-3), (1.24e-3, 1.3e-4), (9.20e-4, 1.9e-4), (6.76e-4, 7.6e-5)],
    "L_x,p (p=3/4)": [(1.79e-2, 9.1e-3), (4.56e-3, 1.6e-3), (2.07e-3, 3.4e-4), (1.08e-3, 1.4e-4), (8.13e-4, 5.3e-5), (6.85e-4, 7.8e-5)],
    "L_x,p (p=1/2)": [(9.22e-3, 3.6e-3), (3.30e-3, 1.3e-3), (1.57e-3, 3.7e-4), (1.46e-3, 4.8e-4), (8.23e-4, 1.1e-5), (6.98e-4, 9.8e-5)],
    "L_x,p (p=1/4)": [(3.50e-3, 1.1e-3), (2.19e-3, 4.6e-4), (1.23e-3, 1.3e-4), (9.08e-4, 2.1e-5), (7.66e-4, 2.6e-4), (5.64e-4, 1.4e-5)],
    "L_x,p (p=1/5)": [(4.00e-3, 1.5e-3), (1.92e-3, 3.8e-4), (1.34e-3, 1.6e-4), (1.13e-3, 2.5e-4), (8.36e-4, 1.6e-4), (5.70e-4, 8.1e-5)],
}
PREDATOR_PREY = {
    "tol": 3e-3,
    "errors": {label: dict(zip(_PP_BUDGETS, rows)) for label, rows in _PP_TABLE.items()},
    # first budget whose mean error is below e_tol (paper's reading of its Fig. 2)
    "budget_to_tol": {"L_z": 600_000, "L_x": 300_000, "L_x,p (p=1/4)": 150_000, "L_x,p (p=1/5)": 150_000},
    "ratio": 4.0,
}

# Paper 1, Allen–Cahn (official Allen_Cahn/loss.txt): relative error on the free energy, 3 seeds (mean, std with ddof = 0).
ALLEN_CAHN = {
    "N": 40_000, "d": 16, "eps": 10 / 200 / (2 * 2 ** 0.5 * 1.4722194895832204),   # ε₁₀ = 10h/(2√2 artanh 0.9)
    "budget": 100_000_000,          # L_z: 2,500 configurations × 40,000 forces; L_x,p: 40,000 × 2,500 (p = 1/16)
    "p_paper": 1 / 16, "p_code": 1600 / 40_000,
    "errors": {"lz": (6.93e-3, 2.80e-3), "lxp": (3.98e-3, 1.58e-3),
               "lz_per_seed": (4.886e-3, 1.0887e-2, 5.016e-3), "lxp_per_seed": (2.341e-3, 6.113e-3, 3.498e-3)},
}
