r"""A sparse linear microscopic system with an exact linear closure (the theory chapter's testbed).

The state x ∈ R^N is split into ``n_blocks`` blocks of ``block_size`` coordinates. The dynamics

.. math::  \dot x_i = D\,(Δ_{\rm chain} x)_i - a_{b(i)}\, x_i + \sum_{k\ne b(i)} C_{b(i)k}\, x_{k, j(i)}

(b(i): block of i, j(i): position of i inside its block) combine diffusion along a chain inside each
block (Neumann ends), a decay rate per block, and a coupling of each coordinate to the coordinate at
the same position in the other blocks. Every row of A has at most ``3 + n_blocks − 1`` non-zeros, so a
force row costs O(1) and f_I costs O(|I|).

Block means y_k = mean of block k are closed: ẏ = B y with B = C − diag(a), because the Laplacian
preserves block sums. The first ``n_observables`` block means are the prescribed observables z*; the
remaining ones are the exact closure.
"""

from __future__ import annotations

import torch

from .base import DeterministicSystem, Trajectories

DEFAULT_COUPLING = ((-0.10, 1.00, 0.00, 0.00),
                    (-1.00, -0.10, 0.50, 0.00),
                    (0.00, -0.50, -0.20, 0.80),
                    (0.00, 0.00, -0.80, -0.30))


class LinearBlockSystem(DeterministicSystem):
    """ẋ = A x with sparse A and exact closure ẏ = B y for the block means."""

    name = "linear"
    unit_name = "coordinate"

    def __init__(self, block_size: int = 16, coupling=DEFAULT_COUPLING, diffusion: float = 0.5,
                 n_observables: int = 2, dtype: torch.dtype = torch.float64) -> None:
        B = torch.as_tensor(coupling, dtype=dtype)
        if B.dim() != 2 or B.shape[0] != B.shape[1]:
            raise ValueError("coupling must be a square matrix")
        if block_size < 2:
            raise ValueError("block_size must be at least 2")
        self.B = B
        self.n_blocks = B.shape[0]
        self.block_size = block_size
        self.diffusion = diffusion
        self._n_obs = n_observables
        self.dtype = dtype
        self.neighbours, self.coefs = self._sparse_rows()

    @property
    def state_dim(self) -> int:
        return self.n_blocks * self.block_size

    @property
    def n_observables(self) -> int:
        return self._n_obs

    def _sparse_rows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Row i of A as (neighbour indices, coefficients), padded to a fixed width."""
        nb, bs, D = self.n_blocks, self.block_size, self.diffusion
        N = nb * bs
        width = 3 + nb - 1
        idx = torch.zeros(N, width, dtype=torch.long)
        val = torch.zeros(N, width, dtype=self.dtype)
        for i in range(N):
            blk, j = divmod(i, bs)
            left, right = (i - 1 if j > 0 else i), (i + 1 if j < bs - 1 else i)
            entries = {i: -2 * D + self.B[blk, blk].item()}
            entries[left] = entries.get(left, 0.0) + D
            entries[right] = entries.get(right, 0.0) + D
            for k in range(nb):
                if k != blk:
                    entries[k * bs + j] = entries.get(k * bs + j, 0.0) + self.B[blk, k].item()
            for c, (col, a) in enumerate(entries.items()):
                idx[i, c], val[i, c] = col, a
        return idx, val

    def matrix(self) -> torch.Tensor:
        """The dense N × N matrix A (for tests and exact solutions only)."""
        N = self.state_dim
        A = torch.zeros(N, N, dtype=self.dtype)
        A.scatter_add_(1, self.neighbours, self.coefs)
        return A

    def block_mean_matrix(self) -> torch.Tensor:
        """M (n_blocks × N) with y = M x the block means."""
        return torch.kron(torch.eye(self.n_blocks, dtype=self.dtype),
                          torch.full((1, self.block_size), 1.0 / self.block_size, dtype=self.dtype))

    def observables(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, : self._n_obs * self.block_size].reshape(
            x.shape[0], self._n_obs, self.block_size).mean(-1)

    def exact_closure(self, x: torch.Tensor) -> torch.Tensor:
        """All block means [B, n_blocks] = the exact closed latent state."""
        return x.reshape(x.shape[0], self.n_blocks, self.block_size).mean(-1)

    def _force_rows(self, x: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
        nbr = self.neighbours.to(x.device)[units]                 # [B, m, w]
        coef = self.coefs.to(x.device, x.dtype)[units]
        vals = x.gather(1, nbr.flatten(1)).view_as(coef)
        return (coef * vals).sum(-1)

    def nonzeros_touched(self, units: torch.Tensor) -> int:
        """Multiply–adds spent on f_I: the non-zeros of the requested rows of A."""
        return int((self.coefs[units] != 0).sum())

    def initial_conditions(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Block means ~ N(0, 1) plus within-block fluctuations ~ N(0, 0.3²)."""
        means = torch.randn(n, self.n_blocks, 1, generator=generator, dtype=self.dtype)
        fluct = 0.3 * torch.randn(n, self.n_blocks, self.block_size, generator=generator, dtype=self.dtype)
        return (means + fluct).reshape(n, -1)

    def trajectories(self, n: int, seed: int, *, split: str = "train", dt: float = 0.1,
                     n_steps: int = 100) -> Trajectories:
        """Exact solution x(t) = exp(A t) x₀ sampled every ``dt`` (n_steps + 1 frames)."""
        gen = torch.Generator().manual_seed(seed + (0 if split == "train" else 10_000))
        x0 = self.initial_conditions(n, gen)
        step = torch.linalg.matrix_exp(self.matrix() * dt)
        frames = [x0]
        for _ in range(n_steps):
            frames.append(frames[-1] @ step.T)
        x = torch.stack(frames, dim=1)
        return Trajectories(x=x, dt=dt, forces=x @ self.matrix().T)
