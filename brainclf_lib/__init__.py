"""brainclf: replicate deep spatio-spatial models for brain-tumour classification (Chatterjee et al., 2022).

The library computes; the notebooks in ``notebooks/`` teach and call it. Tensors are ``(N, C, D, H, W)`` with
``D`` the axial slice axis (see :mod:`brainclf_lib.conventions`).
"""

from .config import PRESETS, ExperimentConfig, preset
from .conventions import CLASSES, slice_axis_first
from .losses import class_weights, weighted_cross_entropy
from .metrics import aggregate_folds, bootstrap_ci, classification_metrics, mcnemar
from .models import ARCHS, build_model, canonical_arch, parameter_table

__all__ = [
    "ARCHS",
    "CLASSES",
    "PRESETS",
    "ExperimentConfig",
    "aggregate_folds",
    "bootstrap_ci",
    "build_model",
    "canonical_arch",
    "class_weights",
    "classification_metrics",
    "mcnemar",
    "parameter_table",
    "preset",
    "slice_axis_first",
    "weighted_cross_entropy",
]
