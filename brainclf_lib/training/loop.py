"""``fit(config)``: the paper's training loop, resumable, locked, with durable checkpoints and a per-epoch log.

Taught in ``04_train``, where one training step is written out in a cell before ``fit`` runs it for every batch
and epoch. Weighted cross-entropy from the training fold's labels, Adam, autocast, and two checkpoints written at
most every :data:`RESUME_EVERY_S` seconds and at the end: ``best`` (the chosen epoch's weights, held in memory
between writes) and ``last`` (the resume state). Each epoch is seeded from
``(seed, epoch)``, so on the CPU a run killed at any moment and resumed ends with the same weights as one never
interrupted. On CUDA it resumes from the same state but not to the same weights: cuDNN's autotuner and its 3D
convolutions' backward pass are not deterministic, so two runs, interrupted or not, differ within the run-to-run
spread.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import pandas as pd
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import update_bn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from ..conventions import CLASS_TO_INDEX
from ..data.datasets import VolumeDataset, make_loader
from ..data.source import data_key
from ..data.step import FoldData, load_fold, prepare_data
from ..errors import NonFiniteLossError
from ..evaluation.metrics import classification_metrics
from ..evaluation.scoring import evaluate_model, metrics_of, predict_subjects
from ..experiment.config import ExperimentConfig
from ..experiment.device import (
    adam,
    amp_dtype,
    configure_backends,
    default_workers,
    environment,
    pick_device,
    seed_everything,
    use_channels_last,
)
from ..experiment.protocols import ProtocolPlan, protocol_plan
from ..experiment.run_folder import ResumeState, Run
from ..models.architectures import build_model
from ..models.pretrained import check_source_disjoint
from .losses import weighted_cross_entropy
from .selection import effective_window, selection_scores
from .step import training_step

LOG_COLUMNS = ["epoch", "train_loss", "val_loss", "val_accuracy", "val_macro_f1", "seconds", "data_wait"]
#: Seconds of training a kill may cost: the resume state (weights and Adam's, 400 MB for r3d_18) and the best
#: weights so far are written when this long has passed since the last write. Written every epoch they took 1.4 s
#: and 0.5 s of the fast preset's 4 s epochs. ``$BRAINCLF_RESUME_EVERY_S`` changes it (0: every epoch), for a
#: cluster that preempts often.
RESUME_EVERY_S = float(os.environ.get("BRAINCLF_RESUME_EVERY_S", "30"))


def fit(config: ExperimentConfig, resume: bool = False, overwrite: bool = False, keep_last: bool = False,
        progress: bool = True) -> Run:
    """Train one fold, evaluate the best checkpoint on the held-out fold, and return the run.

    Taught in ``04_train``. The run folder is named by the config (:func:`brainclf_lib.experiment.run_folder.run_name`), so changing
    any setting that changes the result trains a run of its own. The folder is locked while this process trains it.

    Args:
        config: the experiment.
        resume: continue an unfinished run from its last checkpoint, and hand back a finished one as it is.
        overwrite: start afresh over whatever the run folder holds.
        keep_last: keep ``last.pt`` (the weights with Adam's state) after the run finishes; by default it is
            dropped, as nothing reads it once the run is complete.
        progress: show a progress bar per epoch.

    Returns:
        The :class:`~brainclf_lib.experiment.run_folder.Run`: ``run.metrics``, ``run.log``, ``run.predictions``, ``run.load_model()``.
    """
    return _train(config, resume=resume, overwrite=overwrite, keep_last=keep_last, progress=progress)[1]


@dataclass
class EpochStats:
    """What one training epoch measured: mean loss, steps, seconds in all and spent waiting for data, and the first
    non-finite loss met (its value, step, subjects and process rank), if any: the epoch stops there."""

    loss: float
    steps: int
    seconds: float
    data_wait: float
    non_finite: tuple[float, int, list[str], int] | None = None


def train_epoch(model: nn.Module, loader: DataLoader, loss_fn: nn.Module, optimizer: torch.optim.Optimizer,
                scaler: torch.amp.GradScaler | None = None, device: torch.device | str = "cpu",
                dtype: torch.dtype | None = None, channels_last: bool = False, accumulate: int = 1,
                max_steps: int | None = None, description: str = "epoch", progress: bool = False,
                targets: Callable[[dict], tuple[torch.Tensor, torch.Tensor]] | None = None) -> EpochStats:
    """One pass over ``loader``: the training step of ``04_train`` for every batch. Time blocked on the loader is
    counted apart: it is what data loading costs.

    Every loop of the suite runs through here: :func:`fit`, the benchmark and the rotation source task.

    Args:
        model: in training mode on return.
        loader: yields ``{"image", "label", "subject_id"}`` batches.
        loss_fn: maps ``(logits, labels)`` to a scalar.
        scaler: a ``GradScaler`` for fp16 autocast; ``None`` or a disabled one otherwise.
        dtype: the autocast dtype, or ``None`` for full precision.
        accumulate: batches whose gradients add up before an optimiser step. The epoch's last group steps too,
            however short, its losses scaled by its own size: no batch's gradient is dropped.
        max_steps: stop after this many batches (smoke runs).
        targets: ``targets(batch) -> (images, labels)`` for tasks other than the labels' (the source task's
            rotations); by default the batch's own image and label.
    """
    device = torch.device(device)
    scaler = scaler or torch.amp.GradScaler(device.type, enabled=False)
    model.train()
    total, count, waited, step = 0.0, 0, 0.0, 0
    began = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    steps = len(loader) if max_steps is None else min(len(loader), max_steps)
    bar = tqdm(total=steps, desc=description, leave=False, disable=not progress, unit="batch")
    batches = iter(loader)
    while step < steps:
        asked = time.perf_counter()
        batch = next(batches, None)
        waited += time.perf_counter() - asked
        if batch is None:
            break
        images, labels = targets(batch) if targets else (batch["image"], batch["label"])
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last_3d)
        group = min(accumulate, steps - step // accumulate * accumulate)  # the epoch's last group may be short
        loss, finite = training_step(model, images, labels, loss_fn, optimizer, scaler, device, dtype, group,
                                     update=(step + 1) % accumulate == 0 or step + 1 == steps)
        if not finite:  # on some process: every process stops here, with the same report
            bar.close()
            return EpochStats(total / max(count, 1), step, time.perf_counter() - began, waited,
                              _first_non_finite(loss.item(), step, list(batch["subject_id"])))
        total += loss.item() * len(labels)
        count += len(labels)
        step += 1
        bar.update()
        bar.set_postfix(loss=f"{total / count:.4f}", wait=f"{waited / (time.perf_counter() - began):.0%}")
    bar.close()
    return EpochStats(total / max(count, 1), step, time.perf_counter() - began, waited)


def recompute_bn_statistics(model: nn.Module, dataset: VolumeDataset, batch_size: int, device: torch.device) -> None:
    """Replace BatchNorm's running statistics by their average over one pass of ``dataset`` with the current weights.

    Taught in ``04_train``. Evaluation normalises with running averages that trail the weights by about
    ``1 / momentum`` = 10 steps; a ``fast`` epoch was 6 steps (9 now), so without this the first 6 or 7 epochs were evaluated
    with statistics of weights long gone, and every validation subject got the same class (measured: validation
    macro F1 0.13 to 0.18 until epoch 7, against 0.84 from epoch 0 with it).

    Args:
        model: the model, left in training mode.
        dataset: the training subjects, not augmented (evaluation sees volumes as they are).
        batch_size: volumes a forward pass.
        device: where the model is.
    """
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    update_bn((batch["image"].to(device) for batch in loader), model, device)  # no_grad inside
    model.train()


def _train_loader(data: FoldData, config: ExperimentConfig, epoch: int, distributed: bool, device) -> DataLoader:
    seed = config.seed * 1000 + epoch
    workers = default_workers(device) if config.num_workers is None else config.num_workers
    if not distributed:
        return make_loader(data.train, config.batch_size, True, workers, seed, device.type == "cuda")
    sampler = DistributedSampler(data.train, shuffle=True, seed=config.seed)
    sampler.set_epoch(epoch)
    return DataLoader(data.train, batch_size=config.batch_size, sampler=sampler, num_workers=workers,
                      pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(seed))


def _init_distributed() -> bool:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1): NCCL on GPUs, gloo on CPUs."""
    if int(os.environ.get("WORLD_SIZE", 1)) <= 1:
        return False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return True


