"""One resampling per subject: random affine, smooth elastic field and a tumour's mass effect composed into a
single sampling grid, applied with ``grid_sample`` (one interpolation, not three)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial.transform import Rotation


def world_grid(shape: tuple[int, int, int], affine: np.ndarray) -> torch.Tensor:
    """World (RAS+ mm) coordinates of every voxel centre: ``(i, j, k, 3)``."""
    axes = [torch.arange(n, dtype=torch.float32) for n in shape]
    ijk = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)
    a = torch.from_numpy(affine.astype(np.float32))
    return ijk @ a[:3, :3].T + a[:3, 3]


def random_affine(rng: np.random.Generator, degrees: float = 8.0, scale: float = 0.08, shift: float = 4.0,
                  size: float = 0.0) -> np.ndarray:
    """A 4x4 world-to-world transform: rotation, anisotropic scaling, an overall size change and translation.

    A subject whose head is larger by ``s`` samples the template at points ``1 / s`` closer together.
    """
    rotation = Rotation.from_euler("xyz", rng.uniform(-degrees, degrees, 3), degrees=True).as_matrix()
    overall = 1 / rng.uniform(1 - size, 1 + size)
    matrix = np.eye(4)
    matrix[:3, :3] = rotation @ np.diag(overall * rng.uniform(1 - scale, 1 + scale, 3))
    matrix[:3, 3] = rng.uniform(-shift, shift, 3)
    return matrix


def smooth_field(rng: np.random.Generator, shape: tuple[int, int, int], std: float, control: int = 6, channels: int = 3) -> torch.Tensor:
    """A smooth random field ``(*shape, channels)``: normal control-point values, trilinearly upsampled.

    With 3 channels it is an elastic displacement in mm; with 1, a bias field or the noise on a tumour's edge.
    """
    coarse = torch.from_numpy(rng.normal(0, std, (1, channels, control, control, control)).astype(np.float32))
    return F.interpolate(coarse, size=shape, mode="trilinear", align_corners=True)[0].movedim(0, -1)


def mass_effect(points: torch.Tensor, centre: np.ndarray, radius: float, strength: float) -> torch.Tensor:
    """Pull sampling points towards the tumour centre, so the anatomy around it appears pushed outwards."""
    c = torch.from_numpy(centre.astype(np.float32))
    offset = points - c
    distance2 = (offset**2).sum(-1, keepdim=True)
    return c + offset * (1 - strength * torch.exp(-distance2 / (2 * (1.6 * radius) ** 2)))


def sample(channels: torch.Tensor, affine: np.ndarray, points: torch.Tensor) -> torch.Tensor:
    """Trilinear values of ``channels (C, i, j, k)`` on grid ``affine`` at world ``points (..., 3)``; 0 outside."""
    inverse = torch.from_numpy(np.linalg.inv(affine).astype(np.float32))
    ijk = points @ inverse[:3, :3].T + inverse[:3, 3]
    shape = torch.tensor(channels.shape[1:], dtype=torch.float32)
    grid = (2 * ijk / (shape - 1) - 1).flip(-1)  # grid_sample wants (k, j, i) order
    return F.grid_sample(channels[None], grid[None], align_corners=True, padding_mode="zeros")[0]
