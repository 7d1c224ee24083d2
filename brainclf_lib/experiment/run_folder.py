"""A run folder and what it holds: the one place that knows a run's identity, file names, lock and clean-up.

Taught in ``04_train``. A run is one configuration trained on one fold. Its folder is named for people and for
the settings together: ``r2plus1d_18_scratch_fold0-1a2b3c4d``, where the suffix is a digest of every setting that
changes the result (learning rate, epochs, batch size, augmentation, contrasts, spacing, the data, the pre-trained
weights ...). Two experiments that differ in any of them get two folders, so neither can hand back the other's
results, and a finished run's ``config.json`` is never rewritten.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from ..conventions import INIT_LABELS, KINETICS, is_kinetics
from ..errors import RunExistsError, RunLockedError
from ..files import file_sha256, load_torch, read_json, save_torch, write_csv, write_json
from ..models.architectures import ARCHS, build_model
from ..paths import PathLike, data_dir, resolve, shown
from .config import ExperimentConfig
from .protocols import protocol_plan

#: Settings that say where and how fast a run is computed, not what it computes: a run may resume on another
#: device or with more loader workers. Every other field of :class:`ExperimentConfig` is part of its identity.
EXECUTION_SETTINGS: tuple[str, ...] = ("output_dir", "device", "num_workers", "compile", "preset")
#: Settings spelled out in the readable part of the folder name, left out of the digest so that every fold and
#: architecture of one experiment shares it.
NAMED_SETTINGS: tuple[str, ...] = ("arch", "fold")


def identity(config: ExperimentConfig) -> dict[str, Any]:
    """The settings that decide a run's result: every field but the :data:`EXECUTION_SETTINGS`.

    Pre-trained weights count by their content, not their path (:func:`weights_identity`); a data folder by its
    place under the data folder (the same however it was typed, and in any checkout). A protocol counts by
    the deviations it runs with, not by its name: ``protocol="paper-text"`` and the corrected
    protocol with ``last_epoch`` added are one run. A setting the protocol overrides (the learning rate under
    ``published_lr``, the folds under ``random_split``) counts by the value it trains with, so one training has one
    digest.
    """
    plan = protocol_plan(config)
    settings = {key: value for key, value in config.to_dict().items() if key not in EXECUTION_SETTINGS}
    del settings["protocol"]
    settings["pretrained"] = weights_identity(config.pretrained)
    if config.data_root != "synthetic":  # typed relative (a notebook) or absolute (the CLI): one run either way
        folder = resolve(config.data_root)
        settings["data_root"] = folder.relative_to(data_dir()).as_posix() if folder.is_relative_to(data_dir()) else str(folder)
    settings.update(plan.replaced)  # a setting the protocol overrides counts by what it trains with
    settings["deviations"] = sorted(plan.deviations)
    return settings


def weights_identity(pretrained: str | None) -> str | None:
    """What a run's ``pretrained`` setting contributes to its identity: ``None``, ``kinetics400`` (torchvision checks
    those weights' hash itself), or ``sha256:<hex>`` of the file's content. Weights regenerated under the same path
    (another seed, more source epochs, real data after synthetic) make another run, never a stale one; the same
    file at another path (another checkout) is the same run. A file not there yet counts by its path.
    """
    if pretrained is None or is_kinetics(pretrained):
        return pretrained
    path = resolve(pretrained)
    return f"sha256:{file_sha256(path)}" if path.is_file() else str(pretrained)


def config_digest(config: ExperimentConfig) -> str:
    """Eight hex digits of SHA-256 over :func:`identity`, less the settings the folder name spells out.

    >>> from brainclf_lib.experiment.config import make_config
    >>> config_digest(make_config("fast")) == config_digest(make_config("fast", arch="mc3", fold=2, device="cpu"))
    True
    >>> config_digest(make_config("fast")) == config_digest(make_config("fast", lr=1e-4))
    False
    """
    settings = {k: v for k, v in identity(config).items() if k not in NAMED_SETTINGS}
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:8]


def init_label(config: ExperimentConfig) -> str:
    """``scratch`` or ``pretrained``: the initialisation as the paper's tables name it."""
    return INIT_LABELS[config.pretrained is not None]


