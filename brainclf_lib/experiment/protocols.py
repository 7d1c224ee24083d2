"""The paper's protocol as the paper describes it, as its published code ran it, and as this suite corrects it.

Taught in ``08_protocols``. The authors' code (github.com/farazahmeds/Classification-of-brain-tumor-using-
Spatiotemporal-models, ``training.py``) departs from the paper in ways that can move the reported numbers. Each
departure is named here once, as a *deviation* that a config switches on (``ExperimentConfig.deviations``), so a
student can add them one at a time to the corrected protocol and watch what each does. A ``protocol`` is a named
set of them:

- ``corrected`` (the default): 3-fold stratified CV, ``W_c = 1 - n_c / N`` from the training fold, training
  subjects augmented only, metrics per evaluation, and the epoch chosen on a validation subset of the training fold.
- ``paper-text``: the same as the paper writes it. The paper names no validation subset, so the model after the last
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

from ..conventions import CLASSES


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
        instead="the epoch ending the lowest mean validation loss over selection_window epochs, on a stratified "
                "subset of the training fold",
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
        code="tio.RescaleIntensity((0.05, 99.5)) in every split's transform: that argument is the output range "
             "(out_min_max), so intensities are min-max scaled to [0.05, 99.5] with no percentile clipping",
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
    "published_lr": Deviation(
        code="Adam's learning rate 1e-3 (configs/config.yaml, training.learning_rate), not the paper's 1e-5",
        instead="the config's lr: the paper's 1e-5 in the paper preset (3e-4 in fast, sized for a CPU)",
        affects="training dynamics, hence every figure: steps 100 times the paper's",
    ),
    "published_dropout": Deviation(
        code="dropout 0.5 before the head (configs/config.yaml, training.dropout), not the paper's 0.3",
        instead="the config's dropout (0.3, the paper's)",
        affects="training only; small",
    ),
    "resize_every_step": Deviation(
        code="every training and test batch shrunk by F.interpolate(scale_factor=0.5), nearest-neighbour, at every "
             "step (configs/config.yaml, dataset.img_scale_factor 0.5): half the resolution, aliased, recomputed "
             "each time",
        instead="volumes resampled once, anti-aliased, to the preset's spacing and cached (brainclf prepare)",
        affects="every figure (the model sees half the resolution, with every other voxel dropped), and the time",
    ),
    "train_loss_as_val": Deviation(
        code="the logged validation loss is the training loss (its sum divided by the test set's size), while the "
             "logged validation accuracy is the test set's",
        instead="validation loss and accuracy of the validation subset; the test fold is touched once",
        affects="the learning curves only (over-fitting cannot show), not the tables",
    ),
}

#: The deviations trained one at a time by default. ``train_loss_as_val`` is left out: it changes the learning
#: curves, not the chosen model, so its run would repeat the corrected one's figures (the published-code run's
#: log shows it).
ONE_AT_A_TIME: tuple[str, ...] = tuple(name for name in DEVIATIONS if name != "train_loss_as_val")

#: Each protocol's deviations from the corrected one.
PROTOCOLS: dict[str, tuple[str, ...]] = {
    "corrected": (),
    "paper-text": ("last_epoch",),  # the protocol the paper's text describes
    "published-code": tuple(DEVIATIONS),
}

#: The split, weights and settings the published code used (``training.py`` and ``configs/config.yaml``, checked in
#: the repository's history: both versions of the config hold the same values).
PUBLISHED_SPLIT_SEED = 55  # dataset.train_test_split_seed
PUBLISHED_TEST_FRACTION = 0.3  # the code computes int(n - 0.3 n) training subjects: 413 / 178 of 591
PUBLISHED_WEIGHTS: dict[str, float] = {"LGG": 3.54, "HGG": 1.0, "Healthy": 1.0}
PUBLISHED_RESCALE_RANGE = (0.05, 99.5)
PUBLISHED_LR = 1e-3  # training.learning_rate
PUBLISHED_DROPOUT = 0.5  # training.dropout
PUBLISHED_SCALE_FACTOR = 0.5  # dataset.img_scale_factor, applied with F.interpolate at every step
#: Values of the published config that are not deviations from the paper's text, which states none of them.
PUBLISHED_NOT_DEVIATIONS: dict[str, str] = {
    "global_seed 341": "torch.manual_seed(341) before training: one draw of the initial weights, nothing systematic",
    "num_epoch 100": "the paper states no epoch count; the paper preset trains 100 as well",
    "train_samples 414, test_samples 177": "the later config's sizes of the 70/30 split (random_split); the code "
                                           "itself computes 413 / 178",
    "weight_decay 0.001, batch_size 1": "the paper's own values",
}


def deviations_of(config: Any) -> frozenset[str]:
    """The deviations a config runs with: its protocol's, and any it adds one at a time.

    Taught in ``08_protocols``.

    Args:
        config: an :class:`~brainclf_lib.experiment.config.ExperimentConfig` (``protocol`` and ``deviations``).

    >>> from brainclf_lib.experiment.config import make_config
    >>> sorted(deviations_of(make_config("fast", protocol="paper-text", deviations=("hand_weights",))))
    ['hand_weights', 'last_epoch']
    """
    return frozenset(PROTOCOLS[config.protocol]) | frozenset(config.deviations)


def folds_of(config: Any) -> range:
    """The folds a config's protocol tests on: every fold of the cross-validation, or the random split's one.

    >>> from brainclf_lib.experiment.config import make_config
    >>> list(folds_of(make_config("fast"))), list(folds_of(make_config("fast", protocol="published-code")))
    ([0, 1, 2], [0])
    """
    return range(len(protocol_plan(config).folds))


@dataclass(frozen=True)
class ProtocolPlan:
    """Everything a config's protocol decides, decided once: each step of the pipeline reads its field, and no other
    module tests a deviation's name (scattered checks drift apart)."""

    deviations: frozenset[str]
    folds: tuple[int, ...]  # the folds tested: every fold of the cross-validation, or the random split's one
    split: str  # kfold | holdout | random
    splits_name: str  # the splits file beside the manifest
    evaluation: str  # how a table names it: "3-fold CV" or "one 70/30 random split"
    val_fraction: float  # of the training fold, kept aside to choose the epoch (0: the last epoch is tested)
    epoch_choice: str  # validation | last
    augmentation: str  # light | heavy | none | published: the training subjects' augmentation
    rescale_range: tuple[float, float] | None  # every split min-max scaled to this output range (published code)
    resize_factor: float | None  # every batch shrunk by this factor, nearest-neighbour, at every step
    augment_test: bool  # the test volumes carry the training augmentation
    class_weights: tuple[float, ...] | None  # typed in, in CLASSES order; None: derived from the training fold
    test_every_epoch: bool  # the test set is predicted after every epoch
    accumulate_test: bool  # ... and one confusion matrix is built from all of those predictions
    logged_validation: str  # "validation subset" | "training loss" (what the log calls validation loss)
    reevaluable: bool  # one checkpoint reproduces the run's metrics
    lr: float
    dropout: float
    replaced: dict[str, Any]  # the config's settings this plan overrides, with the values it trains with instead

    @property
    def evaluation_transformed(self) -> bool:
        """Whether evaluated volumes are changed before they reach the model (rescaled or resized)."""
        return self.rescale_range is not None or self.resize_factor is not None


