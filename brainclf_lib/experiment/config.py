"""One configuration object for an experiment, with the paper's values as defaults.

Taught in ``04_train``. Every run keeps its config beside its results (see :mod:`brainclf_lib.experiment.run_folder`), and a config
read back from there is equal to the one that produced them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..conventions import (
    AMP_SETTINGS,
    AUGMENTATIONS,
    DEFAULT_CONTRAST,
    INIT_LABELS,
    SKULL_STRIPPERS,
    SPLITS,
    STEM_INITS,
)
from ..files import read_json, write_json
from ..models.architectures import canonical_arch, check_source_weights
from ..paths import PathLike, shown
from .protocols import DEVIATIONS, PROTOCOLS, protocol_plan


@dataclass
class ExperimentConfig:
    """Everything that decides what a training run does. Defaults are the paper's (see ``shared/PAPER.md``)."""

    # model
    arch: str = "r3d_18"  # r3d_18 | mc3_18 | r2plus1d_18 (aliases r3d, mc3, r2plus1d); lesion_cnn (a baseline)
    pretrained: str | None = None  # None (scratch) | "kinetics400" | path to a state dict
    stem_init: str = "random"  # random (paper) | rgb_sum | rgb_mean: how a pre-trained 1-channel stem starts
    dropout: float = 0.3  # before the final Linear(512, n_classes), as in the paper
    # data
    data_root: str = "synthetic"  # a prepared folder holding manifest.csv, or "synthetic" for the embedded cohort
    contrasts: tuple[str, ...] = (DEFAULT_CONTRAST,)  # BraTS contrast(s) as input channels; healthy IXI scans give T1
    spacing: float = 2.0  # isotropic voxel size in mm after resampling (paper: 2 mm)
    input_shape: tuple[int, int, int] = (78, 120, 120)  # (D, H, W) after crop/pad: BraTS at 2 mm
    skull_strip: str = "deepbet"  # deepbet | robex | none, for the healthy (IXI) scans
    n_per_class: int = 24  # subjects per class of the synthetic cohort (ignored for real data)
    synthetic_difficulty: float = 0.0  # twice the share of tumours with the other grade's radiology (calibrated, README)
    synthetic_seed: int = 0  # which synthetic cohort (the self-trained source task uses the next seed's)
    # evaluation
    n_folds: int = 3  # stratified k-fold cross-validation over subjects
    split: str = "kfold"  # kfold (paper: 3-fold CV) | holdout (the "three 7:3 splits" variant)
    fold: int = 0  # which fold is held out for testing
    val_fraction: float = 0.15  # share of the training fold kept aside to choose the best epoch (0: last epoch)
    selection_window: int = 3  # the kept epoch ends the lowest validation loss averaged over it and the 2 before
    protocol: str = "corrected"  # corrected | paper-text | published-code: see brainclf_lib.experiment.protocols
    deviations: tuple[str, ...] = ()  # published-code deviations added to the protocol's, one at a time
    # optimisation
    epochs: int = 100  # the paper does not state it; 100 epochs at batch size 1
    lr: float = 1e-5  # Adam, as in the paper
    weight_decay: float = 1e-3  # Adam's L2 penalty, as in the paper
    batch_size: int = 1  # as in the paper (8 GB GPU)
    accumulate: int = 1  # gradient accumulation steps: effective batch = batch_size * accumulate
    recompute_bn: bool = False  # BatchNorm statistics averaged over the training set before each validation
    augmentation: str = "light"  # light (paper) | heavy | none
    amp: str = "auto"  # auto (fp16 on CUDA, off on a CPU: see experiment.device.amp_dtype) | off | fp16 | bf16
    channels_last: bool | None = None  # channels_last_3d memory format (None: where it measured faster)
    compile: bool = False  # torch.compile the model
    num_workers: int | None = None  # DataLoader workers (None: experiment.device.default_workers, measured per device)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    seed: int = 0
    max_steps_per_epoch: int | None = None  # cut an epoch short (smoke tests only)
    # bookkeeping
    output_dir: str = "runs"  # each run is a folder under it, named by brainclf_lib.experiment.run_folder.run_name
    preset: str = "paper"

    def __post_init__(self) -> None:
        self.arch = canonical_arch(self.arch)
        self.contrasts = tuple(self.contrasts)
        self.deviations = tuple(sorted(set(self.deviations)))
        unknown = [name for name in self.deviations if name not in DEVIATIONS]
        if unknown:
            raise ValueError(f"Unknown deviation(s) {unknown}; valid ones are {', '.join(DEVIATIONS)}")
        self.input_shape = tuple(int(s) for s in self.input_shape)  # type: ignore[assignment]
        if len(self.input_shape) != 3:
            raise ValueError(f"input_shape must be (D, H, W), got {self.input_shape}")
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r} is not one of {sorted(allowed)}")
        if self.selection_window < 1:
            raise ValueError(f"selection_window={self.selection_window} must be at least 1 (1: each epoch alone)")
        folds = protocol_plan(self).folds
        if self.fold not in folds:
            raise ValueError(f"fold={self.fold} must be in 0..{len(folds) - 1}"
                             + (": the published code's random split has one fold, 0" if len(folds) == 1 else ""))
        if self.pretrained in ("", "none", "None", INIT_LABELS[0]):
            self.pretrained = None
        check_source_weights(self.arch, self.pretrained)

    def replace(self, **changes: Any) -> ExperimentConfig:
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        """The dataclass's own repr, with its paths as a page shows them (``paths.shown``), not the machine's."""
        def value(name: str) -> object:
            held = getattr(self, name)
            return shown(held) if name in ("output_dir", "data_root", "pretrained") and isinstance(held, str) else held

        return f"{type(self).__name__}(" + ", ".join(f"{f.name}={value(f.name)!r}" for f in fields(self)) + ")"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["contrasts"] = list(self.contrasts)
        data["input_shape"] = list(self.input_shape)
        data["deviations"] = list(self.deviations)
        return data

    def to_json(self, path: PathLike) -> Path:
        return write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"Unknown config keys {sorted(unknown)}; valid keys are {sorted(known)}")
        return cls(**data)

    @classmethod
    def from_json(cls, path: PathLike) -> ExperimentConfig:
        return cls.from_dict(read_json(path))


