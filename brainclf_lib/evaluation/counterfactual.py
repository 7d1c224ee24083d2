"""Counterfactual lesions (beyond the paper, taught in ``09_real_scans``): does a model's call rest on the lesion?

Grad-CAM (``07``) shows where a model looked; a counterfactual tests what its call rests on. Paint a lesion into a
healthy brain, as the run saw it (after the percentile window and the resampling), and ask the model again. A model
whose "Healthy" means "no lesion" calls the painted brain a tumour. A model whose "Healthy" means "looks like the
healthy scans of training" (IXI's T1 contrast, its scanners, its skull-stripping: notebook 01's site shortcut) keeps
calling it Healthy, and will call a real glioma that looks like those scans Healthy too.

Two lesions, each drawn from the radiology of its grade at the working resolution: ``dark``, a T1-hypointense
region with a soft, ill-defined edge (a non-enhancing low-grade glioma), and ``ring``, a dark necrotic core inside a
rim as bright as the window allows (a high-grade glioma's enhancement). Both sit deep in the brain, where the model
cannot mistake them for its edge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torchio as tio
from scipy import ndimage

from ..conventions import CLASSES

#: The lesions :func:`paint_lesion` paints.
LESIONS: tuple[str, ...] = ("dark", "ring")
#: A dark lesion keeps this share of the brain's intensity at its centre (a low-grade glioma's core on T1ce sits
#: about half-way between white matter and CSF).
DARK_LEVEL = 0.45
#: A ring's necrotic core keeps this share; its rim is set to 1, the top of the window.
NECROSIS_LEVEL = 0.35


def paint_lesion(image: tio.ScalarImage, kind: str, centre: Sequence[int], radius_mm: float = 20.0) -> tio.ScalarImage:
    """A copy of ``image`` (one preprocessed brain in [0, 1], background 0) with a lesion of ``kind`` centred on
    the voxel ``centre``; nothing outside the brain changes.

    Taught in ``09_real_scans``, which writes the dark lesion out before calling this.

    Args:
        image: a volume as :func:`~brainclf_lib.evaluation.inference.preprocess_scan` returns it.
        kind: ``dark`` or ``ring`` (:data:`LESIONS`).
        centre: a voxel index ``(i, j, k)`` inside the brain.
        radius_mm: the lesion's radius; a ring's rim is its outer 45 %.
    """
    if kind not in LESIONS:
        raise ValueError(f"Unknown lesion {kind!r}; valid lesions are {', '.join(LESIONS)}")
    data = image.data.float().clone()
    brain = data > 0
    spacing = torch.tensor(image.spacing, dtype=torch.float32)
    grid = torch.stack(torch.meshgrid(*(torch.arange(n, dtype=torch.float32) for n in data.shape[1:]), indexing="ij"), -1)
    distance = ((grid - torch.tensor(centre, dtype=torch.float32)) * spacing).norm(dim=-1)[None] / radius_mm
    edge = float(spacing.mean()) / radius_mm / 2  # about half a voxel: soft, not aliased
    if kind == "dark":
        inside = torch.sigmoid((1 - distance) / edge)
        painted = data * (1 - inside * (1 - DARK_LEVEL))
    else:
        core = distance < 0.55
        rim = (distance >= 0.55) & (distance < 1.0)
        painted = torch.where(core, data * NECROSIS_LEVEL, torch.where(rim, torch.ones_like(data), data))
    return tio.ScalarImage(tensor=torch.where(brain, painted, data).clamp(0, 1), affine=image.affine)


def lesion_sites(image: tio.ScalarImage, count: int, radius_mm: float = 20.0, seed: int = 0) -> list[tuple[int, int, int]]:
    """``count`` voxels deep enough in ``image``'s brain for a lesion of ``radius_mm`` (or as deep as the brain
    allows), drawn at random: a lesion at the brain's edge could be read as the edge.

    Taught in ``09_real_scans``.

    Args:
        image: a preprocessed brain (background 0).
        count: how many sites.
        radius_mm: the lesion's radius.
        seed: the draw's seed: the same sites for the same brain and seed.
    """
    brain = image.data[0].numpy() > 0
    depth = ndimage.distance_transform_edt(brain, sampling=image.spacing)
    deep = depth >= min(radius_mm, np.percentile(depth[brain], 90))
    candidates = np.argwhere(deep)
    picked = np.random.default_rng(seed).choice(len(candidates), size=count, replace=len(candidates) < count)
    return [tuple(int(v) for v in candidates[i]) for i in picked]


def counterfactual_calls(predictors: Mapping[str, object], images: Mapping[str, tio.ScalarImage],
                         sites_per_image: int = 1, radius_mm: float = 20.0, seed: int = 0) -> pd.DataFrame:
    """Every run's call on every healthy brain as it is and with each lesion of :data:`LESIONS` painted in: one row
    per run, brain, lesion (``none`` for the brain as it is) and site, with the probabilities.

    Taught in ``09_real_scans``.

    Args:
        predictors: run name -> a :class:`~brainclf_lib.evaluation.inference.Predictor` (anything with its
            ``classify_many``).
        images: brain name -> a preprocessed healthy brain (the runs' own preprocessing).
        sites_per_image: lesion sites per brain, each painted with every lesion.
        radius_mm: the lesions' radius (20 mm: a glioma of the synthetic cohort's typical size).
        seed: draws the sites; every run sees the same painted brains.
    """
    cases = []
    for index, (name, image) in enumerate(images.items()):
        cases.append((name, "none", None, image))
        for site in lesion_sites(image, sites_per_image, radius_mm, seed + index):
            cases += [(name, kind, site, paint_lesion(image, kind, site, radius_mm)) for kind in LESIONS]
    rows = []
    for run, predictor in predictors.items():
        for (name, kind, site, _), call in zip(cases, predictor.classify_many([case[3] for case in cases]), strict=True):
            rows.append({"run": run, "image": name, "lesion": kind, "site": site, "pred": call["label"],
                         **{f"p_{c}": call["probabilities"][c] for c in CLASSES}})
    return pd.DataFrame(rows)


def counterfactual_summary(calls: pd.DataFrame) -> pd.DataFrame:
    """For each lesion (``none`` first), the share of calls that are Healthy, LGG and HGG: a model that reads
    lesions leaves Healthy when one is painted in.

    Taught in ``09_real_scans``.

    Args:
        calls: :func:`counterfactual_calls`' table (or part of it: one run's rows).
    """
    order = ["none", *LESIONS]
    shares = pd.crosstab(calls["lesion"], calls["pred"], normalize="index").reindex(index=order, columns=list(CLASSES))
    return shares.fillna(0.0).rename(columns=lambda c: f"called {c}")