def protocol_plan(config: Any) -> ProtocolPlan:
    """The plan of a config's protocol and added deviations: its folds, split, validation subset, transforms, loss
    weights, epoch choice and what it logs and tests.

    Taught in ``08_protocols``.

    Args:
        config: an :class:`~brainclf_lib.experiment.config.ExperimentConfig`.

    >>> from brainclf_lib.experiment.config import make_config
    >>> plan = protocol_plan(make_config("fast", protocol="published-code"))
    >>> plan.folds, plan.lr, plan.epoch_choice, plan.evaluation
    ((0,), 0.001, 'last', 'one 70/30 random split (seed 55)')
    """
    deviations = deviations_of(config)
    replaced: dict[str, Any] = {}
    if "random_split" in deviations:
        train = round(100 * (1 - PUBLISHED_TEST_FRACTION))
        split, folds = "random", (0,)
        splits_name = f"splits_random{train}-{100 - train}_seed{PUBLISHED_SPLIT_SEED}.csv"
        evaluation = f"one {train}/{100 - train} random split (seed {PUBLISHED_SPLIT_SEED})"
        replaced.update(split="random", n_folds=1)
    else:
        split, folds = config.split, tuple(range(config.n_folds))
        splits_name = f"splits_{config.split}{config.n_folds}_seed{config.seed}.csv"
        evaluation = f"{config.n_folds}-fold CV" if config.split == "kfold" else f"{config.n_folds} stratified 7:3 splits"
    last = "last_epoch" in deviations
    if last:
        replaced.update(val_fraction=0.0, selection_window=None)
    augmentation = config.augmentation
    if "code_augmentation" in deviations and augmentation != "none":
        augmentation = replaced["augmentation"] = "published"
    settings = {"lr": (PUBLISHED_LR, "published_lr"), "dropout": (PUBLISHED_DROPOUT, "published_dropout")}
    trained = {name: value if deviation in deviations else getattr(config, name)
               for name, (value, deviation) in settings.items()}
    replaced.update({name: trained[name] for name, (_, deviation) in settings.items() if deviation in deviations})
    accumulate = "accumulated_confusion" in deviations
    loss_as_val = "train_loss_as_val" in deviations
    return ProtocolPlan(
        deviations=deviations, folds=folds, split=split, splits_name=splits_name, evaluation=evaluation,
        val_fraction=0.0 if last else config.val_fraction, epoch_choice="last" if last else "validation",
        augmentation=augmentation,
        rescale_range=PUBLISHED_RESCALE_RANGE if "output_range_rescale" in deviations else None,
        resize_factor=PUBLISHED_SCALE_FACTOR if "resize_every_step" in deviations else None,
        augment_test="augmented_test" in deviations,
        class_weights=tuple(PUBLISHED_WEIGHTS[c] for c in CLASSES) if "hand_weights" in deviations else None,
        test_every_epoch=accumulate or loss_as_val, accumulate_test=accumulate,
        logged_validation="training loss" if loss_as_val else "validation subset",
        reevaluable=not accumulate, lr=trained["lr"], dropout=trained["dropout"], replaced=replaced,
    )


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