def source_label(config: ExperimentConfig) -> str:
    """Where a run's initial weights came from: ``none`` (scratch), ``kinetics400``, or ``source:<folder>`` for
    self-trained source weights, so a table never calls two different sources by one name.

    Taught in ``05_transfer_learning``.

    Args:
        config: the run's config.

    >>> from brainclf_lib.experiment.config import make_config
    >>> source_label(make_config("fast")), source_label(make_config("fast", pretrained="runs/source/mc3_18.pt"))
    ('none', 'source:source')
    """
    if config.pretrained is None:
        return "none"
    return KINETICS if is_kinetics(config.pretrained) else f"source:{Path(config.pretrained).parent.name}"


def run_name(config: ExperimentConfig) -> str:
    """``<arch>_<scratch|pretrained>_fold<k>-<digest>``: readable, and distinct for every distinct experiment."""
    return f"{config.arch}_{init_label(config)}_fold{config.fold}-{config_digest(config)}"


def differing_settings(stored: ExperimentConfig, requested: ExperimentConfig) -> dict[str, tuple[Any, Any]]:
    """``{setting: (stored, requested)}`` for every identity setting on which two configs disagree."""
    a, b = identity(stored), identity(requested)
    return {key: (a.get(key), b.get(key)) for key in dict.fromkeys([*a, *b]) if a.get(key) != b.get(key)}


@dataclass
class ResumeState:
    """What ``last.pt`` holds: everything a killed run needs to go on to the same weights as one never interrupted
    (on the CPU; on CUDA cuDNN's non-deterministic kernels make every run, resumed or not, differ slightly)."""

    model: dict[str, Any]  # the weights after ``epoch``
    optimizer: dict[str, Any]  # Adam's moments and step counts
    scaler: dict[str, Any]  # the GradScaler's scale (fp16 autocast)
    epoch: int  # the last finished epoch
    best_score: float  # the selection score of the epoch whose weights are in best.pt
    config: dict[str, Any]  # the config that trains the run
    accumulated: list[dict] = field(default_factory=list)  # the published code's test predictions of every epoch
    validated: list[dict] = field(default_factory=list)  # each epoch's validation figures, which choose the best one


