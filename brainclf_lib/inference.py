"""``brainclf predict``: a trained run applied to raw NIfTI scans of any orientation and voxel size.

Each scan goes through the run's own preprocessing (from its ``config.json``), so a sagittal 0.9 x 0.9 x 1.2 mm
scan and an axial 1 mm one reach the model alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .config import ExperimentConfig
from .conventions import CLASSES, slice_axis_first
from .io import load_torch
from .models import build_model
from .preprocessing import PreprocessSettings, load_volume, preprocessing_steps
from .runtime import amp_dtype, autocast, pick_device


class Predictor:
    """A run's best model and preprocessing, loaded once for many scans."""

    def __init__(self, checkpoint: str | Path, device: str = "auto") -> None:
        checkpoint = Path(checkpoint)
        state = load_torch(checkpoint)
        self.config = ExperimentConfig.from_dict(state["config"])
        self.device = pick_device(device)
        self.model = build_model(self.config.arch, in_channels=len(self.config.contrasts), dropout=self.config.dropout)
        self.model.load_state_dict(state["model"])
        self.model.to(self.device).eval()
        self.settings = PreprocessSettings(self.config.spacing, self.config.input_shape, self.config.skull_strip)

    @torch.no_grad()
    def __call__(self, scan: str | Path, skull_strip: bool = False) -> dict[str, Any]:
        """``{"scan", "label", "probabilities": {class: p}}`` for one raw scan (one contrast per model channel)."""
        images = {c: load_volume(scan) for c in self.config.contrasts[:1]}
        if len(self.config.contrasts) > 1:
            raise ValueError("predict takes one scan per subject; this run was trained on several contrasts")
        *_, (_, subject) = preprocessing_steps(images, self.settings, strip_skull=skull_strip)
        image = slice_axis_first(subject[self.config.contrasts[0]].data.float())[None].to(self.device)
        with autocast(self.device, amp_dtype(self.config.amp, self.device)):
            probabilities = torch.softmax(self.model(image).float(), dim=1)[0].cpu()
        return {"scan": str(scan), "label": CLASSES[int(probabilities.argmax())],
                "probabilities": {name: round(float(p), 6) for name, p in zip(CLASSES, probabilities, strict=False)}}