def _train(config: ExperimentConfig, resume: bool = False, overwrite: bool = False, keep_last: bool = False,
           progress: bool = True) -> tuple[nn.Module, Run]:
    """:func:`fit`, returning the trained model too (the DDP test compares the ranks' weights)."""
    distributed = _init_distributed()
    rank = dist.get_rank() if distributed else 0
    run = Run.of(config)
    if rank == 0:
        prepare_data(config)
    if distributed:
        dist.barrier()
    with run.lock() if rank == 0 else nullcontext():
        state = run.start(config, resume, overwrite) if rank == 0 else None
        if distributed:  # every rank follows rank 0's reading of the folder
            shared = [state]
            dist.broadcast_object_list(shared, src=0)
            state = shared[0]
        device = pick_device(config.device)
        if state == "complete":
            return run.load_model(device), run
        model = _train_fold(config, run, state == "resume", device, distributed, rank, progress, keep_last)
        if rank == 0:
            run.finish(keep_last)
    if distributed:
        dist.barrier()
    return model, run


def _train_fold(config: ExperimentConfig, run: Run, resume: bool, device: torch.device, distributed: bool, rank: int,
                progress: bool, keep_last: bool = False) -> nn.Module:
    parts = _setup(config, device)
    state, log = _resumed(run, parts, config) if resume and run.path(Run.LAST).exists() else (None, [])
    state = state or ResumeState({}, {}, {}, -1, -math.inf, config.to_dict())
    if rank == 0:
        run.write_environment(environment(device, config.seed))
    saved_at, unsaved_best = time.monotonic(), None  # (weights, epoch) of a best epoch not yet in best.pt
    step_model = DistributedDataParallel(parts.model) if distributed else parts.model
    if config.compile:
        step_model = torch.compile(step_model)
    for epoch in range(state.epoch + 1, config.epochs):
        row, score = _epoch(config, parts, step_model, state, epoch, distributed, rank, progress and rank == 0, run)
        log.append(row)
        state.epoch = epoch
        if rank != 0:
            state.best_score = max(state.best_score, score)
            continue
        run.write_log(log, LOG_COLUMNS)
        if score > state.best_score:
            state.best_score = score
            unsaved_best = ({k: v.detach().clone() for k, v in parts.model.state_dict().items()}, epoch)
        if time.monotonic() - saved_at >= RESUME_EVERY_S or (keep_last and epoch == config.epochs - 1):
            if unsaved_best is not None:  # before last.pt, whose best_score must describe the best.pt on disk
                run.save_best(*unsaved_best, config)
                unsaved_best = None
            state.model, state.optimizer = parts.model.state_dict(), parts.optimizer.state_dict()
            state.scaler = parts.scaler.state_dict()
            run.save_last(state)
            saved_at = time.monotonic()
    if unsaved_best is not None:
        run.save_best(*unsaved_best, config)
    if distributed:  # BatchNorm statistics are updated locally after DDP's broadcast: take rank 0's
        for buffer in parts.model.buffers():
            dist.broadcast(buffer, src=0)
    if rank == 0 and parts.plan.accumulate_test:  # one confusion matrix over every epoch's predictions
        predictions = pd.DataFrame(state.accumulated)
        run.write_evaluation(predictions, metrics_of(predictions, config.seed))
    elif rank == 0:
        _evaluate_best(parts.model, parts.data, config, device, parts.dtype, run)
    return parts.model


