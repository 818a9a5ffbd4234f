"""`support`: every algorithm of the book, unit-tested; chapters only call it.

Modules (one job each):

* ``scale`` — quick | paper switch (``$MACRODYN_SCALE``), device, seeding;
* ``systems`` — microscopic systems behind one protocol (observables, partial force oracle,
  trajectories);
* ``closure`` — closure autoencoder and the condition-number loss; ``jacobian`` — J, J^†[I];
* ``latent`` — MLP, OnsagerNet, GFINN latent models; ``normalise`` — their input/output scaling;
* ``losses`` — L_z, L_x, L_x,p; ``subsets`` — uniform and importance-weighted subsets;
* ``budget`` — force-computation accounting; ``pipeline`` — the shared deterministic pipeline;
* ``train`` — the one training loop; ``rollout`` — RK4 / Euler–Maruyama; ``metrics``;
* ``stochastic`` — paper 2's patches, partial evolution, SDE closure, upsampling;
* ``experiments`` — one module per chapter; ``python -m support run NAME``.
"""

__version__ = "0.1.0"
