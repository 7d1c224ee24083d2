"""Counterfactual lesions (beyond the paper, taught in ``09_real_scans``): does a model's call rest on the lesion?

Grad-CAM (``07``) shows where a model looked; a counterfactual tests what its call rests on. Paint a lesion into a
healthy brain, as the run saw it (after the percentile window and the resampling), and ask the model again. A model
whose "Healthy" means "no lesion" calls the painted brain a tumour. A model whose "Healthy" means "looks like the
healthy scans of training" (IXI's T1 contrast, its scanners, its skull-stripping: notebook 01's site shortcut) keeps
calling it Healthy, and will call a real glioma that looks like those scans Healthy too.

Two lesions, each drawn from the radiology of its grade at the working resolution: ``dark``, a T1-hypointense
region with a soft, ill-defined edge (a non-enhancing low-grade glioma), and ``ring``, a dark necrotic core inside a
rim as bright as the window allows (a high-grade glioma's enhancement). Both sit deep in the brain (a lesion radius
from its edge and from the volume's faces where the brain allows), so that they are not read as the brain's edge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torchio as tio
from scipy import ndimage

from ..conventions import CLASSES
from .inference import Predictor

#: The lesions :func:`paint_lesion` paints.
LESIONS: tuple[str, ...] = ("dark", "ring")
#: A dark lesion keeps this share of the brain's intensity at its centre (a low-grade glioma's core on T1ce sits
#: about half-way between white matter and CSF).
DARK_LEVEL = 0.45
#: A ring's necrotic core keeps this share; its rim is set to 1, the top of the window.
NECROSIS_LEVEL = 0.35
#: A ring's core is this share of its radius; the rim is the rest (a thick rim, as a high grade's is).
CORE_SHARE = 0.55


def paint_lesion(image: tio.ScalarImage, kind: str, centre: Sequence[int], radius_mm: float = 20.0) -> tio.ScalarImage:
    """A copy of ``image`` (one preprocessed brain in [0, 1], background 0) with a lesion of ``kind`` centred on
    the voxel ``centre``; nothing outside the brain changes.

    Taught in ``09_real_scans``, which writes the dark lesion out before calling this.

    Args:
        image: a volume as :func:`~brainclf_lib.evaluation.inference.preprocess_scan` returns it.
        kind: ``dark`` or ``ring`` (:data:`LESIONS`).
        centre: a voxel index ``(i, j, k)`` inside the brain; outside it (or outside the volume) is an error, not
            an unpainted copy that would count as a lesion's call.
        radius_mm: the lesion's radius; a ring's rim is its outer ``1 - CORE_SHARE``.
    """
    if kind not in LESIONS:
        raise ValueError(f"Unknown lesion {kind!r}; valid lesions are {', '.join(LESIONS)}")
    data = image.data.float().clone()
    brain = data > 0
    shape = tuple(data.shape[1:])
    in_volume = len(centre) == 3 and all(0 <= c < n for c, n in zip(centre, shape, strict=True))
    if not in_volume or not brain[0][tuple(centre)]:
        raise ValueError(f"A lesion's centre must be a voxel of the brain; {tuple(centre)} is not (volume {shape})")
    spacing = torch.tensor(image.spacing, dtype=torch.float32)
    grid = torch.stack(torch.meshgrid(*(torch.arange(n, dtype=torch.float32) for n in shape), indexing="ij"), -1)
    distance = ((grid - torch.tensor(centre, dtype=torch.float32)) * spacing).norm(dim=-1)[None] / radius_mm
    edge = float(spacing.mean()) / radius_mm / 2  # the sigmoid's scale, half a voxel: 10 to 90 % over about two voxels
    if kind == "dark":
        inside = torch.sigmoid((1 - distance) / edge)
        painted = data * (1 - inside * (1 - DARK_LEVEL))
    else:
        core = distance < CORE_SHARE
        rim = (distance >= CORE_SHARE) & (distance < 1.0)
        painted = torch.where(core, data * NECROSIS_LEVEL, torch.where(rim, torch.ones_like(data), data))
    return tio.ScalarImage(tensor=torch.where(brain, painted, data).clamp(0, 1), affine=image.affine)


def lesion_sites(image: tio.ScalarImage, count: int, radius_mm: float = 20.0,
                 seed: int = 0) -> list[tuple[int, int, int]]:
    """``count`` voxels at least ``radius_mm`` inside ``image``'s brain (in a brain too small for that, its deepest
    tenth), drawn at random: a lesion at the brain's edge could be read as the edge. The volume's faces count as
    edge: a brain cut by the crop does not go on beyond them.

    Taught in ``09_real_scans``.

    Args:
        image: a preprocessed brain (background 0).
        count: how many sites.
        radius_mm: the lesion's radius.
        seed: the draw's seed: the same sites for the same brain and seed.
    """
    brain = image.data[0].numpy() > 0
    if not brain.any():
        raise ValueError(f"No brain to paint a lesion into: every voxel of the {brain.shape} volume is background")
    depth = ndimage.distance_transform_edt(np.pad(brain, 1), sampling=image.spacing)[1:-1, 1:-1, 1:-1]
    deep = depth >= min(radius_mm, np.percentile(depth[brain], 90))
    candidates = np.argwhere(deep)
    picked = np.random.default_rng(seed).choice(len(candidates), size=count, replace=len(candidates) < count)
    return [tuple(int(v) for v in candidates[i]) for i in picked]


def counterfactual_calls(predictors: Mapping[str, Predictor], images: Mapping[str, tio.ScalarImage],
                         sites_per_image: int = 1, radius_mm: float = 20.0, seed: int = 0) -> pd.DataFrame:
    """Every run's call on every healthy brain as it is and with each lesion of :data:`LESIONS` painted in: one row
    per run, brain, lesion (``none`` for the brain as it is) and site, with the probabilities.

    Taught in ``09_real_scans``.

    Args:
        predictors: run name -> a :class:`~brainclf_lib.evaluation.inference.Predictor` (anything with its
            ``classify_many``); each holds its model, which at 9 to 18 runs of the grid is a few hundred MB.
        images: brain name -> a preprocessed healthy brain (the runs' own preprocessing).
        sites_per_image: lesion sites per brain, each painted with every lesion.
        radius_mm: the lesions' radius (20 mm: a glioma of the synthetic cohort's typical size).
        seed: draws the sites; every run sees the same painted brains.
    """
    if not images or not predictors:
        raise ValueError("A counterfactual needs at least one healthy brain and one run")
    cases = []
    for index, (name, image) in enumerate(images.items()):
        cases.append((name, "none", None, image))
        for site in lesion_sites(image, sites_per_image, radius_mm, seed + index):
            cases += [(name, kind, site, paint_lesion(image, kind, site, radius_mm)) for kind in LESIONS]
    rows = []
    for run, predictor in predictors.items():
        painted_calls = predictor.classify_many([image for *_, image in cases])
        for (name, kind, site, _), call in zip(cases, painted_calls, strict=True):
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
    order = [lesion for lesion in ("none", *LESIONS) if lesion in set(calls["lesion"])]
    shares = pd.crosstab(calls["lesion"], calls["pred"], normalize="index").reindex(index=order, columns=list(CLASSES))
    return shares.fillna(0.0).rename(columns=lambda c: f"called {c}")  # a class never called: a share of 0
