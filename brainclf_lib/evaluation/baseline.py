"""A one-minute scikit-learn baseline on intensity histograms: how much does the site / contrast gap give away?

Taught in ``01_data_exploration``. If a logistic regression on a volume's intensity histogram separates healthy from
tumour scans, a deep model can score well without learning anything about tumours.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from ..conventions import DEFAULT_CONTRAST


def histogram_features(paths: list[str], bins: int = 32) -> np.ndarray:
    """Normalised intensity histogram of the brain (non-zero voxels) of each preprocessed volume: what the baseline reads.

    Taught in ``01_data_exploration`` (its exercise 01.2 fits the baseline's model on them).

    Args:
        paths: preprocessed NIfTI volumes, intensities in [0, 1].
        bins: equal-width bins over [0, 1].

    Returns:
        ``(len(paths), bins)``, each row summing to 1.
    """
    features = []
    for path in paths:
        values = np.asanyarray(nib.load(path).dataobj)
        values = values[values > 0]
        counts, _ = np.histogram(values, bins=bins, range=(0, 1))
        features.append(counts / max(counts.sum(), 1))
    return np.asarray(features)


def histogram_model() -> Pipeline:
    """The baseline's classifier: standardised histogram bins into a logistic regression, one coefficient a bin."""
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def histogram_baseline(manifest: pd.DataFrame, contrast: str = DEFAULT_CONTRAST, seed: int = 0) -> pd.DataFrame:
    """Cross-validated accuracy of a histogram classifier on two tasks: healthy vs tumour, and LGG vs HGG.

    Taught in ``01_data_exploration``: a high healthy-vs-tumour accuracy here is the site / contrast shortcut.

    Args:
        manifest: a prepared folder's manifest (:func:`~brainclf_lib.data.prepare.read_manifest`).
        contrast: the manifest column whose volumes are read.
        seed: the cross-validation's shuffle.

    Returns:
        One row per task: its accuracy (mean and std over up to 3 stratified folds) and chance level.
    """
    features = histogram_features(manifest[f"image_{contrast}"].tolist())
    rows = []
    tasks = {"Healthy vs tumour": manifest["label"].eq("Healthy").to_numpy(), "LGG vs HGG": None}
    for task, target in tasks.items():
        if target is None:
            keep = manifest["label"].isin(["LGG", "HGG"]).to_numpy()
            x, y = features[keep], manifest.loc[keep, "label"].eq("HGG").to_numpy()
        else:
            x, y = features, target
        folds = min(3, int(np.bincount(y.astype(int)).min()))
        scores = cross_val_score(histogram_model(), x, y, cv=StratifiedKFold(folds, shuffle=True, random_state=seed)) if folds >= 2 else np.array([np.nan])
        rows.append({"task": task, "accuracy": scores.mean(), "std": scores.std(), "chance": max(y.mean(), 1 - y.mean())})
    return pd.DataFrame(rows)
