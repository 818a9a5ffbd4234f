"""Paper 1's Lennard-Jones numbers (its Figs. 3 and 4, read in the result files of its official code).

Quoted for the closing tables of the LJ chapters; nothing in ``support`` computes a result from them.
"""

#: paper 1, Fig. 3 (``Lennard_Jones/results_process/structures.txt``): relative error on T over the
#: 10 test trajectories, mean ± std over 10 models; 800 atoms, d = 32, budget 1e6 atom-forces
#: (L_z: first 5 trajectories = 1250 configurations; L_x,p: p = 1/16, first 80 = 20,000 configurations)
STRUCTURES = {
    "tol": 3e-3,
    "n_atoms": 800,
    "budget": 1_000_000,
    "errors": {
        "mlp": {"L_z": (2.60e-2, 1.01e-2), "L_x,p": (1.34e-3, 2.6e-4)},
        "onsagernet": {"L_z": (4.45e-3, 2.03e-3), "L_x,p": (1.17e-3, 1.8e-4)},
        "gfinn": {"L_z": (1.28e-2, 7.36e-3), "L_x,p": (2.84e-3, 9.9e-4)},
    },
}

#: paper 1, Fig. 4 (``Lennard_Jones_force_computations/results/mse_*.txt``): mean error (10 models,
#: first 5 test trajectories) per training size in configurations; L_x,p with 50 atoms per
#: configuration. NB the official metric compares with the last ensemble member, not the truth.
SCALING_ERRORS = {
    800: {"L_z": {1000: 1.33e-2, 1250: 3.88e-3, 1500: 8.6e-4, 2000: 5.3e-4, 3000: 3.1e-4},
          "L_x,p": {1750: 4.61e-3, 2000: 3.98e-3, 2250: 2.36e-3}},
    2700: {"L_z": {500: 1.50e-2, 750: 1.25e-3, 1000: 7.1e-4, 1500: 3.9e-4},
           "L_x,p": {1250: 4.28e-3, 1750: 2.50e-3, 2000: 3.10e-3, 2250: 2.39e-3}},
    6400: {"L_z": {500: 1.49e-2, 750: 1.28e-3, 1000: 1.36e-3, 1500: 1.02e-3},
           "L_x,p": {1250: 4.75e-3, 1750: 4.53e-3, 2000: 2.58e-3, 2250: 2.44e-3}},
    21600: {"L_z": {250: 2.70e-2, 500: 2.18e-3, 750: 2.67e-3, 1000: 5.6e-4},
            "L_x,p": {500: 6.36e-3, 750: 4.05e-3, 1000: 3.96e-3, 1250: 2.76e-3, 1500: 2.37e-3}},
}

#: paper 1, Fig. 4: force computations to reach e_tol = 3e-3 (first training size below it × atoms
#: whose forces are computed), and their ratio
SCALING = {
    "tol": 3e-3,
    "atoms_per_config": 50,
    "budget_to_tol": {
        800: {"L_z": 1_200_000, "L_x,p": 112_500},
        2700: {"L_z": 2_025_000, "L_x,p": 87_500},
        6400: {"L_z": 4_800_000, "L_x,p": 100_000},
        21600: {"L_z": 10_800_000, "L_x,p": 62_500},
    },
    "ratio": {800: 10.7, 2700: 23.0, 6400: 48.0, 21600: 173.0},
}


#: Implied-label noise ratio of L_x,p at p = 1/16 (RMS of A⁻¹b − Jf over the spread of Jf) for the
#: official LJ-800 data with the official closure autoencoder, T row and median closure row: not a
#: number of the paper, but of the review of the official code that motivated issue 15 (the book's
#: own measurements come from support.label_noise).
OFFICIAL_LABEL_NOISE = {"T": 0.24, "closure_median": 0.12}
