import numpy as np
import pandas as pd
import pytest
import torch
import torchio as tio

from brainclf_lib.data.preprocessing import load_volume
from brainclf_lib.data.skull import SKULL_THRESHOLD, check_skull, skull_score, skull_strip_mode
from brainclf_lib.evaluation.external import REAL_MANIFEST

REAL = pd.read_csv(REAL_MANIFEST, dtype=str)


@pytest.mark.parametrize("row", REAL.to_dict("records"), ids=list(REAL["file"]))
def test_auto_finds_the_skull_of_every_real_head_and_none_in_the_stripped_scans(row):
    check = check_skull(load_volume(REAL_MANIFEST.parent / row["file"]))
    expected = "stripped" if row["skull_stripped"] == "true" else "skull"
    assert check.found == expected and check.strip == (expected == "skull")
    assert abs(check.score - SKULL_THRESHOLD) > 0.07  # far from the threshold either way (heads >= 0.23, brains <= 0.04)


def _altered(image: tio.ScalarImage, noise: float = 0.0, offset: float = 0.0) -> tio.ScalarImage:
    high = float(np.percentile(image.data.numpy(), 99.5))
    rng = np.random.default_rng(0)
    extra = noise * high * torch.from_numpy(rng.standard_normal(image.shape).astype(np.float32)) + offset * high
    return tio.ScalarImage(tensor=image.data + extra, affine=image.affine)


def test_a_stripped_scan_with_noise_or_an_offset_is_still_stripped_and_a_noisy_head_still_a_head():
    brain = load_volume(REAL_MANIFEST.parent / "tcga_du_7294_t1c_bet.nii.gz")
    head = load_volume(REAL_MANIFEST.parent / "ixi" / "IXI162-HH-1548_T1.nii.gz")  # the lowest-scoring head
    assert skull_score(_altered(brain, noise=0.02)) < SKULL_THRESHOLD
    assert skull_score(_altered(brain, offset=0.1)) < SKULL_THRESHOLD  # no exact-zero background left
    assert skull_score(_altered(head, noise=0.02)) > SKULL_THRESHOLD


def test_the_modes_override_the_measurement_and_accept_the_old_boolean():
    brain = load_volume(REAL_MANIFEST.parent / "upenn_gbm_00006_t1gd.nii.gz")
    assert check_skull(brain, "yes").strip and not check_skull(brain, "auto").strip
    assert check_skull(brain, True).as_fields()["skull_check"] == "stripped"
    assert [skull_strip_mode(m) for m in ("always", "never", False, "Auto")] == ["yes", "no", "no", "auto"]
    with pytest.raises(ValueError, match="auto, yes, no"):
        skull_strip_mode("sometimes")
    assert skull_score(tio.ScalarImage(tensor=torch.zeros(1, 8, 8, 8))) == 0.0  # a blank image has no skull
