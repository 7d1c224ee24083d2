"""What a model costs: FLOPs per forward and training step, time per step, memory. Taught in ``03``; the
benchmark script in ``benchmarks/`` builds its table from these."""

from __future__ import annotations

import copy
import json
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..experiment.device import adam, autocast
from ..models.architectures import build_model
from ..paths import REPO_ROOT, PathLike
from .step import training_step


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


class StepTimer:
    """One model's training step or inference, ready to be timed again and again.

    The benchmark interleaves several timers (architectures, precisions, memory formats) step by step, so that a
    noisy machine slows them alike and their medians can be compared.
    """

    def __init__(self, model: nn.Module, input_shape: tuple[int, ...], training: bool = True,
                 dtype: torch.dtype | None = None, channels_last: bool = False) -> None:
        self.device = next(model.parameters()).device
        self.model, self.training, self.dtype = model, training, dtype
        self.x = torch.randn(input_shape, device=self.device)
        if channels_last:
            self.model = model.to(memory_format=torch.channels_last_3d)
            self.x = self.x.contiguous(memory_format=torch.channels_last_3d)
        self.y = torch.zeros(input_shape[0], dtype=torch.long, device=self.device)
        self.optimizer = adam(model.parameters(), lr=1e-5)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=dtype == torch.float16)
        self.loss_fn = nn.CrossEntropyLoss()

    def __call__(self) -> float:
        """Seconds of one step (forward, backward, Adam) or one inference, the device synchronised."""
        _sync(self.device)
        began = time.perf_counter()
        self.model.train(self.training)
        if self.training:
            training_step(self.model, self.x, self.y, self.loss_fn, self.optimizer, self.scaler, self.device, self.dtype)
        else:
            with torch.no_grad(), autocast(self.device, self.dtype):
                self.model(self.x)
        _sync(self.device)
        return time.perf_counter() - began


def matmul_peak(device: torch.device, dtype: torch.dtype = torch.float32, size: int | None = None, repeats: int = 5,
                tf32: bool = False) -> float:
    """Measured FLOP/s of a square matmul on ``device``: the yardstick for a model's achieved FLOP/s.

    ``size`` defaults to 8192 on a GPU (smaller products leave it idle) and 2048 on a CPU (1024 for half
    precision, which CPUs without native support emulate slowly). ``tf32`` lets fp32 products use TF32 tensor cores.
    """
    if size is None:
        size = 8192 if device.type == "cuda" else (2048 if dtype == torch.float32 else 1024)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    times = []
    allowed = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        for _ in range(repeats + 1):
            _sync(device)
            began = time.perf_counter()
            a @ b
            _sync(device)
            times.append(time.perf_counter() - began)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = allowed
    return 2 * size**3 / float(np.median(times[1:]))


PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def matmul_peaks(device: torch.device, precisions: list[str]) -> dict[str, float]:
    """The matmul peak of each precision: the yardstick a convolution's FLOP/s is measured against.

    Taught in ``03_architectures`` (appendix). cuDNN runs fp32 convolutions in TF32 on Ampere and later GPUs, so the
    fair fp32 yardstick there is a TF32 matmul.

    Args:
        device: where to measure.
        precisions: ``fp32``, ``fp16``, ``bf16``.

    Returns:
        ``{precision: FLOP/s}``.
    """
    tf32 = device.type == "cuda" and torch.backends.cudnn.allow_tf32
    return {p: matmul_peak(device, PRECISIONS[p] or torch.float32, tf32=tf32) for p in dict.fromkeys(precisions)}


def parse_setting(name: str) -> dict:
    """A benchmark setting by name: a precision (fp32, fp16, bf16) with optional ``+cl`` (channels_last_3d) and
    ``+compile``.

    Taught in ``03_architectures`` (appendix).

    Args:
        name: for example ``fp32``, ``fp16+cl`` or ``bf16+cl+compile``.

    >>> parse_setting("fp16+cl")["channels_last"]
    True
    """
    precision, *switches = name.split("+")
    if precision not in PRECISIONS or not set(switches) <= {"cl", "compile"}:
        raise ValueError(f"Unknown setting {name!r}: use fp32|fp16|bf16 with optional +cl and +compile")
    return {"name": name, "dtype": PRECISIONS[precision], "precision": precision,
            "channels_last": "cl" in switches, "compile": "compile" in switches}