@dataclass
class _Parts:
    """What one fold's training is made of, built once from the config and its protocol plan."""

    data: FoldData
    plan: ProtocolPlan
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    loss_fn: nn.Module
    device: torch.device
    dtype: torch.dtype | None
    channels_last: bool


def _setup(config: ExperimentConfig, device: torch.device) -> _Parts:
    configure_backends(device)
    seed_everything(config.seed)
    data = load_fold(config)
    check_source_disjoint(config.pretrained, data_key(config), [subject["subject_id"] for subject in data.test.subjects])
    plan = protocol_plan(config)  # lr, dropout, loss weights and what is tested: the config's or the published code's
    model = build_model(config.arch, in_channels=len(config.contrasts), pretrained=config.pretrained,
                        dropout=plan.dropout, stem_init=config.stem_init).to(device)
    dtype = amp_dtype(config.amp, device)
    channels_last = use_channels_last(config.channels_last, device, dtype)
    if channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
    loss_fn = (nn.CrossEntropyLoss(weight=torch.tensor(plan.class_weights)) if plan.class_weights
               else weighted_cross_entropy(data.train.labels)).to(device)
    return _Parts(data, plan, model, adam(model.parameters(), lr=plan.lr, weight_decay=config.weight_decay),
                  torch.amp.GradScaler(device.type, enabled=dtype == torch.float16), loss_fn, device, dtype, channels_last)


def _resumed(run: Run, parts: _Parts, config: ExperimentConfig) -> tuple[ResumeState, list[dict]]:
    """The state ``last.pt`` holds, loaded into the model, Adam and the scaler, and the log up to its epoch."""
    state = run.load_last(parts.device)
    parts.model.load_state_dict(state.model)
    parts.optimizer.load_state_dict(state.optimizer)
    parts.scaler.load_state_dict(state.scaler)
    log = run.log.to_dict("records")[:state.epoch + 1]
    state.validated = state.validated or [{k: row[k] for k in ("epoch", "val_macro_f1", "val_loss")} for row in log]
    return state, log


