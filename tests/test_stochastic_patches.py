"""Patch decomposition: split/merge, frozen-halo extraction against numpy padding, errors."""

import numpy as np
import pytest
import torch

from support.stochastic.patches import PatchGrid, extract_window, write_window

CASES = [((12,), (4,)), ((8, 6), (4, 3)), ((4, 6, 8), (2, 3, 4))]


@pytest.mark.parametrize("spatial, patch", CASES)
def test_split_merge_round_trip_and_patch_contents(spatial, patch):
    grid = PatchGrid(spatial, patch)
    x = torch.randn(3, 2, *spatial, generator=torch.Generator().manual_seed(0))
    parts = grid.split(x)
    assert parts.shape == (3, grid.n_patches, 2, *patch)
    assert torch.equal(grid.merge(parts), x)
    # patch J is the box at grid.origins(J), read by plain slicing
    for j in range(grid.n_patches):
        o = grid.origins(torch.tensor([j]))[0].tolist()
        box = x[(slice(None), slice(None)) + tuple(slice(a, a + p) for a, p in zip(o, patch))]
        assert torch.equal(parts[:, j], box)
        assert torch.equal(grid.extract(x, torch.full((3,), j)), box)


@pytest.mark.parametrize("boundary, np_mode", [("periodic", "wrap"), ("replicate", "edge")])
@pytest.mark.parametrize("spatial, patch", CASES)
def test_halo_matches_numpy_padding(spatial, patch, boundary, np_mode):
    h = 2
    grid = PatchGrid(spatial, patch, boundary=boundary)
    x = torch.randn(2, 1, *spatial, generator=torch.Generator().manual_seed(1))
    padded = np.pad(x.numpy(), [(0, 0), (0, 0)] + [(h, h)] * len(spatial), mode=np_mode)
    index = torch.tensor([0, grid.n_patches - 1])
    windows = grid.extract(x, index, halo=h)
    for b, j in enumerate(index.tolist()):
        o = grid.origins(torch.tensor([j]))[0].tolist()
        ref = padded[(b, slice(None)) + tuple(slice(a, a + p + 2 * h) for a, p in zip(o, patch))]
        np.testing.assert_array_equal(windows[b].numpy(), ref)


def test_insert_replaces_only_the_chosen_patch():
    grid = PatchGrid((6, 6), (3, 3))
    x = torch.zeros(2, 1, 6, 6)
    out = grid.insert(x, torch.tensor([1, 2]), torch.ones(2, 1, 3, 3))
    assert out[0, 0, :3, 3:].eq(1).all() and out[1, 0, 3:, :3].eq(1).all()
    assert out.sum() == 18 and x.sum() == 0          # the input is not modified


def test_write_window_wraps_periodically():
    x = torch.zeros(1, 1, 5)
    out = write_window(x, torch.tensor([[4]]), torch.tensor([[[1.0, 2.0]]]), boundary="periodic")
    assert out[0, 0].tolist() == [2.0, 0.0, 0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="inside the domain"):
        write_window(x, torch.tensor([[4]]), torch.ones(1, 1, 2), boundary="replicate")


def test_integer_states_are_supported():
    grid = PatchGrid((4, 4), (2, 2))
    x = torch.arange(16).view(1, 1, 4, 4)
    assert torch.equal(grid.merge(grid.split(x)), x)
    assert grid.extract(x, torch.tensor([3]), halo=1).dtype == torch.int64


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="does not tile"):
        PatchGrid((10,), (4,))
    with pytest.raises(ValueError, match="positive"):
        PatchGrid((10,), (0,))
    with pytest.raises(ValueError, match="dimension"):
        PatchGrid((8, 8), (4,))
    with pytest.raises(ValueError, match="unknown boundary"):
        PatchGrid((8,), (4,), boundary="mirror")
    grid = PatchGrid((8,), (4,))
    x = torch.zeros(2, 1, 8)
    with pytest.raises(IndexError):
        grid.extract(x, torch.tensor([0, 2]))
    with pytest.raises(TypeError):
        grid.extract(x, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="shape"):
        grid.extract(x, torch.tensor([0]))
    with pytest.raises(ValueError, match="shape"):
        grid.split(torch.zeros(2, 1, 9))
    with pytest.raises(ValueError):
        grid.extract(x, torch.tensor([0, 1]), halo=-1)
    with pytest.raises(ValueError, match="dimension"):
        extract_window(x, torch.tensor([[0, 0], [0, 0]]), (4,))
