import numpy as np
import pytest
import torch
import torchio as tio

from brainclf_lib.data.step import prepare_data
from brainclf_lib.evaluation.counterfactual import (
    DARK_LEVEL,
    NECROSIS_LEVEL,
    counterfactual_calls,
    counterfactual_summary,
    lesion_sites,
    paint_lesion,
)
from brainclf_lib.evaluation.inference import Predictor
from brainclf_lib.training.loop import fit

from ..conftest import ellipsoid

SPACING = 4.0


def _brain(level: float = 0.6) -> tio.ScalarImage:
    """An ellipsoid brain of one grey level on a 4 mm grid, background 0."""
    brain = ellipsoid((24, 28, 20), (10, 12, 8)).astype(np.float32) * level
    return tio.ScalarImage(tensor=torch.from_numpy(brain)[None], affine=np.diag([SPACING, SPACING, SPACING, 1.0]))


def test_a_dark_lesion_darkens_its_sphere_a_ring_brightens_its_rim_and_nothing_else_changes():
    image, centre = _brain(), (12, 14, 10)
    dark = paint_lesion(image, "dark", centre, radius_mm=12.0).data[0]
    assert dark[centre].item() == pytest.approx(0.6 * DARK_LEVEL, abs=0.01)
    assert dark[12, 14, 16].item() == pytest.approx(0.6, abs=2e-3)  # 24 mm away: the brain as it was (a soft edge)
    assert dark[0, 0, 0].item() == 0 and (dark[image.data[0] == 0] == 0).all()  # the background stays background
    ring = paint_lesion(image, "ring", centre, radius_mm=12.0).data[0]
    assert ring[centre].item() == pytest.approx(0.6 * NECROSIS_LEVEL)
    assert ring[12, 14, 12].item() == 1.0  # 8 mm from the centre: in the rim, at the top of the window
    assert ring[12, 14, 14].item() == pytest.approx(0.6)  # 16 mm: outside the lesion
    assert image.data[0][centre].item() == pytest.approx(0.6)  # the input is not painted in place
    with pytest.raises(ValueError, match="valid lesions are dark, ring"):
        paint_lesion(image, "cyst", centre)
    for outside in ((0, 0, 0), (12, 14, 20), (12, 14)):  # background, beyond the volume, not a voxel
        with pytest.raises(ValueError, match="must be a voxel of the brain"):
            paint_lesion(image, "dark", outside)


def test_lesion_sites_lie_deep_in_the_brain():
    image = _brain()
    sites = lesion_sites(image, 5, radius_mm=12.0, seed=1)
    brain = image.data[0].numpy() > 0
    assert len(sites) == 5 and all(brain[site] for site in sites)
    assert sites == lesion_sites(image, 5, radius_mm=12.0, seed=1)  # the same painted brains for every run
    for i, j, k in sites:  # 12 mm (3 voxels) of brain on every side
        assert brain[i - 3:i + 4, j, k].all() and brain[i, j - 3:j + 4, k].all() and brain[i, j, k - 3:k + 4].all()
    cropped = tio.ScalarImage(tensor=torch.full((1, 12, 12, 12), 0.5), affine=np.diag([SPACING] * 3 + [1.0]))
    for site in lesion_sites(cropped, 20, radius_mm=12.0):  # a brain cut by the crop ends at the volume's faces
        assert all(2 <= v <= 9 for v in site), site  # 3 voxels (12 mm) from the first voxel beyond a face
    with pytest.raises(ValueError, match="No brain"):
        lesion_sites(tio.ScalarImage(tensor=torch.zeros((1, 4, 4, 4))), 1)


class _Stub:
    """A predictor that reads lesions (``reads=True``: dark inside the brain -> LGG, a rim at 1 -> HGG) or calls
    every brain Healthy, as a model that learned the healthy scans' look does."""

    def __init__(self, reads: bool) -> None:
        self.reads = reads

    def classify_many(self, images):
        return [self._call(image.data[0]) for image in images]

    def _call(self, data):
        label = "Healthy"
        if self.reads and data.max() == 1.0:
            label = "HGG"
        elif self.reads and data[data > 0].min() < 0.4:
            label = "LGG"
        return {"label": label, "probabilities": {c: float(c == label) for c in ("Healthy", "LGG", "HGG")}}


def test_the_counterfactual_tells_a_model_that_reads_lesions_from_one_that_does_not():
    brains = {"a": _brain(0.6), "b": _brain(0.7)}
    calls = counterfactual_calls({"reader": _Stub(True), "shortcut": _Stub(False)}, brains, sites_per_image=2,
                                 radius_mm=12.0)
    assert len(calls) == 2 * 2 * (1 + 2 * 2)  # runs x brains x (as it is + 2 sites x 2 lesions)
    reader = counterfactual_summary(calls[calls["run"] == "reader"])
    assert reader.loc["none", "called Healthy"] == 1 and reader.loc["dark", "called LGG"] == 1
    assert reader.loc["ring", "called HGG"] == 1
    shortcut = counterfactual_summary(calls[calls["run"] == "shortcut"])
    assert (shortcut["called Healthy"] == 1).all() and list(shortcut.index) == ["none", "dark", "ring"]
    assert list(counterfactual_summary(calls[calls["lesion"] != "ring"]).index) == ["none", "dark"]
    with pytest.raises(ValueError, match="at least one healthy brain"):
        counterfactual_calls({"reader": _Stub(True)}, {})


def test_classifying_many_volumes_at_once_gives_each_one_its_own_call(tiny_config):
    config = tiny_config.replace(epochs=1, max_steps_per_epoch=1, batch_size=2)
    prepare_data(config, verbose=False)
    predictor = Predictor(fit(config, progress=False), device="cpu")
    d, h, w = config.input_shape
    rng = np.random.default_rng(0)
    images = [tio.ScalarImage(tensor=torch.from_numpy(rng.random((1, w, h, d), dtype=np.float32)), affine=np.eye(4))
              for _ in range(5)]
    many = predictor.classify_many(images, batch_size=2)
    one_by_one = [predictor.classify(image) for image in images]
    assert [call["label"] for call in many] == [call["label"] for call in one_by_one]
    for a, b in zip(many, one_by_one, strict=True):
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-4)
