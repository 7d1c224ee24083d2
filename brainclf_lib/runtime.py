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
    """``auto``: the local CUDA device when there is one (``LOCAL_RANK`` under torchrun), else the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    return torch.device(name)


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype. ``auto`` is fp16 on CUDA and off on the CPU, where bf16 autocast measured 50-300 times
    slower than fp32 on CPUs without native bf16 (see ``benchmarks/``)."""
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    if amp == "auto":
        return torch.float16
    return {"fp16": torch.float16, "bf16": torch.bfloat16}[amp]


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager:
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA): runs with the same seed repeat on the CPU."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def environment(device: torch.device, seed: int) -> dict:
    """What a run ran on: versions, device, threads, seed. Written as ``environment.json`` in every run."""
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
