"""Paper 2's generic mechanisms: scalable learning of macroscopic stochastic dynamics.

Pipeline (a simulator plugs in through the hooks of :class:`~.protocol.PatchDynamics`; a torch
:class:`StochasticSystem` has them through ``GridPatchDynamics`` / ``GridUpsampling``)::

    small snapshots ──upsample_hierarchically──► large snapshots x_t      (Algorithm 1, one loop)
        ──evolve_random_patches──► (x_t, I, x_{t+δt,I}, δt)          one patch per snapshot, frozen surroundings
        ──PatchAdditiveEncoder / encode_pairs──► (z₀, ẑ₁, δt)       partial (λ = K) or naive (λ = 1)
        ──LatentSDE / train_sde──► dz = μ dt + σ dW                  L_p with Cholesky solves
        ──LatentSDE.simulate──► ensembles, compared by support.metrics.mmd2 / mean trajectories

The last two steps for every model of a study (which pair set, which λ, which latent dimensions)
are one call, :func:`~.pipeline.fit_and_roll_out`; a lattice study's per-patch-side results are the
typed, frozen :class:`~.pipeline.PatchSideResult` / :class:`~.pipeline.EnsembleScore` (JSON round
trip in the saved runs' layout). The whole of one patch side — snapshots, optional closure, pairs,
fits, scores — is :func:`~.patch_side_study.patch_side_study`, with the system's hooks as a
:class:`~.patch_side_study.PatchSideSteps` (:func:`~.patch_side_study.patch_sides_study` over the sides).
"""

from .autoencoder import (RECONSTRUCTION_LOSSES, PatchClosureAutoencoder, reconstruction_loss,
                          spin_lattices, train_closure)
from ..systems.stochastic_base import BOUNDARIES, StepResult, StochasticPaths, StochasticSystem, as_generator
from .encoder import TARGETS, LatentPairs, PatchAdditiveEncoder, default_lambda, encode_pairs
from .nets import MLPDecoder, PatchCNN, PatchMLP, PerChannelMLP
from .partial_evolution import (GridPatchDynamics, PartialSample, RandomPatches, evolve_chosen_patches,
                                evolve_random_patches, partial_evolution, sample_patch_indices)
from .pipeline import (Ensemble, EnsembleScore, ModelSpec, PatchSideResult, fit_and_roll_out,
                       partial_and_naive, patch_sides)
from .patch_side_study import PatchSide, PatchSideSteps, Rollout, patch_side_study, patch_sides_study
from .protocol import PatchDynamics, is_patch_dynamics
from .patches import PatchGrid, extract_window, window_coords, write_window
from .sde import (DEFAULT_EPS, DIFFUSION_MODES, Diffusion, LatentSDE, ZScaler, gaussian_increment_nll,
                  train_sde)
from .upsampling import (UPSAMPLE_MODES, GridUpsampling, hierarchical_upsample, local_relax, relax_origins,
                         upsample, upsample_hierarchically)

__all__ = [
    "BOUNDARIES", "DEFAULT_EPS", "DIFFUSION_MODES", "RECONSTRUCTION_LOSSES", "TARGETS", "UPSAMPLE_MODES",
    "PatchClosureAutoencoder", "Diffusion", "LatentPairs", "LatentSDE", "MLPDecoder", "PartialSample",
    "PatchAdditiveEncoder", "PatchGrid", "PatchMLP", "PerChannelMLP", "StepResult", "StochasticPaths",
    "StochasticSystem", "ZScaler", "as_generator", "default_lambda", "encode_pairs",
    "evolve_chosen_patches", "extract_window", "gaussian_increment_nll", "hierarchical_upsample",
    "local_relax", "partial_evolution", "reconstruction_loss", "relax_origins",
    "sample_patch_indices", "train_closure", "train_sde", "upsample", "window_coords", "write_window",
    "GridPatchDynamics", "GridUpsampling", "PatchDynamics", "RandomPatches", "evolve_random_patches",
    "is_patch_dynamics", "upsample_hierarchically", "PatchCNN", "spin_lattices",
    "Ensemble", "EnsembleScore", "ModelSpec", "PatchSideResult", "fit_and_roll_out", "partial_and_naive",
    "patch_sides", "PatchSide", "PatchSideSteps", "Rollout", "patch_side_study", "patch_sides_study",
]
