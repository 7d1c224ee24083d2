"""The conventions every module shares: class names and the tensor layout.

Tensor layout
-------------
The models see a batch as ``(N, C, D, H, W)``: ``C`` the MR contrasts (1 in the paper), ``D`` the **axial slice
axis** (increasing towards superior), which the video ResNets treat as *time*, then ``H`` (towards anterior) and
``W`` (towards the patient's right: RAS+, as nibabel and TorchIO define it). TorchIO stores images as
``(C, x, y, z)`` in RAS+ order once reoriented to canonical, so the one permutation between the two is
:func:`slice_axis_first` (taught in ``02_preprocessing``).
"""

from __future__ import annotations

import torch

#: Class names in label order: index 0 is Healthy, 1 LGG, 2 HGG.
CLASSES: tuple[str, ...] = ("Healthy", "LGG", "HGG")
CLASS_TO_INDEX: dict[str, int] = {name: index for index, name in enumerate(CLASSES)}

#: The allowed values of the configuration's choices, checked in one place (``ExperimentConfig``).
STEM_INITS: tuple[str, ...] = ("random", "rgb_sum", "rgb_mean")  # how a pre-trained 1-channel stem starts
AUGMENTATIONS: tuple[str, ...] = ("light", "heavy", "none")  # the paper's two TorchIO pipelines, or none
AMP_SETTINGS: tuple[str, ...] = ("auto", "off", "fp16", "bf16")  # autocast dtype
SKULL_STRIPPERS: tuple[str, ...] = ("deepbet", "robex", "none")  # for the healthy (IXI) scans
SPLITS: tuple[str, ...] = ("kfold", "holdout")  # 3-fold CV, or the "three 7:3 splits" reading

#: How the paper's tables name a run's initial weights (``ExperimentConfig.pretrained`` None or not).
INIT_LABELS: tuple[str, ...] = ("scratch", "pretrained")
#: The one public source of pre-trained weights, and the spellings accepted for it.
KINETICS = "kinetics400"
KINETICS_ALIASES: tuple[str, ...] = (KINETICS, "kinetics")

#: The real data's names, as the releases spell them: discovery reads them, the synthetic cohort writes them.
BRATS_ROOT_NAME = "MICCAI_BraTS_2019_Data_Training"
BRATS_GRADES: tuple[str, ...] = ("HGG", "LGG")
BRATS_CONTRASTS: tuple[str, ...] = ("t1", "t1ce", "t2", "flair")
DEFAULT_CONTRAST = "t1ce"  # the paper's input
IXI_ROOT_NAME = "IXI-T1"


def is_kinetics(pretrained: object) -> bool:
    """Whether a ``pretrained`` setting names Kinetics-400 (rather than a local file or folder).

    >>> is_kinetics("Kinetics400"), is_kinetics("runs/source/r3d_18.pt"), is_kinetics(None)
    (True, False, False)
    """
    return pretrained is not None and str(pretrained).lower() in KINETICS_ALIASES


def slice_axis_first(tensor: torch.Tensor) -> torch.Tensor:
    """Reorder a TorchIO ``(C, x, y, z)`` tensor to the models' ``(C, D=z, H=y, W=x)``.

    Taught in ``02_preprocessing``. The slice axis (z, axial) comes first so the video models convolve along it
    as they would along time.

    >>> slice_axis_first(torch.zeros(1, 4, 5, 6)).shape
    torch.Size([1, 6, 5, 4])
    """
    if tensor.ndim != 4:
        raise ValueError(f"Expected a (C, x, y, z) tensor, got shape {tuple(tensor.shape)}")
    return tensor.permute(0, 3, 2, 1)


def slice_axis_last(tensor: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`slice_axis_first`: ``(C, D, H, W)`` back to TorchIO's ``(C, x, y, z)``."""
    if tensor.ndim != 4:
        raise ValueError(f"Expected a (C, D, H, W) tensor, got shape {tuple(tensor.shape)}")
    return tensor.permute(0, 3, 2, 1)
