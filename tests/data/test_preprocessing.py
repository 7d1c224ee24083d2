"""The preprocessing steps, one at a time: what each step yields is what that step did, not a later one."""

import numpy as np
import torch

from brainclf_lib.data import preprocessing
from brainclf_lib.data.preprocessing import PreprocessSettings, load_volume, preprocessing_steps, step_table

from ..conftest import ellipsoid, ixi_scan


def test_the_skull_stripping_step_is_shown_against_the_head_it_stripped(tmp_path, monkeypatch):
    """The reoriented head keeps its skull: stripping masks a copy, so 02's table and montage show the drop."""
    brain = ellipsoid((40, 56, 56), (13, 20, 20))  # the brain of conftest's IXI head, in RAS+ (x, y, z)
    monkeypatch.setattr(preprocessing, "skull_strip_mask", lambda image, *_: torch.from_numpy(brain)[None])
    settings = PreprocessSettings(spacing=3.0, input_shape=(12, 16, 16), skull_strip="deepbet")
    scan = load_volume(ixi_scan(tmp_path, "IXI001-Guys-0001", np.random.default_rng(0)))
    steps = list(preprocessing_steps({"t1ce": scan}, settings, strip_skull=True))
    head, stripped = (subject["t1ce"].data[0].numpy() for _, subject in steps[:2])
    assert (head[~brain] > 0).any() and not (stripped[~brain] > 0).any()
    voxels = step_table(steps, "t1ce")["non-zero voxels"]
    assert voxels[0] > voxels[1] == int((stripped > 0).sum())
