"""Closure encoders of ``support.encoders``: exact invariances of the pooled encoder, Jacobians against
``torch.func`` and finite differences, the MLP closure's chain-rule Jacobian, and the autoencoders."""

from __future__ import annotations

import pytest
import torch

from support.closure import condition_loss, train_autoencoder
from support.encoders import (MLPClosure, PooledAtomEncoder, invariant_autoencoder, mlp_autoencoder,
                              summary_statistics)
from support.jacobian import encoder_jacobian, gram, pinv_rows
from support.train import TrainConfig

N_ATOMS = 32
BOX = torch.tensor([3.5, 3.6, 3.7], dtype=torch.float64)


def states(b: int, seed: int = 0) -> torch.Tensor:
    """Random periodic configurations ``[b, 6 n]`` (per atom [r, v]); positions partly unwrapped."""
    gen = torch.Generator().manual_seed(seed)
    r = torch.rand(b, N_ATOMS, 3, generator=gen, dtype=torch.float64) * BOX
    r = r + BOX * torch.randint(-2, 3, (b, N_ATOMS, 3), generator=gen)      # arbitrary periodic images
    v = torch.randn(b, N_ATOMS, 3, generator=gen, dtype=torch.float64)
    return torch.cat([r, v], -1).reshape(b, -1)


@pytest.fixture(scope="module")
def encoder() -> PooledAtomEncoder:
    torch.manual_seed(0)
    enc = PooledAtomEncoder(N_ATOMS, BOX, 5, cutoff=1.7, n_basis=4, r_min=0.8, max_neighbours=24, hidden=16)
    enc = enc.double()
    enc.fit_scaling(states(16, seed=1))
    return enc


def per_atom(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], N_ATOMS, 6)


def test_invariant_to_atom_permutations(encoder):
    x = states(4)
    perm = torch.randperm(N_ATOMS, generator=torch.Generator().manual_seed(3))
    xp = per_atom(x)[:, perm].reshape(4, -1)
    torch.testing.assert_close(encoder(xp), encoder(x), rtol=0, atol=1e-12)
    torch.testing.assert_close(summary_statistics(encoder, xp), summary_statistics(encoder, x), rtol=0, atol=1e-12)


def test_invariant_to_periodic_images_and_translations(encoder):
    x = states(4)
    gen = torch.Generator().manual_seed(5)
    images = per_atom(x).clone()
    images[..., :3] += BOX * torch.randint(-3, 4, (4, N_ATOMS, 3), generator=gen)   # each atom its own image
    torch.testing.assert_close(encoder(images.reshape(4, -1)), encoder(x), rtol=0, atol=1e-12)
    shifted = per_atom(x).clone()
    shifted[..., :3] += BOX * torch.tensor([1.0, -2.0, 4.0], dtype=torch.float64)  # whole box by a box vector
    torch.testing.assert_close(encoder(shifted.reshape(4, -1)), encoder(x), rtol=0, atol=1e-12)
    moved = per_atom(x).clone()
    moved[..., :3] += torch.tensor([0.31, -1.7, 2.9], dtype=torch.float64)         # any rigid translation
    torch.testing.assert_close(encoder(moved.reshape(4, -1)), encoder(x), rtol=0, atol=1e-11)
    # ... but not to moving one atom by something else than a box vector
    nudged = per_atom(x).clone()
    nudged[:, 0, :3] += 0.2
    assert (encoder(nudged.reshape(4, -1)) - encoder(x)).abs().max() > 1e-6


def test_descriptors_match_a_direct_pair_sum(encoder):
    """G_i and |v_i|² against an explicit sum over all 27 periodic images of every other atom."""
    x = states(1, seed=7)
    r, v = per_atom(x)[0, :, :3] % BOX, per_atom(x)[0, :, 3:]
    desc = encoder.descriptors(x)[0]
    K = encoder.centres.numel()
    shifts = torch.cartesian_prod(*[torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)] * 3) * BOX
    for i in (0, 5, 17):
        g = torch.zeros(K, dtype=torch.float64)
        for j in range(N_ATOMS):
            if j != i:
                dist = (r[i] - r[j] + shifts).norm(dim=-1)
                g += encoder.basis(dist[dist < encoder.cutoff])[0].sum(0)
        torch.testing.assert_close(desc[i, :K], g, rtol=1e-12, atol=1e-12)
        assert desc[i, -1] == pytest.approx(float((v[i] ** 2).sum()), rel=1e-14)


