r"""Closure encoders for particle systems, with Jacobians cheap enough for the pipeline.

Paper 1's Lennard-Jones closure is an MLP on the ordered vector of unwrapped coordinates
(:class:`MLPClosure`, its input standardised per coordinate or raw: :data:`INPUT_SCALINGS`): relabel the atoms, or move one atom by a box vector, and the closure changes.
:class:`PooledAtomEncoder` is built on periodic neighbourhood descriptors instead: fixed per-atom
descriptors D_i, pooled into moments over the atoms, then a learned MLP ρ,

.. math::
   \hat\varphi(x) = \rho\big(\tilde s(x)\big), \qquad
   s(x) = \Big[\frac1n\sum_i \tilde D_i,\ \frac1n\sum_i \tilde D_i^{\,2}\Big],

with D̃ the per-atom descriptors standardised over all atoms of the training data and s̃ the moments
standardised over its configurations (pooling shrinks their changes by ~1/√n). D_i = [G_i, H_i,
|v_i|²] is built from the neighbours j of atom i within a cut-off r_d, under the minimum-image
convention d_ij = r_i − r_j − L ⌊(r_i − r_j)/L⌉, r_ij = |d_ij|:

.. math::
   G_{ik} = \sum_j b_k(r_{ij}), \qquad
   H_{ik} = \sum_j b_k(r_{ij})\,\frac{d_{ij}\cdot(v_i - v_j)}{r_{ij}}, \qquad
   b_k(r) = e^{-((r-\mu_k)/w)^2}\, f_c(r),\quad f_c(r) = \big(1 - (r/r_d)^2\big)^2\,[r<r_d].

G_i is a smooth radial histogram of the neighbourhood (the LJ potential energy is a pooled pair sum
of exactly this kind); H_ik = d/dt Σ_j B_k(r_ij) with B_k' = b_k is its rate of change, which
carries the power that converts potential into kinetic energy (``rates=False`` drops it). Sums
over j and the means over i make φ̂ invariant to relabelling atoms; the minimum image makes it
invariant to moving any atom by a box vector (periodic images) and to translating the whole system;
f_c is C¹, so J = ∇φ̂ is continuous.

Neighbours are found without gradients: the pairwise minimum-image distances of one configuration
(``[n, n]`` per sample, O(n²) memory: meant for boxes of up to a few thousand atoms) select the
``max_neighbours`` nearest atoms by ``topk``, which keeps shapes fixed so that
``torch.func.vmap(jacrev(·))`` (the generic Jacobian of :mod:`support.jacobian`) works. The result is
exact as long as no atom has more than ``max_neighbours`` neighbours inside r_d;
:meth:`PooledAtomEncoder.check_coverage` verifies that on data.

Both encoders provide ``jacobian(x, create_graph)`` by the chain rule (the same matrix as
``vmap(jacrev(·))``, tested, at a fraction of the cost); :class:`~support.closure.ClosureAutoencoder`
uses a closure net's own ``jacobian`` when it has one, so the pipeline gets the fast path. An
invariant closure cannot (and should not) reconstruct the ordered state, so
:class:`InvariantClosureAutoencoder` decodes the invariant summary s̃(x) instead;
:func:`support.closure.train_autoencoder` trains either kind with reconstruction + λ_cond · L_cond.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.func import jacrev, vmap

from .closure import ClosureAutoencoder
from .nets import mlp
from .validation import check_choice, check_finite, check_shape


def minimum_image(d: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """d − L ⌊d / L⌉: the periodic image of a displacement closest to zero (per axis)."""
    return d - box * torch.round(d / box)


class PooledAtomEncoder(nn.Module):
    """Permutation- and periodic-image-invariant closure net ``[B, 6n] -> [B, out_dim]``, φ̂ = ρ(s̃(x)).

    Args:
        n_atoms: n.
        box: side lengths of the orthorhombic periodic box (three values, or one for a cube).
        out_dim: closure dimension d − d*.
        cutoff: descriptor cut-off r_d (at most half the smallest box side).
        n_basis: number K of radial basis functions (centres evenly spaced on [r_min, r_d]).
        r_min: first basis centre; ``width``: basis width w (default: the centre spacing).
        max_neighbours: neighbours kept per atom (must cover every neighbour inside r_d).
        hidden: width of the two hidden layers of ρ.
        rates: include the rates H (fast: they carry the forces into J f); without them the
            descriptors are the structure G and the kinetic energy |v_i|² only.
        rows_per_atom: state rows per atom; positions are rows 0–2 and velocities rows 3–5.
    """

    def __init__(self, n_atoms: int, box: float | Sequence[float] | torch.Tensor, out_dim: int, *,
                 cutoff: float = 2.0, n_basis: int = 8, r_min: float = 0.9, width: float | None = None,
                 max_neighbours: int = 48, hidden: int = 32, rates: bool = True,
                 rows_per_atom: int = 6) -> None:
        super().__init__()
        box_t = torch.as_tensor(box, dtype=torch.float64).reshape(-1)
        box_t = box_t.expand(3).clone() if box_t.numel() == 1 else box_t
        self._check_args(n_atoms, box_t, out_dim, cutoff, n_basis, r_min, max_neighbours, rows_per_atom)
        self.n_atoms, self.out_dim, self.rows_per_atom = int(n_atoms), int(out_dim), int(rows_per_atom)
        self.cutoff, self.max_neighbours = float(cutoff), int(max_neighbours)
        centres = torch.linspace(r_min, cutoff, n_basis, dtype=torch.float64)
        spacing = float(centres[1] - centres[0]) if n_basis > 1 else cutoff - r_min
        self.width = float(width) if width is not None else spacing
        self.register_buffer("box", box_t)
        self.register_buffer("centres", centres)
        self.rates = bool(rates)
        self.n_features = (2 if self.rates else 1) * n_basis + 1
        self.register_buffer("feature_mean", torch.zeros(self.n_features, dtype=torch.float64))
        self.register_buffer("feature_std", torch.ones(self.n_features, dtype=torch.float64))
        self.register_buffer("summary_mean", torch.zeros(2 * self.n_features, dtype=torch.float64))
        self.register_buffer("summary_std", torch.ones(2 * self.n_features, dtype=torch.float64))
        self.pool_net = mlp([2 * self.n_features, hidden, hidden, out_dim], "softplus")

    @staticmethod
    def _check_args(n_atoms, box, out_dim, cutoff, n_basis, r_min, max_neighbours, rows_per_atom) -> None:
        if box.numel() != 3 or not bool(torch.isfinite(box).all() and (box > 0).all()):
            raise ValueError(f"box must be one or three positive side lengths, got {box.tolist()}")
        if int(n_atoms) < 2 or int(out_dim) < 1 or int(n_basis) < 1:
            raise ValueError(f"need n_atoms >= 2, out_dim >= 1 and n_basis >= 1, got "
                             f"{n_atoms}, {out_dim}, {n_basis}")
        if not (0 < r_min < cutoff <= 0.5 * float(box.min())):
            raise ValueError(f"need 0 < r_min < cutoff <= half the smallest box side "
                             f"({0.5 * float(box.min()):.3f}), got r_min = {r_min}, cutoff = {cutoff}")
        if not (1 <= int(max_neighbours) < int(n_atoms)):
            raise ValueError(f"max_neighbours must lie in [1, n_atoms), got {max_neighbours}")
        if int(rows_per_atom) != 6:
            raise ValueError("PooledAtomEncoder expects per-atom rows [x, y, z, vx, vy, vz] (rows_per_atom = 6)")

    # --------------------------------------------------------------------------- geometry
    def split_state(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Positions and velocities ``[B, n, 3]`` of states ``[B, 6 n]``."""
        check_shape("x", x, [None, self.rows_per_atom * self.n_atoms])
        per_atom = x.reshape(x.shape[0], self.n_atoms, self.rows_per_atom)
        return per_atom[..., :3], per_atom[..., 3:6]

    def _squared_distances(self, r: torch.Tensor) -> torch.Tensor:
        """Minimum-image squared distances ``[B, n, n]`` in float32 (self-pairs +inf), no gradient.

        Only used to *select* neighbours (and to check coverage), so single precision suffices;
        the descriptors themselves are computed from the selected pairs in the input's precision.
        """
        with torch.no_grad():
            box = self.box.to(torch.float32)
            r = r.detach().to(torch.float32)
            r = r - box * torch.floor(r / box)                                # wrap into [0, L)
            d2 = torch.zeros(r.shape[0], self.n_atoms, self.n_atoms, dtype=r.dtype, device=r.device)
            for a in range(3):        # one axis at a time: never an [n, n, 3] tensor
                da = (r[:, :, None, a] - r[:, None, :, a]).abs()
                da = torch.minimum(da, box[a] - da)
                d2 = d2 + da * da
            eye = torch.eye(self.n_atoms, dtype=torch.bool, device=r.device)
            return d2.masked_fill(eye, float("inf"))

    def neighbours(self, r: torch.Tensor, chunk: int = 16) -> torch.Tensor:
        """Indices ``[B, n, k]`` of the k = ``max_neighbours`` nearest atoms (periodic), no gradient."""
        return torch.cat([torch.topk(self._squared_distances(rc), self.max_neighbours, dim=-1,
                                     largest=False).indices for rc in r.split(chunk)])

    def check_coverage(self, x: torch.Tensor, chunk: int = 64) -> float:
        """Raise if some atom of ``x [B, 6n]`` has more than ``max_neighbours`` neighbours within r_d
        (the descriptors would then miss pairs); returns the largest count found."""
        worst = 0
        for xc in x.split(chunk):
            r, _ = self.split_state(xc)
            worst = max(worst, int((self._squared_distances(r) < self.cutoff ** 2).sum(-1).max()))
        if worst > self.max_neighbours:
            raise ValueError(f"an atom has {worst} neighbours within r_d = {self.cutoff} but only "
                             f"max_neighbours = {self.max_neighbours} are kept: raise max_neighbours")
        return float(worst)

    # ------------------------------------------------------------------------- descriptors
    def basis(self, dist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """b_k(r) = exp(−((r − μ_k)/w)²) f_c(r) and its derivative b_k'(r), each ``[..., K]``;
        both vanish at and beyond r_d."""
        gauss, offset, s = self._gaussians(dist)
        fc = (1 - s * s) ** 2
        dfc = -4.0 * s * (1 - s * s) / self.cutoff
        return gauss * fc, gauss * (dfc - 2.0 * offset / self.width * fc)

    def basis_values(self, dist: torch.Tensor) -> torch.Tensor:
        """b_k(r) of :meth:`basis` alone (the descriptors need no derivative): the same numbers, bit
        for bit, in about half the passes over the ``[B, n, k, K]`` pair tensor."""
        gauss, _, s = self._gaussians(dist)
        return gauss * (1 - s * s) ** 2

    def _gaussians(self, dist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """exp(−o²) with o = (r − μ_k)/w ``[..., K]``, o, and s = min(r/r_d, 1) ``[..., 1]``."""
        s = (dist / self.cutoff).clamp(max=1.0).unsqueeze(-1)
        offset = (dist.unsqueeze(-1) - self.centres) / self.width
        return torch.exp(-offset * offset), offset, s

    def pair_geometry(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Neighbour pairs of every atom: indices ``idx [B, n, k]``, unit vectors ``u [B, n, k, 3]``,
        distances, relative velocities ``w = v_i − v_j``, radial speeds ``s = u·w``, velocities."""
        r, v = self.split_state(x)
        idx = self.neighbours(r)                                              # [B, n, k]
        b, n, k = idx.shape
        flat = idx.reshape(b, n * k, 1).expand(-1, -1, 3)
        rj = torch.gather(r, 1, flat).reshape(b, n, k, 3)
        vj = torch.gather(v, 1, flat).reshape(b, n, k, 3)
        d = minimum_image(r.unsqueeze(2) - rj, self.box)                      # [B, n, k, 3]
        dist = torch.sqrt((d * d).sum(-1))                                    # > 0: self excluded
        u = d / dist.unsqueeze(-1)
        w = v.unsqueeze(2) - vj
        return {"idx": idx, "u": u, "dist": dist, "w": w, "s": (u * w).sum(-1), "v": v}

    #: configurations whose pair tensors are built at once by :meth:`descriptors` (``None``: all). The
    #: pair tensors ``[B, n, k, 3]`` of a large batch take GBs (4096 configurations of 256 atoms with 40
    #: neighbours: 1 GB each, several alive at once); every value is per configuration, so the
    #: descriptors do not depend on it.
    descriptor_chunk: int | None = 64

    def descriptors(self, x: torch.Tensor) -> torch.Tensor:
        """Raw per-atom descriptors D_i = [G_i (K), H_i (K, if ``rates``), |v_i|²], ``[B, n, F]``,
        :attr:`descriptor_chunk` configurations at a time."""
        chunk = self.descriptor_chunk
        if chunk is not None and len(x) > chunk:
            return torch.cat([self._descriptors(xc) for xc in x.split(chunk)])
        return self._descriptors(x)

    def _descriptors(self, x: torch.Tensor) -> torch.Tensor:
        p = self.pair_geometry(x)
        return self._from_pairs(p, self.basis_values(p["dist"]))

    def _from_pairs(self, p: dict[str, torch.Tensor], b: torch.Tensor) -> torch.Tensor:
        parts = [b.sum(2)]                                                    # G: [B, n, K]
        if self.rates:
            parts.append((b * p["s"].unsqueeze(-1)).sum(2))                   # H: [B, n, K]
        parts.append((p["v"] * p["v"]).sum(-1, keepdim=True))
        return torch.cat(parts, dim=-1)

    def summary(self, descriptors: torch.Tensor) -> torch.Tensor:
        """The pooled moments s = [mean_i D̃_i, mean_i D̃_i²] of the per-atom standardised descriptors
        D̃ = (D − μ_D)/σ_D, themselves standardised over the training configurations,
        s̃ = (s − μ_s)/σ_s: ``[B, n, F] -> [B, 2F]``. Pooling shrinks configuration-to-configuration
        changes by ~1/√n; the second standardisation restores them to O(1)."""
        feats = (descriptors - self.feature_mean) / self.feature_std
        pooled = torch.cat([feats.mean(1), (feats * feats).mean(1)], dim=-1)
        return (pooled - self.summary_mean) / self.summary_std

    @torch.no_grad()
    def fit_scaling(self, x: torch.Tensor, chunk: int = 64) -> "PooledAtomEncoder":
        """Set μ_D, σ_D (over all atoms) and μ_s, σ_s (over configurations) from ``x [B, 6n]``, after
        checking the neighbour coverage on them; returns ``self``."""
        check_finite("x", x)
        self.check_coverage(x, chunk)
        desc = torch.cat([self.descriptors(xc) for xc in x.split(chunk)])
        flat = desc.reshape(-1, self.n_features)
        self.feature_mean.copy_(flat.mean(0))
        self.feature_std.copy_(flat.std(0).clamp_min(1e-8))
        self.summary_mean.zero_()
        self.summary_std.fill_(1.0)
        pooled = self.summary(desc)
        self.summary_mean.copy_(pooled.mean(0))
        self.summary_std.copy_(pooled.std(0).clamp_min(1e-8) if len(x) > 1 else torch.ones_like(pooled[0]))
        return self

    def head(self, descriptors: torch.Tensor) -> torch.Tensor:
        """The learned part: raw descriptors ``[B, n, F]`` ↦ ρ(s̃) ``[B, out]``."""
        return self.pool_net(self.summary(descriptors))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """φ̂(x) = ρ(s̃(x)), ``[B, out_dim]``."""
        return self.head(self.descriptors(x))

    # ---------------------------------------------------------------------------- Jacobian
    def jacobian(self, x: torch.Tensor, create_graph: bool = False, chunk: int = 8) -> torch.Tensor:
        r"""∂φ̂/∂x ``[B, out_dim, 6n]`` by the chain rule through the descriptors.

        With A = ∂φ̂/∂D (autograd through the small learned head only) and, per pair (i, j),
        u = d_ij/r_ij, w = v_i − v_j, s = u·w:

        .. math::
           ∂G_{ik}/∂r_i = b_k' u,\quad ∂H_{ik}/∂r_i = b_k' s\,u + b_k (w − s u)/r,
           \quad ∂H_{ik}/∂v_i = b_k u,\quad ∂|v_i|^2/∂v_i = 2 v_i,

        and the opposite sign on atom j. This costs O(out · n · k · K) per configuration in a few
        tensor contractions; ``torch.func.vmap(jacrev(·))`` of :meth:`forward` gives the same
        matrix (tested) but differentiates every elementwise operation once per output row.
        ``create_graph=True`` keeps it differentiable in the parameters (for L_cond).
        """
        check_shape("x", x, [None, self.rows_per_atom * self.n_atoms])
        with torch.set_grad_enabled(create_graph and torch.is_grad_enabled()):
            parts = [self._jacobian_chunk(xc, create_graph) for xc in x.split(chunk)]
        out = torch.cat(parts)
        return out if create_graph else out.detach()

    def _jacobian_chunk(self, x: torch.Tensor, create_graph: bool) -> torch.Tensor:
        p = self.pair_geometry(x.detach())
        b, db = self.basis(p["dist"])                                         # [B, n, k, K]
        s, u = p["s"], p["u"]
        head = lambda dsc: self.head(dsc.unsqueeze(0)).squeeze(0)           # noqa: E731
        A = vmap(jacrev(head))(self._from_pairs(p, b))                        # [B, out, n, F]
        K = self.centres.numel()
        a_g, a_e = A[..., :K], A[..., -1]
        # per-pair weights seen from atom i:  ∂/∂r_i = α u + β t,  ∂/∂v_i = β u   ([B, out, n, k])
        alpha = torch.einsum("boik,bijk->boij", a_g, db)
        if self.rates:
            a_h = A[..., K:2 * K]
            alpha = alpha + torch.einsum("boik,bijk->boij", a_h, db * s.unsqueeze(-1))
            beta = torch.einsum("boik,bijk->boij", a_h, b)
        # atom j receives the opposite vector; u and t flip sign from j's side, so it is α, β of the
        # reversed pair (j, i) times j's own u, t: gather them through the reverse pair index.
        rev, found = self._reverse_pairs(p["idx"])
        alpha = alpha + self._gather_reverse(alpha, rev, found)
        j_r = torch.einsum("boij,bijc->boic", alpha, u)
        j_v = 2.0 * a_e.unsqueeze(-1) * p["v"].unsqueeze(1)
        if self.rates:
            beta = beta + self._gather_reverse(beta, rev, found)
            transverse = (p["w"] - s.unsqueeze(-1) * u) / p["dist"].unsqueeze(-1)   # ∂s/∂r_i
            j_r = j_r + torch.einsum("boij,bijc->boic", beta, transverse)
            j_v = j_v + torch.einsum("boij,bijc->boic", beta, u)
        return torch.cat([j_r, j_v], dim=-1).flatten(2)                       # [B, out, 6n]

    @staticmethod
    def _reverse_pairs(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """For pair slot (i, q) with j = idx[i, q]: the flat slot j·k + q' with idx[j, q'] = i, and
        whether it exists (it does for every pair inside r_d when the coverage holds; pairs
        outside r_d carry zero weight)."""
        bsz, n, k = idx.shape
        rows_of_j = torch.gather(idx, 1, idx.reshape(bsz, n * k, 1).expand(-1, -1, k)).reshape(bsz, n, k, k)
        me = torch.arange(n, device=idx.device).view(1, n, 1, 1)
        match = rows_of_j == me
        return idx * k + match.int().argmax(-1), match.any(-1)

    @staticmethod
    def _gather_reverse(weights: torch.Tensor, rev: torch.Tensor, found: torch.Tensor) -> torch.Tensor:
        """weights[b, o, rev[b, i, q]] (zero where the reverse pair is absent), ``[B, out, n, k]``."""
        bsz, out, n, k = weights.shape
        flat = weights.reshape(bsz, out, n * k)
        got = torch.gather(flat, 2, rev.reshape(bsz, 1, n * k).expand(-1, out, -1)).reshape(bsz, out, n, k)
        return got * found.unsqueeze(1)


def summary_statistics(encoder: PooledAtomEncoder, x: torch.Tensor) -> torch.Tensor:
    """The standardised invariant summary s̃(x) ``[B, 2F]`` (the reconstruction target of an
    invariant autoencoder; see :meth:`PooledAtomEncoder.summary`)."""
    return encoder.summary(encoder.descriptors(x))


#: how :class:`MLPClosure` feeds the state to its first layer (see its docstring)
INPUT_SCALINGS = ("standardise", "raw")


class MLPClosure(nn.Module):
    r"""Paper 1's closure net on the ordered state: Linear–σ–…–Linear (``nets.mlp``) on a fixed affine
    image (x − shift)/scale of the input, and its Jacobian by the chain rule.

    .. math::  J(x) = W_L\, D_{L-1} W_{L-1} \cdots D_1 W_1\, \mathrm{diag}(1/\text{scale}),
               \qquad D_l = \mathrm{diag}\,σ'(a_l),

    where a_l are the pre-activations. Only the last product touches the N input columns: one
    ``[B·d, H] @ [H, N]`` matrix product instead of d reverse passes per sample.

    ``input_scaling`` chooses the affine map:

    * ``"standardise"`` (default): :meth:`fit_scaling` sets shift = mean and scale = std of each input
      coordinate over the training snapshots. Coordinates with a small spread are amplified by
      1/std; in the LJ same-start design positions spread ≈ 0.05 and velocities ≈ 0.6, so the
      position columns of J are boosted ≈ 12× relative to the velocity columns.
    * ``"raw"``: shift = 0, scale = 1 always (:meth:`fit_scaling` checks its input and changes
      nothing): the network sees x itself, as in paper 1's official code, and J = W_L ⋯ D_1 W_1.
    """

    def __init__(self, sizes: Sequence[int], activation: str = "softplus",
                 input_scaling: str = "standardise") -> None:
        super().__init__()
        self.input_scaling = check_choice("input_scaling", input_scaling, INPUT_SCALINGS)
        self.net = mlp(sizes, activation)
        self.register_buffer("shift", torch.zeros(sizes[0]))
        self.register_buffer("scale", torch.ones(sizes[0]))

    @torch.no_grad()
    def fit_scaling(self, x: torch.Tensor) -> "MLPClosure":
        """With ``input_scaling="standardise"``: shift, scale = per-coordinate mean and std
        (clamped at 1e-8) over ``x [B, N]``. With ``"raw"``: nothing changes (shift 0, scale 1).
        Returns ``self``."""
        check_shape("x", x, [None, self.shift.shape[0]])
        check_finite("x", x)
        if self.input_scaling == "raw":
            return self
        self.shift.copy_(x.mean(0))
        self.scale.copy_(x.std(0).clamp_min(1e-8))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.shift) / self.scale)

    def factored_jacobian(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(M ``[B, out, H₁]``, W̃₁ ``[H₁, N]``) with J = M W̃₁, without gradients: what
        :meth:`support.closure.ClosureAutoencoder.gram_and_columns` needs to avoid forming J."""
        with torch.no_grad():
            return self._left_factor(x, False), self._first_weight()

    def jacobian(self, x: torch.Tensor, create_graph: bool = False, chunk: int = 256) -> torch.Tensor:
        """∂φ̂/∂x ``[B, out, N]`` (differentiable in the parameters with ``create_graph=True``)."""
        first = self._first_weight()
        with torch.set_grad_enabled(create_graph and torch.is_grad_enabled()):
            out = torch.cat([self._left_factor(xc, create_graph) @ first for xc in x.split(chunk)])
        return out if create_graph else out.detach()

    def gram(self, x: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
        r"""J Jᵀ ``[B, out, out]`` without forming J: with J = M W̃₁ (W̃₁ = W₁ diag(1/scale)),

        .. math::  J J^\top = M\,(\tilde W_1 \tilde W_1^\top)\,M^\top,

        an H₁×H₁ product once per call instead of a ``[B, out, N]`` tensor: the condition-number
        loss then costs nothing that grows with N beyond the forward pass.
        """
        with torch.set_grad_enabled(create_graph and torch.is_grad_enabled()):
            first = self._first_weight()
            M = self._left_factor(x, create_graph)
            out = M @ (first @ first.T) @ M.transpose(1, 2)
        return out if create_graph else out.detach()

    def _first_weight(self) -> torch.Tensor:
        """W̃₁ = W₁ diag(1/scale) ``[H₁, N]``: the only factor of J that touches the N inputs."""
        return self.net[0].weight / self.scale

    def _left_factor(self, x: torch.Tensor, create_graph: bool) -> torch.Tensor:
        """M = W_L D_{L−1} ⋯ W₂ D₁ ``[B, out, H₁]`` (so that J = M W̃₁)."""
        h, slopes = (x - self.shift) / self.scale, []
        for layer in self.net:
            if isinstance(layer, nn.Linear):
                h = layer(h)
            else:
                h, slope = _activation_and_slope(layer, h, create_graph)
                slopes.append(slope)                                          # σ'(a_l) [B, H_l]
        linears = [m for m in self.net if isinstance(m, nn.Linear)]
        if len(linears) == 1:                                                 # no hidden layer: J = W̃₁
            return torch.eye(h.shape[1], dtype=h.dtype, device=h.device).expand(x.shape[0], -1, -1)
        M = linears[-1].weight.expand(x.shape[0], -1, -1)                     # [B, out, H]
        for lin, slope in zip(reversed(linears[1:-1]), reversed(slopes[1:])):
            M = (M * slope.unsqueeze(1)) @ lin.weight
        return M * slopes[0].unsqueeze(1)


def _activation_and_slope(act: nn.Module, a: torch.Tensor, create_graph: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """σ(a) and the elementwise derivative σ'(a) (kept differentiable with ``create_graph``)."""
    with torch.enable_grad():
        a_ = a if (create_graph and a.requires_grad) else a.detach().requires_grad_(True)
        out = act(a_)
        (slope,) = torch.autograd.grad(out.sum(), a_, create_graph=create_graph)
    return (out if create_graph else out.detach()), slope


class InvariantClosureAutoencoder(ClosureAutoencoder):
    """Closure net :class:`PooledAtomEncoder`; the decoder reconstructs the invariant summary s(x).

    The descriptors are fixed functions of x, so training precomputes them once
    (:meth:`training_tensors`) and each step only runs the learned head and the decoder.
    """

    def reconstruction_target(self, x: torch.Tensor) -> torch.Tensor:
        return summary_statistics(self.closure_net, x)

    @torch.no_grad()
    def training_tensors(self, snapshots: torch.Tensor, chunk: int = 64) -> tuple[torch.Tensor, ...]:
        return (snapshots, torch.cat([self.closure_net.descriptors(c) for c in snapshots.split(chunk)]))

    def reconstruction_loss(self, batch: Sequence[torch.Tensor]) -> torch.Tensor:
        _, descriptors = batch
        recon = self.decoder(self.closure_net.head(descriptors))
        return (recon - self.closure_net.summary(descriptors)).pow(2).mean()


def mlp_autoencoder(observables, n_observables: int, state_dim: int, latent_dim: int,
                    hidden: Sequence[int] = (64, 64), activation: str = "softplus",
                    input_scaling: str = "standardise") -> ClosureAutoencoder:
    """Paper 1's LJ autoencoder: closure N → hidden → d − d* on the ordered state, decoder from the
    closure only (d − d* → reversed hidden → N), L_cond on the closure rows. ``input_scaling``
    (``"standardise"`` | ``"raw"``) is the closure's input map (:class:`MLPClosure`; paper 1's
    official code used raw inputs); the decoder's target is always the raw state."""
    closure = MLPClosure([state_dim, *hidden, latent_dim - n_observables], activation, input_scaling)
    decoder = mlp([latent_dim - n_observables, *reversed(tuple(hidden)), state_dim], activation)
    return ClosureAutoencoder(observables, n_observables, state_dim, latent_dim, closure_net=closure,
                                   decoder=decoder, decode_from="closure", rows_in_cond="closure")


def invariant_autoencoder(observables, n_observables: int, encoder: PooledAtomEncoder, latent_dim: int,
                          hidden: Sequence[int] = (64, 64)) -> InvariantClosureAutoencoder:
    """A closure autoencoder with ``encoder`` as closure net and a decoder from the closure to the
    invariant summary (L_cond on the closure rows, as paper 1's LJ autoencoder)."""
    if encoder.out_dim != latent_dim - n_observables:
        raise ValueError(f"encoder.out_dim = {encoder.out_dim} must equal latent_dim − n_observables "
                         f"= {latent_dim - n_observables}")
    decoder = mlp([encoder.out_dim, *hidden, 2 * encoder.n_features], "softplus")
    return InvariantClosureAutoencoder(observables, n_observables, encoder.rows_per_atom * encoder.n_atoms,
                                       latent_dim, closure_net=encoder, decoder=decoder,
                                       decode_from="closure", rows_in_cond="closure")
