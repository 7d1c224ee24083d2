"""From a config to the subjects of one fold, in two explicit steps (taught in ``01`` and ``04_train``).

:func:`prepare_data` is the data step: it generates the synthetic cohort if the config asks for it and it is not
there yet, preprocesses it once (``brainclf prepare``), and saves the subject splits beside the manifest. It says
what it does while it does it, and it is what ``brainclf data`` and every notebook's "Setup data" cell call.
:func:`load_fold` only reads what that step wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import torchio as tio

from .config import ExperimentConfig
from .conventions import CLASSES, IXI_ROOT_NAME
from .datasets import VolumeDataset, augmentation, make_subjects, published_augmentation
from .errors import BadInputError
from .losses import class_weights
from .paths import data_dir, resolve
from .prepare import MANIFEST, prepare, read_manifest
from .preprocessing import PreprocessSettings
from .protocols import PUBLISHED_SPLIT_SEED, PUBLISHED_TEST_FRACTION, ProtocolPlan, protocol_plan
from .splits import (
    fold_subjects,
    holdout_splits,
    kfold_splits,
    random_split_table,
    read_splits,
    save_splits,
    train_val_split,
)
from .synthetic import CohortSpec, generate_cohort
from .synthetic.cohort import SUBJECTS_TABLE


def preprocess_settings(config: ExperimentConfig) -> PreprocessSettings:
    """The preprocessing a config asks for (spacing, shape, percentiles, skull stripping), as ``brainclf prepare`` takes it.

    Taught in ``02_preprocessing``.

    Args:
        config: the experiment.
    """
    return PreprocessSettings(config.spacing, config.input_shape, config.skull_strip)


def dataset_folder(config: ExperimentConfig) -> Path:
    """Where ``config``'s prepared cohort is (or will be): its ``data_root``, or the synthetic cohort's own folder."""
    if config.data_root != "synthetic":
        return resolve(config.data_root)
    spec = _cohort_spec(config)
    settings = preprocess_settings(config)
    return data_dir() / "prepared" / f"synthetic-{_cohort_tag(spec)}-{'-'.join(config.contrasts)}-{settings.key}"


def prepare_data(config: ExperimentConfig, verbose: bool = True) -> Path:
    """The data step: make sure ``config``'s cohort is prepared and its splits saved, and return its folder.

    Taught in ``01_data_exploration``. The synthetic default is generated (seeded) and preprocessed on first use,
    about 30 s a class of 16 subjects on two cores, and announced when that happens; later calls only check.
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
        spec = _cohort_spec(config)
        raw = data_dir() / "synthetic" / _cohort_tag(spec)
        if verbose:
            print(f"[data] first use of this synthetic cohort ({spec.n_per_class} subjects a class, seed {spec.seed}, "
                  f"difficulty {spec.difficulty:g}): generating it in {raw} and preparing it in {folder}", flush=True)
        raw = generate_cohort(raw, spec)
        prepare(folder, brats=raw, ixi=raw / IXI_ROOT_NAME, contrasts=config.contrasts, n_healthy=None,
                settings=preprocess_settings(config), mask_cache=data_dir() / "prepared" / "skullstrip")
    splits_file = splits_path(config)
    if not splits_file.exists():
        if verbose:
            print(f"[data] saving the subject splits in {splits_file}", flush=True)
        save_splits(_make_splits(read_manifest(folder), config), splits_file)
    return folder


def drawn_subjects(config: ExperimentConfig) -> pd.DataFrame | None:
    """What each subject of ``config``'s synthetic cohort was drawn as (site, tumour size, enhancement, lobe, and
    whether it has the other grade's radiology), or ``None`` for real data or a cohort generated before the
    generator wrote it."""
    path = data_dir() / "synthetic" / _cohort_tag(_cohort_spec(config)) / SUBJECTS_TABLE
    return pd.read_csv(path) if config.data_root == "synthetic" and path.exists() else None


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

    train_transform, eval_transform = _transforms(plan)
    return FoldData(
        manifest=manifest,
        train=VolumeDataset(subjects(train_ids), train_transform),
        val=VolumeDataset(subjects(val_ids), eval_transform),
        test=VolumeDataset(subjects(test_ids), train_transform if plan.augment_test else eval_transform),
        folder=folder,
    )