def test_basis_values_are_the_basis_without_its_derivative(encoder):
    """The descriptors' value-only basis (half the passes over the pair tensor) is b_k(r) of
    :meth:`basis` bit for bit, and b_k' is its derivative (central differences)."""
    r = torch.linspace(0.5, 2.5, 201, dtype=torch.float64)
    b, db = encoder.basis(r)
    assert torch.equal(encoder.basis_values(r), b)
    h = 1e-6
    fd = (encoder.basis_values(r + h) - encoder.basis_values(r - h)) / (2 * h)
    smooth = (r - encoder.cutoff).abs() > 2 * h            # the clamp at r_d is a kink of f_c''
    torch.testing.assert_close(db[smooth], fd[smooth], rtol=0, atol=1e-8)
    assert (b[r >= encoder.cutoff] == 0).all() and (db[r >= encoder.cutoff] == 0).all()


def test_descriptors_in_chunks_are_bit_identical(encoder):
    """descriptor_chunk bounds the memory of a large batch (lj_encoders' quick run: peak 2.14 → 1.27
    GiB) and changes no value: every descriptor is computed per configuration."""
    x = states(150, seed=3)
    whole = PooledAtomEncoder.descriptor_chunk
    try:
        PooledAtomEncoder.descriptor_chunk = None
        ref, out_ref = encoder.descriptors(x), encoder(x)
        PooledAtomEncoder.descriptor_chunk = 16
        assert torch.equal(encoder.descriptors(x), ref) and torch.equal(encoder(x), out_ref)
    finally:
        PooledAtomEncoder.descriptor_chunk = whole


def test_chain_rule_jacobian_equals_autograd_and_finite_differences(encoder):
    x = states(3, seed=11)
    fast = encoder.jacobian(x)
    generic = encoder_jacobian(encoder, x, chunk=None)
    assert fast.shape == (3, 5, 6 * N_ATOMS)
    torch.testing.assert_close(fast, generic, rtol=1e-9, atol=1e-11)
    h = 1e-6
    for col in (0, 4, 6 * 7 + 2, 6 * 20 + 4, 6 * N_ATOMS - 1):   # positions and velocities
        e = torch.zeros_like(x)
        e[:, col] = h
        fd = (encoder(x + e) - encoder(x - e)) / (2 * h)
        torch.testing.assert_close(fast[:, :, col], fd, rtol=1e-5, atol=1e-7)


def test_jacobian_without_rates_and_in_create_graph_mode():
    torch.manual_seed(4)
    enc = PooledAtomEncoder(N_ATOMS, BOX, 3, cutoff=1.6, n_basis=3, r_min=0.8, max_neighbours=24, hidden=8,
                            rates=False).double()
    x = states(2, seed=23)
    enc.fit_scaling(states(8, seed=29))
    assert enc.n_features == 3 + 1
    torch.testing.assert_close(enc.jacobian(x), encoder_jacobian(enc, x, chunk=None), rtol=1e-9, atol=1e-11)
    J = enc.jacobian(x, create_graph=True)
    assert J.requires_grad and not enc.jacobian(x).requires_grad


def test_jacobian_is_equivariant_under_permutation(encoder):
    """φ̂(Px) = φ̂(x) implies J(Px) = J(x) Pᵀ: the Jacobian columns move with the atoms."""
    x = states(2, seed=13)
    perm = torch.randperm(N_ATOMS, generator=torch.Generator().manual_seed(2))
    xp = per_atom(x)[:, perm].reshape(2, -1)
    J, Jp = encoder.jacobian(x), encoder.jacobian(xp)
    torch.testing.assert_close(Jp.reshape(2, 5, N_ATOMS, 6), J.reshape(2, 5, N_ATOMS, 6)[:, :, perm],
                               rtol=1e-10, atol=1e-12)


def test_coverage_check_and_bad_arguments(encoder):
    x = states(2)
    assert encoder.check_coverage(x) <= encoder.max_neighbours
    narrow = PooledAtomEncoder(N_ATOMS, BOX, 5, cutoff=1.7, r_min=0.8, max_neighbours=2).double()
    with pytest.raises(ValueError, match="max_neighbours"):
        narrow.check_coverage(x)
    with pytest.raises(ValueError, match="half the smallest box side"):
        PooledAtomEncoder(N_ATOMS, BOX, 5, cutoff=2.0)
    with pytest.raises(ValueError, match="max_neighbours"):
        PooledAtomEncoder(N_ATOMS, BOX, 5, cutoff=1.5, max_neighbours=N_ATOMS)
    with pytest.raises(ValueError, match="shape"):
        encoder(x[:, :-1])
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        encoder.fit_scaling(bad)


