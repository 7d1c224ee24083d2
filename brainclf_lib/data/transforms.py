"""What is done to a volume on its way into a model: the paper's augmentation (training subjects only), the
published code's augmentation, and each protocol's training and evaluation transforms.

Taught in ``02_preprocessing`` (augmentation) and ``08_protocols`` (the published code's transforms). Evaluation
sees the preprocessed volume as it is under the corrected protocol (the paper's code augmented its test split too).
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
import torchio as tio

from ..experiment.config import ExperimentConfig
from ..experiment.protocols import ProtocolPlan, protocol_plan


def augmentation(name: str) -> tio.Transform | None:
    """The paper's TorchIO augmentation for training subjects (evaluation never sees it).

    Taught in ``02_preprocessing``.

    Args:
        name: ``light`` (random flip and a small affine: what the paper trained with), ``heavy`` (adds elastic
            deformation, motion, spikes and ghosting; the paper found it converged slower and worse) or ``none``.

    Returns:
        The transform, or ``None`` for ``none``.

    >>> augmentation("none") is None, type(augmentation("light")).__name__
    (True, 'Compose')
    """
    light = [
        tio.RandomAffine(scales=(0.9, 1.2), degrees=10),
        tio.RandomFlip(axes=("LR",), flip_probability=0.25),
    ]
    heavy = [
        tio.RandomElasticDeformation(),
        tio.RandomMotion(),
        tio.RandomSpike(),
        tio.RandomGhosting(),
    ]
    choices = {"none": None, "light": tio.Compose(light), "heavy": tio.Compose(light + heavy)}
    if name not in choices:
        raise ValueError(f"Unknown augmentation {name!r}; valid ones are {sorted(choices)}")
    return choices[name]


def published_augmentation() -> tio.Transform:
    """The augmentation the paper's published code ran: one isotropic scale and nearest-neighbour interpolation.

    Taught in ``08_protocols`` (the ``code_augmentation`` deviation). Its ``RandomFlip(p=0.5)`` applies a flip of
    probability 0.5 half the time, the paper's 0.25.
    """
    return tio.Compose([
        tio.RandomFlip(axes=("LR",), flip_probability=0.5, p=0.5),
        tio.RandomAffine(scales=(0.9, 1.2), degrees=10, isotropic=True, image_interpolation="nearest"),
    ])


def protocol_transforms(plan: ProtocolPlan) -> tuple[tio.Transform | None, tio.Transform | None]:
    """The training and evaluation transforms the plan asks for: the corrected protocol's, or the published code's."""
    train = published_augmentation() if plan.augmentation == "published" else augmentation(plan.augmentation)
    before = [tio.RescaleIntensity(out_min_max=plan.rescale_range)] if plan.rescale_range else []
    after = [tio.Lambda(partial(_shrink_nearest, factor=plan.resize_factor), types_to_apply=[tio.INTENSITY])] \
        if plan.resize_factor else []
    if not before + after:  # what the published code did to every split: the dataset's rescale, the loop's resize
        return train, None
    return tio.Compose([*before, *([train] if train else []), *after]), tio.Compose([*before, *after])


def evaluation_transform(config: ExperimentConfig) -> tio.Transform | None:
    """What the config's protocol does to every evaluated volume (``None`` for the corrected one): the published
    code's output-range rescale and per-step resize. Prediction on new scans applies it too."""
    return protocol_transforms(protocol_plan(config))[1]


def _shrink_nearest(tensor: torch.Tensor, factor: float) -> torch.Tensor:
    """The published code's ``F.interpolate(x, scale_factor=factor)`` (nearest), on one ``(C, x, y, z)`` image."""
    return F.interpolate(tensor[None].float(), scale_factor=(factor,) * 3)[0]
