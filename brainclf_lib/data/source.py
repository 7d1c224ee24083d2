"""The source task's data: unlabelled volumes for self-supervised pre-training, never a subject a target run is
tested on."""

from __future__ import annotations

from ..experiment.config import ExperimentConfig
from ..paths import data_relative
from .cohorts import dataset_folder
from .datasets import VolumeDataset, make_subjects
from .prepare import read_manifest
from .step import load_fold, prepare_data

#: The source task's synthetic cohort is the training cohort's seed plus this (the common test set's is ``+ 2``).
SEED_OFFSET = 1


def source_cohort_config(config: ExperimentConfig) -> ExperimentConfig:
    """The experiment whose synthetic cohort the source task reads: another seed's, half the size (rotation needs no
    labels, and a cohort costs 3 s a subject to generate)."""
    return config.replace(synthetic_seed=config.synthetic_seed + SEED_OFFSET, n_per_class=max(4, config.n_per_class // 2))


def source_dataset(config: ExperimentConfig) -> tuple[VolumeDataset, str]:
    """Unlabelled volumes for a self-trained source task, none of them a subject ``config``'s run is tested on, and
    the :func:`data_key` of the cohort they come from.

    For the synthetic cohort: every subject of another seed's cohort, half the size (rotation needs no labels, and
    a cohort costs 3 s a subject to generate), which no run tests. For real data: the training subjects of
    ``config``'s fold, which the other folds test: weights made for one fold must never be loaded by another
    (:func:`~brainclf_lib.models.pretrained.check_source_disjoint` refuses them).
    """
    if config.data_root == "synthetic":
        other = source_cohort_config(config)
        folder = prepare_data(other)
        return VolumeDataset(make_subjects(read_manifest(folder), config.contrasts)), data_key(other)
    prepare_data(config)
    return load_fold(config).train, data_key(config)


def data_key(config: ExperimentConfig) -> str:
    """The name a cohort goes by in a source weights file's record: its prepared folder, relative to the data
    folder where it lies inside (the same on every machine)."""
    return data_relative(dataset_folder(config))