def test_mlp_closure_chain_rule_jacobian():
    torch.manual_seed(1)
    net = MLPClosure([12, 9, 7, 4], "softplus").double()
    x = torch.randn(5, 12, dtype=torch.float64) * 3
    net.fit_scaling(x)
    torch.testing.assert_close(net.jacobian(x), encoder_jacobian(net, x), rtol=1e-10, atol=1e-12)
    tanh = MLPClosure([12, 6, 3], "tanh").double()
    torch.testing.assert_close(tanh.jacobian(x), encoder_jacobian(tanh, x), rtol=1e-10, atol=1e-12)
    linear = MLPClosure([12, 3]).double().fit_scaling(x)                  # no hidden layer: J = W diag(1/scale)
    torch.testing.assert_close(linear.jacobian(x), encoder_jacobian(linear, x), rtol=1e-10, atol=1e-12)


def test_mlp_closure_gram_equals_j_jt_without_forming_j():
    torch.manual_seed(2)
    x = torch.randn(6, 12, dtype=torch.float64) * 2
    for sizes in ([12, 9, 7, 4], [12, 5, 3], [12, 3]):
        net = MLPClosure(sizes).double().fit_scaling(x)
        J = encoder_jacobian(net, x)
        torch.testing.assert_close(net.gram(x), gram(J), rtol=1e-10, atol=1e-12)


def test_autoencoders_use_the_closure_nets_jacobian_which_agrees_with_torch_func(encoder):
    x = states(6, seed=17)
    obs = lambda s: (per_atom(s)[..., 3:] ** 2).sum((-1, -2)).unsqueeze(-1) / (3 * (N_ATOMS - 1))  # noqa: E731
    inv = invariant_autoencoder(obs, 1, encoder, 6).double()
    mlp = mlp_autoencoder(obs, 1, 6 * N_ATOMS, 6, hidden=(16, 16)).double()
    mlp.closure_net.fit_scaling(x)
    for ae in (inv, mlp):
        torch.testing.assert_close(ae.jacobian(x), encoder_jacobian(ae.encode, x), rtol=1e-9, atol=1e-11)
        # L_cond through the fast Jacobian has the same value and parameter gradient as through torch.func
        ae.zero_grad()
        condition_loss(ae, x).backward()
        fast_grad = [p.grad.clone() for p in ae.closure_net.parameters() if p.grad is not None]
        ae.zero_grad()
        J = encoder_jacobian(ae.encode, x, chunk=None, create_graph=True)[:, 1:]
        ev = torch.linalg.eigvalsh(gram(J))
        ((ev[:, -1] / ev[:, 0] - 1) ** 2).mean().backward()
        slow_grad = [p.grad.clone() for p in ae.closure_net.parameters() if p.grad is not None]
        for a, b in zip(fast_grad, slow_grad):
            torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-10)
    cfg = TrainConfig(lr=3e-3, steps=40, batch_size=16, progress=False, threads=1)
    snaps = states(64, seed=19)
    for ae in (inv, mlp):
        with torch.no_grad():
            before = (ae(snaps) - ae.reconstruction_target(snaps)).pow(2).mean().item()
        hist = train_autoencoder(ae, snaps, 1e-4, cfg, cond_samples=4)
        with torch.no_grad():
            after = (ae(snaps) - ae.reconstruction_target(snaps)).pow(2).mean().item()
        assert after < before and len(hist.loss) > 0
    with pytest.raises(ValueError, match="must equal"):
        invariant_autoencoder(obs, 1, encoder, 9)


