import pytest
import torch
from torchvision.models import get_model

from brainclf_lib.files import save_torch
from brainclf_lib.models.architectures import ARCHS, build_model, canonical_arch, parameter_table, stage_shapes
from brainclf_lib.models.pretrained import PretrainedWeightsUnavailable, kinetics_weights_file


@pytest.mark.parametrize("arch", ["r3d", "mc3", "r2plus1d"])
def test_models_take_n_c_d_h_w_and_give_three_logits(arch):
    model = build_model(arch, in_channels=2).eval()
    assert model(torch.zeros(2, 2, 8, 32, 28)).shape == (2, 3)
    assert isinstance(model.fc[0], torch.nn.Dropout) and model.fc[0].p == 0.3
    assert model.fc[1].in_features == 512 and model.stem[0].in_channels == 2


def test_unknown_arch_lists_the_valid_ones():
    with pytest.raises(ValueError, match="r3d_18.*mc3_18.*r2plus1d_18"):
        build_model("resnet50")
    assert canonical_arch("r2plus1d") == "r2plus1d_18"


def test_parameter_table_is_close_to_the_papers():
    table = parameter_table().set_index("arch")
    assert table.loc["r3d_18", "ours"] == 33_148_995
    assert (abs(table["ours - paper"]) / table["paper"] < 0.002).all()


def test_stage_shapes_follow_the_slice_axis():
    shapes = stage_shapes(build_model("r3d"), (1, 1, 16, 32, 32)).set_index("stage")["output shape"]
    assert shapes["stem"] == (1, 64, 16, 16, 16)
    assert shapes["layer4"] == (1, 512, 2, 2, 2)
    assert shapes["fc"] == (1, 3)


@pytest.fixture()
def source_checkpoint(tmp_path):
    """A Kinetics-shaped state dict (RGB stem, 400 classes) with recognisable random values."""
    torch.manual_seed(123)
    state = get_model("r2plus1d_18", weights=None).state_dict()
    state = {k: torch.randn_like(v.float()).to(v.dtype) if v.is_floating_point() else v for k, v in state.items()}
    path = tmp_path / "source.pth"
    torch.save(state, path)
    return path, state


def test_pretrained_takes_every_layer_but_stem_and_head(source_checkpoint):
    path, source = source_checkpoint
    model = build_model("r2plus1d", pretrained=str(path))
    report, target = model.transfer_report, model.state_dict()
    assert report.loaded and all(not n.startswith(("stem.", "fc.")) for n in report.loaded)
    assert set(report.reinitialised) == {n for n in target if n.startswith(("stem.", "fc."))}
    for name in report.loaded:
        assert torch.equal(target[name], source[name]), name
    assert not torch.equal(target["stem.3.weight"], source["stem.3.weight"])
    assert target["fc.1.weight"].shape == (3, 512)


@pytest.mark.parametrize("stem_init,reduce", [("rgb_mean", torch.mean), ("rgb_sum", torch.sum)])
def test_rgb_stem_init_collapses_the_colour_axis(source_checkpoint, stem_init, reduce):
    path, source = source_checkpoint
    model = build_model("r2plus1d", pretrained=str(path), stem_init=stem_init)
    expected = reduce(source["stem.0.weight"], dim=1, keepdim=True)
    assert torch.allclose(model.state_dict()["stem.0.weight"], expected)
    assert torch.equal(model.state_dict()["stem.3.weight"], source["stem.3.weight"])
    assert "stem.0.weight" in model.transfer_report.loaded


def test_our_own_checkpoint_is_a_valid_source(tmp_path):
    trained = build_model("mc3")
    save_torch(tmp_path / "best.pt", {"model": trained.state_dict(), "epoch": 3})
    model = build_model("mc3", pretrained=str(tmp_path / "best.pt"))
    assert torch.equal(model.state_dict()["layer1.0.conv1.0.weight"], trained.state_dict()["layer1.0.conv1.0.weight"])


def test_wrong_architecture_weights_are_refused(source_checkpoint):
    with pytest.raises(ValueError, match="shape|lack"):
        build_model("r3d", pretrained=str(source_checkpoint[0]))


def test_checkpoints_never_unpickle_arbitrary_objects(tmp_path):
    torch.save({"model": {"w": torch.zeros(1)}, "payload": ExecutesOnLoad()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="weights_only"):
        build_model("r3d", pretrained=str(tmp_path / "evil.pt"))


def test_offline_kinetics_names_the_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _no_network)
    expected = kinetics_weights_file("r3d_18")
    assert expected.name == "r3d_18-b3b3357e.pth"
    with pytest.raises(PretrainedWeightsUnavailable) as error:
        build_model("r3d", pretrained="kinetics400")
    assert expected.name in str(error.value) and str(expected.parent) in str(error.value)


def test_kinetics_weights_in_the_hub_cache_are_used(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _no_network)
    source = get_model("mc3_18", weights=None).state_dict()
    path = kinetics_weights_file("mc3_18")
    path.parent.mkdir(parents=True)
    torch.save(source, path)
    model = build_model("mc3_18", pretrained="kinetics400")
    assert torch.equal(model.state_dict()["layer4.1.conv2.0.weight"], source["layer4.1.conv2.0.weight"])


def test_all_archs_listed():
    assert ARCHS == ("r3d_18", "mc3_18", "r2plus1d_18")


def test_the_lesion_baseline_is_outside_the_papers_grid():
    assert canonical_arch("lesion_cnn") == "lesion_cnn" and "lesion_cnn" not in ARCHS
    model = build_model("lesion_cnn", in_channels=2).eval()
    assert model(torch.zeros(2, 2, 18, 24, 21)).shape == (2, 3)
    assert isinstance(model.fc[0], torch.nn.Dropout) and model.fc[0].p == 0.3
    with pytest.raises(ValueError, match="lesion_cnn is a baseline without source weights"):
        build_model("lesion_cnn", pretrained="kinetics400")
    with pytest.raises(ValueError, match="LesionCNN has one, model.features"):
        stage_shapes(model, (1, 1, 18, 24, 21))


def test_a_small_lesion_is_not_diluted_by_the_brain_around_it():
    """The baseline pools by the maximum: a bright 3-voxel blob moves its logits as much in a volume with eight
    times the voxels around it; an average pool would move them an eighth as much."""
    torch.manual_seed(0)
    model = build_model("lesion_cnn").eval()

    def effect(shape: tuple[int, int, int]) -> float:
        background = torch.full((1, 1, *shape), 0.4)
        lesion = background.clone()
        lesion[0, 0, 14:17, 14:17, 14:17] = 1.0  # no feature it moves sees a face's padding (fields: 14 voxels)
        with torch.no_grad():
            return float((model(lesion) - model(background)).abs().sum())

    small, large = effect((32, 32, 32)), effect((64, 64, 64))
    assert small > 1e-3 and large == pytest.approx(small, rel=1e-4)


class ExecutesOnLoad:
    def __reduce__(self):
        return (print, ("this must never run",))


def _no_network(*args, **kwargs):
    raise OSError("network unreachable")