class Run:
    """One run folder: its config, checkpoints, log, predictions and metrics, and the lock held while training.

    Taught in ``04_train``, where :func:`~brainclf_lib.training.loop.fit` hands one back and its folder is listed.

    Args:
        folder: the run folder (it need not exist yet).

    >>> from brainclf_lib.experiment.config import make_config
    >>> run = Run.of(make_config("fast", arch="r2plus1d", output_dir="/tmp/runs"))
    >>> run.name.startswith("r2plus1d_18_scratch_fold0-"), run.is_complete
    (True, False)
    """

    CONFIG = "config.json"  # the ExperimentConfig that produced everything else here
    ENVIRONMENT = "environment.json"  # versions, device and seed of the process that trained it
    LOG = "log.csv"  # one row per epoch
    BEST = "best.pt"  # the weights of the epoch the validation subset chose, and the config
    LAST = "last.pt"  # the latest epoch with Adam's state: what a killed run resumes from; dropped when finished
    PREDICTIONS = "predictions.csv"  # one row per held-out subject, with class probabilities
    METRICS = "metrics.json"  # the paper's figures for the held-out fold, with bootstrap intervals
    LOCK = ".lock"  # holds the PID of the process training the folder

    def __init__(self, folder: PathLike) -> None:
        self.folder = Path(folder)

    @classmethod
    def of(cls, config: ExperimentConfig) -> Run:
        """The run folder ``config`` trains into: ``<output_dir>/<run_name(config)>``."""
        return cls(resolve(config.output_dir) / run_name(config))

    def __repr__(self) -> str:
        return f"Run({shown(self.folder)!r})"

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def label(self) -> str:
        """How a figure names the run: ``r3d_18 scratch, fold 0``, without the folder's digest."""
        config = self.config
        return f"{config.arch} {init_label(config)}, fold {config.fold}"

    def path(self, name: str) -> Path:
        """The path of one of the run's files, e.g. ``run.path(Run.BEST)``."""
        return self.folder / name

    # --- what a run holds -------------------------------------------------------------------------------------

    @property
    def config(self) -> ExperimentConfig:
        """The config stored in the folder."""
        return ExperimentConfig.from_json(self.path(self.CONFIG))

    @property
    def is_complete(self) -> bool:
        """Trained and evaluated: the best weights, the predictions and the metrics are all there."""
        return all(self.path(name).is_file() for name in (self.CONFIG, self.BEST, self.PREDICTIONS, self.METRICS))

    @property
    def metrics(self) -> dict[str, Any]:
        """The held-out fold's figures (taught in ``04_train``)."""
        return read_json(self.path(self.METRICS))

    @property
    def log(self) -> pd.DataFrame:
        """One row per epoch: losses, validation accuracy and macro F1, seconds and data wait."""
        return pd.read_csv(self.path(self.LOG))

    @property
    def environment(self) -> dict[str, Any]:
        """What trained the run: versions, device and its name, threads, seed (``experiment.device.environment``)."""
        return read_json(self.path(self.ENVIRONMENT))

    @property
    def predictions(self) -> pd.DataFrame:
        """One row per held-out subject: true label, predicted label and a probability per class."""
        return pd.read_csv(self.path(self.PREDICTIONS))

    def best_state(self, device: str | torch.device = "cpu") -> dict[str, Any]:
        """``best.pt``: the chosen epoch's ``model`` state dict, its ``epoch`` and the ``config`` that trained it.

        A missing or truncated checkpoint is an error that names the file.
        """
        return load_torch(self.path(self.BEST), device)

    def load_model(self, device: str | torch.device = "cpu") -> nn.Module:
        """The model of the chosen epoch, rebuilt from ``best.pt``'s config and weights, in evaluation mode.

        Taught in ``07_explainability``.

        Args:
            device: where the model goes.
        """
        state = self.best_state(device)
        config = ExperimentConfig.from_dict(state["config"])
        with torch.device("meta"):  # no random initialisation to overwrite: 0.5 s of r3d_18's 33 M weights
            model = build_model(config.arch, in_channels=len(config.contrasts), dropout=config.dropout)
        # strict: every tensor comes from the checkpoint; contiguous, as a fresh model's are, whatever layout trained
        # (channels_last_3d on CUDA), so that evaluation takes the float path it took before the meta device
        model.load_state_dict({name: tensor.contiguous() for name, tensor in state["model"].items()}, assign=True)
        return model.to(device).eval()

    # --- writing a run ----------------------------------------------------------------------------------------

    def start(self, config: ExperimentConfig, resume: bool, overwrite: bool) -> str:
        """Claim the folder for ``config``: ``"new"``, ``"resume"`` (from ``last.pt``) or ``"complete"``.

        The config is written once, when the run starts, and never again. A folder that holds another experiment,
        or a run the caller did not ask to reuse, is an error that says what differs and the ways out.
        """
        if overwrite:
            self.clear()
        elif self.path(self.CONFIG).exists():
            stored = self.config
            differing = differing_settings(stored, config)
            if differing:
                listed = ", ".join(f"{k}: {a!r} here, {b!r} asked for" for k, (a, b) in differing.items())
                raise RunExistsError(
                    f"{self.folder} holds a run of other settings ({listed}). Train into a new output_dir, or pass "
                    "overwrite=True (--overwrite) to replace it."
                )
            if self.is_complete:
                if not resume:
                    raise RunExistsError(f"{self.folder} holds a finished run: pass resume=True (--resume) to reuse "
                                         "it, or overwrite=True (--overwrite) to train it again")
                return "complete"
            if self.path(self.LAST).exists():
                if not resume:
                    raise RunExistsError(f"{self.folder} holds an unfinished run: pass resume=True (--resume) to "
                                         "continue it, or overwrite=True (--overwrite) to start afresh")
                return "resume"
        if not self.path(self.CONFIG).exists():
            config.to_json(self.path(self.CONFIG))
        return "new"

    def clear(self) -> None:
        """Remove everything the run wrote (not the lock, which the caller holds)."""
        for name in (self.CONFIG, self.ENVIRONMENT, self.LOG, self.BEST, self.LAST, self.PREDICTIONS, self.METRICS):
            self.path(name).unlink(missing_ok=True)

    def write_environment(self, environment: dict[str, Any]) -> None:
        write_json(self.path(self.ENVIRONMENT), environment)

    def write_log(self, rows: list[dict[str, Any]], columns: list[str]) -> None:
        write_csv(self.path(self.LOG), pd.DataFrame(rows, columns=columns))

    def save_best(self, weights: dict[str, torch.Tensor], epoch: int, config: ExperimentConfig) -> None:
        save_torch(self.path(self.BEST), {"model": weights, "epoch": epoch, "config": config.to_dict()})

    def save_last(self, state: ResumeState) -> None:
        save_torch(self.path(self.LAST), {f.name: getattr(state, f.name) for f in fields(state)})  # no deep copy

    def load_last(self, device: str | torch.device = "cpu") -> ResumeState:
        return ResumeState(**load_torch(self.path(self.LAST), device))

    def write_evaluation(self, predictions: pd.DataFrame, metrics: dict[str, Any]) -> None:
        """Predictions first, metrics last: ``metrics.json`` present means the evaluation is whole."""
        write_csv(self.path(self.PREDICTIONS), predictions)
        write_json(self.path(self.METRICS), metrics)

    def finish(self, keep_last: bool = False) -> None:
        """Drop ``last.pt`` (the weights and Adam's state: three times ``best.pt``) once the run is complete, unless
        asked to keep it."""
        if self.is_complete and not keep_last:
            self.path(self.LAST).unlink(missing_ok=True)

    @contextmanager
    def lock(self) -> Iterator[Run]:
        """Hold the folder for this process while it trains; a second trainer gets :class:`RunLockedError`.

        The lock is an ``flock`` on ``.lock``, which the kernel releases when its process ends however it ends, so a
        lock left by a killed run is simply taken over (with a warning naming the dead process).
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(self.LOCK)
        handle = open(path, "a+")  # held open, and locked, for the whole block
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise RunLockedError(
                f"{self.folder} is being trained by process {holder} (lock file {path}). Wait for it to finish, or "
                "train into another output_dir."
            ) from None
        handle.seek(0)
        previous = handle.read().strip()
        if previous and previous != str(os.getpid()):
            warnings.warn(f"{self.folder}: taking over the lock of process {previous}, which ended without "
                          "releasing it (killed?); resuming from its last checkpoint", stacklevel=3)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield self
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


def find_runs(output_dir: PathLike, like: ExperimentConfig | None = None, complete: bool = True) -> list[Run]:
    """The runs under ``output_dir``, found by their stored config rather than their folder name.

    Taught in ``09_real_scans``, which validates the grid's runs (``06_results`` reads them through
    ``collect_runs``).

    Args:
        output_dir: where the runs are.
        like: keep only runs of the same experiment: equal in every identity setting but the architecture (one of
            the paper's three, or ``like``'s own), the fold and the pre-trained weights (the axes of the paper's grid).
            A baseline such as ``lesion_cnn`` trained into the same folder stays out of the paper's grid.
        complete: keep only finished runs.
    """
    folder = resolve(output_dir)
    if not folder.is_dir():
        return []
    runs = [Run(p) for p in sorted(folder.iterdir()) if (p / Run.CONFIG).is_file()]
    if complete:
        runs = [run for run in runs if run.is_complete]
    if like is not None:
        grid_axes = {"arch", "fold", "pretrained"}
        runs = [run for run in runs if not set(differing_settings(run.config, like)) - grid_axes
                and run.config.arch in (*ARCHS, like.arch)]
    return runs


def cv_summary_path(config: ExperimentConfig) -> Path:
    """Where the mean ± std over the folds of one architecture and initialisation is written."""
    return resolve(config.output_dir) / f"{config.arch}_{init_label(config)}-{config_digest(config)}_cv.json"
