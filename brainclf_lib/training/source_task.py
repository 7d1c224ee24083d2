"""A source task trained here, for when Kinetics-400 weights cannot be downloaded (taught in ``05``).

Self-supervised rotation prediction: each volume is turned 0, 90, 180 or 270 degrees in-plane and the model learns
which. Its weights then play the part of Kinetics-400's: every layer but the stem and head is transferred.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..data.datasets import VolumeDataset, make_loader
from ..data.source import source_dataset
from ..experiment.config import ExperimentConfig
from ..experiment.device import adam, pick_device
from ..files import save_torch
from ..models.architectures import ARCHS, build_model, canonical_arch
from ..paths import PathLike
from .loop import train_epoch


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
                          progress: bool = True) -> Path:
    """Train ``arch`` to predict in-plane rotations of the volumes in ``dataset``; save its state dict to ``out``.

    The loop is :func:`~brainclf_lib.training.loop.train_epoch`, with the rotation as the target.
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
    return save_torch(out, {key: value.cpu() for key, value in model.state_dict().items()})


def make_source_weights(config: ExperimentConfig, out_dir: PathLike, archs: tuple[str, ...] = ARCHS,
                        epochs: int = 3, progress: bool = True) -> dict[str, Path]:
    """Self-trained source weights, ``<out_dir>/<arch>.pt`` for each architecture: the offline stand-in for Kinetics-400.

    Taught in ``05_transfer_learning``. Each model learns to tell how a volume of another synthetic cohort (the next
    seed's, :func:`~brainclf_lib.data.source.source_dataset`) was rotated; files already there are kept. The folder is what
    ``replicate`` and ``fit`` take as ``pretrained`` when Kinetics-400 weights are out of reach.

    Args:
        config: the experiment whose preprocessing and shape the source task copies.
        out_dir: where the weights go.
        archs: architectures to pre-train.
        epochs: epochs of the source task.
        progress: show progress bars.

    Returns:
        ``{arch: path}`` of the weight files.
    """
    dataset = None
    written = {}
    for arch in map(canonical_arch, archs):
        target = Path(out_dir) / f"{arch}.pt"
        if not target.exists():
            if dataset is None:
                dataset = source_dataset(config)
            train_rotation_source(arch, dataset, target, epochs=epochs, seed=config.seed,
                                  max_steps=config.max_steps_per_epoch, device=config.device, progress=progress)
        written[arch] = target
    return written