def _epoch(config: ExperimentConfig, parts: _Parts, step_model: nn.Module, state: ResumeState, epoch: int,
           distributed: bool, rank: int, progress: bool, run: Run) -> tuple[dict, float]:
    """One epoch: training, BatchNorm's statistics, validation (and the published code's test pass); its log row and
    the selection score it ends on."""
    began = time.perf_counter()
    seed_everything(config.seed * 1000 + epoch)
    data, device, dtype = parts.data, parts.device, parts.dtype
    loader = _train_loader(data, config, epoch, distributed, device)
    stats = train_epoch(step_model, loader, parts.loss_fn, parts.optimizer, parts.scaler, device, dtype,
                        channels_last=parts.channels_last, accumulate=config.accumulate,
                        max_steps=config.max_steps_per_epoch, description=f"epoch {epoch + 1}/{config.epochs}",
                        progress=progress)
    if stats.non_finite is not None:  # every process raises the same error (train_epoch agreed on the report)
        value, step, subjects, where = stats.non_finite
        raise NonFiniteLossError(
            f"The training loss became {value} at epoch {epoch}, step {step} (subjects {subjects}"
            f"{f', on process {where}' if distributed else ''}); the last good checkpoint is kept in {run.folder}. "
            "Check those volumes for NaN values, or lower the learning rate."
        )
    if config.recompute_bn:  # on the training volumes as evaluation sees them: not augmented, but rescaled or
        # resized where the protocol does that to the evaluated volumes
        recompute_bn_statistics(parts.model, VolumeDataset(data.train.subjects, data.val.transform), config.batch_size, device)
    val = evaluate_model(parts.model, data.val, device, dtype, parts.loss_fn) if len(data.val) else None
    state.validated.append({"epoch": epoch, "val_macro_f1": val["macro_f1"] if val else math.nan,
                            "val_loss": val["loss"] if val else math.nan})
    window = effective_window(config.selection_window, config.epochs)  # complete windows only; NaN is never best
    score = float(selection_scores(pd.DataFrame(state.validated), window).iloc[-1])
    if parts.plan.test_every_epoch and rank == 0:
        tested = predict_subjects(parts.model, data.test, device, dtype).assign(epoch=epoch)  # the code tested every epoch
        state.accumulated += tested.to_dict("records") if parts.plan.accumulate_test else []
        if parts.plan.logged_validation == "training loss":
            val = _published_validation(tested, stats.loss * len(data.train) / len(data.test))
    seconds = time.perf_counter() - began
    row = {"epoch": epoch, "train_loss": stats.loss, "val_loss": val["loss"] if val else math.nan,
           "val_accuracy": val["accuracy"] if val else math.nan, "val_macro_f1": val["macro_f1"] if val else math.nan,
           "seconds": seconds, "data_wait": stats.data_wait / seconds}
    return row, score


def _evaluate_best(model: nn.Module, data: FoldData, config: ExperimentConfig, device: torch.device,
                   dtype: torch.dtype | None, run: Run) -> None:
    """Evaluate the best checkpoint on the held-out fold, once: ``predictions.csv`` and ``metrics.json``."""
    if run.path(Run.BEST).exists():
        model.load_state_dict(run.best_state(device)["model"])
    predictions = predict_subjects(model, data.test, device, dtype)
    run.write_evaluation(predictions, metrics_of(predictions, config.seed))


def _first_non_finite(value: float, step: int, subjects: list[str]) -> tuple[float, int, list[str], int]:
    """``(loss, step, subjects, rank)`` of the first process whose loss was not finite, the same on every process
    (under DDP the others stopped because of it: their own losses were finite)."""
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return value, step, subjects, 0
    reports: list = [None] * dist.get_world_size()
    dist.all_gather_object(reports, (value, step, subjects, dist.get_rank()))
    return next(report for report in reports if not math.isfinite(report[0]))


def _published_validation(tested: pd.DataFrame, train_loss_sum_over_test: float) -> dict[str, float]:
    """What the published code logged as validation: the test set's accuracy, and the training loss as its loss."""
    metrics = classification_metrics(tested["label"].map(CLASS_TO_INDEX), tested["pred"].map(CLASS_TO_INDEX))
    return {"loss": train_loss_sum_over_test, "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}
