"""The NNK barrier network and its voxel encoding, against the reference vectors of the weights'
README (shared/data/nnk_barriers/README.md §5–6, computed with the official code): every listed
barrier to 1e-5 eV, plus symmetries that need no reference (pure crops are orientation-blind)."""

from __future__ import annotations

import numpy as np
import pytest

from support.systems.alloy import barriers as B
from support.systems.alloy.lattice import check_cells, site_mask

TOL = 1e-5
PURE = B.REFERENCE_PURE
RAND = B.REFERENCE_RANDOM
LATTICE_P2 = [2.19048, 2.27222, 1.86559, 1.46858, 1.72325, 1.58654, 1.97200, 2.10926]


@pytest.fixture(scope="module", params=["float32", "float64"])
def net(request):
    return B.BarrierNetwork(dtype=request.param)


def canonical_input(codes) -> np.ndarray:
    """9×9×9 zeros with the 112 sphere sites filled in the array's C order (README §5)."""
    x = np.zeros((9, 9, 9))
    idx = np.argwhere(np.zeros((9, 9, 9)) == 0) - 4                       # C order
    r2 = (idx ** 2).sum(1)
    site = (idx % 2 == idx[:, :1] % 2).all(1) & (r2 <= 21) & (r2 > 0)
    x[tuple((idx[site] + 4).T)] = codes
    return x


def test_sphere_geometry():
    s = B.sphere_sites()
    assert len(s) == 112 and s[:2].tolist() == [[-4, -2, 0], [-4, 0, -2]]
    shells = np.unique((s ** 2).sum(1), return_counts=True)
    assert shells[0].tolist() == [3, 4, 8, 11, 12, 16, 19, 20]
    assert shells[1].tolist() == [8, 6, 12, 24, 8, 6, 24, 24]
    # every orientation maps the migrating atom (canonical (1,1,1)) onto its hop direction
    j = int(np.nonzero((s == 1).all(1))[0][0])
    from support.systems.alloy.lattice import HOPS
    assert (B.crop_offsets()[:, j] == HOPS).all()


@pytest.mark.parametrize("code", [1, 2, 3])
def test_pure_crops(net, code):
    x = canonical_input(code)
    assert abs(float(net.energy_from_input(x)) - PURE[code]) < TOL
    assert abs(float(net.energy_from_sites(np.full(112, code))) - PURE[code]) < TOL


@pytest.mark.parametrize("seed", [0, 1])
def test_random_crops(net, seed):
    codes = np.random.default_rng(seed).integers(1, 4, size=112)
    assert abs(float(net.energy_from_input(canonical_input(codes))) - RAND[seed]) < TOL
    assert abs(float(net.energy_from_sites(codes)) - RAND[seed]) < TOL


def test_full_lattice_orientations(net):
    g = np.full((16, 16, 16), -1, dtype=np.int8)
    g[site_mask(8)] = np.random.default_rng(2).integers(1, 4, size=1024)
    g[0, 0, 0] = 0
    e = net.hop_barriers(g[None], np.array([0]), np.array([[0, 0, 0]]))[0]
    np.testing.assert_allclose(e, LATTICE_P2, atol=TOL)
    # the same vacancy seen at another place of a rolled grid: same barriers
    rolled = np.roll(g, (4, 6, 2), axis=(0, 1, 2))
    np.testing.assert_allclose(net.hop_barriers(rolled[None], np.array([0]), np.array([[4, 6, 2]]))[0],
                               e, atol=1e-6)


def test_2000_crop_statistics():
    net = B.BarrierNetwork(dtype="float64")
    ref = B.REFERENCE_CROPS
    e = net.energy_from_sites(np.random.default_rng(ref["seed"]).integers(1, 4, size=(ref["n"], 112)))
    assert abs(e.mean() - ref["mean"]) < TOL and abs(e.std() - ref["std"]) < TOL
    assert abs(e.min() - ref["min"]) < 1e-3 and abs(e.max() - ref["max"]) < 1e-3


def test_pure_lattice_is_orientation_blind():
    net = B.default_network()
    g = np.full((12, 12, 12), -1, dtype=np.int8)
    g[site_mask(6)] = 2
    g[3, 3, 3] = 0
    e = net.hop_barriers(g[None], np.array([0]), np.array([[3, 3, 3]]))[0]
    np.testing.assert_allclose(e, PURE[2], atol=TOL)


def test_vacancy_target_is_blocked():
    net = B.default_network()
    g = np.full((12, 12, 12), -1, dtype=np.int8)
    g[site_mask(6)] = 1
    g[3, 3, 3] = g[4, 4, 4] = 0
    e = net.hop_barriers(g[None], np.array([0]), np.array([[3, 3, 3]]))[0]
    assert np.isinf(e[7]) and np.isfinite(e[:7]).all()


def test_weights_are_plain_npz_and_bad_inputs_fail(tmp_path):
    with np.load(B.default_weights_path(), allow_pickle=False) as f:
        assert len(f.files) == 26
    assert (B.default_weights_path().parent / "LICENSE-NNK").exists()
    np.savez(tmp_path / "w.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="keys"):
        B.BarrierNetwork(tmp_path / "w.npz")
    with pytest.raises(ValueError, match="729"):
        B.default_network().energy_from_input(np.zeros(100))
    with pytest.raises(ValueError, match="n_cells"):
        check_cells(4)
