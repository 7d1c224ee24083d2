"""One training step: the forward pass under autocast, the weighted loss, the scaled backward pass, Adam's step.

Taught in ``04_train``, where the step is first written out in a cell. It is the only place the suite steps an
optimiser (a test reads every module's code to hold that): the epoch loop and the step-time benchmark both call it.
"""

from __future__ import annotations

import torch
from torch import nn

from ..experiment.device import autocast


def training_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, loss_fn: nn.Module,
                  optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, device: torch.device,
                  dtype: torch.dtype | None, accumulate: int = 1, update: bool = True) -> torch.Tensor:
    """One training step, the one ``04_train`` writes out: the forward pass under autocast, the loss, the scaled
    backward pass and, when ``update``, Adam's step. A non-finite loss is returned before any gradient is taken.

    Every optimiser step of the suite is this function: :func:`train_epoch` and the benchmark's step timer call it.
    """
    with autocast(device, dtype):
        loss = loss_fn(model(images).float(), labels)
    if not torch.isfinite(loss):
        return loss
    scaler.scale(loss / accumulate).backward()
    if update:
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
    return loss
