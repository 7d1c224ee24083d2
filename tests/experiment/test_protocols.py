"""The paper's protocol, its published code's deviations one at a time, and the corrected protocol."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
import torchio as tio
from torch.utils.data import random_split

from brainclf_lib.cli import main
from brainclf_lib.data.splits import fold_subjects, random_split_table
from brainclf_lib.data.step import load_fold, prepare_data, splits_path
from brainclf_lib.evaluation.scoring import evaluate
from brainclf_lib.experiment.config import make_config
from brainclf_lib.experiment.protocols import DEVIATIONS, PROTOCOLS, deviations_of, folds_of
from brainclf_lib.experiment.run_folder import Run, config_digest
from brainclf_lib.replication.comparison import protocol_table, protocol_variants
from brainclf_lib.training.loop import fit


def test_protocols_are_sets_of_named_deviations():
    assert deviations_of(make_config("fast")) == frozenset()
    assert deviations_of(make_config("fast", protocol="paper-text")) == {"last_epoch"}
    assert deviations_of(make_config("fast", protocol="published-code")) == set(DEVIATIONS) == set(PROTOCOLS["published-code"])
    with pytest.raises(ValueError, match=r"Unknown deviation\(s\) \['augmented_tests'\]"):
        make_config("fast", deviations=("augmented_tests",))
    with pytest.raises(ValueError, match="protocol='papers' is not one of"):
        make_config("fast", protocol="papers")
    with pytest.raises(ValueError, match="random split has one fold"):
        make_config("fast", deviations=("random_split",), fold=1)
    assert list(folds_of(make_config("fast", deviations=("random_split",)))) == [0]


def test_a_run_is_identified_by_its_deviations_not_its_protocols_name():
    paper = make_config("fast", protocol="paper-text")
    assert config_digest(paper) == config_digest(make_config("fast", deviations=("last_epoch",)))
    assert config_digest(paper) != config_digest(make_config("fast"))
    digests = {config_digest(variant) for variant in protocol_variants(make_config("fast")).values()}
    assert len(digests) == len(protocol_variants(make_config("fast"))) - 1  # paper is "+ last_epoch"


def test_the_random_split_is_torchs_random_split_of_every_subject():
    manifest = pd.DataFrame({"subject_id": [f"s{i:02d}" for i in range(48)], "label": ["Healthy", "LGG", "HGG"] * 16})
    table = random_split_table(manifest, 0.3, 55)
    train, test = fold_subjects(table, 0)
    assert (len(train), len(test)) == (int(48 - 0.3 * 48), 48 - int(48 - 0.3 * 48)) == (33, 15)
    expected = random_split(range(48), [33, 15], generator=torch.Generator().manual_seed(55))
    assert test == [f"s{i:02d}" for i in expected[1].indices]
    assert table.equals(random_split_table(manifest, 0.3, 55))


def test_each_deviation_changes_what_the_data_step_hands_training(tiny_config):
    corrected = load_fold(tiny_config)
    assert corrected.test.transform is None and corrected.val.transform is None

    augmented = load_fold(tiny_config.replace(deviations=("augmented_test",)))
    assert augmented.test.transform is augmented.train.transform is not None
    torch.manual_seed(0)
    reads = [augmented.test[0]["image"] for _ in range(4)]
    assert not all(torch.equal(reads[0], other) for other in reads[1:])  # the published code's test set moves

    rescaled = load_fold(tiny_config.replace(deviations=("output_range_rescale",)))
    image = rescaled.test[0]["image"]
    assert image.min().item() == pytest.approx(0.05) and image.max().item() == pytest.approx(99.5)
    assert torch.equal(image, rescaled.test[0]["image"])  # deterministic, but in the wrong range

    coded = load_fold(tiny_config.replace(deviations=("code_augmentation",)))
    affine = [t for t in coded.train.transform.transforms if isinstance(t, tio.RandomAffine)][0]
    assert affine.isotropic and affine.image_interpolation == "nearest"

    last = load_fold(tiny_config.replace(val_fraction=0.3, deviations=("last_epoch",)))
    assert len(last.val) == 0 and len(load_fold(tiny_config.replace(val_fraction=0.3)).val) > 0

    split = tiny_config.replace(deviations=("random_split",))
    prepare_data(split, verbose=False)
    assert splits_path(split).name == "splits_random70-30_seed55.csv" and splits_path(split) != splits_path(tiny_config)
    n = len(corrected.manifest)
    assert len(load_fold(split).test) == n - int(n - 0.3 * n)


def test_the_published_code_trains_with_its_weights_and_accumulates_every_epochs_predictions(tiny_config):
    config = tiny_config.replace(protocol="published-code", epochs=3, max_steps_per_epoch=2, batch_size=2)
    prepare_data(config, verbose=False)
    run = fit(config, progress=False)
    data = load_fold(config)
    n_test = len(data.test)
    predictions = run.predictions
    assert len(predictions) == 3 * n_test and sorted(predictions["epoch"].unique()) == [0, 1, 2]
    assert run.metrics["n"] == 3 * n_test  # one confusion matrix over every epoch, as the code built it
    log = run.log
    assert np.allclose(log["val_loss"], log["train_loss"] * len(data.train) / n_test)  # "validation" loss
    assert json.loads(run.path(Run.CONFIG).read_text())["protocol"] == "published-code"
    with pytest.raises(ValueError, match="accumulated_confusion"):
        evaluate(run)
    table = protocol_table({"published-code": run}, n_resamples=50)
    assert table.loc["published-code", "test predictions"] == 3 * n_test
    assert table.loc["published-code", "accuracy low"] <= table.loc["published-code", "accuracy"] <= table.loc["published-code", "accuracy high"]


def test_typed_in_weights_reach_the_loss(tiny_config, monkeypatch):
    import brainclf_lib.training.loop as training

    seen = []
    original = training.train_epoch

    def spy(model, loader, loss_fn, *args, **kwargs):
        seen.append(loss_fn.weight.cpu())
        return original(model, loader, loss_fn, *args, **kwargs)

    monkeypatch.setattr(training, "train_epoch", spy)
    fit(tiny_config.replace(epochs=1, max_steps_per_epoch=1, deviations=("hand_weights",)), progress=False)
    assert torch.allclose(seen[0], torch.tensor([1.0, 3.54, 1.0]))  # (Healthy, LGG, HGG)


def test_the_protocols_command_compares_the_variants(tiny_config, capsys):
    args = ["protocols", "--preset", "smoke", "--data-root", tiny_config.data_root, "--spacing", "3",
            "--input-shape", *map(str, tiny_config.input_shape), "--skull-strip", "none", "--arch", "r3d",
            "--epochs", "1", "--max-steps-per-epoch", "1", "--output-dir", tiny_config.output_dir,
            "--batch-size", "2", "--only", "hand_weights", "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    for variant in ("corrected", "+ hand_weights", "paper-text", "published-code"):
        assert variant in out
    written = pd.read_csv(f"{tiny_config.output_dir}/protocols_r3d_18.csv")
    assert written["variant"].tolist() == ["corrected", "+ hand_weights", "paper-text", "published-code"]
    assert {"macro F1", "macro F1 low", "macro F1 high", "LGG F1", "Δ macro F1"} <= set(written.columns)


def test_under_the_output_range_rescale_batchnorm_statistics_come_from_the_inputs_as_evaluated(tiny_config, monkeypatch):
    import brainclf_lib.training.loop as training

    seen = []
    monkeypatch.setattr(training, "recompute_bn_statistics", lambda model, dataset, *args: seen.append(dataset[0]["image"]))
    config = tiny_config.replace(epochs=1, max_steps_per_epoch=1, recompute_bn=True, deviations=("output_range_rescale",))
    fit(config, progress=False)
    evaluated = load_fold(config).val if len(load_fold(config).val) else load_fold(config).test
    assert seen and seen[0].max().item() == pytest.approx(99.5) and seen[0].min().item() == pytest.approx(0.05)
    assert evaluated[0]["image"].max().item() == pytest.approx(99.5)


def test_predict_on_a_published_code_run_applies_its_transform(tiny_config, raw_cohort):
    from brainclf_lib.evaluation.inference import Predictor

    config = tiny_config.replace(protocol="published-code", epochs=1, max_steps_per_epoch=1, batch_size=2)
    prepare_data(config, verbose=False)
    run = fit(config, progress=False)
    predictor = Predictor(run, device="cpu")
    seen = []
    predictor.model.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0]))
    scan = next(raw_cohort[0].rglob("*_t1ce.nii.gz"))
    predictor(scan)
    assert 50 < seen[0].max().item() <= 99.5 + 1e-4  # rescaled to the code's output range, not [0, 1] (then halved)
    assert tuple(seen[0].shape[2:]) == tuple(n // 2 for n in config.input_shape)  # and halved, as it trained


def test_one_training_has_one_digest():
    published = make_config("fast", protocol="published-code")
    same = make_config("fast", protocol="published-code", lr=1e-4, dropout=0.1, n_folds=5, split="holdout",
                       val_fraction=0.4, selection_window=5)
    assert config_digest(published) == config_digest(same)  # every one of those is replaced by the protocol
    paper = make_config("fast", protocol="paper-text")
    assert config_digest(paper) == config_digest(paper.replace(val_fraction=0.5, selection_window=1))
    assert config_digest(make_config("fast")) != config_digest(make_config("fast", val_fraction=0.5))