def benchmark_steps(archs: list[str], shape: tuple[int, ...], settings: list[dict], device: torch.device, repeats: int,
                    peaks: dict[str, float]) -> list[dict]:
    """What one training step and one inference cost, per architecture and setting, measured rather than guessed.

    Taught in ``03_architectures`` (the optional appendix); ``benchmarks/step_time.py`` is its command line.

    Args:
        archs: architectures to measure.
        shape: the input ``(N, C, D, H, W)``.
        settings: precisions and memory formats, each from :func:`parse_setting`.
        device: where to run.
        repeats: timed steps after the warm-up; the median is reported.
        peaks: each precision's matmul peak from :func:`matmul_peaks`, the yardstick for the utilisation column.

    Returns:
        One row per architecture and setting: FLOPs, median step and inference time, FLOP/s, ratio to peak, memory.
    """
    rows = []
    for arch in archs:
        base = build_model(arch).to(device)
        forward, step_flops = count_flops(base, shape), count_flops(base, shape, training=True)
        timers, memory = {}, {}
        for setting in settings:
            model = copy.deepcopy(base)
            if setting["compile"]:
                model = torch.compile(model)
            train = StepTimer(model, shape, True, setting["dtype"], setting["channels_last"])
            infer = StepTimer(model, shape, False, setting["dtype"], setting["channels_last"])
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            train(), infer()  # warm-up (and compilation)
            memory[setting["name"]] = peak_memory_mb(device)
            timers[setting["name"]] = (train, infer, [], [])
        for _ in range(repeats):
            for train, infer, train_times, infer_times in timers.values():
                train_times.append(train())
                infer_times.append(infer())
        for setting in settings:
            _, _, train_times, infer_times = timers[setting["name"]]
            step, inference = float(np.median(train_times)), float(np.median(infer_times))
            rows.append({
                "arch": arch, "setting": setting["name"], "GFLOP fwd": round(forward / 1e9, 1),
                "GFLOP step": round(step_flops / 1e9, 1), "s/step": round(step, 4), "s/inference": round(inference, 4),
                "GFLOP/s step": round(step_flops / step / 1e9, 1),
                "% of peak": round(100 * step_flops / step / peaks[setting["precision"]], 1),
                "peak MiB": round(memory[setting["name"]]),
            })
        del base, timers
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def reference_results(folder: PathLike | None = None) -> pd.DataFrame:
    """The step table of every benchmark JSON shipped in ``benchmarks/results/``, one row per machine, shape,
    architecture and setting: what a run will cost, before it is started.

    Taught in ``03_architectures`` (appendix).

    Args:
        folder: where the JSON files are; ``None`` for the shipped ones.
    """
    rows = []
    for path in sorted(Path(folder or REPO_ROOT / "benchmarks" / "results").glob("*.json")):
        result = json.loads(path.read_text())
        machine = result["device_name"] if result["device"].startswith("cuda") else f"CPU, {result['threads']} threads"
        for row in result["steps"]:
            rows.append({"machine": machine, "shape": "x".join(map(str, result["shape"])), **row})
    return pd.DataFrame(rows)


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated, or the process's peak resident set size on the CPU, in MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def conv_kernels(model: nn.Module) -> pd.DataFrame:
    """Every convolution's kernel as (slices, in-plane): where a model convolves in-plane, along slices, or both.

    Taught in ``03_architectures``.

    Args:
        model: a video ResNet from :func:`~brainclf_lib.models.architectures.build_model`.

    Returns:
        One row per convolution: its name, kernel ``(D, H, W)``, what it convolves (3D, slice-wise, in-plane, 1x1x1), channels.
    """
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
