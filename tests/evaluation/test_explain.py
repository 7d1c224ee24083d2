import numpy as np
import pytest
import torch

from brainclf_lib import build_model
from brainclf_lib.data.step import load_fold
from brainclf_lib.evaluation.explain import (
    attention_in_mask,
    grad_cam,
    load_mask,
    tumour_attention,
    tumour_cases,
    upsample_to_input,
)


def test_grad_cam_is_a_unit_map_of_the_input_shape_for_the_predicted_class():
    torch.manual_seed(0)
    model = build_model("r3d")
    image = torch.rand(1, 12, 16, 16)
    cam, predicted = grad_cam(model, image)
    assert cam.shape == (12, 16, 16)
    assert cam.min() >= 0.0 and cam.max() == pytest.approx(1.0)
    assert predicted == int(model.eval()(image[None]).argmax())
    assert grad_cam(model, image, target=2, layer=model.layer3)[1] == 2


def test_grad_cam_explains_the_lesion_baselines_only_stage_unless_told():
    torch.manual_seed(0)
    model = build_model("lesion_cnn")
    image = torch.rand(1, 12, 16, 16)
    kept = []
    model.features.register_forward_hook(lambda _m, _i, out: kept.append(out.shape))
    cam, _ = grad_cam(model, image)
    assert cam.shape == (12, 16, 16) and kept == [(1, 64, 6, 8, 8)]


def test_the_lesion_baselines_cells_are_placed_at_twice_their_index_at_the_fast_shape():
    """Its pooling rounds up, so 21 voxels give 11 cells, the last at voxel 20, as a ResNet's strided stage places
    them; rounding down gave 10, which the upsampling read as a stride of 4 (the last cell at voxel 21, clipped)."""
    model, kept = build_model("lesion_cnn").eval(), []
    model.features.register_forward_hook(lambda _m, _i, out: kept.append(out.shape[2:]))
    with torch.no_grad():
        model(torch.zeros(1, 1, 18, 24, 21))
    assert tuple(kept[0]) == (9, 12, 11)
    one_hot = torch.zeros(1, 1, *kept[0])
    one_hot[0, 0, -1, -1, -1] = 1.0
    peak = np.unravel_index(int(upsample_to_input(one_hot, (18, 24, 21)).argmax()), (18, 24, 21))
    assert tuple(int(p) for p in peak) == (16, 22, 20)


def test_tumour_attention_names_the_stages_of_a_model_without_the_one_asked_for(tiny_config):
    model = build_model("lesion_cnn")
    with pytest.raises(ValueError, match="LesionCNN has no stage 'layer4'; its stages are features, fc"):
        tumour_attention(model, load_fold(tiny_config), "layer4")


def test_attention_in_mask_is_one_on_the_mask_and_the_share_when_uniform():
    mask = np.zeros((4, 4, 4), bool)
    mask[:2, :2, :2] = True
    assert attention_in_mask(mask.astype(float), mask)["attention in tumour"] == pytest.approx(1.0)
    uniform = attention_in_mask(np.ones((4, 4, 4)), mask)
    assert uniform["attention in tumour"] == pytest.approx(uniform["tumour share of brain"]) == pytest.approx(1 / 8)
    brain = np.zeros((4, 4, 4), bool)
    brain[:2] = True  # half the volume is brain: the tumour is a quarter of it
    over_brain = attention_in_mask(brain.astype(float), mask, brain)
    assert over_brain["attention in tumour"] == pytest.approx(over_brain["tumour share of brain"]) == pytest.approx(1 / 4)
    assert attention_in_mask(np.ones((4, 4, 4)), mask, brain)["attention in tumour"] == pytest.approx(1 / 8)  # half wasted


