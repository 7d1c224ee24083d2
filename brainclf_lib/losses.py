"""The paper's weighted cross-entropy, with class weights derived from the training fold's labels.

Taught in ``04_train``. Typing the weights in by hand (as the paper's own code did) goes stale the moment the
cohort or the fold changes; here they are always computed from the labels the model is trained on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .conventions import CLASSES


def class_weights(labels: Sequence[int] | np.ndarray | torch.Tensor, n_classes: int = len(CLASSES)) -> torch.Tensor:
    """``W_c = 1 - n_c / sum_t n_t`` for each class ``c``: rarer classes weigh more.

    >>> class_weights([0, 0, 1, 2])
    tensor([0.5000, 0.7500, 0.7500])
    """
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if labels.numel() == 0:
        raise ValueError("class_weights needs at least one training label")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must lie in 0..{n_classes - 1}, got {labels.unique().tolist()}")
    counts = torch.bincount(labels, minlength=n_classes).float()
    return 1.0 - counts / counts.sum()


def weighted_cross_entropy(labels: Sequence[int] | np.ndarray | torch.Tensor, n_classes: int = len(CLASSES)) -> nn.Module:
    """``CrossEntropyLoss`` weighted by :func:`class_weights` of the training labels."""
    return nn.CrossEntropyLoss(weight=class_weights(labels, n_classes))
