"""Which cohort a config names and where it lives: the preprocessing it asks for, the synthetic cohort's tag, and
its raw and prepared folders under the data folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..experiment.config import ExperimentConfig
from ..paths import data_dir, resolve
from .preprocessing import PreprocessSettings
from .synthetic import CohortSpec
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
    spec = cohort_spec(config)
    settings = preprocess_settings(config)
    return data_dir() / "prepared" / f"synthetic-{cohort_tag(spec)}-{'-'.join(config.contrasts)}-{settings.key}"


def synthetic_folder(config: ExperimentConfig) -> Path:
    """Where ``config``'s synthetic cohort is generated (its raw scans, before preprocessing)."""
    return data_dir() / "synthetic" / cohort_tag(cohort_spec(config))


def drawn_subjects(config: ExperimentConfig) -> pd.DataFrame | None:
    """What each subject of ``config``'s synthetic cohort was drawn as (site, tumour size, enhancement, lobe, and
    whether it has the other grade's radiology), or ``None`` for real data or a cohort generated before the
    generator wrote it."""
    path = synthetic_folder(config) / SUBJECTS_TABLE
    return pd.read_csv(path) if config.data_root == "synthetic" and path.exists() else None


def cohort_spec(config: ExperimentConfig) -> CohortSpec:
    """The synthetic cohort a config asks for."""
    return CohortSpec(n_per_class=config.n_per_class, seed=config.synthetic_seed, difficulty=config.synthetic_difficulty)


def cohort_tag(spec: CohortSpec) -> str:
    """A cohort's folder name: every setting that changes what is generated."""
    return f"n{spec.n_per_class}-d{spec.difficulty:g}-s{spec.seed}-{spec.healthy_like}-g{spec.generator}"