def test_tumour_attention_measures_every_test_subject_with_a_tumour(tiny_config):
    data = load_fold(tiny_config)
    cases = tumour_cases(data)
    test_ids = [s["subject_id"] for s in data.test.subjects]
    with_mask = data.manifest.set_index("subject_id").loc[test_ids, "seg"]
    assert list(cases["subject_id"]) == list(with_mask[with_mask != ""].index) and len(cases) > 0
    assert set(cases["label"]) <= {"LGG", "HGG"}
    mask = load_mask(cases["seg"].iloc[0])
    assert mask.dtype == bool and mask.any() and mask.shape == data.test[int(cases["index"].iloc[0])]["image"].shape[1:]
    table = tumour_attention(build_model("mc3"), data, layer="layer3")
    assert list(table["subject_id"]) == list(cases["subject_id"])
    assert set(table["predicted"]) <= {"Healthy", "LGG", "HGG"}
    assert np.allclose(table["ratio"], table["attention in tumour"] / table["tumour share of brain"], equal_nan=True)
    image = data.test[int(cases["index"].iloc[0])]["image"]
    brain_share = mask.sum() / (image > 0).any(0).sum().item()
    assert table["tumour share of brain"].iloc[0] == pytest.approx(brain_share)  # of the brain, not the volume
    shown = table[~table["empty map"]]
    assert ((shown["attention in tumour"] >= 0) & (shown["attention in tumour"] <= 1)).all()
    # an empty map (the ReLU kept nothing) has no shares: NaN, which the means over subjects skip
    assert table.loc[table["empty map"], ["attention in tumour", "attention in brain", "ratio"]].isna().all().all()
    assert shown[["attention in tumour", "attention in brain", "ratio"]].notna().all().all()


def test_an_empty_grad_cam_map_is_flagged_and_has_no_shares(tiny_config, monkeypatch):
    data = load_fold(tiny_config)
    monkeypatch.setattr("brainclf_lib.evaluation.explain.grad_cam", lambda model, image, layer: (np.zeros(image.shape[1:]), 2))
    table = tumour_attention(build_model("mc3"), data, layer="layer3")
    assert table["empty map"].all() and table["ratio"].isna().all() and table["tumour share of brain"].gt(0).all()


@pytest.mark.parametrize("arch", ["r3d", "mc3", "r2plus1d"])
def test_grad_cam_agrees_with_captums_layer_grad_cam(arch):
    """The hook-built Grad-CAM of 07 (and the library's) against an independent implementation."""
    from captum.attr import LayerGradCam

    torch.manual_seed(0)
    model = build_model(arch).eval()
    image = torch.rand(1, 12, 32, 32)
    for layer_name in ("layer3", "layer4"):
        layer = getattr(model, layer_name)
        ours, target = grad_cam(model, image, layer=layer)
        reference = LayerGradCam(model, layer).attribute(image[None], target=target, relu_attributions=True)
        reference = upsample_to_input(reference, image.shape[1:]).detach()  # captum's own would be half a cell late
        reference = reference / reference.max().clamp_min(1e-8)  # Grad-CAM scaled by its maximum, not min-max
        assert np.allclose(ours, reference.numpy(), atol=1e-4), (arch, layer_name)


class _Uniform(torch.nn.Module):
    """A model whose last stage's activations, and so its Grad-CAM, are the same positive value everywhere."""

    def __init__(self):
        super().__init__()
        self.layer4 = torch.nn.Conv3d(1, 2, 1)
        self.fc = torch.nn.Linear(2, 3)
        for parameter in (self.layer4.weight, self.layer4.bias, self.fc.weight):
            torch.nn.init.constant_(parameter, 1.0)

    def forward(self, x):
        return self.fc(self.layer4(x).mean(dim=(2, 3, 4)))


def test_grad_cam_does_not_subtract_its_minimum_so_the_shares_stay_as_the_map_gives_them():
    """Issue #35: a map that argues for the class everywhere alike is uniform (1 everywhere), not empty, and its share
    inside a mask is the mask's share of the volume (min-max scaling made it zero everywhere)."""
    cam, _ = grad_cam(_Uniform(), torch.ones(1, 6, 4, 4), target=0)
    assert np.allclose(cam, 1.0)
    mask = np.zeros((6, 4, 4), bool)
    mask[:2] = True
    assert attention_in_mask(cam, mask)["attention in tumour"] == pytest.approx(1 / 3)


