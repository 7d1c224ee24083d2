"""The paper's protocol as the paper describes it, as its published code ran it, and as this suite corrects it.

Taught in ``08_protocols``. The authors' code (github.com/farazahmeds/Classification-of-brain-tumor-using-
Spatiotemporal-models, ``training.py``) departs from the paper in ways that can move the reported numbers. Each
departure is named here once, as a *deviation* that a config switches on (``ExperimentConfig.deviations``), so a
student can add them one at a time to the corrected protocol and watch what each does. A ``protocol`` is a named
set of them:

- ``corrected`` (the default): 3-fold stratified CV, ``W_c = 1 - n_c / N`` from the training fold, training
  subjects augmented only, metrics per evaluation, and the epoch chosen on a validation subset of the training fold.
- ``paper``: the same as the paper writes it. The paper names no validation subset, so the model after the last
  epoch is the one tested (``last_epoch``).
- ``published-code``: every deviation below, as the code ran them.

The code's "pre-trained" models replace the stem with a random one; so does the paper's text, so that is not a
deviation here (``stem_init`` studies it in ``05_transfer_learning``).

>>> sorted(PROTOCOLS["published-code"]) == sorted(DEVIATIONS)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Deviation:
    """One way a protocol departs from the corrected one, and why it matters."""

    code: str  # what the published code (or the paper's silence) does
    instead: str  # what the corrected protocol does
    affects: str  # which reported figures it can move


DEVIATIONS: dict[str, Deviation] = {
    "last_epoch": Deviation(
        code="no validation subset: the model after the last epoch is tested (the paper names none; the code keeps "
             "the last epoch)",
        instead="the epoch with the best validation macro F1 on a stratified subset of the training fold",
        affects="every test figure, when the last epoch is not the best one",
    ),
    "random_split": Deviation(
        code="one unstratified 70/30 torch random_split of all subjects (generator seed 55), not 3-fold CV",
        instead="3-fold stratified cross-validation over subjects, every figure a mean ± std over folds",
        affects="every figure: one split's luck, class proportions of the test set, no spread to report",
    ),
    "augmented_test": Deviation(
        code="the transforms are attached to the whole dataset before the split: test volumes are flipped and "
             "affinely warped at every evaluation",
        instead="only training subjects are augmented; evaluation sees each prepared volume as it is",
        affects="test accuracy and F1 (noisier, and not the model's performance on the real scans)",
    ),
    "output_range_rescale": Deviation(
        code="tio.RescaleIntensity((0.05, 99.5)) in every split's transform: that argument is the *output range*, "
             "so intensities are min-max scaled to [0.05, 99.5] with no percentile clipping",
        instead="RescaleIntensity(out_min_max=(0, 1), percentiles=(0.5, 99.5)), once, when the data is prepared",
        affects="training dynamics (inputs about 100 times larger, outliers not clipped), hence every figure",
    ),
    "code_augmentation": Deviation(
        code="RandomAffine(scales 0.9-1.2, degrees 10) with one isotropic scale and nearest-neighbour "
             "interpolation (its flip, p=0.5 of flip_probability 0.5, is the paper's 0.25)",
        instead="the paper's light augmentation: a scale per axis, linear interpolation",
        affects="training only; small",
    ),
    "hand_weights": Deviation(
        code="class weights typed in as [3.54, 1, 1] for (LGG, HGG, Healthy): 259 / 73 for the real LGG count",
        instead="W_c = 1 - n_c / N from the training fold's labels (the paper's formula)",
        affects="per-class recall and precision, most on a cohort whose balance is not the real data's",
    ),
    "accumulated_confusion": Deviation(
        code="test predictions are appended at every epoch and one confusion matrix is built from all of them",
        instead="one evaluation of the chosen model; metrics computed from it alone",
        affects="every test figure: early, untrained epochs are averaged into the reported ones",
    ),
    "train_loss_as_val": Deviation(
        code="the logged validation loss is the training loss (its sum divided by the test set's size), while the "
             "logged validation accuracy is the test set's",
        instead="validation loss and accuracy of the validation subset; the test fold is touched once",
        affects="the learning curves only (over-fitting cannot show), not the tables",
    ),
}

#: Each protocol's deviations from the corrected one.
PROTOCOLS: dict[str, tuple[str, ...]] = {
    "corrected": (),
    "paper": ("last_epoch",),
    "published-code": tuple(DEVIATIONS),
}

#: The split and weights the published code used.
PUBLISHED_SPLIT_SEED = 55
PUBLISHED_TEST_FRACTION = 0.3
PUBLISHED_WEIGHTS: dict[str, float] = {"LGG": 3.54, "HGG": 1.0, "Healthy": 1.0}
PUBLISHED_RESCALE_RANGE = (0.05, 99.5)


def deviations_of(config: Any) -> frozenset[str]:
    """The deviations a config runs with: its protocol's, and any it adds one at a time.

    Taught in ``08_protocols``.

    Args:
        config: an :class:`~brainclf_lib.config.ExperimentConfig` (``protocol`` and ``deviations``).

    >>> from brainclf_lib.config import make_config
    >>> sorted(deviations_of(make_config("fast", protocol="paper", deviations=("hand_weights",))))
    ['hand_weights', 'last_epoch']
    """
    return frozenset(PROTOCOLS[config.protocol]) | frozenset(config.deviations)


def folds_of(config: Any) -> range:
    """The folds a config's protocol tests on: every fold of the cross-validation, or the random split's one.

    >>> from brainclf_lib.config import make_config
    >>> list(folds_of(make_config("fast"))), list(folds_of(make_config("fast", protocol="published-code")))
    ([0, 1, 2], [0])
    """
    return range(1) if "random_split" in deviations_of(config) else range(config.n_folds)


def deviation_table() -> pd.DataFrame:
    """Every deviation: what the published code did, what the corrected protocol does, what it can move, and which
    protocols include it.

    Taught in ``08_protocols``.
    """
    return pd.DataFrame([
        {"deviation": name, "published code": d.code, "corrected": d.instead, "can move": d.affects,
         "in protocols": ", ".join(p for p, names in PROTOCOLS.items() if name in names)}
        for name, d in DEVIATIONS.items()
    ]).set_index("deviation")
