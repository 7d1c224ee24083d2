"""Device, precision, seeding and the record of the environment a run used."""

from __future__ import annotations

import os
import platform
import random
import sys
from contextlib import AbstractContextManager, nullcontext
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import torch


def pick_device(name: str = "auto") -> torch.device:
    """The device a run uses.

    Taught in ``01_data_exploration``.

    Args:
        name: ``auto`` (the local CUDA device when there is one, ``LOCAL_RANK``'s under torchrun, else the CPU),
            ``cpu``, ``cuda`` or ``cuda:N``.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    return torch.device(name)


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype. ``auto``: fp16 on CUDA, none on a CPU. On CPUs without native bf16, bf16 autocast measured
    50-300 times slower than fp32; on this suite's AVX512-BF16 CPU it was twice as fast at 2 mm, but training steps
    were not repeatable and some turned NaN (torch 2.14.1's oneDNN kernels), so bf16 is for a user to opt in to."""
    if amp == "auto":
        return torch.float16 if device.type == "cuda" else None
    return {"off": None, "fp16": torch.float16, "bf16": torch.bfloat16}[amp]


def adam(parameters, lr: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """The paper's optimiser, fused (one kernel for every parameter) where torch has the kernel: on the 2-core CPU
    the for-loop Adam took 0.19 s of r3d_18's 0.54 s step at the fast preset's shape, fused 0.03 s, since with
    33 M parameters and small volumes the update, not the convolutions, is the cost (``benchmarks/``)."""
    parameters = list(parameters)
    fused = bool(parameters) and parameters[0].device.type in ("cpu", "cuda")
    return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay, fused=fused)


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager:
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def configure_backends(device: torch.device) -> None:
    """cuDNN's autotuner on CUDA: every volume has the same shape, so the fastest kernels are picked once.

    The price: the kernels it picks, and cuDNN's 3D convolution backward pass, are not deterministic, so on CUDA a
    resumed run (like any run) matches another only within the run-to-run spread; the CPU's are reproducible.
    """
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def use_channels_last(setting: bool | None, device: torch.device, dtype: torch.dtype | None) -> bool:
    """``channels_last_3d`` (``None``: where it measured faster). With fp16 on an H100 training steps were 20-35 %
    faster, with bf16 on a CPU 5-35 % at 2 mm; with fp32 on a CPU they were up to 20 % slower (``benchmarks/results``)."""
    if setting is not None:
        return setting
    return device.type == "cuda" or dtype == torch.bfloat16


def default_workers(device: torch.device) -> int:
    """DataLoader workers. On a GPU, enough to keep it fed (TorchIO augments on the CPU: 2 workers left an H100
    waiting 25-30 % of an epoch, 6 or more under 5 %). On a CPU none: loading in the main process waited under 4 %
    of an epoch, while a worker process competing for the cores made epochs 7-70 % slower (``benchmarks/``)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(8, cores - 1)) if device.type == "cuda" else 0


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA): runs with the same seed repeat on the CPU."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def environment(device: torch.device, seed: int) -> dict:
    """What a run ran on: versions, device, threads, seed. Written as ``environment.json`` in every run.

    Taught in ``01_data_exploration`` (the first cell that says what this machine is).

    Args:
        device: the device the run uses.
        seed: the run's seed.

    Returns:
        A JSON-ready dict: Python, platform, package versions, device and its name, CUDA, CPU count, threads, seed.
    """
    packages = {}
    for name in ("torch", "torchvision", "torchio", "nibabel", "numpy", "scikit-learn", "brainclf"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": packages,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "cuda": torch.version.cuda,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "world_size": int(os.environ.get("WORLD_SIZE", 1)),
        "seed": seed,
    }
