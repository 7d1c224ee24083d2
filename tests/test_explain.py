import numpy as np
import pytest
import torch

from brainclf_lib import build_model
from brainclf_lib.explain import attention_in_mask, grad_cam, load_scan, tumour_attention
from brainclf_lib.prepare import read_manifest


def test_grad_cam_is_a_unit_map_of_the_input_shape_for_the_predicted_class():
    torch.manual_seed(0)
    model = build_model("r3d")
    image = torch.rand(1, 12, 16, 16)
    cam, predicted = grad_cam(model, image)
    assert cam.shape == (12, 16, 16)
    assert cam.min() == pytest.approx(0.0) and cam.max() == pytest.approx(1.0)
    assert predicted == int(model.eval()(image[None]).argmax())
    assert grad_cam(model, image, target=2, layer=model.layer3)[1] == 2


def test_attention_in_mask_is_one_on_the_mask_and_the_share_when_uniform():
    mask = np.zeros((4, 4, 4), bool)
    mask[:2, :2, :2] = True
    assert attention_in_mask(mask.astype(float), mask)["attention in tumour"] == pytest.approx(1.0)
    uniform = attention_in_mask(np.ones((4, 4, 4)), mask)
    assert uniform["attention in tumour"] == pytest.approx(uniform["tumour share of volume"]) == pytest.approx(1 / 8)


def test_tumour_attention_measures_every_tumour_subject(prepared):
    manifest = read_manifest(prepared)
    tumours = manifest[manifest["seg"] != ""]
    image, mask = load_scan(tumours.iloc[0]["image_t1ce"], tumours.iloc[0]["seg"])
    assert image.shape[0] == 1 and mask.shape == image.shape[1:] and mask.any()
    table = tumour_attention(build_model("mc3"), (row for _, row in tumours.iterrows()), layer="layer3")
    assert list(table["subject_id"]) == list(tumours["subject_id"])
    assert set(table["predicted"]) <= {"Healthy", "LGG", "HGG"}
    assert np.allclose(table["ratio"], table["attention in tumour"] / table["tumour share of volume"])
    assert ((table["attention in tumour"] >= 0) & (table["attention in tumour"] <= 1)).all()
