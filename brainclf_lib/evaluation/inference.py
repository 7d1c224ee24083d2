"""``brainclf predict``: a trained run applied to raw NIfTI scans of any orientation and voxel size.

Each scan goes through the run's own preprocessing (from its ``config.json``), so a sagittal 0.9 x 0.9 x 1.2 mm
scan and an axial 1 mm one reach the model alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torchio as tio

from ..conventions import CLASSES, slice_axis_first
from ..data.preprocessing import PreprocessSettings, load_volume, preprocessing_steps
from ..data.transforms import evaluation_transform
from ..experiment.device import amp_dtype, autocast, pick_device
from ..experiment.run_folder import Run
from ..paths import PathLike


class Predictor:
    """A run's best model and preprocessing, loaded once for many scans.

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
        self.settings = PreprocessSettings(self.config.spacing, self.config.input_shape, self.config.skull_strip)
        self.transform = evaluation_transform(self.config)

    @torch.no_grad()
    def __call__(self, scan: PathLike, skull_strip: bool = False) -> dict[str, Any]:
        """``{"scan", "label", "probabilities": {class: p}}`` for one raw scan (one contrast per model channel)."""
        images = {c: load_volume(scan) for c in self.config.contrasts[:1]}
        if len(self.config.contrasts) > 1:
            raise ValueError("predict takes one scan per subject; this run was trained on several contrasts")
        *_, (_, subject) = preprocessing_steps(images, self.settings, strip_skull=skull_strip)
        image = subject[self.config.contrasts[0]]
        if self.transform is not None:  # what the run's protocol did to every evaluated volume (published code)
            image = self.transform(tio.Subject(image=image))["image"]
        image = slice_axis_first(image.data.float())[None].to(self.device)
        with autocast(self.device, amp_dtype(self.config.amp, self.device)):
            probabilities = torch.softmax(self.model(image).float(), dim=1)[0].cpu()
        return {"scan": str(scan), "label": CLASSES[int(probabilities.argmax())],
                "probabilities": {name: round(float(p), 6) for name, p in zip(CLASSES, probabilities, strict=False)}}
