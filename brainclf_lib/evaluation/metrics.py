"""The paper's metrics, per evaluation: per-class precision, recall, specificity and F1; accuracy, macro and
weighted F1; confusion matrices; fold aggregation; and, beyond the paper, bootstrap intervals and McNemar's test.

Taught in ``04_train`` and ``06_results``. Metrics are computed from one evaluation's predictions: never from a
confusion matrix that accumulates over epochs (a pitfall of the paper's own code).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support
from statsmodels.stats import contingency_tables

from ..conventions import CLASSES

PER_CLASS = ("precision", "recall", "specificity", "f1")


def classification_metrics(
    y_true: Sequence[int], y_pred: Sequence[int], class_names: Sequence[str] = CLASSES
) -> dict[str, Any]:
    """All the paper's figures for one evaluation.

    A class absent from ``y_true`` and never predicted has undefined precision, recall and F1: they are NaN, and
    the macro average leaves them out (scikit-learn's ``zero_division=np.nan``).

    Returns:
        ``{"per_class": {name: {precision, recall, specificity, f1, support}}, "accuracy", "macro_f1",
        "weighted_f1", "confusion": counts, "confusion_normalised": rows summing to 1, "n"}``.
    """
    labels = list(range(len(class_names)))
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"y_true and y_pred must be non-empty and equally long, got {y_true.size} and {y_pred.size}")
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=np.nan
    )
    counts = confusion_matrix(y_true, y_pred, labels=labels)
    specificity = _specificity(counts)
    per_class = {
        name: {
            "precision": _float(precision[i]),
            "recall": _float(recall[i]),
            "specificity": _float(specificity[i]),
            "f1": _float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(class_names)
    }
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = counts / counts.sum(axis=1, keepdims=True)
    return {
        "per_class": per_class,
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": _float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=np.nan)),
        "weighted_f1": _float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=np.nan)),
        "confusion": counts.tolist(),
        "confusion_normalised": np.nan_to_num(normalised).tolist(),
        "n": int(y_true.size),
    }


def metrics_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """One evaluation's per-class figures as a table, a row per class.

    Taught in ``04_train``.

    Args:
        metrics: what :func:`classification_metrics` returns (a run's ``metrics.json``).
    """
    table = pd.DataFrame(metrics["per_class"]).T[[*PER_CLASS, "support"]]
    return table.astype({**dict.fromkeys(PER_CLASS, float), "support": int})  # a count of subjects, not "5.0"


#: The one definition of the ± over folds: the sample standard deviation, as pandas computes it by default.
FOLD_STD_DDOF = 1


def aggregate_folds(fold_metrics: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over folds of every figure, and the fold-averaged confusion matrices.

    Taught in ``06_results``. The ± is the sample standard deviation over folds (``ddof=FOLD_STD_DDOF``, 1),
    the same everywhere a ± is printed; with one fold it is undefined (``None``), not 0.

    Args:
        fold_metrics: one :func:`classification_metrics` result per fold.
    """
    if not fold_metrics:
        raise ValueError("aggregate_folds needs at least one fold")
    flat = pd.DataFrame([_flatten(m) for m in fold_metrics])
    std = flat.std(ddof=FOLD_STD_DDOF, skipna=True)
    return {
        "mean": flat.mean(skipna=True).to_dict(),
        "std": {key: (None if pd.isna(value) else float(value)) for key, value in std.items()},
        "n_folds": len(fold_metrics),
        "confusion_mean": np.mean([m["confusion"] for m in fold_metrics], axis=0).tolist(),
        "confusion_normalised_mean": np.mean([m["confusion_normalised"] for m in fold_metrics], axis=0).tolist(),
    }


def bootstrap_ci(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    metric: str | Callable[[np.ndarray, np.ndarray], float] = "macro_f1",
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Point estimate and percentile bootstrap interval of ``metric`` over subjects (resampled with replacement).

    ``metric`` is ``"macro_f1"``, ``"accuracy"``, a class's F1 (:data:`CLASS_F1`), each scored on every resample at
    once, or a function of ``(y_true, y_pred)``, called once a resample.
    """
    score = _metric(metric) if isinstance(metric, str) else metric
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, y_true.size, size=(n_resamples, y_true.size))
    if isinstance(metric, str):  # every resample's confusion matrix at once: 1000 resamples in milliseconds
        scores = _resampled_scores(metric, y_true, y_pred, indices)
    else:
        scores = np.array([score(y_true[i], y_pred[i]) for i in indices])
    return _interval(float(score(y_true, y_pred)), scores, confidence)


def mcnemar(y_true: Sequence[int], pred_a: Sequence[int], pred_b: Sequence[int]) -> dict[str, float]:
    """Exact McNemar test (statsmodels'): do two models, on the same subjects, differ in which subjects they get
    right? Only the discordant subjects count; with none, the p-value is 1."""
    y_true, pred_a, pred_b = (np.asarray(v) for v in (y_true, pred_a, pred_b))
    if not y_true.shape == pred_a.shape == pred_b.shape:
        raise ValueError("McNemar's test needs both models' predictions on the same subjects")
    a_right, b_right = pred_a == y_true, pred_b == y_true
    table = [[int(np.sum(a_right & b_right)), int(np.sum(a_right & ~b_right))],
             [int(np.sum(~a_right & b_right)), int(np.sum(~a_right & ~b_right))]]
    test = contingency_tables.mcnemar(table, exact=True)
    return {"a_right_b_wrong": table[0][1], "b_right_a_wrong": table[1][0], "p_value": float(test.pvalue)}


def paired_bootstrap(y_true: Sequence[int], pred_a: Sequence[int] | np.ndarray, pred_b: Sequence[int] | np.ndarray,
                     metric: str = "macro_f1", n_resamples: int = 2000, confidence: float = 0.95,
                     seed: int = 0) -> tuple[float, float, float]:
    """``metric`` of ``pred_b`` minus that of ``pred_a`` on the same subjects, with a percentile bootstrap interval:
    each resample draws the subjects once, for both (the pairs stay together), the draws of :func:`bootstrap_ci`
    for the same seed. Every resample is scored at once (:func:`row_scores`): 1,000 resamples in milliseconds, not
    the 5 s of two scikit-learn calls each. A resample on which either run's metric is undefined (a class's F1,
    when the resample neither holds nor calls the class) is left out of the interval.

    An arm of several runs (a ``(runs, subjects)`` array: one architecture's fold runs on a common test set) is
    scored by the mean of its runs' metric, each resample drawing the same subjects for every run of both arms.
    """
    y_true, pred_a, pred_b = (np.asarray(v) for v in (y_true, pred_a, pred_b))
    shapes_fit = all(p.ndim in (1, 2) and p.size and p.shape[-1] == y_true.size for p in (pred_a, pred_b))
    if not (y_true.ndim == 1 and y_true.size and shapes_fit):
        raise ValueError(f"A paired bootstrap needs both runs' calls on the same subjects: {y_true.size} labels, "
                         f"calls of shape {pred_a.shape} and {pred_b.shape}")
    indices = np.random.default_rng(seed).integers(0, y_true.size, size=(n_resamples, y_true.size))
    scores = _resampled_mean(metric, y_true, pred_b, indices) - _resampled_mean(metric, y_true, pred_a, indices)
    return _interval(arm_score(metric, y_true, pred_b) - arm_score(metric, y_true, pred_a), scores, confidence)


def row_scores(metric: str, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """``metric`` (``"macro_f1"``, ``"accuracy"`` or one class's F1, ``"f1_<class>"``) of each row of two
    ``(rows, subjects)`` arrays of class indices, as scikit-learn computes it, from every row's confusion counts at
    once: macro F1 is the mean over the classes whose F1 is defined (NaN when none is); a class's F1 is NaN in a row
    that neither holds nor calls it. A bootstrap's resamples, or a grid's runs, are the rows."""
    _metric(metric)  # refuses an unknown name, which would be scored as macro F1 below
    y_true, y_pred = np.atleast_2d(y_true), np.atleast_2d(y_pred)
    k, rows = len(CLASSES), len(y_pred)
    cells = (y_true * k + y_pred) + (np.arange(rows) * k * k)[:, None]
    counts = np.bincount(cells.ravel(), minlength=rows * k * k).reshape(rows, k, k)
    tp = np.diagonal(counts, axis1=1, axis2=2)
    if metric == "accuracy":
        return tp.sum(1) / y_pred.shape[1]
    denominator = counts.sum(1) + counts.sum(2)  # 2 TP + FP + FN
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), np.nan)
    if metric in CLASS_F1:
        return f1[:, CLASSES.index(metric.removeprefix("f1_"))]
    defined = ~np.isnan(f1)
    return np.where(defined.any(1), np.nansum(f1, 1) / np.maximum(defined.sum(1), 1), np.nan)


def arm_score(metric: str, y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray) -> float:
    """An arm's figure, as :func:`paired_bootstrap` scores it: ``metric`` of one run's calls, or the mean of it over
    several runs' (the rows of a ``(runs, subjects)`` array), each run scored on its own.

    Args:
        metric: a name :func:`row_scores` knows (``"macro_f1"``, ``"accuracy"``, ``"f1_<class>"``).
        y_true: the subjects' class indices.
        y_pred: one run's class indices, or several runs' as rows.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_pred.ndim == 1:
        return float(_metric(metric)(y_true, y_pred))
    return float(np.mean(row_scores(metric, np.broadcast_to(y_true, y_pred.shape), y_pred)))


def _metric(name: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """The scikit-learn scorer of a metric's name; an unknown name is an error that lists the known ones."""
    if name not in _METRICS:
        raise ValueError(f"Unknown metric {name!r}; valid ones are {', '.join(_METRICS)}")
    return _METRICS[name]


def _specificity(counts: np.ndarray) -> np.ndarray:
    """TN / (TN + FP) per class, from a confusion matrix (scikit-learn has no such figure)."""
    total = counts.sum()
    tp = np.diag(counts)
    fp = counts.sum(axis=0) - tp
    fn = counts.sum(axis=1) - tp
    tn = total - tp - fp - fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tn + fp > 0, tn / np.maximum(tn + fp, 1), np.nan)


def _resampled_scores(metric: str, y_true: np.ndarray, y_pred: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """``_METRICS[metric]`` of each resample (a row of ``indices``)."""
    return row_scores(metric, y_true[indices], y_pred[indices])


def _resampled_mean(metric: str, y_true: np.ndarray, y_pred: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Each resample's ``metric`` for one run's calls (1-D), or the mean over several runs' (rows of ``y_pred``),
    every run scored on the same resample."""
    if y_pred.ndim == 1:
        return _resampled_scores(metric, y_true, y_pred, indices)
    runs, resamples = len(y_pred), len(indices)
    calls = y_pred[:, indices].transpose(1, 0, 2).reshape(resamples * runs, -1)  # a resample's runs side by side
    truth = np.repeat(y_true[indices], runs, axis=0)
    # the mean along contiguous rows sums as np.mean of each resample's runs would (pairwise beyond 8 runs)
    return row_scores(metric, truth, calls).reshape(resamples, runs).mean(axis=1)


def _interval(point: float, scores: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """``point`` with the percentile interval of the resamples' ``scores``, leaving out those on which the metric
    is undefined (NaN); NaN bounds when it is undefined on every one (a class absent throughout)."""
    if np.isnan(scores).all():
        return point, math.nan, math.nan
    alpha = (1 - confidence) / 2
    low, high = np.nanquantile(scores, [alpha, 1 - alpha])
    return point, float(low), float(high)


def _flatten(metrics: dict[str, Any]) -> dict[str, float]:
    flat = {key: metrics[key] for key in ("accuracy", "macro_f1", "weighted_f1")}
    for name, values in metrics["per_class"].items():
        flat.update({f"{name}/{key}": values[key] for key in PER_CLASS})
    return flat


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _class_f1(index: int) -> Callable[[np.ndarray, np.ndarray], float]:
    def score(y: np.ndarray, p: np.ndarray) -> float:
        if not ((y == index).any() or (p == index).any()):
            return float("nan")  # a resample without the class says nothing about its F1
        return float(f1_score(y, p, labels=[index], average="macro", zero_division=0))
    return score


#: Each class's F1 as a metric of :func:`bootstrap_ci` and :func:`row_scores`: ``f1_Healthy``, ``f1_LGG``, ``f1_HGG``.
CLASS_F1: tuple[str, ...] = tuple(f"f1_{name}" for name in CLASSES)
_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "macro_f1": lambda t, p: f1_score(t, p, labels=list(range(len(CLASSES))), average="macro", zero_division=np.nan),
    "accuracy": accuracy_score,
    **{name: _class_f1(index) for index, name in enumerate(CLASS_F1)},
}
