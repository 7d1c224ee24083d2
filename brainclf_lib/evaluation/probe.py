"""What a source task changed in a trunk, and whether the change helped: weight distance, a linear probe, and a paired
verdict of pre-trained against scratch.

Taught in ``05_transfer_learning``. A pre-trained run that makes the same calls as its scratch twin says nothing
about pre-training unless the source task moved the trunk at all (issue #34: three epochs of rotation left it where
it started). So the notebook measures the move before it reads the runs: how far the transferred convolutions are
from the weights the source task started from, and whether a linear classifier reads the labels from the frozen
trunk's features better than from a random trunk's. Then it compares the runs on the same test subjects and calls a
difference that neither McNemar's test nor a paired bootstrap can tell from noise a tie, not a gain.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader

from ..conventions import CLASS_TO_INDEX, CLASSES
from ..data.datasets import VolumeDataset
from ..data.step import FoldData
from ..experiment.run_folder import Run
from ..files import load_torch
from ..models.architectures import build_model
from ..models.pretrained import is_transferred
from ..paths import PathLike, resolve
from .metrics import mcnemar, paired_bootstrap

#: Below this p-value, and with a bootstrap interval of the difference that excludes 0, a difference is called.
ALPHA = 0.05


def weight_distance(trained: Mapping[str, torch.Tensor], initial: Mapping[str, torch.Tensor]) -> pd.Series:
    """How far a trunk moved from its initialisation: ``||w - w0|| / ||w0||`` over the convolution weights of each
    transferred stage, and over all of them (``"trunk"``).

    Taught in ``05_transfer_learning``. Only 5-D tensors (convolution kernels) of ``layer1`` to ``layer4`` count:
    BatchNorm's statistics move with the data, not with learning, and the stem and head are not transferred.

    Args:
        trained: the state dict after training.
        initial: the state dict the training started from.

    Returns:
        The relative distance per stage and for the whole trunk: 0 for identical weights.

    >>> state = {"layer1.0.conv1.0.weight": torch.ones(2, 1, 1, 1, 1)}
    >>> float(weight_distance({k: 2 * v for k, v in state.items()}, state)["trunk"])
    1.0
    """
    moved, norms = {}, {}
    for key, start in initial.items():
        stage = key.split(".")[0]
        if is_transferred(key) and start.ndim == 5:  # the stem and head start afresh in the target run
            moved[stage] = moved.get(stage, 0.0) + float((trained[key].float() - start.float()).pow(2).sum())
            norms[stage] = norms.get(stage, 0.0) + float(start.float().pow(2).sum())
    if not norms:
        raise ValueError("no convolution weights of layer1 to layer4 in the state dict")
    distances = {stage: (moved[stage] / norms[stage]) ** 0.5 for stage in norms}  # in the state dict's order
    distances["trunk"] = (sum(moved.values()) / sum(norms.values())) ** 0.5
    return pd.Series(distances, name="relative distance from initialisation")


def source_models(source: PathLike, arch: str, in_channels: int = 1) -> dict[str, nn.Module]:
    """The source task's model as it ended, and as it started, rebuilt from a file of self-trained source weights.

    Taught in ``05_transfer_learning``. The start is recomputed, not stored: the source task seeds torch with the
    seed its file records, then builds ``arch`` with 4 outputs (one per rotation), exactly as here.
    Exact for the synthetic cohort's source volumes, which carry no transform; on real data the source task reads
    one augmented volume between seeding and building, which draws from torch's generator first.

    Args:
        source: a file written by ``make_source_weights`` (``{"model": ..., "source": {"seed": ...}}``).
        arch: its architecture.
        in_channels: MR contrasts stacked as channels.

    Returns:
        ``{"initial": model, "trained": model}``, both in evaluation mode.
    """
    saved = load_torch(resolve(source))
    seed = (saved.get("source") or {}).get("seed") if isinstance(saved, dict) else None
    if seed is None:
        raise ValueError(f"{source} records no source-task seed: its initial weights cannot be recomputed")
    torch.manual_seed(int(seed))
    initial = build_model(arch, n_classes=4, in_channels=in_channels)
    trained = build_model(arch, n_classes=4, in_channels=in_channels)
    trained.load_state_dict(saved["model"])
    return {"initial": initial.eval(), "trained": trained.eval()}


@torch.no_grad()
def trunk_features(model: nn.Module, dataset: VolumeDataset, batch_size: int = 8) -> np.ndarray:
    """The frozen trunk's features of each volume: the global-average-pooled output of the last stage, the input of
    the head (512 numbers for the three video ResNets), read in evaluation mode.

    Args:
        model: a video ResNet of :func:`~brainclf_lib.models.architectures.build_model` (its head is ``model.fc``).
        dataset: the volumes, in order.
        batch_size: volumes a forward pass.

    Returns:
        ``(len(dataset), features)``.
    """
    captured = []
    hook = model.fc.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0].detach().cpu()))
    try:
        model.eval()
        for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            model(batch["image"])
    finally:
        hook.remove()
    return torch.cat(captured).float().numpy()


def probe_scores(features: np.ndarray, labels: np.ndarray, folds: int = 4, seed: int = 0) -> dict[str, float]:
    """Cross-validated balanced accuracy and macro F1 of a logistic regression on ``features``: how much of the label a
    linear read-out finds in them, each subject predicted by a probe that never saw it.

    Args:
        features: ``(subjects, features)``.
        labels: each subject's class.
        folds: stratified folds (fewer when a class has fewer subjects).
        seed: the folds' shuffle.

    Returns:
        ``{"balanced_accuracy", "macro_f1"}``; chance is one over the number of classes for balanced accuracy.
    """
    labels = np.asarray(labels)
    splits = StratifiedKFold(n_splits=max(2, min(folds, int(np.bincount(labels).min()))), shuffle=True,
                             random_state=seed)
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))
    predicted = cross_val_predict(probe, features, labels, cv=splits)
    return {"balanced_accuracy": float(balanced_accuracy_score(labels, predicted)),
            "macro_f1": float(f1_score(labels, predicted, average="macro"))}


def linear_probe(models: Mapping[str, nn.Module], data: FoldData, folds: int = 4, seed: int = 0) -> pd.DataFrame:
    """A linear probe of each model's frozen features on the fold's training subjects (training and validation,
    never the test fold), as evaluation reads them: no augmentation.

    Taught in ``05_transfer_learning``. A source task that taught the trunk something the target needs shows as a
    probe that beats the same probe on a randomly initialised trunk of the same architecture.

    Args:
        models: name -> model (e.g. the source task's model at its start and at its end).
        data: the fold (:func:`~brainclf_lib.data.step.load_fold`).
        folds: the probe's cross-validation folds.
        seed: the folds' shuffle.

    Returns:
        One row per model: the probe's cross-validated balanced accuracy and macro F1, and the subjects probed.
    """
    subjects = VolumeDataset(data.train.subjects + data.val.subjects, data.test.transform)
    labels = np.asarray(subjects.labels)
    rows = {name: {**probe_scores(trunk_features(model, subjects), labels, folds, seed), "subjects": len(labels)}
            for name, model in models.items()}
    return pd.DataFrame(rows).T.astype({"subjects": int})


def pretraining_verdicts(pairs: Mapping[str, tuple[Run, Run]], n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Pre-trained against scratch, on the same test subjects: macro F1 of each, the paired difference with its
    bootstrap interval, McNemar's exact p-value and a verdict.

    Taught in ``05_transfer_learning``. The verdict is ``better`` or ``worse`` only when the interval of the
    difference excludes 0 and McNemar's p is below :data:`ALPHA`; otherwise ``undecided``. Identical calls are a
    tie (McNemar's p is 1), never a gain: "at least as good" would count every tie for pre-training.

    Args:
        pairs: name (e.g. the architecture) -> ``(scratch run, pre-trained run)``, tested on the same fold.
        n_resamples: bootstrap resamples of the test subjects (the same resamples for both runs).
        seed: the bootstrap's seed.

    Returns:
        One row per pair.
    """
    rows = []
    for name, (scratch, pretrained) in pairs.items():
        truth, calls = _paired_calls(scratch, pretrained)
        difference, low, high = paired_bootstrap(truth, calls["scratch"], calls["pretrained"], "macro_f1", n_resamples,
                                                 seed=seed)
        test = mcnemar(truth, calls["scratch"], calls["pretrained"])
        called = test["p_value"] < ALPHA and (low > 0 or high < 0)
        rows.append({"arch": name, "subjects": len(truth), "scratch macro F1": _macro_f1(truth, calls["scratch"]),
                     "pretrained macro F1": _macro_f1(truth, calls["pretrained"]), "difference": difference,
                     "difference 95% CI": (round(low, 3), round(high, 3)),
                     "subjects called differently": int((calls["scratch"] != calls["pretrained"]).sum()),
                     "McNemar p": test["p_value"],
                     "verdict": ("better" if difference > 0 else "worse") if called else "undecided"})
    return pd.DataFrame(rows).set_index("arch")


def _paired_calls(scratch: Run, pretrained: Run) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Both runs' calls on the subjects both tested, in one order (refused when they tested different subjects)."""
    first, second = (run.predictions.set_index("subject_id") for run in (scratch, pretrained))
    if set(first.index) != set(second.index):
        raise ValueError(f"{scratch.name} and {pretrained.name} were not tested on the same subjects")
    second = second.loc[first.index]
    truth = first["label"].map(CLASS_TO_INDEX).to_numpy()
    return truth, {"scratch": first["pred"].map(CLASS_TO_INDEX).to_numpy(),
                   "pretrained": second["pred"].map(CLASS_TO_INDEX).to_numpy()}


def _macro_f1(truth: np.ndarray, calls: np.ndarray) -> float:
    """Macro F1 over the classes present, as the runs' metrics compute it."""
    return float(f1_score(truth, calls, labels=list(range(len(CLASSES))), average="macro", zero_division=np.nan))