@pytest.mark.parametrize("input_scaling", ["standardise", "raw"])
def test_factored_closure_gives_gram_columns_pinv_rows_and_jf_without_forming_j(encoder, input_scaling):
    x = states(5, seed=23)
    obs = lambda s: (per_atom(s)[..., 3:] ** 2).sum((-1, -2)).unsqueeze(-1) / (3 * (N_ATOMS - 1))  # noqa: E731
    ae = mlp_autoencoder(obs, 1, 6 * N_ATOMS, 6, hidden=(16, 16), input_scaling=input_scaling).double()
    ae.closure_net.fit_scaling(states(16, seed=24))
    J = encoder_jacobian(ae.encode, x)                                        # reference: J formed by torch.func
    rows = torch.stack([torch.randperm(6 * N_ATOMS, generator=torch.Generator().manual_seed(b))[:12]
                        for b in range(5)])
    G, cols = ae.gram_and_columns(x, rows)
    torch.testing.assert_close(G, gram(J), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(cols, J.gather(2, rows.unsqueeze(1).expand(-1, 6, -1)), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ae.pinv_rows(x, rows), pinv_rows(J, rows), rtol=1e-9, atol=1e-11)
    f = torch.randn(x.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(ae.latent_velocity(x, f), (J @ f.unsqueeze(-1)).squeeze(-1), rtol=1e-10, atol=1e-12)
    # an encoder without factors takes the generic route (J formed) and agrees too
    inv = invariant_autoencoder(obs, 1, encoder, 6).double()
    Ji = encoder_jacobian(inv.encode, x)
    torch.testing.assert_close(inv.pinv_rows(x, rows), pinv_rows(Ji, rows), rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(inv.latent_velocity(x, f), (Ji @ f.unsqueeze(-1)).squeeze(-1), rtol=1e-9, atol=1e-11)
    with pytest.raises(ValueError, match="rows"):
        ae.gram_and_columns(x, rows[:2])
    with pytest.raises(ValueError, match="shape"):
        ae.latent_velocity(x, f[:, :-1])


@pytest.mark.parametrize("input_scaling", ["standardise", "raw"])
def test_mlp_closure_input_scaling_choices_have_exact_chain_rule_jacobians(input_scaling):
    torch.manual_seed(5)
    x = torch.randn(7, 12, dtype=torch.float64) * torch.linspace(0.05, 3, 12, dtype=torch.float64) + 2
    for sizes in ([12, 9, 7, 4], [12, 3]):
        net = MLPClosure(sizes, "softplus", input_scaling).double().fit_scaling(x)
        J = encoder_jacobian(net, x)                                          # autograd reference
        torch.testing.assert_close(net.jacobian(x), J, rtol=1e-10, atol=1e-12)
        M, W = net.factored_jacobian(x)
        torch.testing.assert_close(M @ W, J, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(net.gram(x), gram(J), rtol=1e-10, atol=1e-12)


def test_raw_input_scaling_feeds_the_state_itself_and_standardise_stays_the_default():
    torch.manual_seed(6)
    x = torch.randn(9, 12, dtype=torch.float64) * 0.05 + 1.0
    assert MLPClosure([12, 4]).input_scaling == "standardise"
    torch.manual_seed(7)
    raw = MLPClosure([12, 8, 4], input_scaling="raw").double().fit_scaling(x)
    assert bool((raw.shift == 0).all()) and bool((raw.scale == 1).all())   # fit_scaling changes nothing
    torch.testing.assert_close(raw(x), raw.net(x), rtol=0, atol=0)           # bit-identical to the bare MLP
    torch.manual_seed(7)
    std = MLPClosure([12, 8, 4]).double().fit_scaling(x)                     # same weights, standardised
    torch.testing.assert_close(std.shift, x.mean(0))
    torch.testing.assert_close(std.scale, x.std(0))
    torch.testing.assert_close(std.jacobian(x), encoder_jacobian(lambda s: raw.net((s - x.mean(0)) / x.std(0)), x),
                               rtol=1e-10, atol=1e-12)
    ae = mlp_autoencoder(lambda s: s[:, :1], 1, 12, 4, hidden=(8,), input_scaling="raw").double()
    cfg = TrainConfig(lr=1e-3, steps=3, batch_size=4, progress=False, threads=1)
    train_autoencoder(ae, x, 1e-4, cfg)
    assert bool((ae.closure_net.scale == 1).all()) and ae.closure_net.input_scaling == "raw"
    with pytest.raises(ValueError, match="input_scaling"):
        MLPClosure([12, 4], input_scaling="per-block")
    with pytest.raises(ValueError, match="input_scaling"):
        mlp_autoencoder(lambda s: s[:, :1], 1, 12, 4, input_scaling="whiten")
    with pytest.raises(ValueError, match="shape"):
        raw.fit_scaling(x[:, :5])
