"""A source task trained here, for when Kinetics-400 weights cannot be downloaded (taught in ``05``).

Self-supervised rotation prediction: each volume is turned 0, 90, 180 or 270 degrees in-plane and the model learns
which. Its weights then play the part of Kinetics-400's: every layer but the stem and head is transferred.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..data.datasets import VolumeDataset, make_loader
from ..data.source import source_dataset
from ..experiment.config import ExperimentConfig
from ..experiment.device import adam, pick_device
from ..experiment.protocols import protocol_plan
from ..files import save_torch
from ..models.architectures import ARCHS, build_model, canonical_arch
from ..paths import PathLike, resolve
from .loop import train_epoch
from .parallel import jobs_at_once, map_in_processes, optimiser_steps


def rotate_quarters(images: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn each volume of a batch ``(N, C, D, H, W)`` by a random multiple of 90 degrees in-plane (cropped square
    first, so every turn has the same shape); the multiples are the labels."""
    side = min(images.shape[-2:])
    quarters = torch.randint(4, (len(images),), generator=generator)
    square = images[..., :side, :side]
    rotated = torch.stack([torch.rot90(volume, int(k), dims=(-2, -1)) for volume, k in zip(square, quarters, strict=True)])
    return rotated, quarters


def train_rotation_source(arch: str, dataset: VolumeDataset, out: PathLike, epochs: int = 1, lr: float = 3e-4,
                          seed: int = 0, max_steps: int | None = None, device: str = "auto",
                          progress: bool = True, record: dict | None = None) -> Path:
    """Train ``arch`` to predict in-plane rotations of the volumes in ``dataset``; save its weights to ``out``.

    The loop is :func:`~brainclf_lib.training.loop.train_epoch`, with the rotation as the target. The file holds
    ``{"model": state dict, "source": record}``: ``record`` says what the weights learned from (the cohort and its
    subjects), so that a run can refuse weights that saw a subject it tests.
    """
    torch.manual_seed(seed)
    target_device = pick_device(device)
    model = build_model(arch, n_classes=4, in_channels=dataset[0]["image"].shape[0]).to(target_device)
    optimizer = adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        loader = make_loader(dataset, batch_size=4, shuffle=True, num_workers=0, seed=seed * 1000 + epoch)
        train_epoch(model, loader, nn.CrossEntropyLoss(), optimizer, device=target_device, max_steps=max_steps,
                    description=f"source task epoch {epoch + 1}", progress=progress,
                    targets=lambda batch: rotate_quarters(batch["image"], generator))
    state = {key: value.cpu() for key, value in model.state_dict().items()}
    return save_torch(out, {"model": state, "source": record or {}})


#: Added to a run's seed for its source task: the source model starts from its own weights, never from the ones
#: the scratch run of the same seed starts from (issue #34: with the target's seed, pre-trained and scratch runs
#: made the same calls).
SOURCE_SEED_OFFSET = 7919
#: Epochs of the source task: long enough that its trunk moves away from its initialisation (05 measures how far,
#: and what a linear probe reads from it); 3 epochs of 6 steps left it where it started.
SOURCE_EPOCHS = 12


def make_source_weights(config: ExperimentConfig, out_dir: PathLike, archs: tuple[str, ...] = ARCHS,
                        epochs: int = SOURCE_EPOCHS, progress: bool = True) -> dict[str, Path]:
    """Self-trained source weights for each architecture: the offline stand-in for Kinetics-400.

    Taught in ``05_transfer_learning``. Each model learns to tell how a volume was rotated; files already there are
    kept. The folder is what ``replicate`` and ``fit`` take as ``pretrained`` when Kinetics-400 weights are out of
    reach. For the synthetic cohort one file an architecture, ``<arch>.pt``, serves every fold: it learns from
    another seed's cohort (:func:`~brainclf_lib.data.source.source_dataset`), which no run tests. For real data
    the only volumes at hand are the folds' own, so each fold gets its own, ``<arch>_fold<k>.pt``, learned from that
    fold's training subjects: one fold's training subjects are the others' test subjects, and every file records
    the subjects it learned from so that no run can load weights that saw a subject it tests.

    Args:
        config: the experiment whose data, preprocessing and shape the source task copies.
        out_dir: where the weights go.
        archs: architectures to pre-train.
        epochs: epochs of the source task.
        progress: show progress bars.

    Returns:
        ``{arch: path}``: the file that each architecture's run of ``config``'s fold loads.
    """
    folds = [None] if config.data_root == "synthetic" else list(protocol_plan(config).folds)
    jobs = []
    for fold in folds:
        fold_config = config if fold is None else config.replace(fold=fold)
        targets = {arch: resolve(out_dir) / f"{arch}{'' if fold is None else f'_fold{fold}'}.pt" for arch in map(canonical_arch, archs)}
        missing = {arch: target for arch, target in targets.items() if not target.exists()}
        if not missing:
            continue
        dataset, cohort = source_dataset(fold_config)  # here, once: installs or generates the source cohort
        record = {"task": "rotation", "data": cohort, "fold": fold, "epochs": epochs, "seed": config.seed + SOURCE_SEED_OFFSET,
                  "subjects": [subject["subject_id"] for subject in dataset.subjects]}
        jobs += [_SourceJob(arch, fold_config, target, epochs, record) for arch, target in missing.items()]
    at_once = jobs_at_once(len(jobs), config.device, optimiser_steps(config, epochs))
    if at_once > 1:  # side by side on a CPU, as the grid's runs go (training.parallel)
        map_in_processes(_train_source_job, jobs, at_once, name=lambda job: str(job.target), progress=progress,
                         description="source models")
    else:
        for job in jobs:
            _train_source_job(job, progress)
    return {arch: source_weights_file(out_dir, config.replace(arch=arch)) for arch in map(canonical_arch, archs)}


def source_weights_file(folder: PathLike, config: ExperimentConfig) -> Path:
    """The file of a folder of source weights that ``config``'s run loads: ``<arch>_fold<k>.pt`` where the folder
    holds one for its fold (self-trained on real data), else ``<arch>.pt``."""
    folder = resolve(folder)
    per_fold = folder / f"{config.arch}_fold{config.fold}.pt"
    return per_fold if per_fold.exists() else folder / f"{config.arch}.pt"


@dataclass(frozen=True)
class _SourceJob:
    arch: str
    config: ExperimentConfig  # the fold's config, whose source cohort the model learns from
    target: Path
    epochs: int
    record: dict


def _train_source_job(job: _SourceJob, progress: bool = False) -> Path:
    dataset, _ = source_dataset(job.config)
    return train_rotation_source(job.arch, dataset, job.target, epochs=job.epochs, seed=job.config.seed + SOURCE_SEED_OFFSET,
                                 record=job.record, max_steps=job.config.max_steps_per_epoch, device=job.config.device,
                                 progress=progress)
