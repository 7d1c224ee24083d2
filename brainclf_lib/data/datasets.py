"""TorchIO subjects, the paper's augmentation, and the dataset the models read.

Taught in ``02_preprocessing`` (augmentation) and ``04_train`` (loaders). Only training subjects are augmented:
evaluation sees the preprocessed volume as it is (the paper's code augmented its test split too).
"""

from __future__ import annotations

import pandas as pd
import torch
import torchio as tio
from torch.utils.data import DataLoader, Dataset

from ..conventions import CLASS_TO_INDEX, slice_axis_first


def make_subjects(manifest: pd.DataFrame, contrasts: tuple[str, ...]) -> list[tio.Subject]:
    """One ``tio.Subject`` per manifest row; several contrasts become channels of one image."""
    missing = [c for c in contrasts if f"image_{c}" not in manifest.columns]
    if missing:
        prepared = [c.removeprefix("image_") for c in manifest.columns if c.startswith("image_")]
        raise ValueError(f"The manifest has no prepared {missing}; it holds {prepared}: prepare those contrasts")
    subjects = []
    for row in manifest.itertuples(index=False):
        paths = [getattr(row, f"image_{c}") for c in contrasts]
        subjects.append(
            tio.Subject(
                image=tio.ScalarImage(paths if len(paths) > 1 else paths[0]),
                label=CLASS_TO_INDEX[row.label],
                subject_id=row.subject_id,
            )
        )
    return subjects


class VolumeDataset(Dataset):
    """``(image (C, D, H, W), label)`` pairs; ``transform`` is applied to training subjects only."""

    def __init__(self, subjects: list[tio.Subject], transform: tio.Transform | None = None) -> None:
        self.subjects = subjects
        self.transform = transform

    def __len__(self) -> int:
        return len(self.subjects)

    def __getitem__(self, index: int) -> dict:
        subject = self.subjects[index]
        image = tio.ScalarImage(subject["image"].path) if subject["image"].path is not None else subject["image"]
        loaded = tio.Subject(image=image)
        if self.transform is not None:
            loaded = self.transform(loaded)
        return {
            "image": slice_axis_first(loaded["image"].data.float()).contiguous(),
            "label": torch.tensor(subject["label"]),
            "subject_id": subject["subject_id"],
        }

    @property
    def labels(self) -> list[int]:
        return [s["label"] for s in self.subjects]


def make_loader(dataset: VolumeDataset, batch_size: int, shuffle: bool, num_workers: int, seed: int, pin_memory: bool = False) -> DataLoader:
    """A DataLoader whose order and worker seeds follow ``seed`` (set per epoch for exact resumes)."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        generator=generator,
        pin_memory=pin_memory,
        persistent_workers=False,
    )
