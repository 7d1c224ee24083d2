import numpy as np
import pandas as pd
import pytest
import torch
import torchio as tio

from brainclf_lib.conventions import CLASSES
from brainclf_lib.data.datasets import VolumeDataset
from brainclf_lib.evaluation.probe import (
    pretraining_verdicts,
    probe_scores,
    source_models,
    trunk_features,
    weight_distance,
)
from brainclf_lib.experiment.run_folder import Run
from brainclf_lib.models.architectures import build_model
from brainclf_lib.training.source_task import train_rotation_source


def _volumes(n: int, seed: int = 0) -> VolumeDataset:
    generator = torch.Generator().manual_seed(seed)
    subjects = [tio.Subject(image=tio.ScalarImage(tensor=torch.rand(1, 12, 12, 8, generator=generator)),
                            label=i % 3, subject_id=f"s{i}") for i in range(n)]
    return VolumeDataset(subjects)


def test_weight_distance_is_zero_for_the_same_weights_and_grows_with_training():
    torch.manual_seed(0)
    model = build_model("mc3")
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    assert (weight_distance(initial, initial) == 0).all()
    assert list(weight_distance(initial, initial).index) == ["layer1", "layer2", "layer3", "layer4", "trunk"]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()
    torch.nn.functional.cross_entropy(model(torch.rand(2, 1, 8, 16, 16)), torch.tensor([0, 1])).backward()
    optimizer.step()
    moved = weight_distance(model.state_dict(), initial)
    assert (moved > 0).all()
    torch.manual_seed(1)
    other = weight_distance(build_model("mc3").state_dict(), initial)["trunk"]  # another random draw: far away
    assert other > 10 * moved["trunk"] and other == pytest.approx(2 ** 0.5, abs=0.1)


def test_weight_distance_leaves_out_the_stem_and_the_head():
    torch.manual_seed(0)
    initial = build_model("r3d").state_dict()
    changed = {k: (v + 1 if k.startswith(("stem.", "fc.")) and v.is_floating_point() else v) for k, v in initial.items()}
    assert (weight_distance(changed, initial) == 0).all()
    with pytest.raises(ValueError, match="layer1 to layer4"):
        weight_distance({}, {"stem.0.weight": torch.ones(1, 1, 1, 1, 1)})


def test_a_probe_reads_labels_that_the_features_carry_and_not_shuffled_ones():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 12)
    noise = rng.standard_normal((36, 64))
    carrying = noise + 3 * np.eye(3)[labels] @ rng.standard_normal((3, 64))
    assert probe_scores(carrying, labels)["balanced_accuracy"] > 0.9
    chance = [probe_scores(noise, rng.permutation(labels), seed=s)["balanced_accuracy"] for s in range(5)]
    assert np.mean(chance) < 0.6


def test_trunk_features_are_the_heads_input_and_do_not_change_the_model():
    torch.manual_seed(0)
    model = build_model("mc3")
    dataset = _volumes(5)
    features = trunk_features(model, dataset, batch_size=2)
    assert features.shape == (5, 512)
    logits = model.eval()(torch.stack([dataset[i]["image"] for i in range(5)]))
    expected = model.fc(torch.as_tensor(features))  # evaluation mode: dropout is the identity
    assert torch.allclose(logits, expected, atol=1e-4)
    assert not model.fc._forward_hooks  # the hook is removed


def test_source_models_recompute_the_weights_the_source_task_started_from(tmp_path):
    dataset = _volumes(4)
    untrained = train_rotation_source("mc3", dataset, tmp_path / "zero.pt", epochs=0, seed=11, progress=False,
                                      record={"seed": 11})
    models = source_models(untrained, "mc3")
    start, end = (models[k].state_dict() for k in ("initial", "trained"))
    assert all(torch.equal(start[k], end[k]) for k in start)  # no epoch: the saved weights are the start itself
    trained = train_rotation_source("mc3", dataset, tmp_path / "one.pt", epochs=1, seed=11, progress=False,
                                    record={"seed": 11})
    models = source_models(trained, "mc3")
    assert (weight_distance(models["trained"].state_dict(), models["initial"].state_dict()) > 0).all()
    no_seed = train_rotation_source("mc3", dataset, tmp_path / "none.pt", epochs=0, seed=11, progress=False)
    with pytest.raises(ValueError, match="no source-task seed"):
        source_models(no_seed, "mc3")


def _run(folder, truth: list[int], calls: list[int]) -> Run:
    folder.mkdir()
    run = Run(folder)
    pd.DataFrame({"subject_id": [f"s{i}" for i in range(len(truth))], "label": [CLASSES[t] for t in truth],
                  "pred": [CLASSES[c] for c in calls]}).to_csv(run.path(Run.PREDICTIONS), index=False)
    return run


def test_identical_calls_are_undecided_and_a_clear_gain_is_better(tmp_path):
    truth = [0, 1, 2] * 10
    wrong = [(t + 1) % 3 for t in truth]
    scratch = _run(tmp_path / "scratch", truth, wrong[:20] + truth[20:])
    same = _run(tmp_path / "same", truth, wrong[:20] + truth[20:])
    right = _run(tmp_path / "right", truth, truth)
    table = pretraining_verdicts({"tie": (scratch, same), "gain": (scratch, right), "loss": (right, scratch)},
                                 n_resamples=200)
    assert table.loc["tie", "verdict"] == "undecided" and table.loc["tie", "McNemar p"] == 1.0
    assert table.loc["tie", "difference"] == 0 and table.loc["tie", "subjects called differently"] == 0
    assert table.loc["gain", "verdict"] == "better" and table.loc["gain", "difference"] > 0
    assert table.loc["loss", "verdict"] == "worse" and table.loc["gain", "difference 95% CI"][0] > 0
    small = _run(tmp_path / "small", truth[:4], truth[:4])
    slightly = _run(tmp_path / "slightly", truth[:4], wrong[:1] + truth[1:4])
    assert pretraining_verdicts({"one": (slightly, small)}, n_resamples=200).loc["one", "verdict"] == "undecided"
    with pytest.raises(ValueError, match="same subjects"):
        pretraining_verdicts({"x": (scratch, small)})
