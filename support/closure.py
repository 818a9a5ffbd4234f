r"""The closure autoencoder of paper 1.

z = φ(x) = [φ*(x), φ̂(x)]: the prescribed observables φ* are analytic and fixed (supplied by the
system), the closure φ̂ is learned. A decoder ψ maps z (or only φ̂) back to x. Training loss

.. math::  L_{AE} = \underbrace{\tfrac1N\|x - ψ(φ(x))\|^2}_{L_{rec}}
           + λ_{cond}\,\underbrace{E\,(κ(J J^\top) - 1)^2}_{L_{cond}},\qquad J = ∇φ(x),

where κ(JJᵀ) = λ_max/λ_min (= κ(J)²). L_cond pushes J towards a scaled isometry, which makes L_x
and L_z equivalent up to a constant factor (see the theory chapter). We compute κ from
``eigvalsh`` of the symmetric d×d matrix JJᵀ rather than an SVD (the official code), which is
cheaper and better conditioned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from .jacobian import columns, encoder_jacobian, gram, latent_velocity, pinv_rows_from_gram
from .nets import mlp
from .train import TrainConfig, TrainHistory, fit
from .validation import check_choice, check_finite, check_latent_dim, check_shape

Observables = Callable[[torch.Tensor], torch.Tensor]


class ClosureAutoencoder(nn.Module):
    """φ(x) = [φ*(x), φ̂(x)] with a learned closure φ̂ and a decoder.

    Args:
        observables: φ*, a differentiable map ``[B, N] -> [B, d*]``.
        n_observables: d*.
        state_dim: N.
        latent_dim: d (total, observables included), ``d* <= d < N``.
        hidden: hidden widths of the default MLP encoder and decoder.
        activation: activation of the default MLPs (softplus: smooth Jacobians).
        closure_net: optional custom encoder ``[B, N] -> [B, d − d*]`` (e.g. a permutation-invariant
            one); replaces the default MLP.
        decode_from: ``"latent"`` (decoder sees all of z, the predator–prey choice) or
            ``"closure"`` (decoder sees φ̂ only, the Allen–Cahn/LJ choice).
        rows_in_cond: rows of J in L_cond: ``"all"`` or ``"closure"`` (LJ excluded T).
    """

    def __init__(self, observables: Observables, n_observables: int, state_dim: int, latent_dim: int,
                 hidden: Sequence[int] = (32, 32), activation: str = "softplus",
                 closure_net: nn.Module | None = None, decoder: nn.Module | None = None,
                 decode_from: str = "latent", rows_in_cond: str = "all") -> None:
        super().__init__()
        check_latent_dim(latent_dim, state_dim, n_observables)
        check_choice("decode_from", decode_from, ["latent", "closure"])
        check_choice("rows_in_cond", rows_in_cond, ["all", "closure"])
        self.observables = observables
        self.n_observables = n_observables
        self.state_dim = state_dim
        self.latent_dim = latent_dim
        self.closure_dim = latent_dim - n_observables
        self.decode_from = decode_from
        self.rows_in_cond = rows_in_cond
        self.closure_net = closure_net or mlp([state_dim, *hidden, self.closure_dim], activation)
        dec_in = latent_dim if decode_from == "latent" else self.closure_dim
        self.decoder = decoder or mlp([dec_in, *reversed(tuple(hidden)), state_dim], activation)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """z = [φ*(x), φ̂(x)], ``[B, N] -> [B, d]``."""
        check_shape("x", x, [None, self.state_dim])
        parts = [self.observables(x)]
        if self.closure_dim:
            parts.append(self.closure_net(x))
        return torch.cat(parts, dim=-1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """x̂ = ψ(z) (or ψ(φ̂) with ``decode_from="closure"``)."""
        return self.decoder(z if self.decode_from == "latent" else z[:, self.n_observables:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def jacobian(self, x: torch.Tensor, create_graph: bool = False, chunk: int | None = 256) -> torch.Tensor:
        """J = ∇φ(x), ``[B, d, N]``.

        Generic path: ``torch.func`` on :meth:`encode`. When the closure net provides its own
        ``jacobian(x, create_graph)`` (an analytic chain rule, e.g. :mod:`support.encoders`), the
        observable rows still come from ``torch.func`` and the closure rows from that method.
        """
        check_shape("x", x, [None, self.state_dim])
        own = getattr(self.closure_net, "jacobian", None)
        if not self.closure_dim or not callable(own):
            return encoder_jacobian(self.encode, x, chunk=chunk, create_graph=create_graph)
        obs = encoder_jacobian(self.observables, x, chunk=chunk, create_graph=create_graph)
        return torch.cat([obs, own(x, create_graph=create_graph)], dim=1)

    # -- the pieces of J that L_z and L_x,p need, without the [B, d, N] Jacobian where possible --
    def _factors(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """(J_obs ``[B, d*, N]``, M ``[B, d−d*, H]``, W ``[H, N]``) in float64 when the closure net
        factors its Jacobian as J_closure = M W with W shared by all samples
        (``closure_net.factored_jacobian``, e.g. :class:`support.encoders.MLPClosure`), else ``None``."""
        own = getattr(self.closure_net, "factored_jacobian", None)
        if not self.closure_dim or not callable(own):
            return None
        M, W = own(x)
        return encoder_jacobian(self.observables, x).double(), M.double(), W.double()

    @torch.no_grad()
    def latent_velocity(self, x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """The exact latent velocity J f ``[B, d]`` (L_z's target); with a factored closure
        J f = [J_obs f, M (W f)], which never forms J."""
        check_shape("f", f, list(x.shape))
        factors = self._factors(x)
        if factors is None:
            return latent_velocity(self.jacobian(x), f)
        jo, M, W = factors
        fd = f.double()
        closure = (M @ (fd @ W.T).unsqueeze(-1)).squeeze(-1)
        return torch.cat([(jo @ fd.unsqueeze(-1)).squeeze(-1), closure], dim=1).to(x.dtype)

    @torch.no_grad()
    def gram_and_columns(self, x: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""J Jᵀ ``[B, d, d]`` and the columns J[:, :, rows] ``[B, d, m]`` (float64).

        With a factored closure (J = [J_o; M W]) both come from d×H and H×H products:

        .. math::  J J^\top = \begin{pmatrix} J_o J_o^\top & J_o W^\top M^\top \\
                   M W J_o^\top & M W W^\top M^\top \end{pmatrix},\qquad
                   J[:, I] = \begin{pmatrix} J_o[:, I] \\ M\, W[:, I] \end{pmatrix},

        so memory per sample is O(d·|I| + d·H + N) instead of O(d·N) (the observable rows J_o are few).
        """
        if rows.dim() != 2 or rows.shape[0] != x.shape[0]:
            raise ValueError(f"rows must be [B, m] with B = {x.shape[0]}; got {list(rows.shape)}")
        factors = self._factors(x)
        if factors is None:
            J = self.jacobian(x).double()
            return gram(J), columns(J, rows)
        jo, M, W = factors
        WJo = W @ jo.transpose(1, 2)                                           # [B, H, d*]
        top = torch.cat([gram(jo), (M @ WJo).transpose(1, 2)], dim=2)
        bottom = torch.cat([M @ WJo, M @ (W @ W.T) @ M.transpose(1, 2)], dim=2)
        cols_c = M @ W.T[rows].transpose(1, 2)                                 # M W[:, I]
        return torch.cat([top, bottom], dim=1), torch.cat([columns(jo, rows), cols_c], dim=1)

    def pinv_rows(self, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Rows J^†[b, rows[b], :] ``[B, m, d]`` (dtype of x), from :meth:`gram_and_columns`."""
        return pinv_rows_from_gram(*self.gram_and_columns(x, rows)).to(x.dtype)

    # -- what training reconstructs (overridden by closures that decode a summary of x) --------
    def reconstruction_target(self, x: torch.Tensor) -> torch.Tensor:
        """What the decoder reconstructs: here the state x itself."""
        return x

    def training_tensors(self, snapshots: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The tensors :func:`train_autoencoder` iterates over; the first is always the snapshots."""
        return (snapshots,)

    def reconstruction_loss(self, batch: Sequence[torch.Tensor]) -> torch.Tensor:
        """L_rec = mean (ψ(φ(x)) − target(x))² on a batch of :meth:`training_tensors`."""
        x = batch[0]
        return (self(x) - self.reconstruction_target(x)).pow(2).mean()

    def encode_np(self, x: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
        """Encode a large batch without gradients, in chunks of ``chunk`` samples (default: at most
        4096 and about 2²⁶ numbers, i.e. 0.5 GB in float64, so that a 300,000-dimensional state is
        never copied whole by the encoder's first operation)."""
        chunk = chunk or max(1, min(4096, 2**26 // max(1, x.shape[-1])))
        with torch.no_grad():
            return torch.cat([self.encode(c) for c in x.split(chunk)])


def condition_loss(ae: ClosureAutoencoder, x: torch.Tensor) -> torch.Tensor:
    """L_cond = mean_b (κ(J_b J_bᵀ) − 1)² over the rows selected by ``ae.rows_in_cond``."""
    ev = torch.linalg.eigvalsh(cond_gram(ae, x))
    kappa = ev[:, -1] / ev[:, 0].clamp_min(1e-30)
    return (kappa - 1).pow(2).mean()


def cond_gram(ae: ClosureAutoencoder, x: torch.Tensor) -> torch.Tensor:
    """J Jᵀ on the rows of L_cond, differentiable in the parameters. A closure net with its own
    ``gram(x, create_graph)`` supplies the closure rows' Gram matrix without forming J
    (e.g. :class:`support.encoders.MLPClosure`); otherwise J is formed."""
    own = getattr(ae.closure_net, "gram", None)
    if ae.rows_in_cond == "closure" and ae.closure_dim and callable(own):
        return own(x, create_graph=True)
    J = ae.jacobian(x, create_graph=True, chunk=None)
    if ae.rows_in_cond == "closure":
        J = J[:, ae.n_observables:]
    return gram(J)


def autoencoder_loss(ae: ClosureAutoencoder, batch: Sequence[torch.Tensor], lambda_cond: float,
                     cond_samples: int | None = None) -> torch.Tensor:
    """L_rec + λ_cond · L_cond (L_cond skipped when λ_cond = 0), L_cond on the first
    ``cond_samples`` configurations of the batch (all if ``None``: L_cond needs a Jacobian with a
    graph per sample, the costly part for large N)."""
    loss = ae.reconstruction_loss(batch)
    if lambda_cond:
        x = batch[0]
        loss = loss + lambda_cond * condition_loss(ae, x[:cond_samples] if cond_samples else x)
    return loss


def train_autoencoder(ae: ClosureAutoencoder, snapshots: torch.Tensor, lambda_cond: float,
                      cfg: TrainConfig, cond_samples: int | None = None, max_snapshots: int | None = None,
                      scaling_samples: int = 512, evaluate: Callable[[nn.Module], dict] | None = None) -> TrainHistory:
    """Fit the closure autoencoder on configurations ``[n, N]`` (configurations are free: no force).

    If the closure net has ``fit_scaling(x)`` (input standardisation; a no-op for
    :class:`support.encoders.MLPClosure` with ``input_scaling="raw"``), it is fitted first on at most
    ``scaling_samples`` evenly spaced snapshots; training then uses at most ``max_snapshots`` evenly
    spaced snapshots (all if ``None``). ``evaluate`` is passed to :func:`support.train.fit` (called
    every ``cfg.eval_every`` steps and at the end).
    """
    check_finite("snapshots", snapshots)
    if lambda_cond < 0:
        raise ValueError(f"lambda_cond must be >= 0, got {lambda_cond}")
    if cond_samples is not None and cond_samples < 1:
        raise ValueError(f"cond_samples must be a positive int or None, got {cond_samples}")
    if callable(getattr(ae.closure_net, "fit_scaling", None)):
        ae.closure_net.fit_scaling(snapshots[evenly_spaced(len(snapshots), scaling_samples)])
    if max_snapshots is not None:
        snapshots = snapshots[evenly_spaced(len(snapshots), max_snapshots)]
    return fit(ae, lambda m, b: autoencoder_loss(m, b, lambda_cond, cond_samples),
               ae.training_tensors(snapshots), cfg, evaluate=evaluate)


def evenly_spaced(n: int, k: int) -> torch.Tensor:
    """min(n, k) evenly spaced indices into range(n)."""
    if n < 1 or k < 1:
        raise ValueError(f"need n >= 1 and k >= 1, got n={n}, k={k}")
    return torch.linspace(0, n - 1, min(n, k)).round().long().unique()
