"""Evaluation on held-out subjects, with no augmentation: predictions and the paper's metrics.

Taught in ``04_train`` and ``06_results``. Evaluation reads each subject's preprocessed volume as it is: the
datasets of the validation and test subjects carry no transform, so evaluating a subject twice gives identical
inputs and identical predictions (a test holds this).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from ..conventions import CLASS_TO_INDEX, CLASSES
from ..data.datasets import VolumeDataset
from ..data.step import load_fold
from ..experiment.device import amp_dtype, autocast, pick_device
from ..experiment.protocols import protocol_plan
from ..experiment.run_folder import Run
from ..paths import PathLike
from .metrics import bootstrap_ci, classification_metrics


@torch.no_grad()
def predict_subjects(model: nn.Module, dataset: VolumeDataset, device: torch.device | str = "cpu",
                     dtype: torch.dtype | None = None, batch_size: int = 8) -> pd.DataFrame:
    """A row per subject of ``dataset``: ``subject_id``, true ``label``, predicted ``pred`` and ``p_<class>``.

    Taught in ``04_train``. For raw scans from outside a prepared cohort, see :class:`brainclf_lib.evaluation.inference.Predictor`.
    In evaluation mode a volume's prediction does not depend on the others in its batch; on a CPU, batches of 8 took
    a third of the time a volume that batches of 1 did (``r3d_18``, 18x24x21 voxels).
    """
    device = torch.device(device)
    model.eval()
    rows = []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        with autocast(device, dtype):
            logits = model(batch["image"].to(device)).float()
        probabilities = torch.softmax(logits, dim=1).cpu().numpy()
        for subject_id, label, p in zip(batch["subject_id"], batch["label"], probabilities, strict=True):
            rows.append({"subject_id": subject_id, "label": CLASSES[int(label)], "pred": CLASSES[int(p.argmax())],
                         **{f"p_{name}": float(value) for name, value in zip(CLASSES, p, strict=True)}})
    return pd.DataFrame(rows)


@torch.no_grad()
def evaluate_model(model: nn.Module, dataset: VolumeDataset, device: torch.device, dtype: torch.dtype | None,
                   loss_fn: nn.Module) -> dict[str, Any]:
    """Loss, accuracy and macro F1 of one pass over ``dataset`` (the validation subjects, during training)."""
    predictions = predict_subjects(model, dataset, device, dtype)
    probabilities = torch.tensor(predictions[[f"p_{c}" for c in CLASSES]].to_numpy(), dtype=torch.float32)
    labels = torch.tensor(predictions["label"].map(CLASS_TO_INDEX).to_numpy())
    weight = getattr(loss_fn, "weight", None)
    loss = nn.functional.nll_loss(torch.log(probabilities.clamp_min(1e-12)), labels,
                                  weight=None if weight is None else weight.cpu()).item()
    metrics = classification_metrics(labels.numpy(), probabilities.argmax(1).numpy())
    return {"loss": loss, "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


def metrics_of(predictions: pd.DataFrame, seed: int = 0) -> dict[str, Any]:
    """The paper's figures for a predictions table, with bootstrap 95 % intervals of accuracy and macro F1."""
    y_true = predictions["label"].map(CLASS_TO_INDEX).to_numpy()
    y_pred = predictions["pred"].map(CLASS_TO_INDEX).to_numpy()
    metrics = classification_metrics(y_true, y_pred)
    for name in ("accuracy", "macro_f1"):
        _, low, high = bootstrap_ci(y_true, y_pred, name, n_resamples=1000, seed=seed)
        metrics[f"{name}_ci95"] = [low, high]
    return metrics


def evaluate(run: Run | PathLike) -> dict[str, Any]:
    """Re-evaluate a finished run's best checkpoint on its held-out fold; rewrites its predictions and metrics.

    Args:
        run: a :class:`~brainclf_lib.experiment.run_folder.Run` or its folder. It is locked while its files are rewritten.
    """
    run = run if isinstance(run, Run) else Run(run)
    config = run.config
    if not protocol_plan(config).reevaluable:
        raise ValueError(f"{run.folder}: its metrics pool the test predictions of every training epoch (the "
                         "accumulated_confusion deviation); one checkpoint cannot reproduce them. Train it again.")
    device = pick_device(config.device)
    model = run.load_model(device)
    predictions = predict_subjects(model, load_fold(config).test, device, amp_dtype(config.amp, device))
    metrics = metrics_of(predictions, config.seed)
    with run.lock():
        run.write_evaluation(predictions, metrics)
    return metrics
