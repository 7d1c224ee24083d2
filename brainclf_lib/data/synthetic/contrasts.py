"""MR contrast from tissue: each tissue and tumour compartment has its own intensity on T1, T1ce, T2 and FLAIR."""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from .warp import smooth_field

#: Relative intensity of each tissue on each contrast (CSF dark on T1 and bright on T2, suppressed on FLAIR...).
INTENSITY: dict[str, dict[str, float]] = {
    #          csf    gm    wm   necrosis  non-enh  enh-base  oedema
    "t1":    dict(csf=0.20, gm=0.55, wm=0.80, necrosis=0.22, core=0.42, enhancing=0.50, oedema=0.50),
    "t1ce":  dict(csf=0.22, gm=0.57, wm=0.80, necrosis=0.22, core=0.44, enhancing=0.55, oedema=0.52),
    "t2":    dict(csf=1.00, gm=0.60, wm=0.40, necrosis=0.95, core=0.85, enhancing=0.70, oedema=0.82),
    "flair": dict(csf=0.12, gm=0.62, wm=0.48, necrosis=0.40, core=0.90, enhancing=0.78, oedema=0.92),
}

#: How much each tissue's grey level varies between subjects on its own (a standard deviation, relative).
TISSUE_JITTER = 0.07


def compose(
    contrast: str,
    tissues: dict[str, torch.Tensor],
    tumour: dict[str, torch.Tensor] | None,
    enhancement: float,
    rng: np.random.Generator,
    tissue_contrast: float = 1.0,
    normal: torch.Tensor | None = None,
    normal_gain: float = 0.0,
) -> torch.Tensor:
    """Intensity of one contrast from tissue probabilities and tumour compartments, before bias and noise.

    ``tissue_contrast`` stretches (> 1) or flattens (< 1) the differences between tissues, as scanners and
    protocols do, and each subject's tissues vary on their own (by :data:`TISSUE_JITTER`): contrast randomised
    beyond what one scanner does, after SynthSeg, so that no model can lean on one exact grey level. ``normal`` (T1ce only) is the map
    of normally enhancing structures (:mod:`.vessels`), ``normal_gain`` how much brighter than white matter they are.
    """
    values = INTENSITY[contrast]
    middle = float(np.mean(list(values.values())))
    table = {k: (middle + tissue_contrast * (v - middle)) * (1 + rng.normal(0, TISSUE_JITTER)) for k, v in values.items()}
    image = sum(tissues[t] * table[t] for t in ("csf", "gm", "wm"))
    if contrast == "t1ce" and normal is not None:
        image = image * (1 - normal) + normal * table["wm"] * (1 + normal_gain)
    if tumour is None:
        return image
    core, necrosis, enhancing = tumour["core"], tumour["necrosis"], tumour["enhancing"]
    non_enhancing = (core - necrosis - enhancing).clamp(0, 1)
    inside = necrosis * table["necrosis"] + enhancing * table["enhancing"] + non_enhancing * table["core"]
    if contrast == "t1ce":
        inside = inside + enhancement * enhancing
    image = image * (1 - core) + inside * tissues["brain"]
    infiltrated = tumour["oedema"] * (tissues["wm"] + 0.6 * tissues["gm"]).clamp(0, 1)
    return image * (1 - infiltrated) + infiltrated * table["oedema"]


def thick_slices(image: torch.Tensor, slice_mm: float) -> torch.Tensor:
    """A 1 mm volume as a 2D acquisition of ``slice_mm`` slices resampled to 1 mm shows it: blurred along z
    (a Gaussian whose full width at half maximum is the slice thickness)."""
    if slice_mm <= 1.0:
        return image
    blurred = ndimage.gaussian_filter1d(image.numpy(), sigma=slice_mm / 2.355, axis=2, mode="nearest")
    return torch.from_numpy(blurred)


def scanner(image: torch.Tensor, rng: np.random.Generator, noise: float, bias: float) -> torch.Tensor:
    """A scanner's imperfections: a smooth multiplicative bias field, a gamma curve and Rician-like noise."""
    field = torch.exp(smooth_field(rng, tuple(image.shape), std=bias, control=4, channels=1)[..., 0])
    image = (image.clamp(min=0) * field) ** rng.uniform(0.9, 1.1)
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    real = image + noise * torch.randn(image.shape, generator=generator)
    imaginary = noise * torch.randn(image.shape, generator=generator)
    return torch.sqrt(real**2 + imaginary**2)
