r"""OnsagerNet's and GFINNs' training step with a hand-written backward pass.

The ``gradient="exact"`` models compute ∇V (∇E, ∇S) inside their forward pass by an explicit
vector–Jacobian product (:mod:`.backprop`). Left to autograd, the backward pass of that forward pass
records and replays some fifty small operations per layer (activation pieces, slopes, masks,
broadcast products on ``[B, d, d]``), allocating a fresh buffer for each; on one CPU thread the
paper-size step then ran at about half the machine's matrix-multiply rate. Here the forward pass
and its backward pass are written out together as one :class:`torch.autograd.Function`:

* the activation, its slope σ' and its curvature σ'' (the slope enters the forward pass, so the
  backward pass needs σ'') come from one fused formula (ReQUr: c = clamp(a, 0, ½), σ = c(2a − c),
  σ' = 2c, σ'' = 2·[0 < a < ½]);
* every weight gradient is one matrix product (two for weights that act twice, in the trunk and in
  its vector–Jacobian product, accumulated in place);
* the d×d operators are applied as batched vector–matrix products, and their weight gradient is
  assembled from rank-2 outer products and the triangular masks.

The function is the same as the autograd route (``gradient="autograd"``) and the plain ``exact``
route to round-off (``tests/test_latent_fused.py`` checks outputs, losses and every parameter
gradient to 1e-12 relative in float64, and gradients with respect to z). The backward pass itself is
not differentiable again (no double backward through these models; the ``autograd`` route offers it).

Notation (OnsagerNet, layers k = 0..n−1, h_{−1} = z):
a_k = h_{k−1} W_kᵀ + b_k, h_k = σ(a_k) + r_k h_{k−1} (r_k = 1 on residual layers k ≥ 1);
u = P h + Γ z; ℓ_{n−1} = u W_P, q_k = ℓ_k ⊙ σ'(a_k), ℓ_{k−1} = q_k W_k + r_k ℓ_k;
g = ∇V = q_0 W_0 + u W_Γ + 2βz; A = W_A h + b_A (d×d), L = tril A, U = triu(A, 1);
y = −(L(Lᵀg) + Ug − Uᵀg) − αg + F(h).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..nets import ReQUr

_MASKS: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _masks(d: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(lower incl. diagonal, strictly upper) 0/1 masks ``[d, d]`` in ``like``'s dtype and device."""
    key = (d, like.dtype, like.device)
    if key not in _MASKS:
        lower = torch.ones(d, d, dtype=like.dtype, device=like.device).tril_()
        _MASKS[key] = (lower, 1.0 - lower)
    return _MASKS[key]


def activation_kind(act: nn.Module) -> str:
    """The name under which :func:`value_slope` and :func:`curvature` know ``act``."""
    if isinstance(act, ReQUr):
        return "requr"
    if isinstance(act, nn.Tanh):
        return "tanh"
    if isinstance(act, nn.ReLU):
        return "relu"
    if isinstance(act, nn.Softplus) and act.beta == 1.0:
        return "softplus"
    if isinstance(act, nn.SiLU):
        return "silu"
    if isinstance(act, nn.GELU) and act.approximate == "none":
        return "gelu"
    if isinstance(act, nn.LeakyReLU):
        return f"leaky_relu:{act.negative_slope!r}"
    raise ValueError(f"no fused slope for activation {type(act).__name__}")


