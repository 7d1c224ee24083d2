"""The paper's weighted cross-entropy, with class weights derived from the training fold's labels.

Taught in ``04_train``. Typing the weights in by hand (as the paper's own code did) goes stale the moment the
cohort or the fold changes; here they are always computed from the labels the model is trained on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..conventions import CLASSES
from ..data.step import FoldData
from ..experiment.protocols import PUBLISHED_WEIGHTS


def class_weights(labels: Sequence[int] | np.ndarray | torch.Tensor, n_classes: int = len(CLASSES)) -> torch.Tensor:
    """``W_c = 1 - n_c / sum_t n_t`` for each class ``c``: rarer classes weigh more.

    Taught in ``04_train``, where the same weights are first computed by hand from the fold's labels.

    Args:
        labels: the training fold's class indices.
        n_classes: the number of classes (a class absent from ``labels`` gets weight 1).

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


def published_class_weights() -> torch.Tensor:
    """The weights the paper's published code typed in, ``[3.54, 1, 1]`` for (LGG, HGG, Healthy), in our class order.

    Taught in ``08_protocols`` (the ``hand_weights`` deviation): right for the real data's 259 HGG / 73 LGG, wrong
    for any other cohort or fold.

    >>> published_class_weights()
    tensor([1.0000, 3.5400, 1.0000])
    """
    return torch.tensor([PUBLISHED_WEIGHTS[name] for name in CLASSES])


def weighted_cross_entropy(labels: Sequence[int] | np.ndarray | torch.Tensor, n_classes: int = len(CLASSES)) -> nn.Module:
    """``CrossEntropyLoss`` weighted by :func:`class_weights` of the training labels."""
    return nn.CrossEntropyLoss(weight=class_weights(labels, n_classes))


def class_balance(data: FoldData) -> pd.DataFrame:
    """Subjects per class in each split, and the loss weights the training split implies.

    Taught in ``04_train``: the weights are derived from the training fold's labels, never typed in.

    Args:
        data: a fold from :func:`load_fold`.

    Returns:
        A row per class: training, validation and test subjects, and the class weight ``1 - n_c / N``.
    """
    table = pd.DataFrame({name: np.bincount(split.labels, minlength=len(CLASSES)) for name, split in
                          (("training subjects", data.train), ("validation", data.val), ("test", data.test))},
                         index=CLASSES)
    table.insert(1, "class weight", class_weights(data.train.labels).numpy().round(3))
    return table
