"""The source task's data: unlabelled volumes for self-supervised pre-training, never a subject a target run is
tested on."""

from __future__ import annotations

from ..experiment.config import ExperimentConfig
from .datasets import VolumeDataset, make_subjects
from .prepare import read_manifest
from .step import load_fold, prepare_data


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
