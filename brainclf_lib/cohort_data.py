"""From a config to the subjects of one fold: the prepared cohort (the synthetic one generated on first use),
its saved splits, and the train / validation / test datasets. Taught in ``04_train``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .config import ExperimentConfig
from .conventions import CLASSES
from .datasets import VolumeDataset, augmentation, make_subjects
from .losses import class_weights
from .paths import data_dir, resolve
from .prepare import MANIFEST, prepare, read_manifest
from .preprocessing import PreprocessSettings
from .splits import fold_subjects, holdout_splits, kfold_splits, save_splits, train_val_split
from .synthetic import IXI_DIR, CohortSpec, generate_cohort


def preprocess_settings(config: ExperimentConfig) -> PreprocessSettings:
    return PreprocessSettings(config.spacing, config.input_shape, config.skull_strip)


def dataset_folder(config: ExperimentConfig) -> Path:
    """The prepared folder of ``config``: its ``data_root``, or the synthetic cohort, generated and prepared once."""
    if config.data_root != "synthetic":
        return resolve(config.data_root)
    spec = CohortSpec(n_per_class=config.n_per_class, seed=config.synthetic_seed, difficulty=config.synthetic_difficulty)
    tag = f"n{spec.n_per_class}-d{spec.difficulty:g}-s{spec.seed}-{spec.healthy_like}"
    settings = preprocess_settings(config)
    prepared = data_dir() / "prepared" / f"synthetic-{tag}-{'-'.join(config.contrasts)}-{settings.key}"
    if not (prepared / MANIFEST).exists():
        raw = generate_cohort(data_dir() / "synthetic" / tag, spec)
        prepare(prepared, brats=raw, ixi=raw / IXI_DIR, contrasts=config.contrasts, n_healthy=None,
                settings=settings, mask_cache=data_dir() / "prepared" / "skullstrip")
    return prepared


@dataclass
class FoldData:
    """One fold's datasets; only ``train`` carries augmentation."""

    manifest: pd.DataFrame
    train: VolumeDataset
    val: VolumeDataset
    test: VolumeDataset
    folder: Path


def load_fold(config: ExperimentConfig) -> FoldData:
    """Split the prepared cohort by subject (splits saved beside the manifest) and build the three datasets."""
    folder = dataset_folder(config)
    manifest = read_manifest(folder)
    if config.split == "kfold":
        splits, name = kfold_splits(manifest, config.n_folds, config.seed), f"kfold{config.n_folds}_seed{config.seed}"
    else:
        splits, name = holdout_splits(manifest, config.n_folds, 0.3, config.seed), f"holdout{config.n_folds}_seed{config.seed}"
    save_splits(splits, folder, name)
    train_ids, test_ids = fold_subjects(splits, config.fold)
    labels = manifest.set_index("subject_id").loc[train_ids, "label"].tolist()
    train_ids, val_ids = train_val_split(train_ids, labels, config.val_fraction, config.seed)
    by_id = manifest.set_index("subject_id", drop=False)

    def subjects(ids: list[str]):
        return make_subjects(by_id.loc[ids].reset_index(drop=True), config.contrasts)

    return FoldData(
        manifest=manifest,
        train=VolumeDataset(subjects(train_ids), augmentation(config.augmentation)),
        val=VolumeDataset(subjects(val_ids)),
        test=VolumeDataset(subjects(test_ids)),
        folder=folder,
    )


def class_balance(data: FoldData) -> pd.DataFrame:
    """Subjects per class in each split, and the loss weights the training split implies (taught in ``04_train``)."""
    table = pd.DataFrame({name: np.bincount(split.labels, minlength=len(CLASSES)) for name, split in
                          (("training subjects", data.train), ("validation", data.val), ("test", data.test))},
                         index=CLASSES)
    table.insert(1, "class weight", class_weights(data.train.labels).numpy().round(3))
    return table


def source_dataset(config: ExperimentConfig) -> VolumeDataset:
    """Unlabelled volumes for a self-trained source task, none of them a subject the target runs are tested on.

    For the synthetic cohort: every subject of another seed's cohort. For real data: the training subjects of
    ``config``'s fold (so weights made for one fold must not be reused for another).
    """
    if config.data_root == "synthetic":
        folder = dataset_folder(config.replace(synthetic_seed=config.synthetic_seed + 1))
        return VolumeDataset(make_subjects(read_manifest(folder), config.contrasts))
    return load_fold(config).train
