"""Subject-level, stratified, seeded splits, checked for leaks and saved beside the manifest.

Taught in ``04_train``. Every split is of *subjects*: a volume never appears on both sides.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import torch
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit, train_test_split
from torch.utils.data import random_split

from ..errors import SplitLeakError
from ..files import write_csv
from ..paths import PathLike


def kfold_splits(manifest: pd.DataFrame, n_folds: int = 3, seed: int = 0) -> pd.DataFrame:
    """Stratified k-fold cross-validation: a row per (fold, subject) with its role, ``train`` or ``test``."""
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return _table(manifest, splitter.split(manifest["subject_id"], manifest["label"]))


def holdout_splits(manifest: pd.DataFrame, n_splits: int = 3, test_size: float = 0.3, seed: int = 0) -> pd.DataFrame:
    """The paper's other reading: ``n_splits`` independent stratified 7:3 train/test splits."""
    splitter = StratifiedShuffleSplit(n_splits=n_splits, test_size=test_size, random_state=seed)
    return _table(manifest, splitter.split(manifest["subject_id"], manifest["label"]))


def random_split_table(manifest: pd.DataFrame, test_fraction: float = 0.3, seed: int = 55) -> pd.DataFrame:
    """The published code's split: one unstratified ``torch.utils.data.random_split`` of every subject, seeded.

    Taught in ``08_protocols``. Its training part holds ``int(n - test_fraction * n)`` subjects, as the code
    computed it; the class proportions of its test part are whatever the draw gives.
    """
    n = len(manifest)
    n_train = int(n - test_fraction * n)
    train, test = random_split(range(n), [n_train, n - n_train], generator=torch.Generator().manual_seed(seed))
    return _table(manifest, [(list(train.indices), list(test.indices))])


def check_split(train_ids: Iterable[str], test_ids: Iterable[str]) -> None:
    """Refuse a split with a subject on both sides."""
    shared = sorted(set(train_ids) & set(test_ids))
    if shared:
        raise SplitLeakError(f"{len(shared)} subjects are on both sides of the split: {shared[:5]}")


def fold_subjects(splits: pd.DataFrame, fold: int) -> tuple[list[str], list[str]]:
    """Train and test subject IDs of one fold, checked for leaks."""
    rows = splits[splits["fold"] == fold]
    if rows.empty:
        raise ValueError(f"No fold {fold} in the splits (folds: {sorted(splits['fold'].unique())})")
    train = rows.loc[rows["role"] == "train", "subject_id"].tolist()
    test = rows.loc[rows["role"] == "test", "subject_id"].tolist()
    check_split(train, test)
    return train, test


def train_val_split(subject_ids: list[str], labels: list[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Keep ``val_fraction`` of the training subjects aside (stratified) to choose the best epoch."""
    if val_fraction <= 0:
        return list(subject_ids), []
    n_classes = len(set(labels))
    n_val = max(n_classes, round(val_fraction * len(subject_ids)))
    stratify = labels if min(pd.Series(labels).value_counts()) >= 2 and n_val < len(subject_ids) - n_classes else None
    train, val = train_test_split(subject_ids, test_size=n_val, stratify=stratify, random_state=seed)
    return list(train), list(val)


def save_splits(splits: pd.DataFrame, path: PathLike) -> Path:
    """Write the splits where every later run reads them (:func:`read_splits`)."""
    return write_csv(path, splits)


def read_splits(path: PathLike) -> pd.DataFrame:
    """Splits saved by :func:`save_splits`, checked for leaks; subject IDs stay strings."""
    splits = pd.read_csv(path, dtype={"subject_id": str, "label": str, "role": str})
    for fold in splits["fold"].unique():
        fold_subjects(splits, fold)
    return splits


def _table(manifest: pd.DataFrame, folds: Iterable) -> pd.DataFrame:
    rows = []
    for fold, (train, test) in enumerate(folds):
        for role, indices in (("train", train), ("test", test)):
            part = manifest.iloc[indices]
            rows += [{"fold": fold, "subject_id": s, "label": lbl, "role": role} for s, lbl in zip(part["subject_id"], part["label"], strict=False)]
    table = pd.DataFrame(rows)
    for fold in table["fold"].unique():
        fold_subjects(table, fold)
    return table
