"""A source task trained here, for when Kinetics-400 weights cannot be downloaded (taught in ``05``).

Self-supervised rotation prediction: each volume is turned 0, 90, 180 or 270 degrees in-plane and the model learns
which. Its weights then play the part of Kinetics-400's: every layer but the stem and head is transferred.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from .cohort_data import source_dataset
from .config import ExperimentConfig
from .datasets import VolumeDataset
from .io import save_torch
from .models import ARCHS, build_model, canonical_arch


def train_rotation_source(arch: str, dataset: VolumeDataset, out: str | Path, epochs: int = 1, lr: float = 3e-4,
                          seed: int = 0, max_steps: int | None = None, progress: bool = True) -> Path:
    """Train ``arch`` to predict in-plane rotations of the volumes in ``dataset``; save its state dict to ``out``."""
    torch.manual_seed(seed)
    model = build_model(arch, n_classes=4, in_channels=dataset[0]["image"].shape[0])
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(dataset), generator=generator).tolist()[:max_steps]
        for index in tqdm(order, desc=f"source task epoch {epoch + 1}", leave=False, disable=not progress):
            image = dataset[index]["image"]
            quarter = int(torch.randint(4, (1,), generator=generator))
            rotated = torch.rot90(image[..., : min(image.shape[-2:]), : min(image.shape[-2:])], quarter, dims=(-2, -1))
            loss = loss_fn(model(rotated[None]), torch.tensor([quarter]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return save_torch(out, model.state_dict())


def make_source_weights(config: ExperimentConfig, out_dir: str | Path, archs: tuple[str, ...] = ARCHS,
                        epochs: int = 3, progress: bool = True) -> dict[str, Path]:
    """``<out_dir>/<arch>.pt`` for each architecture (kept if already there): the folder ``replicate`` takes as
    ``pretrained`` when Kinetics-400 weights are out of reach. Trained on :func:`source_dataset` volumes."""
    dataset = None
    written = {}
    for arch in map(canonical_arch, archs):
        target = Path(out_dir) / f"{arch}.pt"
        if not target.exists():
            if dataset is None:
                dataset = source_dataset(config)
            train_rotation_source(arch, dataset, target, epochs=epochs, seed=config.seed,
                                  max_steps=config.max_steps_per_epoch, progress=progress)
        written[arch] = target
    return written
