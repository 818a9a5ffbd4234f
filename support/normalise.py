r"""Input/output normalisation of latent models, handled once for every system.

A latent network g acts on standardised inputs and returns standardised velocities:

.. math::  G(z) = s_v ⊙ g\big((z - m_z) / s_z\big) + m_v .

m_z, s_z come from the encoded training configurations. The velocity statistics m_v, s_v come from
finite differences (z_{t+1} − z_t)/Δt along the encoded training trajectories, so they need no
force computation. (The official code used exact latent velocities J f computed with full forces on
all training data, even for L_x,p runs — a small leak of force information we avoid.)
"""

from __future__ import annotations

import torch
from torch import nn

from .validation import check_finite


class LatentNormaliser(nn.Module):
    """Buffers m_z, s_z, m_v, s_v (saved with the model's state dict)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        for name, val in (("z_mean", 0.0), ("z_std", 1.0), ("v_mean", 0.0), ("v_std", 1.0)):
            self.register_buffer(name, torch.full((d,), val))

    @classmethod
    def from_samples(cls, z: torch.Tensor, vel: torch.Tensor, center_velocity: bool = True) -> "LatentNormaliser":
        """m_z, s_z over the frames ``z [n, d]``; m_v, s_v over the velocities ``vel [m, d]``
        (m_v = 0 when ``center_velocity`` is false)."""
        check_finite("z", z)
        norm = cls(z.shape[-1]).to(z.device)
        norm.z_mean.copy_(z.mean(0))
        norm.z_std.copy_(z.std(0).clamp_min(1e-12))
        norm.v_mean.copy_(vel.mean(0) if center_velocity else torch.zeros_like(vel[0]))
        norm.v_std.copy_(vel.std(0).clamp_min(1e-12))
        return norm

    @classmethod
    def from_trajectories(cls, z: torch.Tensor, dt: float, center_velocity: bool = True) -> "LatentNormaliser":
        """Statistics from encoded trajectories ``z [n_traj, T, d]`` saved every ``dt``."""
        if z.dim() != 3 or z.shape[1] < 2:
            raise ValueError(f"z must be [n_traj, T >= 2, d], got {list(z.shape)}")
        vel = ((z[:, 1:] - z[:, :-1]) / dt).reshape(-1, z.shape[-1])
        return cls.from_samples(z.reshape(-1, z.shape[-1]), vel, center_velocity)

    @classmethod
    def from_segments(cls, segments: list[torch.Tensor], dt: float,
                      center_velocity: bool = True) -> "LatentNormaliser":
        """The same statistics from trajectory segments of different lengths ``[T_i, d]`` (e.g. only
        the frames of each trajectory that pass a filter): m_z, s_z over all their frames, m_v, s_v
        over the finite differences within each segment (a one-frame segment adds no velocity)."""
        if not segments or any(s.dim() != 2 for s in segments):
            raise ValueError("segments must be a non-empty list of [T_i, d] tensors")
        diffs = [(s[1:] - s[:-1]) / dt for s in segments if len(s) > 1]
        if not diffs:
            raise ValueError("no segment has two frames: no finite difference to take")
        return cls.from_samples(torch.cat(segments), torch.cat(diffs), center_velocity)


class NormalisedLatentModel(nn.Module):
    """G(z) = s_v ⊙ g((z − m_z)/s_z) + m_v, acting on raw latent coordinates."""

    def __init__(self, net: nn.Module, normaliser: LatentNormaliser) -> None:
        super().__init__()
        self.net = net
        self.norm = normaliser

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        n = self.norm
        return self.net((z - n.z_mean) / n.z_std) * n.v_std + n.v_mean
