"""``brainclf predict``: a trained run applied to raw NIfTI scans of any orientation and voxel size.

Each scan goes through the run's own preprocessing (from its ``config.json``), so a sagittal 0.9 x 0.9 x 1.2 mm
scan and an axial 1 mm one reach the model alike. A scan that still holds its skull is skull-stripped first
(``skull_strip="auto"``, decided from the image by :func:`~brainclf_lib.data.skull.check_skull`), as the run's
healthy training scans were; a stripped one is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torchio as tio

from ..conventions import CLASSES, SKULL_STRIPPERS, slice_axis_first
from ..data.cohorts import preprocess_settings
from ..data.preprocessing import PreprocessSettings, load_volume, preprocessing_steps
from ..data.skull import SkullCheck, check_skull
from ..data.transforms import evaluation_transform
from ..experiment.config import ExperimentConfig
from ..experiment.device import amp_dtype, autocast, pick_device
from ..experiment.run_folder import Run
from ..paths import PathLike


class Predictor:
    """A run's best model and preprocessing, loaded once for many scans.

    Taught in ``09_real_scans``, whose counterfactual asks every run about painted brains.

    Args:
        run: a :class:`~brainclf_lib.experiment.run_folder.Run`, its folder, or the folder's best checkpoint.
        device: ``auto``, ``cpu`` or ``cuda``.
    """

    def __init__(self, run: Run | PathLike, device: str = "auto") -> None:
        if not isinstance(run, Run):
            run = Run(Path(run).parent if Path(run).is_file() else run)
        self.run = run
        self.config = run.config
        self.device = pick_device(device)
        self.model = run.load_model(self.device)
        self.settings = scan_settings(self.config)
        self.transform = evaluation_transform(self.config)

    def __call__(self, scan: PathLike, skull_strip: str | bool = "auto") -> dict[str, Any]:
        """``{"scan", "label", "probabilities": {class: p}, "skull_check", "skull_score", "skull_stripped"}`` for
        one raw scan; ``skull_strip`` is ``auto`` (strip a head, leave a brain), ``yes`` or ``no``."""
        image, skull = preprocess_scan(scan, self.settings, skull_strip)
        return {"scan": str(scan), **self.classify(image), **skull.as_fields()}

    def classify(self, image: tio.ScalarImage) -> dict[str, Any]:
        """``{"label", "probabilities"}`` for one volume already preprocessed by :func:`preprocess_scan` with this
        run's :attr:`settings` (a grid's runs share them, so ``validate`` preprocesses each scan once)."""
        return self.classify_many([image])[0]

    @torch.no_grad()
    def classify_many(self, images: Sequence[tio.ScalarImage], batch_size: int = 16) -> list[dict[str, Any]]:
        """:meth:`classify` for many volumes of one shape (:func:`preprocess_scan` crops or pads every scan to the
        run's), ``batch_size`` to a forward pass: on a CPU a pass of 16 small volumes costs little more than a pass of
        one (``09``'s counterfactual asks each run about 30 brains). The calls are :meth:`classify`'s up to float
        rounding, which a batch's kernels may change in the last bits."""
        if self.transform is not None:  # what the run's protocol did to every evaluated volume (published code)
            images = [self.transform(tio.Subject(image=image))["image"] for image in images]
        calls = []
        for start in range(0, len(images), batch_size):
            batch = torch.stack([slice_axis_first(image.data.float()) for image in images[start:start + batch_size]])
            with autocast(self.device, amp_dtype(self.config.amp, self.device)):
                probabilities = torch.softmax(self.model(batch.to(self.device)).float(), dim=1).cpu()
            calls += [{"label": CLASSES[int(p.argmax())],
                       "probabilities": {name: round(float(v), 6) for name, v in zip(CLASSES, p, strict=False)}}
                      for p in probabilities]
        return calls


def scan_settings(config: ExperimentConfig) -> PreprocessSettings:
    """The preprocessing a run's raw scans need: its spacing and shape, and its skull stripper (deepbet, the
    suite's default, when the run's data needed none). A run trained on several contrasts is refused here: one
    raw scan cannot fill its channels.

    Taught in ``09_real_scans``.

    Args:
        config: the run's configuration (``run.config``), or the experiment's whose runs read the scans.
    """
    if len(config.contrasts) > 1:
        raise ValueError(f"a run trained on several contrasts ({', '.join(config.contrasts)}) cannot classify one "
                         "scan a subject; predict and validate take single-contrast runs")
    settings = preprocess_settings(config)
    if settings.skull_strip == "none":  # its data came stripped; a raw scan may not
        settings = replace(settings, skull_strip=SKULL_STRIPPERS[0])
    return settings


def preprocess_scan(scan: PathLike, settings: PreprocessSettings, skull_strip: str | bool = "auto",
                    mask_cache: Path | None = None) -> tuple[tio.ScalarImage, SkullCheck]:
    """One raw scan preprocessed as a run's inputs were, and what was decided about its skull.

    Taught in ``09_real_scans``, where Grad-CAM reads the real gliomas as the runs saw them.

    Args:
        scan: a NIfTI file, any orientation and voxel size; unreadable or not 3D is a ``BadInputError``.
        settings: spacing, shape and skull stripper (:func:`scan_settings`).
        skull_strip: ``auto`` strips a scan that still holds a skull and leaves a stripped one alone; ``yes``
            always strips; ``no`` never does.
        mask_cache: a folder caching brain masks, so a scan is stripped once however often it is preprocessed.
    """
    image = load_volume(scan)
    skull = check_skull(image, skull_strip)
    *_, (_, subject) = preprocessing_steps({"image": image}, settings, strip_skull=skull.strip, mask_cache=mask_cache)
    return subject["image"], skull
