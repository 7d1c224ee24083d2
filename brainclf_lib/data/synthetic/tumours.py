"""Gliomas with the radiology of their grade, as soft compartment maps on the subject's grid.

HGG: a thick irregular ring-enhancing rim on T1ce around a necrotic core, wide oedema bright on T2 / FLAIR, mass
effect, often large.
LGG: ill-defined, T1-hypointense, mostly non-enhancing (faint patches in one of five), hyperintense on T2 / FLAIR,
no necrosis, little mass effect.
``difficulty`` (0 to 1) makes the grades overlap as they do in the clinic, where some non-enhancing gliomas are
high grade and some low-grade ones enhance: a share ``difficulty / 2`` of tumours has the radiology of the
other grade, so no model can tell those apart and the LGG / HGG error cannot fall below that share.
Tumours sit in the white matter of a lobe drawn with :data:`LOBE_WEIGHTS` (frontal and temporal most often).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from scipy import ndimage

from .templates import mni_tissues
from .warp import mass_effect, smooth_field

EDGE = 0.06  # softness of compartment borders, in units of the tumour radius
#: How often a glioma arises in each lobe: frontal and temporal most, occipital least.
LOBE_WEIGHTS: dict[str, float] = {"frontal": 0.4, "temporal": 0.3, "parietal": 0.2, "occipital": 0.1}


@dataclass(frozen=True)
class TumourSpec:
    grade: str  # HGG or LGG
    centre: np.ndarray  # template world coordinates, mm
    radius: float  # mm
    necrosis: float  # radius of the necrotic core as a fraction of the tumour's (0: none)
    enhancement: float  # T1ce gain of enhancing tissue (0: none)
    patchy: bool  # enhancement in patches (LGG) rather than the whole rim (HGG)
    oedema: float  # extent of oedema beyond the tumour, as a fraction of its radius
    irregularity: float  # amplitude of the noise on the tumour's edge
    mass_effect: float  # how far surrounding tissue is pushed (0 to ~0.5)
    mimic: bool = False  # has the radiology of the other grade
    edge: float = EDGE  # softness of its border (radius units): a low-grade glioma's is ill-defined


def sample_tumour(grade: str, rng: np.random.Generator, difficulty: float, mimic: bool | None = None) -> TumourSpec:
    """Draw a tumour of ``grade``; with probability ``difficulty / 2`` (or when ``mimic`` says so) one with the
    other grade's radiology."""
    if grade not in ("HGG", "LGG"):
        raise ValueError(f"Unknown tumour grade {grade!r}")
    drawn = rng.random() < difficulty / 2  # drawn even when decided, so the rest of the tumour does not change
    mimic = drawn if mimic is None else mimic
    looks_like = {"HGG": "LGG", "LGG": "HGG"}[grade] if mimic else grade
    if looks_like == "HGG":  # a thick irregular rim around necrosis, wide oedema, mass effect, a sharp border
        radius, necrosis, enhancement, patchy, oedema = rng.uniform(15, 28), rng.uniform(0.35, 0.7), rng.uniform(0.65, 0.95), False, rng.uniform(0.35, 0.8)
        irregularity, push, edge = rng.uniform(0.25, 0.4), rng.uniform(0.3, 0.5), EDGE
    else:  # ill-defined, T1-hypointense, no necrosis, little mass effect; one in five with faint patchy enhancement
        faint = rng.random() < 0.2
        radius, necrosis, enhancement, patchy, oedema = rng.uniform(12, 26), 0.0, rng.uniform(0.1, 0.25) if faint else 0.0, faint, rng.uniform(0.1, 0.35)
        irregularity, push, edge = rng.uniform(0.1, 0.25), rng.uniform(0.05, 0.2), rng.uniform(0.12, 0.25)
    centre = _tumour_site(rng, radius)
    return TumourSpec(grade, centre, float(radius), float(necrosis), float(enhancement), patchy, float(oedema),
                      float(irregularity), float(push), mimic, float(edge))


