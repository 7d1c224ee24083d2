"""``fit(config)``: the paper's training loop, resumable, with atomic checkpoints and a per-epoch log.

Taught in ``04_train``. Weighted cross-entropy from the training fold's labels, Adam, autocast, a ``last`` and a
``best`` checkpoint. Each epoch is seeded from ``(seed, epoch)``, so a run killed after epoch k and resumed ends
with the same weights as one never interrupted.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from .cohort_data import FoldData, load_fold
from .config import ExperimentConfig
from .datasets import make_loader
from .errors import NonFiniteLossError
from .evaluation import evaluate_model, predict
from .io import load_torch, save_torch, write_csv, write_json
from .losses import weighted_cross_entropy
from .models import build_model
from .paths import resolve
from .runtime import (
    amp_dtype,
    autocast,
    configure_backends,
    default_workers,
    environment,
    pick_device,
    seed_everything,
    use_channels_last,
)

LOG_COLUMNS = ["epoch", "train_loss", "val_loss", "val_accuracy", "val_macro_f1", "seconds", "data_wait"]


def run_dir_of(config: ExperimentConfig) -> Path:
    return resolve(config.output_dir) / config.run_name


def fit(config: ExperimentConfig, resume: bool = False, overwrite: bool = False, progress: bool = True) -> Path:
    """Train one fold, evaluate the best checkpoint on the held-out fold, and return the run folder.

    Args:
        resume: continue from ``last.pt`` if the run folder has one (a complete run is returned as it is).
        overwrite: start afresh even if the run folder holds an earlier run.
    """
    return train(config, resume=resume, overwrite=overwrite, progress=progress)[1]


def train(config: ExperimentConfig, resume: bool = False, overwrite: bool = False, progress: bool = True) -> tuple[nn.Module, Path]:
    """:func:`fit`, returning the trained model too (the DDP test compares ranks' weights)."""
    distributed = _init_distributed()
    rank = dist.get_rank() if distributed else 0
    run_dir = run_dir_of(config)
    if (run_dir / "last.pt").exists() and not (resume or overwrite):
        raise FileExistsError(f"{run_dir} holds an earlier run: pass resume=True (--resume) or overwrite=True")
    device = pick_device(config.device)
    configure_backends(device)
    seed_everything(config.seed)
    data = load_fold(config)
    model = build_model(config.arch, in_channels=len(config.contrasts), pretrained=config.pretrained,
                        dropout=config.dropout, stem_init=config.stem_init).to(device)
    dtype = amp_dtype(config.amp, device)
    channels_last = use_channels_last(config.channels_last, device, dtype)
    if channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    loss_fn = weighted_cross_entropy(data.train.labels).to(device)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    start, best, log = 0, -math.inf, []
    if resume and (run_dir / "last.pt").exists():
        state = load_torch(run_dir / "last.pt", device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        start, best = state["epoch"] + 1, state["best_score"]
        log = pd.read_csv(run_dir / "log.csv").to_dict("records")[:start]
    if rank == 0:
        config.to_json(run_dir / "config.json")
        write_json(run_dir / "environment.json", environment(device, config.seed))
    step_model = DistributedDataParallel(model) if distributed else model
    if config.compile:
        step_model = torch.compile(step_model)
    for epoch in range(start, config.epochs):
        began = time.perf_counter()
        seed_everything(config.seed * 1000 + epoch)
        loader = _train_loader(data, config, epoch, distributed, device)
        stats = train_epoch(step_model, loader, loss_fn, optimizer, scaler, config, device, dtype, channels_last,
                            epoch, run_dir, progress and rank == 0)
        val = evaluate_model(model, data.val, device, dtype, loss_fn) if len(data.val) else None
        seconds = time.perf_counter() - began
        row = {"epoch": epoch, "train_loss": stats.loss, "val_loss": val["loss"] if val else math.nan,
               "val_accuracy": val["accuracy"] if val else math.nan,
               "val_macro_f1": val["macro_f1"] if val else math.nan, "seconds": seconds,
               "data_wait": stats.data_wait / seconds}
        log.append(row)
        score = _selection_score(val, epoch)
        if rank == 0:
            write_csv(run_dir / "log.csv", pd.DataFrame(log, columns=LOG_COLUMNS))
            if score > best:
                best = score
                save_torch(run_dir / "best.pt", {"model": model.state_dict(), "epoch": epoch, "config": config.to_dict()})
            save_torch(run_dir / "last.pt", {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                             "scaler": scaler.state_dict(), "epoch": epoch, "best_score": best,
                                             "config": config.to_dict()})
        else:
            best = max(best, score)
    if distributed:  # BatchNorm statistics are updated locally after DDP's broadcast: take rank 0's
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)
    if rank == 0:
        _finish(model, data, config, device, dtype, run_dir)
    if distributed:
        dist.barrier()
    return model, run_dir


def _finish(model: nn.Module, data: FoldData, config: ExperimentConfig, device, dtype, run_dir: Path) -> None:
    """Evaluate the best checkpoint on the held-out fold: predictions.csv and metrics.json."""
    from .evaluation import write_evaluation

    if (run_dir / "best.pt").exists():
        model.load_state_dict(load_torch(run_dir / "best.pt", device)["model"])
    write_evaluation(run_dir, predict(model, data.test, device, dtype), config)


@dataclass
class EpochStats:
    """What one training epoch measured: mean loss, steps, and seconds in all and spent waiting for data."""

    loss: float
    steps: int
    seconds: float
    data_wait: float


def train_epoch(model: nn.Module, loader: DataLoader, loss_fn: nn.Module, optimizer: torch.optim.Optimizer,
                scaler: torch.amp.GradScaler, config: ExperimentConfig, device: torch.device, dtype: torch.dtype | None,
                channels_last: bool = False, epoch: int = 0, run_dir: Path | None = None, progress: bool = False) -> EpochStats:
    """One pass over ``loader``. Time blocked on the loader is counted apart: it is what data loading costs."""
    model.train()
    total, count, waited, step = 0.0, 0, 0.0, 0
    began = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    bar = tqdm(total=len(loader), desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, disable=not progress,
               unit="batch")
    batches = iter(loader)
    while config.max_steps_per_epoch is None or step < config.max_steps_per_epoch:
        asked = time.perf_counter()
        batch = next(batches, None)
        waited += time.perf_counter() - asked
        if batch is None:
            break
        images = batch["image"].to(device, non_blocking=True)
        labels = batch["label"].to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last_3d)
        with autocast(device, dtype):
            loss = loss_fn(model(images).float(), labels)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"The training loss became {loss.item()} at epoch {epoch}, step {step} (subjects "
                f"{list(batch['subject_id'])}); the last good checkpoint is kept in {run_dir}. "
                "Check those volumes for NaN values, or lower the learning rate."
            )
        scaler.scale(loss / config.accumulate).backward()
        if (step + 1) % config.accumulate == 0:
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
        total += loss.item() * len(labels)
        count += len(labels)
        step += 1
        bar.update()
        bar.set_postfix(loss=f"{total / count:.4f}", wait=f"{waited / (time.perf_counter() - began):.0%}")
    bar.close()
    return EpochStats(total / max(count, 1), step, time.perf_counter() - began, waited)


def _train_loader(data: FoldData, config: ExperimentConfig, epoch: int, distributed: bool, device) -> DataLoader:
    seed = config.seed * 1000 + epoch
    workers = default_workers(device) if config.num_workers is None else config.num_workers
    if not distributed:
        return make_loader(data.train, config.batch_size, True, workers, seed, device.type == "cuda")
    sampler = DistributedSampler(data.train, shuffle=True, seed=config.seed)
    sampler.set_epoch(epoch)
    return DataLoader(data.train, batch_size=config.batch_size, sampler=sampler, num_workers=workers,
                      pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(seed))


def _selection_score(val: dict | None, epoch: int) -> float:
    """Best epoch: the highest validation macro F1, ties broken by the lower loss; without validation, the last."""
    if val is None:
        return float(epoch)
    return (0.0 if math.isnan(val["macro_f1"]) else val["macro_f1"]) - 1e-3 * min(val["loss"], 100.0)


def _init_distributed() -> bool:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1): NCCL on GPUs, gloo on CPUs."""
    if int(os.environ.get("WORLD_SIZE", 1)) <= 1:
        return False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return True