@pytest.mark.parametrize("arch", ["r3d", "mc3", "r2plus1d"])
def test_a_layer4_cell_lands_where_its_receptive_field_is_centred(arch):
    """Issue #35: the input voxels that move a layer4 cell most (the gradient's centre of mass, its effective
    receptive field) are where the upsampled map puts that cell; ``F.interpolate(align_corners=False)`` put it half
    a cell late (r3d_18: 35.5 slices and 39.5 voxels for a field centred at 32 and 32)."""
    torch.manual_seed(0)
    model = build_model(arch).eval()
    image = torch.randn(2, 1, 64, 64, 64, requires_grad=True)
    kept = {}
    hook = model.layer4.register_forward_hook(lambda _m, _i, out: kept.__setitem__("A", out))
    model(image)
    hook.remove()
    cells = kept["A"].shape[2:]
    middle = tuple(n // 2 for n in cells)
    kept["A"][:, :, middle[0], middle[1], middle[2]].sum().backward()
    sensitivity = image.grad.abs().sum(dim=(0, 1))
    one_hot = torch.zeros(1, 1, *cells)
    one_hot[(0, 0, *middle)] = 1.0
    placed = upsample_to_input(one_hot, (64, 64, 64))
    for axis in range(3):
        others = tuple(a for a in range(3) if a != axis)
        profile = sensitivity.sum(dim=others)
        centre = float((profile * torch.arange(64)).sum() / profile.sum())
        peak = int(placed.sum(dim=others).argmax())
        assert abs(peak - centre) < 2, (arch, axis, peak, centre)


@pytest.mark.parametrize("slices", [24, 18])  # a multiple of the stride, and the fast preset's 18
def test_upsampling_puts_cell_i_at_stride_times_i_and_is_linear_between(slices):
    cam = torch.tensor([0.0, 1.0, 0.0]).reshape(1, 1, 3, 1, 1)
    profile = upsample_to_input(cam, (slices, 5, 5))[:, 2, 2]
    assert int(profile.argmax()) == 8 and profile[8] == 1.0
    assert profile[4] == pytest.approx(0.5) and profile[12] == pytest.approx(0.5) and profile[16:].eq(0).all()


def test_every_stage_of_the_fast_preset_is_placed_at_its_stride():
    """layer1 to layer4 of each architecture at 18 x 24 x 21: the stride read from the shapes is the network's."""
    strides = {"r3d": (1, 2, 4, 8), "r2plus1d": (1, 2, 4, 8), "mc3": (1, 1, 1, 1)}  # along the slices
    for arch, along_slices in strides.items():
        model, kept = build_model(arch).eval(), {}
        for name in ("layer1", "layer2", "layer3", "layer4"):
            getattr(model, name).register_forward_hook(lambda _m, _i, out, name=name, kept=kept: kept.__setitem__(name, out))
        with torch.no_grad():
            model(torch.zeros(1, 1, 18, 24, 21))
        for stride, name in zip(along_slices, ("layer1", "layer2", "layer3", "layer4"), strict=True):
            cells = kept[name].shape[2:]
            one_hot = torch.zeros(1, 1, *cells)
            one_hot[0, 0, -1, -1, -1] = 1.0
            peak = np.unravel_index(int(upsample_to_input(one_hot, (18, 24, 21)).argmax()), (18, 24, 21))
            in_plane = 2 * (2 ** ("layer1", "layer2", "layer3", "layer4").index(name))  # the stem's 2, then halvings
            assert tuple(peak) == (stride * (cells[0] - 1), in_plane * (cells[1] - 1), in_plane * (cells[2] - 1)), (arch, name)