def value_slope(kind: str, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(σ(a), σ'(a), what :func:`curvature_times` needs: σ(a) for tanh, else a), with as few passes
    over ``a`` as the activation allows."""
    if kind == "requr":
        c = a.clamp(0.0, 0.5)                      # relu(a) − relu(a − ½)
        return c * torch.add(-c, a, alpha=2.0), c.mul_(2.0), a    # a² on [0, ½], a − ¼ above
    if kind == "tanh":
        t = torch.tanh(a)
        return t, torch.addcmul(torch.ones_like(t), t, t, value=-1.0), t
    return (*_value_slope(kind, a), a)


def _value_slope(kind: str, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if kind == "relu":
        return torch.relu(a), (a > 0).to(a.dtype)
    if kind == "softplus":
        return nn.functional.softplus(a), torch.sigmoid(a)
    if kind == "silu":
        s = torch.sigmoid(a)
        return a * s, s + a * s * (1.0 - s)
    if kind == "gelu":
        cdf = 0.5 * (1.0 + torch.erf(a / math.sqrt(2.0)))
        pdf = torch.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)
        return a * cdf, cdf + a * pdf
    if kind.startswith("leaky_relu:"):
        slope = float(kind.split(":", 1)[1])
        return nn.functional.leaky_relu(a, slope), torch.where(a > 0, torch.ones_like(a), torch.full_like(a, slope))
    raise ValueError(f"unknown activation kind {kind!r}")


def curvature_times(kind: str, keep: torch.Tensor, slope: torch.Tensor, v: torch.Tensor) -> torch.Tensor | None:
    """v ⊙ σ''(a) from ``keep`` (the third output of :func:`value_slope`) and the slope σ'(a)
    (``None`` where σ'' = 0 almost everywhere: ReLU, leaky ReLU)."""
    a = keep
    if kind == "requr":
        return v * ((a > 0) & (a < 0.5)) * 2.0
    if kind == "tanh":
        return v * keep * slope * -2.0                # σ'' = −2 t (1 − t²)
    if kind in ("relu",) or kind.startswith("leaky_relu:"):
        return None
    if kind == "softplus":
        return v * slope * (1.0 - slope)              # s (1 − s)
    if kind == "silu":
        s = torch.sigmoid(a)
        return v * s * (1.0 - s) * (2.0 + a * (1.0 - 2.0 * s))
    if kind == "gelu":
        pdf = torch.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)
        return v * pdf * (2.0 - a * a)
    raise ValueError(f"unknown activation kind {kind!r}")


def _vecmat(v: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """vᵀ M per sample, ``[B, d]`` from ``v [B, d]`` and ``m [B, d, d]`` (Σ_i v_i M_ij)."""
    return torch.bmm(v.unsqueeze(1), m).squeeze(1)


def _sum0(x: torch.Tensor) -> torch.Tensor:
    return x.sum(0)


# ------------------------------------------------------------------------------- OnsagerNet
def onsager_forward(model, z: torch.Tensor) -> torch.Tensor:
    """dz/dt of :class:`~support.latent.onsager.OnsagerNet` (``gradient="exact"``) through the
    hand-written forward and backward pass."""
    trunk = model.trunk
    n = len(trunk.layers)
    force = model.force_layer
    params = ([lay.weight for lay in trunk.layers] + [lay.bias for lay in trunk.layers]
              + [model.potential_layer.weight, model.potential_layer.bias,
                 model.potential_linear.weight, model.potential_linear.bias,
                 model.matrix_layer.weight, model.matrix_layer.bias,
                 force.weight if force is not None else None, force.bias if force is not None else None])
    cfg = (n, activation_kind(trunk.act), bool(trunk.residual), float(model.alpha), float(model.beta), model.d)
    if torch.is_grad_enabled() and (z.requires_grad or any(p is not None and p.requires_grad for p in params)):
        return _OnsagerFunction.apply(z, cfg, *params)
    return _onsager_values(cfg, z, params)[0]


def _onsager_values(cfg, z, params):
    """y and everything the backward pass needs (see the module docstring for the names)."""
    n, kind, residual, alpha, beta, d = cfg
    Ws, bs = params[:n], params[n:2 * n]
    Wp, bp, Wg, bg, Wa, ba, Wf, bf = params[2 * n:]
    hs, pre, slopes = [], [], []
    h = z
    for k in range(n):
        a = torch.addmm(bs[k], h, Ws[k].t())
        out, s, keep = value_slope(kind, a)
        h = out + h if (residual and k > 0) else out
        pre.append(keep), slopes.append(s), hs.append(h)
    u = torch.addmm(bp, h, Wp.t()).addmm_(z, Wg.t()).add_(bg)
    ls, qs = [None] * n, [None] * n
    ell = u @ Wp
    for k in range(n - 1, -1, -1):
        ls[k] = ell
        qs[k] = ell * slopes[k]
        back = qs[k] @ Ws[k]
        ell = back.add_(ell) if (residual and k > 0) else back
    g = ell.addmm_(u, Wg).add_(z, alpha=2.0 * beta)
    lower_mask, upper_mask = _masks(d, z)
    A = torch.addmm(ba, h, Wa.t()).view(-1, d, d)
    L, U = A * lower_mask, A * upper_mask
    t = _vecmat(g, L)                                                  # Lᵀ g
    y = _vecmat(t, L.mT).add_(_vecmat(g, U.mT)).sub_(_vecmat(g, U))   # L(Lᵀg) + Ug − Uᵀg
    y = y.add_(g, alpha=alpha).neg_()
    if Wf is not None:
        y = y.addmm_(h, Wf.t()).add_(bf)
    return y, (hs, pre, slopes, ls, qs, u, g, L, U, t)


class _OnsagerFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, cfg, *params):
        y, (hs, pre, slopes, ls, qs, u, g, L, U, t) = _onsager_values(cfg, z, params)
        ctx.cfg = cfg
        ctx.n_params = len(params)
        ctx.has_force = params[-1] is not None
        saved = [z, u, g, L, U, t, *hs, *pre, *slopes, *ls, *qs, *(p for p in params if p is not None)]
        ctx.save_for_backward(*saved)
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, ybar):
        n, kind, residual, alpha, beta, d = ctx.cfg
        saved = list(ctx.saved_tensors)
        z, u, g, L, U, t = saved[:6]
        rest = saved[6:]
        hs, pre, slopes, ls, qs = (rest[i * n:(i + 1) * n] for i in range(5))
        p = rest[5 * n:]
        Ws, bs = p[:n], p[n:2 * n]
        Wp, bp, Wg, bg, Wa, ba = p[2 * n:2 * n + 6]
        Wf = p[2 * n + 6] if ctx.has_force else None
        h = hs[-1]
        ybar = ybar.contiguous()
        B = ybar.shape[0]
        need_z = ctx.needs_input_grad[0]
        grads_W, grads_b = [None] * n, [None] * n
        # F(h)
        if Wf is not None:
            gWf, gbf = ybar.t() @ h, _sum0(ybar)
            hbar = ybar @ Wf
        else:
            gWf = gbf = None
            hbar = None
        # the operator: y = −(L Lᵀ g + U g − Uᵀ g) − α g
        lower_mask, upper_mask = _masks(d, z)
        v = _vecmat(ybar, L)                                                       # Lᵀ ȳ
        gbar = _vecmat(v, L.mT).sub_(_vecmat(ybar, U.mT)).add_(_vecmat(ybar, U))  # (M − W) ȳ
        gbar = gbar.add_(ybar, alpha=alpha).neg_()
        left = torch.stack((ybar, g), -1)                                          # [B, d, 2]
        Abar = torch.bmm(left, torch.stack((t, v), 1)).mul_(lower_mask)            # ȳ⊗t + g⊗v on the lower part
        skew = torch.bmm(torch.stack((ybar, -g), -1), torch.stack((g, ybar), 1))   # ȳ⊗g − g⊗ȳ
        Abar = Abar.addcmul_(skew, upper_mask).neg_().view(B, d * d)
        gWa, gba = Abar.t() @ h, _sum0(Abar)
        hbar = Abar @ Wa if hbar is None else hbar.addmm_(Abar, Wa)
        # g = q_0 W_0 + u W_Γ + 2βz
        zbar = gbar * (2.0 * beta) if need_z else None
        ubar = gbar @ Wg.t()
        gWg = u.t() @ gbar
        qbar = gbar @ Ws[0].t()
        grads_W[0] = qs[0].t() @ gbar
        # the vector–Jacobian chain ℓ, q, from the first layer to the last
        sbars = [None] * n
        lbar = None
        for k in range(n):
            new = qbar * slopes[k]
            if residual and k > 0:
                new = new.add_(lbar)
            sbars[k] = qbar * ls[k]
            lbar = new
            if k + 1 < n:
                qbar = lbar @ Ws[k + 1].t()
                grads_W[k + 1] = qs[k + 1].t() @ lbar
        # ℓ_{n−1} = u W_P
        ubar = ubar.addmm_(lbar, Wp.t())
        gWp = u.t() @ lbar
        # u = P h + b_P + Γ z + b_Γ
        hbar = hbar.addmm_(ubar, Wp)
        gWp = gWp.addmm_(ubar.t(), h)
        gbp = _sum0(ubar)
        gWg = gWg.addmm_(ubar.t(), z)
        gbg = gbp.clone()
        if need_z:
            zbar = zbar.addmm_(ubar, Wg)
        # the trunk, from the last layer to the first
        for k in range(n - 1, -1, -1):
            abar = hbar * slopes[k]
            curv = curvature_times(kind, pre[k], slopes[k], sbars[k])
            if curv is not None:
                abar = abar.add_(curv)
            prev = hs[k - 1] if k > 0 else z
            grads_W[k] = grads_W[k].addmm_(abar.t(), prev)
            grads_b[k] = _sum0(abar)
            if k > 0:
                hbar_prev = abar @ Ws[k]
                hbar = hbar_prev.add_(hbar) if residual else hbar_prev
            elif need_z:
                zbar = zbar.addmm_(abar, Ws[0])
        out = [zbar, None, *grads_W, *grads_b, gWp, gbp, gWg, gbg, gWa, gba]
        out += [gWf, gbf] if ctx.has_force else [None, None]
        return tuple(out)


# ------------------------------------------------------------------------------------ GFINNs
def _mlp_forward(kind: str, Ws, bs, x: torch.Tensor):
    """Hidden layers h_k = σ(h_{k−1} W_kᵀ + b_k) of a plain net: (h_last, hs, keeps, slopes)."""
    hs, keeps, slopes = [], [], []
    h = x
    for W, b in zip(Ws, bs):
        h, s, keep = value_slope(kind, torch.addmm(b, h, W.t()))
        hs.append(h), keeps.append(keep), slopes.append(s)
    return h, hs, keeps, slopes


def _scalar_gradient(Ws, slopes, w_out: torch.Tensor):
    """∇s of s = w_outᵀ h_L: ℓ_L = w_out, q_k = ℓ_k ⊙ σ'_k, ℓ_{k−1} = q_k W_k; returns (∇s, ls, qs)."""
    n = len(Ws)
    ls, qs = [None] * n, [None] * n
    ell = w_out.expand(slopes[-1].shape[0], -1)
    for k in range(n - 1, -1, -1):
        ls[k] = ell
        qs[k] = ell * slopes[k]
        ell = qs[k] @ Ws[k]
    return ell, ls, qs


def _scalar_gradient_backward(kind, x, Ws, hs, keeps, slopes, ls, qs, gbar, need_x: bool):
    """Gradients of ∇s (from :func:`_scalar_gradient`) given ḡ = ∂J/∂∇s: (W̄s, b̄s, w̄_out, x̄ or None)."""
    n = len(Ws)
    gW, gb = [None] * n, [None] * n
    qbar = gbar @ Ws[0].t()
    gW[0] = qs[0].t() @ gbar
    sbars = [None] * n
    for k in range(n):
        sbars[k] = qbar * ls[k]
        lbar = qbar * slopes[k]
        if k + 1 < n:
            qbar = lbar @ Ws[k + 1].t()
            gW[k + 1] = qs[k + 1].t() @ lbar
    gw_out = _sum0(lbar).unsqueeze(0)
    hbar, xbar = None, None                        # the value s itself is not used
    for k in range(n - 1, -1, -1):
        abar = curvature_times(kind, keeps[k], slopes[k], sbars[k])
        if hbar is not None:
            abar = hbar * slopes[k] if abar is None else abar.addcmul_(hbar, slopes[k])
        if abar is None:                           # σ'' = 0 and nothing above: no gradient reaches here
            gb[k] = torch.zeros_like(Ws[k][:, 0])
            hbar = None
            continue
        gW[k] = gW[k].addmm_(abar.t(), hs[k - 1] if k > 0 else x)
        gb[k] = _sum0(abar)
        if k > 0:
            hbar = abar @ Ws[k]
        elif need_x:
            xbar = abar @ Ws[0]
    return gW, gb, gw_out, xbar


def _mlp_backward(kind, x, Ws, bs, hs, slopes, W_out, hbar_out_rows, need_x: bool):
    """Gradients of y = h_L W_outᵀ + b_out (b_out included) given ȳ = ``hbar_out_rows``:
    (W̄s, b̄s, W̄_out, b̄_out, x̄ or None)."""
    n = len(Ws)
    gW_out = hbar_out_rows.t() @ hs[-1]
    gb_out = _sum0(hbar_out_rows)
    hbar = hbar_out_rows @ W_out
    gW, gb = [None] * n, [None] * n
    xbar = None
    for k in range(n - 1, -1, -1):
        abar = hbar.mul_(slopes[k])
        gW[k] = abar.t() @ (hs[k - 1] if k > 0 else x)
        gb[k] = _sum0(abar)
        if k > 0:
            hbar = abar @ Ws[k]
        elif need_x:
            xbar = abar @ Ws[0]
    return gW, gb, gW_out, gb_out, xbar


def _xi(raw: torch.Tensor) -> torch.Tensor:
    upper = torch.triu(raw, diagonal=1)
    return upper - upper.mT


def gfinn_forward(model, z: torch.Tensor) -> torch.Tensor:
    """dz/dt of :class:`~support.latent.gfinn.GFINN` (``gradient="exact"``) through the hand-written
    forward and backward pass."""
    from .backprop import layer_stack
    nets = [model.energy_net, model.entropy_net, model.poisson.sigma_net, model.friction.sigma_net]
    stacks = [layer_stack(net) for net in nets]
    kinds = {activation_kind(a) for _, acts in stacks for a in acts}
    if len(kinds) != 1:
        raise ValueError("the fused GFINN pass needs one activation for all its nets")
    params, shape = [], []
    for linears, _ in stacks:
        shape.append(len(linears))
        for lin in linears:
            params += [lin.weight, lin.bias]
    params += [model.poisson.xi_raw, model.friction.xi_raw]
    cfg = (kinds.pop(), tuple(shape), model.d, model.K)
    if torch.is_grad_enabled() and (z.requires_grad or any(p is not None and p.requires_grad for p in params)):
        return _GFINNFunction.apply(z, cfg, *params)
    return _gfinn_values(cfg, z, params)[0]


def _split(cfg, params):
    kind, shape, d, K = cfg
    nets, i = [], 0
    for n in shape:
        Ws = [params[i + 2 * j] for j in range(n)]
        bs = [params[i + 2 * j + 1] for j in range(n)]
        nets.append((Ws, bs))
        i += 2 * n
    return (*nets, params[i], params[i + 1])


def _gfinn_values(cfg, z, params):
    kind, shape, d, K = cfg
    (WE, bE), (WS, bS), (WL, bL), (WM, bM), raw_L, raw_M = _split(cfg, params)
    B = z.shape[0]
    fe = _mlp_forward(kind, WE[:-1], bE[:-1], z)
    gE, lsE, qsE = _scalar_gradient(WE[:-1], fe[3], WE[-1])
    fs = _mlp_forward(kind, WS[:-1], bS[:-1], z)
    gS, lsS, qsS = _scalar_gradient(WS[:-1], fs[3], WS[-1])
    saved = {"fe": fe, "fs": fs, "lsE": lsE, "qsE": qsE, "lsS": lsS, "qsS": qsS, "gE": gE, "gS": gS}
    y = None
    # L ∇E = Bᵀ (A − Aᵀ) B ∇E with B from ∇S; M ∇S = Bᵀ A Aᵀ B ∇S with B from ∇E
    for name, (W, b), raw, grad, v in (("L", (WL, bL), raw_L, gS, gE), ("M", (WM, bM), raw_M, gE, gS)):
        f = _mlp_forward(kind, W[:-1], b[:-1], z)
        A = torch.addmm(b[-1], f[0], W[-1].t()).view(B, K, K)
        xi = _xi(raw)                                                   # [K, d, d]
        bmat = (grad @ xi.transpose(0, 1).reshape(d, K * d)).view(B, K, d)   # B_k = ∇Fᵀ ξ_k
        c = _vecmat(v, bmat.mT)                                         # B v
        if name == "L":
            s = _vecmat(c, A.mT).sub_(_vecmat(c, A))                    # A c − Aᵀ c
            w = None
        else:
            w = _vecmat(c, A)                                           # Aᵀ c
            s = _vecmat(w, A.mT)                                        # A Aᵀ c
        out = _vecmat(s, bmat)                                          # Bᵀ s
        y = out if y is None else y.add_(out)
        saved[name] = (f, A, xi, bmat, c, s, w)
    return y, saved


class _GFINNFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, cfg, *params):
        y, saved = _gfinn_values(cfg, z, params)
        ctx.cfg = cfg
        ctx.save_for_backward(z, *params)
        ctx.saved = saved           # intermediate results (not inputs or outputs: safe to keep here)
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, ybar):
        kind, shape, d, K = ctx.cfg
        z, *params = ctx.saved_tensors
        saved = ctx.saved
        (WE, bE), (WS, bS), (WL, bL), (WM, bM), raw_L, raw_M = _split(ctx.cfg, params)
        ybar = ybar.contiguous()
        B = ybar.shape[0]
        need_z = ctx.needs_input_grad[0]
        gbar = {"gE": torch.zeros_like(ybar), "gS": torch.zeros_like(ybar)}
        grads = {}
        zbar = None
        for name, (W, b), grad_name, v_name in (("L", (WL, bL), "gS", "gE"), ("M", (WM, bM), "gE", "gS")):
            f, A, xi, bmat, c, s, w = saved[name]
            v = saved[v_name]
            sbar = _vecmat(ybar, bmat.mT)                               # ∂/∂s of ȳᵀ Bᵀ s
            if name == "L":
                # s = (A − Aᵀ) c: Ā = s̄ cᵀ − c s̄ᵀ, c̄ = Aᵀ s̄ − A s̄
                Abar = torch.bmm(torch.stack((sbar, -c), -1), torch.stack((c, sbar), 1))
                cbar = _vecmat(sbar, A).sub_(_vecmat(sbar, A.mT))
            else:
                # s = A w, w = Aᵀ c: Ā = s̄ wᵀ + c w̄ᵀ with w̄ = Aᵀ s̄; c̄ = A w̄
                wbar = _vecmat(sbar, A)
                Abar = torch.bmm(torch.stack((sbar, c), -1), torch.stack((w, wbar), 1))
                cbar = _vecmat(wbar, A.mT)
            # out = Bᵀ s and c = B v: B̄ = s ȳᵀ + c̄ vᵀ, v̄ = Bᵀ c̄
            bbar = torch.bmm(torch.stack((s, cbar), -1), torch.stack((ybar, v), 1)).view(B, K * d)
            gbar[v_name] = gbar[v_name].add_(_vecmat(cbar, bmat))
            # B = ∇F ξ: ∇F̄ = B̄ ξᵀ, ξ̄ = ∇Fᵀ B̄
            xi_flat = xi.transpose(0, 1).reshape(d, K * d)
            gbar[grad_name] = gbar[grad_name].addmm_(bbar, xi_flat.t())
            xibar = (saved[grad_name].t() @ bbar).view(d, K, d).transpose(0, 1)   # [K, d, d]
            upper = torch.triu(xibar - xibar.mT, diagonal=1)
            grads["raw_" + name] = upper
            # σ-net
            hs, keeps, slopes = f[1], f[2], f[3]
            gW, gb, gW_out, gb_out, xbar = _mlp_backward(kind, z, W[:-1], b[:-1], hs, slopes, W[-1],
                                                         Abar.view(B, K * K), need_x=need_z)
            grads[name] = [g for pair in zip(gW + [gW_out], gb + [gb_out]) for g in pair]
            zbar = xbar if zbar is None else zbar.add_(xbar) if xbar is not None else zbar
        # ∇E and ∇S
        for name, (W, b), fkey, lkey, qkey in (("E", (WE, bE), "fe", "lsE", "qsE"), ("S", (WS, bS), "fs", "lsS", "qsS")):
            f = saved[fkey]
            gW, gb, gw_out, xbar = _scalar_gradient_backward(kind, z, W[:-1], f[1], f[2], f[3], saved[lkey],
                                                             saved[qkey], gbar["g" + name], need_z)
            grads[name] = [g for pair in zip(gW, gb) for g in pair] + [gw_out, None]
            zbar = xbar if zbar is None else zbar.add_(xbar) if xbar is not None else zbar
        out = [zbar, None, *grads["E"], *grads["S"], *grads["L"], *grads["M"], grads["raw_L"], grads["raw_M"]]
        return tuple(out)
