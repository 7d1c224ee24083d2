"""One training step: the forward pass under autocast, the weighted loss, the scaled backward pass, Adam's step.

Taught in ``04_train``, where the step is first written out in a cell. It is the only place the suite steps an
optimiser (a test reads every module's code to hold that): the epoch loop and the step-time benchmark both call it.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from ..experiment.device import autocast


def training_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, loss_fn: nn.Module,
                  optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, device: torch.device,
                  dtype: torch.dtype | None, accumulate: int = 1, update: bool = True) -> tuple[torch.Tensor, bool]:
    """One training step, the one ``04_train`` writes out: the forward pass under autocast, the loss, the scaled
    backward pass and, when ``update``, Adam's step.

    Every optimiser step of the suite is this function: :func:`train_epoch` and the benchmark's step timer call it.

    Returns:
        This process's loss, and whether every process's loss was finite. If one was not, no process takes a
        gradient: under DDP the backward pass all-reduces, and a process that skipped it would leave the others
        waiting for it until the collective's timeout.
    """
    with autocast(device, dtype):
        loss = loss_fn(model(images).float(), labels)
    if not all_finite(loss):
        return loss, False
    scaler.scale(loss / accumulate).backward()
    if update:
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
    return loss, True


def all_finite(loss: torch.Tensor) -> bool:
    """Whether ``loss`` is finite on every process of the group (one all-reduce of a flag), or on this one alone
    outside distributed training."""
    finite = torch.isfinite(loss.detach())
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return bool(finite)
    flag = finite.to(torch.int32).reshape(1)  # on the loss's device: CUDA tensors for NCCL, CPU ones for gloo
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())