_CHOICES: dict[str, tuple[str, ...]] = {
    "stem_init": STEM_INITS,
    "split": SPLITS,
    "augmentation": AUGMENTATIONS,
    "amp": AMP_SETTINGS,
    "skull_strip": SKULL_STRIPPERS,
    "protocol": tuple(PROTOCOLS),
}

#: Named presets: the paper's set-up, a CPU-sized one that still learns, and a smoke test for CI.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    # Under a minute per run on a 2-core CPU: 8 mm voxels, a smaller cohort, a larger learning rate, and batches of
    # 4: at batch size 1 BatchNorm normalises each volume by its own statistics in training but by the running ones
    # in evaluation, and on a small cohort the models then never separated LGG from HGG (measured, README). Nine
    # steps an epoch are too few for the running averages, so they are recomputed before each validation. 24 a
    # class for 5 epochs, not 16 for 7 (issue #34): a fold's 24 training subjects were overfitted by epoch 5 to 10
    # and the grades scored below the paper's band; 36 train in 1.0 to 1.4 times the time (README).
    "fast": dict(
        spacing=8.0, input_shape=(18, 24, 21), n_per_class=24, epochs=5, lr=3e-4, batch_size=4, val_fraction=0.25,
        recompute_bn=True,
    ),
    # Seconds per run: proves that every step executes, learns nothing. Batches of 2: the published code's resize
    # halves the volume, and at batch size 1 r3d_18's last stage would hold one value per channel.
    "smoke": dict(
        spacing=8.0, input_shape=(16, 24, 20), n_per_class=4, epochs=1, lr=3e-4, num_workers=0, batch_size=2,
        val_fraction=0.0, max_steps_per_epoch=4, skull_strip="deepbet",
    ),
}


def make_config(preset: str = "paper", **overrides: Any) -> ExperimentConfig:
    """The named preset with ``overrides`` applied: how every notebook and command builds its configuration.

    Taught in ``04_train``.

    Args:
        preset: ``paper`` (the paper's set-up), ``fast`` (a CPU in minutes) or ``smoke`` (seconds, learns nothing).
        **overrides: any :class:`ExperimentConfig` field; ``None`` keeps the preset's value (papermill's unset
            parameters). An unknown name is a ``ValueError`` that names it.

    >>> make_config("fast", arch="mc3").arch, make_config("fast").epochs
    ('mc3_18', 5)
    """
    unknown = sorted(set(overrides) - {f.name for f in fields(ExperimentConfig)})
    if unknown:
        valid = ", ".join(f.name for f in fields(ExperimentConfig))
        raise ValueError(f"Unknown configuration setting(s) {unknown}; valid settings are: {valid}")
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; valid presets are {sorted(PRESETS)}")
    values = {**PRESETS[preset], "preset": preset}
    values.update({key: value for key, value in overrides.items() if value is not None})
    return ExperimentConfig(**values)
