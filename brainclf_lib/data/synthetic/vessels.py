"""What enhances in every real T1ce, tumour or not: dural sinuses, the dura left at the brain's edge by skull
stripping, the choroid plexus of the lateral ventricles, and cortical vessels in the sulci.

Without them a synthetic T1ce's brightest voxels are its white matter, or a high-grade tumour's rim: the
[0.5, 99.5] percentile window then leaves a low-grade brain bright and a high-grade one dark, and a model learns
grade from that window, which fails on real scans, whose upper percentile is always set by normal enhancement
(issue #38: every real glioma came out dark and was called high grade or healthy).
"""

from __future__ import annotations

import numpy as np
import torch

from .warp import smooth_field

#: The atria of the lateral ventricles in MNI space (mm), where the choroid plexus is largest (its glomus).
CHOROID_GLOMUS = np.array([[-27.0, -42.0, 14.0], [27.0, -42.0, 14.0]])
#: Where the sinuses run along the brain's surface: the superior sagittal sinus over the midline, the transverse
#: and sigmoid sinuses at the back and below, as MNI boxes ``(low, high)`` in mm.
SINUS_BOXES = (
    (np.array([-5.0, -110.0, 10.0]), np.array([5.0, 75.0, 90.0])),  # superior sagittal
    (np.array([-75.0, -110.0, -40.0]), np.array([75.0, -70.0, 5.0])),  # transverse and sigmoid
)


def normal_enhancement(tissues: dict[str, torch.Tensor], points: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """A map in [0, 1] of normally enhancing structures at ``points`` (template world mm, ``(i, j, k, 3)``), drawn
    for one subject: how much dura survived stripping and how many cortical vessels show vary between subjects.

    Args:
        tissues: the template's ``csf``, ``brain`` probabilities sampled at ``points``.
        points: where each voxel samples the template.
        rng: the subject's generator.
    """
    brain, csf = tissues["brain"], tissues["csf"]
    shell = (4 * brain * (1 - brain)).clamp(0, 1)  # the brain's edge: 1 where the mask is half, 0 inside and out
    noise = smooth_field(rng, tuple(points.shape[:3]), std=1.0, control=28, channels=2)
    sinuses = shell * _in_boxes(points, SINUS_BOXES)
    dura = shell * torch.sigmoid((noise[..., 0] - rng.uniform(-0.2, 0.6)) / 0.2)
    vessels = csf * (brain > 0.3) * torch.sigmoid((noise[..., 1] - rng.uniform(0.0, 0.6)) / 0.15)
    plexus = sum(torch.exp(-(((points - torch.from_numpy(c.astype(np.float32))) / torch.tensor([5.0, 9.0, 5.0])) ** 2).sum(-1))
                 for c in CHOROID_GLOMUS)
    return torch.stack([sinuses, dura, vessels, plexus * csf]).amax(0).clamp(0, 1)


def _in_boxes(points: torch.Tensor, boxes: tuple[tuple[np.ndarray, np.ndarray], ...]) -> torch.Tensor:
    inside = torch.zeros(points.shape[:3])
    for low, high in boxes:
        low_t, high_t = torch.from_numpy(low.astype(np.float32)), torch.from_numpy(high.astype(np.float32))
        inside = torch.maximum(inside, ((points >= low_t) & (points <= high_t)).all(-1).float())
    return inside