def lobe_of(centre: np.ndarray) -> str:
    """The lobe of an MNI point, from coarse boxes (Talairach-style landmarks): enough to spread and count
    tumours, not an atlas.

    >>> lobe_of(np.array([30.0, 30.0, 20.0])), lobe_of(np.array([-40.0, -20.0, -5.0])), lobe_of(np.array([20.0, -85.0, 10.0]))
    ('frontal', 'temporal', 'occipital')
    """
    x, y, z = (float(v) for v in centre[:3])
    if y < -70:
        return "occipital"
    if z < 5 and abs(x) > 25 and y < 10:
        return "temporal"
    return "frontal" if y > -25 else "parietal"


def compartments(spec: TumourSpec, points: torch.Tensor, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """Soft maps in [0, 1] at ``points`` (template world mm): ``core``, ``necrosis``, ``enhancing``, ``oedema``."""
    noise = smooth_field(rng, tuple(points.shape[:3]), std=1.0, control=20, channels=2)
    c = torch.from_numpy(spec.centre.astype(np.float32))
    level = (points - c).norm(dim=-1) / spec.radius + spec.irregularity * noise[..., 0]
    core = torch.sigmoid((1 - level) / spec.edge)
    necrosis = torch.sigmoid((spec.necrosis - level) / EDGE) if spec.necrosis > 0 else torch.zeros_like(core)
    enhancing = (core - necrosis).clamp(0, 1)
    if spec.patchy:
        enhancing = enhancing * torch.sigmoid((noise[..., 1] - 0.4) / 0.15)
    if spec.enhancement == 0:
        enhancing = torch.zeros_like(core)
    oedema = (torch.sigmoid((1 + spec.oedema - level) / (3 * spec.edge)) - core).clamp(0, 1)
    return {"core": core, "necrosis": necrosis, "enhancing": enhancing, "oedema": oedema}


def mass_effect_points(points: torch.Tensor, spec: TumourSpec) -> torch.Tensor:
    """Sampling points displaced so the tissue around the tumour is pushed aside."""
    return mass_effect(points, spec.centre, spec.radius, spec.mass_effect)


def segmentation(maps: dict[str, torch.Tensor], brain: torch.Tensor) -> torch.Tensor:
    """BraTS labels: 1 necrosis / non-enhancing core, 2 oedema, 4 enhancing tumour, 0 elsewhere."""
    seg = torch.zeros_like(brain, dtype=torch.uint8)
    seg[maps["oedema"] > 0.5] = 2
    seg[maps["core"] > 0.5] = 1
    seg[(maps["enhancing"] > 0.5) & (maps["core"] > 0.5)] = 4
    seg[brain < 0.5] = 0
    return seg


def _tumour_site(rng: np.random.Generator, radius: float) -> np.ndarray:
    """A white-matter point of the cerebral hemispheres, in a lobe drawn by :data:`LOBE_WEIGHTS`, deep enough for
    a tumour of ``radius``."""
    candidates, lobes, affine = _sites()
    lobe = rng.choice(list(LOBE_WEIGHTS), p=list(LOBE_WEIGHTS.values()))
    in_lobe = candidates[lobes == lobe]
    depth = in_lobe[:, 3]
    allowed = in_lobe[depth >= min(0.7 * radius, np.percentile(depth, 90))]
    i, j, k, _ = allowed[rng.integers(len(allowed))]
    return (affine @ np.array([i, j, k, 1.0]))[:3]


@lru_cache(maxsize=1)
def _sites() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    template = mni_tissues()
    wm = template.channel("wm").numpy() > 0.6
    brain = template.channel("brain").numpy() > 0.5
    depth = ndimage.distance_transform_edt(brain)
    z_world = (template.affine @ np.c_[np.zeros((brain.shape[2], 2)), np.arange(brain.shape[2]), np.ones(brain.shape[2])].T)[2]
    wm &= (z_world > -15)[None, None, :]  # above the cerebellum and brainstem
    i, j, k = np.nonzero(wm[::2, ::2, ::2])
    i, j, k = 2 * i, 2 * j, 2 * k
    world = (template.affine @ np.c_[i, j, k, np.ones_like(i)].T)[:3].T
    lobes = np.array([lobe_of(point) for point in world])
    return np.c_[i, j, k, depth[i, j, k]], lobes, template.affine
