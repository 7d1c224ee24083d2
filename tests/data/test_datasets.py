import numpy as np
import torch
import torchio as tio

from brainclf_lib.conventions import slice_axis_first, slice_axis_last
from brainclf_lib.data.datasets import VolumeDataset, make_subjects
from brainclf_lib.data.prepare import read_manifest
from brainclf_lib.data.step import load_fold
from brainclf_lib.data.transforms import augmentation
from brainclf_lib.evaluation.scoring import predict_subjects
from brainclf_lib.models.architectures import build_model
from brainclf_lib.training.losses import class_balance


def test_slice_axis_first_moves_z_to_depth():
    volume = torch.arange(3 * 4 * 5).reshape(1, 3, 4, 5).float()  # (C, x=3, y=4, z=5)
    out = slice_axis_first(volume)
    assert out.shape == (1, 5, 4, 3)
    assert out[0, 4, 2, 1] == volume[0, 1, 2, 4]
    assert torch.equal(slice_axis_last(out), volume)


def test_dataset_gives_c_d_h_w_and_only_training_is_augmented(prepared):
    manifest = read_manifest(prepared)
    subjects = make_subjects(manifest.head(3), ("t1ce",))
    plain = VolumeDataset(subjects)
    item = plain[0]
    assert item["image"].shape == (1, 12, 16, 16) and item["label"].item() == 2
    assert torch.equal(plain[0]["image"], plain[0]["image"])  # evaluation sees the volume as it is
    flip = VolumeDataset(subjects, tio.RandomFlip(axes=("LR",), flip_probability=1.0))
    assert torch.equal(flip[0]["image"], plain[0]["image"].flip(-1))  # LR is the W axis


def test_several_contrasts_become_channels(prepared):
    manifest = read_manifest(prepared)
    manifest["image_flair"] = manifest["image_t1ce"]
    item = VolumeDataset(make_subjects(manifest.head(1), ("t1ce", "flair")))[0]
    assert item["image"].shape == (2, 12, 16, 16)


def test_augmentation_presets():
    assert augmentation("none") is None
    light = augmentation("light")
    assert [type(t).__name__ for t in light.transforms] == ["RandomAffine", "RandomFlip"]
    assert len(augmentation("heavy").transforms) == 6


def test_class_balance_counts_every_split_and_weighs_by_the_training_fold(tiny_config):
    data = load_fold(tiny_config)
    table = class_balance(data)
    assert list(table.index) == ["Healthy", "LGG", "HGG"]
    assert list(table.columns) == ["training subjects", "class weight", "validation", "test"]
    for column, split in (("training subjects", data.train), ("validation", data.val), ("test", data.test)):
        assert table[column].sum() == len(split)
    counts = table["training subjects"].to_numpy()
    assert np.allclose(table["class weight"], (1 - counts / counts.sum()).round(3))  # the paper's W_c = 1 - n_c / N


def test_evaluation_sees_each_subject_as_it_is(tiny_config):
    """The guard against augmenting the test set: reading a held-out subject twice gives the same tensor, and a
    model gives it the same prediction, while the training split's reads differ (they are augmented)."""
    data = load_fold(tiny_config)
    assert data.val.transform is None and data.test.transform is None and data.train.transform is not None
    for index in range(len(data.test)):
        assert torch.equal(data.test[index]["image"], data.test[index]["image"])
    model = build_model("mc3")
    first, second = predict_subjects(model, data.test), predict_subjects(model, data.test)
    assert first.equals(second)
    torch.manual_seed(0)
    reads = [data.train[0]["image"] for _ in range(4)]
    assert not all(torch.equal(reads[0], other) for other in reads[1:])


def test_a_subjects_prediction_does_not_depend_on_the_batch_it_is_in(tiny_config):
    data = load_fold(tiny_config)
    model = build_model("r3d")
    one, batched = predict_subjects(model, data.test, batch_size=1), predict_subjects(model, data.test, batch_size=3)
    assert len(batched) == len(data.test) == 4  # a full batch of 3, then the last subject alone
    assert batched[["subject_id", "label", "pred"]].equals(one[["subject_id", "label", "pred"]])
    columns = ["p_Healthy", "p_LGG", "p_HGG"]
    assert np.allclose(batched[columns].to_numpy(), one[columns].to_numpy(), atol=1e-5)
