"""Evaluation on held-out subjects, with no augmentation: predictions, the paper's metrics, cross-validation.

Taught in ``04_train`` and ``06_results``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .config import ExperimentConfig
from .conventions import CLASSES
from .datasets import VolumeDataset
from .io import load_torch, read_json, write_csv, write_json
from .metrics import aggregate_folds, bootstrap_ci, classification_metrics
from .paths import resolve
from .runtime import amp_dtype, autocast, pick_device


@torch.no_grad()
def predict(model: nn.Module, dataset: VolumeDataset, device: torch.device, dtype: torch.dtype | None = None) -> pd.DataFrame:
    """A row per subject: ``subject_id``, true ``label``, predicted ``pred`` and a probability per class."""
    model.eval()
    rows = []
    for index in range(len(dataset)):
        item = dataset[index]
        with autocast(device, dtype):
            logits = model(item["image"][None].to(device)).float()
        probabilities = torch.softmax(logits, dim=1)[0].cpu().numpy()
        rows.append({"subject_id": item["subject_id"], "label": CLASSES[int(item["label"])],
                     "pred": CLASSES[int(probabilities.argmax())],
                     **{f"p_{name}": float(p) for name, p in zip(CLASSES, probabilities, strict=False)}})
    return pd.DataFrame(rows)


@torch.no_grad()
def evaluate_model(model: nn.Module, dataset: VolumeDataset, device: torch.device, dtype: torch.dtype | None, loss_fn: nn.Module) -> dict[str, Any]:
    """Loss, accuracy and macro F1 of one pass over ``dataset`` (the validation subjects, during training)."""
    predictions = predict(model, dataset, device, dtype)
    probabilities = torch.tensor(predictions[[f"p_{c}" for c in CLASSES]].to_numpy(), dtype=torch.float32)
    labels = torch.tensor([CLASSES.index(label) for label in predictions["label"]])
    weight = getattr(loss_fn, "weight", None)
    loss = nn.functional.nll_loss(torch.log(probabilities.clamp_min(1e-12)), labels,
                                  weight=None if weight is None else weight.cpu()).item()
    metrics = classification_metrics(labels.numpy(), probabilities.argmax(1).numpy())
    return {"loss": loss, "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


def metrics_of(predictions: pd.DataFrame, seed: int = 0) -> dict[str, Any]:
    """The paper's figures for a predictions table, with bootstrap 95 % intervals of accuracy and macro F1."""
    y_true = predictions["label"].map(CLASSES.index).to_numpy()
    y_pred = predictions["pred"].map(CLASSES.index).to_numpy()
    metrics = classification_metrics(y_true, y_pred)
    for name in ("accuracy", "macro_f1"):
        _, low, high = bootstrap_ci(y_true, y_pred, name, n_resamples=1000, seed=seed)
        metrics[f"{name}_ci95"] = [low, high]
    return metrics


def write_evaluation(run_dir: Path, predictions: pd.DataFrame, config: ExperimentConfig) -> dict[str, Any]:
    write_csv(run_dir / "predictions.csv", predictions)
    metrics = metrics_of(predictions, config.seed)
    write_json(run_dir / "metrics.json", metrics)
    return metrics


def evaluate(run_dir: str | Path) -> dict[str, Any]:
    """Re-evaluate a finished run's best checkpoint on its held-out fold (rewrites predictions and metrics)."""
    from .cohort_data import load_fold
    from .models import build_model

    run_dir = Path(run_dir)
    config = ExperimentConfig.from_json(run_dir / "config.json")
    device = pick_device(config.device)
    model = build_model(config.arch, in_channels=len(config.contrasts), dropout=config.dropout).to(device)
    model.load_state_dict(load_torch(run_dir / "best.pt", device)["model"])
    data = load_fold(config)
    return write_evaluation(run_dir, predict(model, data.test, device, amp_dtype(config.amp, device)), config)


def cross_validate(config: ExperimentConfig, progress: bool = True) -> dict[str, Any]:
    """Train and evaluate every fold (resuming finished ones), then write fold-wise and mean ± std metrics."""
    from .training import fit

    folds = []
    for fold in range(config.n_folds):
        run_dir = fit(config.replace(fold=fold), resume=True, progress=progress)
        folds.append(read_json(run_dir / "metrics.json"))
    summary = {"folds": folds, **aggregate_folds(folds)}
    name = config.replace(fold=0).run_name.removesuffix("_fold0")
    write_json(resolve(config.output_dir) / f"{name}_cv.json", summary)
    return summary


def is_complete(run_dir: Path) -> bool:
    return (run_dir / "metrics.json").exists() and (run_dir / "predictions.csv").exists()


def confusion_from(predictions: pd.DataFrame) -> np.ndarray:
    y_true = predictions["label"].map(CLASSES.index)
    y_pred = predictions["pred"].map(CLASSES.index)
    return np.asarray(classification_metrics(y_true, y_pred)["confusion"])
