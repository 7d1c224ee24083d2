"""From a config to the subjects of one fold, in two explicit steps (taught in ``01`` and ``04_train``).

:func:`prepare_data` is the data step: it generates the synthetic cohort if the config asks for it and it is not
there yet, preprocesses it once (``brainclf prepare``), and saves the subject splits beside the manifest. It says
what it does while it does it, and it is what ``brainclf data`` and every notebook's "Setup data" cell call.
:func:`load_fold` only reads what that step wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..conventions import IXI_ROOT_NAME
from ..errors import BadInputError
from ..experiment.config import ExperimentConfig
from ..experiment.protocols import PUBLISHED_SPLIT_SEED, PUBLISHED_TEST_FRACTION, protocol_plan
from ..paths import data_dir, data_relative, shown
from .cohorts import cohort_spec, dataset_folder, preprocess_settings, synthetic_folder
from .datasets import VolumeDataset, make_subjects
from .prepare import MANIFEST, prepare, read_manifest
from .shipped import install_shipped
from .splits import (
    fold_subjects,
    holdout_splits,
    kfold_splits,
    random_split_table,
    read_splits,
    save_splits,
    train_val_split,
)
from .synthetic import generate_cohort
from .transforms import protocol_transforms


def prepare_data(config: ExperimentConfig, verbose: bool = True) -> Path:
    """The data step: make sure ``config``'s cohort is prepared and its splits saved, and return its folder.

    Taught in ``01_data_exploration``. The fast and smoke presets' synthetic cohorts ship prepared
    (``data/cohorts``) and are installed on first use, in a second; any other synthetic cohort is generated (seeded)
    and preprocessed, about 1.7 minutes a class of 24 subjects on two cores (the fast preset's three cohorts, 156
    subjects, took 11.3 minutes). Either is announced when it happens; later calls only check.
    Real data must have been prepared with ``brainclf prepare`` (its folder holds ``manifest.csv``).

    Args:
        config: the experiment; its data settings (``data_root``, contrasts, spacing, shape, split, seed) decide.
        verbose: print what is generated or prepared.

    Returns:
        The prepared folder, holding ``manifest.csv`` and the :func:`splits_path` file.
    """
    folder = dataset_folder(config)
    if not (folder / MANIFEST).exists():
        if config.data_root != "synthetic":
            raise BadInputError(f"{folder} holds no {MANIFEST}: prepare the raw data first "
                                "(brainclf prepare --brats DIR --ixi DIR --out FOLDER)")
        spec, raw = cohort_spec(config), synthetic_folder(config)
        archive = install_shipped(config)
        if archive is not None:
            if verbose:
                print(f"[data] first use of this synthetic cohort ({spec.n_per_class} subjects a class, seed "
                      f"{spec.seed}): installed from {shown(archive)}, prepared, into {data_relative(folder)} in the "
                      "data folder; a subject's 1 mm scans are generated when something first reads them", flush=True)
        else:
            if verbose:
                print(f"[data] first use of this synthetic cohort ({spec.n_per_class} subjects a class, seed "
                      f"{spec.seed}, difficulty {spec.difficulty:g}): generating it in {data_relative(raw)} and "
                      f"preparing it in {data_relative(folder)}, in the data folder", flush=True)
            raw = generate_cohort(raw, spec)
            prepare(folder, brats=raw, ixi=raw / IXI_ROOT_NAME, contrasts=config.contrasts, n_healthy=None,
                    settings=preprocess_settings(config), mask_cache=data_dir() / "prepared" / "skullstrip")
    splits_file = splits_path(config)
    if not splits_file.exists():
        if verbose:
            print(f"[data] saving the subject splits in {data_relative(splits_file)}, in the data folder", flush=True)
        save_splits(_make_splits(read_manifest(folder), config), splits_file)
    return folder


def splits_path(config: ExperimentConfig) -> Path:
    """The splits file a config reads: ``<prepared folder>/splits_kfold3_seed0.csv`` (or ``holdout3_seed0``, or the
    published code's ``random70-30_seed55``)."""
    return dataset_folder(config) / protocol_plan(config).splits_name


@dataclass
class FoldData:
    """One fold's datasets; only ``train`` carries augmentation (``test`` too under the ``augmented_test``
    deviation of ``08_protocols``)."""

    manifest: pd.DataFrame
    train: VolumeDataset
    val: VolumeDataset
    test: VolumeDataset
    folder: Path


def load_fold(config: ExperimentConfig) -> FoldData:
    """The train (augmented), validation and test datasets of ``config``'s fold, read from what :func:`prepare_data`
    wrote: subjects are split as saved, never re-drawn.

    Taught in ``04_train``.

    Args:
        config: the experiment; ``fold`` picks the held-out third.

    Returns:
        A :class:`FoldData`: ``train`` carries the augmentation, ``val`` and ``test`` see each volume as prepared.
    """
    folder = dataset_folder(config)
    splits_file = splits_path(config)
    if not splits_file.exists():
        raise FileNotFoundError(f"{splits_file} does not exist: run the data step first "
                                "(prepare_data(config), or brainclf data with the same options)")
    manifest = read_manifest(folder)
    splits = read_splits(splits_file)
    train_ids, test_ids = fold_subjects(splits, config.fold)
    labels = manifest.set_index("subject_id").loc[train_ids, "label"].tolist()
    plan = protocol_plan(config)
    train_ids, val_ids = train_val_split(train_ids, labels, plan.val_fraction, config.seed)
    by_id = manifest.set_index("subject_id", drop=False)

    def subjects(ids: list[str]):
        return make_subjects(by_id.loc[ids].reset_index(drop=True), config.contrasts)

    train_transform, eval_transform = protocol_transforms(plan)
    return FoldData(
        manifest=manifest,
        train=VolumeDataset(subjects(train_ids), train_transform),
        val=VolumeDataset(subjects(val_ids), eval_transform),
        test=VolumeDataset(subjects(test_ids), train_transform if plan.augment_test else eval_transform),
        folder=folder,
    )


def _make_splits(manifest: pd.DataFrame, config: ExperimentConfig) -> pd.DataFrame:
    split = protocol_plan(config).split
    if split == "random":
        return random_split_table(manifest, PUBLISHED_TEST_FRACTION, PUBLISHED_SPLIT_SEED)
    if split == "kfold":
        return kfold_splits(manifest, config.n_folds, config.seed)
    return holdout_splits(manifest, config.n_folds, 0.3, config.seed)
