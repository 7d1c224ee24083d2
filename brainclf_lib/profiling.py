"""What a model costs: FLOPs per forward and training step, time per step, memory. Taught in ``03``; the
benchmark script in ``benchmarks/`` builds its table from these."""

from __future__ import annotations

import resource
import time

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .runtime import autocast


def count_flops(model: nn.Module, input_shape: tuple[int, ...], training: bool = False) -> int:
    """FLOPs of one forward (or forward + backward) pass, counted by ``torch.utils.flop_counter``."""
    x = torch.zeros(input_shape, device=next(model.parameters()).device)
    with FlopCounterMode(display=False) as counter:
        if training:
            model(x).sum().backward()
        else:
            with torch.no_grad():
                model(x)
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def time_step(model: nn.Module, input_shape: tuple[int, ...], training: bool = True, repeats: int = 3,
              warmup: int = 1, dtype: torch.dtype | None = None) -> float:
    """Median seconds of one training step (forward, backward, Adam) or one inference, after warm-up."""
    device = next(model.parameters()).device
    x = torch.randn(input_shape, device=device)
    y = torch.zeros(input_shape[0], dtype=torch.long, device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)
    loss_fn = nn.CrossEntropyLoss()
    times = []
    model.train(training)
    for i in range(warmup + repeats):
        _sync(device)
        began = time.perf_counter()
        if training:
            with autocast(device, dtype):
                loss = loss_fn(model(x).float(), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        else:
            with torch.no_grad(), autocast(device, dtype):
                model(x)
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - began)
    return float(np.median(times))


def matmul_peak(device: torch.device, dtype: torch.dtype = torch.float32, size: int = 2048, repeats: int = 5) -> float:
    """Measured FLOP/s of a square matmul on ``device``: the yardstick for a model's achieved FLOP/s."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    times = []
    for _ in range(repeats + 1):
        _sync(device)
        began = time.perf_counter()
        a @ b
        _sync(device)
        times.append(time.perf_counter() - began)
    return 2 * size**3 / float(np.median(times[1:]))


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated, or the process's peak resident set size on the CPU, in MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def conv_kernels(model: nn.Module) -> pd.DataFrame:
    """Every convolution's kernel as (slices, in-plane): where a model convolves in-plane, along slices, or both."""
    rows = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv3d):
            d, h, w = module.kernel_size
            kind = "3D" if d > 1 and h > 1 else ("slice-wise" if d > 1 else ("in-plane" if h > 1 else "1x1x1"))
            rows.append({"layer": name, "kernel (D, H, W)": module.kernel_size, "convolves": kind,
                         "channels": f"{module.in_channels}->{module.out_channels}"})
    return pd.DataFrame(rows)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