def class_balance(data: FoldData) -> pd.DataFrame:
    """Subjects per class in each split, and the loss weights the training split implies.

    Taught in ``04_train``: the weights are derived from the training fold's labels, never typed in.

    Args:
        data: a fold from :func:`load_fold`.

    Returns:
        A row per class: training, validation and test subjects, and the class weight ``1 - n_c / N``.
    """
    table = pd.DataFrame({name: np.bincount(split.labels, minlength=len(CLASSES)) for name, split in
                          (("training subjects", data.train), ("validation", data.val), ("test", data.test))},
                         index=CLASSES)
    table.insert(1, "class weight", class_weights(data.train.labels).numpy().round(3))
    return table


def source_dataset(config: ExperimentConfig) -> VolumeDataset:
    """Unlabelled volumes for a self-trained source task, none of them a subject the target runs are tested on.

    For the synthetic cohort: every subject of another seed's cohort, half the size (rotation needs no labels, and
    a cohort costs 3 s a subject to generate). For real data: the training subjects of
    ``config``'s fold (so weights made for one fold must not be reused for another).
    """
    if config.data_root == "synthetic":
        folder = prepare_data(config.replace(synthetic_seed=config.synthetic_seed + 1,
                                             n_per_class=max(4, config.n_per_class // 2)))
        return VolumeDataset(make_subjects(read_manifest(folder), config.contrasts))
    prepare_data(config)
    return load_fold(config).train


def evaluation_transform(config: ExperimentConfig) -> tio.Transform | None:
    """What the config's protocol does to every evaluated volume (``None`` for the corrected one): the published
    code's output-range rescale and per-step resize. Prediction on new scans applies it too."""
    return _transforms(protocol_plan(config))[1]


def _cohort_spec(config: ExperimentConfig) -> CohortSpec:
    return CohortSpec(n_per_class=config.n_per_class, seed=config.synthetic_seed, difficulty=config.synthetic_difficulty)


def _cohort_tag(spec: CohortSpec) -> str:
    return f"n{spec.n_per_class}-d{spec.difficulty:g}-s{spec.seed}-{spec.healthy_like}-g{spec.generator}"


def _make_splits(manifest: pd.DataFrame, config: ExperimentConfig) -> pd.DataFrame:
    split = protocol_plan(config).split
    if split == "random":
        return random_split_table(manifest, PUBLISHED_TEST_FRACTION, PUBLISHED_SPLIT_SEED)
    if split == "kfold":
        return kfold_splits(manifest, config.n_folds, config.seed)
    return holdout_splits(manifest, config.n_folds, 0.3, config.seed)


def _transforms(plan: ProtocolPlan) -> tuple[tio.Transform | None, tio.Transform | None]:
    """The training and evaluation transforms the plan asks for: the corrected protocol's, or the published code's."""
    train = published_augmentation() if plan.augmentation == "published" else augmentation(plan.augmentation)
    before = [tio.RescaleIntensity(out_min_max=plan.rescale_range)] if plan.rescale_range else []
    after = [tio.Lambda(partial(_shrink_nearest, factor=plan.resize_factor), types_to_apply=[tio.INTENSITY])] \
        if plan.resize_factor else []
    if not before + after:  # what the published code did to every split: the dataset's rescale, the loop's resize
        return train, None
    return tio.Compose([*before, *([train] if train else []), *after]), tio.Compose([*before, *after])


def _shrink_nearest(tensor: torch.Tensor, factor: float) -> torch.Tensor:
    """The published code's ``F.interpolate(x, scale_factor=factor)`` (nearest), on one ``(C, x, y, z)`` image."""
    return F.interpolate(tensor[None].float(), scale_factor=(factor,) * 3)[0]
