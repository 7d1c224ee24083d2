import numpy as np
import pandas as pd
import pytest

from brainclf_lib.conventions import CLASSES
from brainclf_lib.data.source import source_cohort_config
from brainclf_lib.data.step import load_fold, prepare_data
from brainclf_lib.evaluation.common_test import (
    arm_comparisons,
    arm_means,
    common_test_config,
    common_test_metrics,
    score_runs,
)
from brainclf_lib.experiment.config import ExperimentConfig, make_config
from brainclf_lib.replication.replicate import collect_runs
from brainclf_lib.training.loop import fit

from ..conftest import TINY


def test_the_common_test_cohort_is_another_seed_than_the_training_and_source_cohorts():
    config = make_config("fast")
    common = common_test_config(config)
    source = source_cohort_config(config)
    assert len({config.synthetic_seed, source.synthetic_seed, common.synthetic_seed}) == 3
    assert (common.spacing, common.input_shape) == (config.spacing, config.input_shape)
    assert common.n_per_class == min(config.n_per_class, 16)  # 48 subjects, or the cohort's own size if smaller
    with pytest.raises(ValueError, match="synthetic cohort only"):
        common_test_config(config.replace(data_root="/data/brats"))


def _calls(accuracies: dict[tuple[str, str], float], subjects: int = 48, seed: int = 0) -> pd.DataFrame:
    """Three fold runs an arm, each right on a subject with the arm's accuracy, wrong (another class) otherwise."""
    rng = np.random.default_rng(seed)
    truth = np.arange(subjects) % 3
    rows = []
    for (arch, init), accuracy in accuracies.items():
        for fold in range(3):
            right = rng.random(subjects) < accuracy
            pred = np.where(right, truth, (truth + 1) % 3)
            rows += [{"run": f"{arch}-{init}-{fold}", "arch": arch, "model": arch, "init": init, "fold": fold,
                      "subject_id": f"s{i:02d}", "label": CLASSES[truth[i]], "pred": CLASSES[pred[i]]}
                     for i in range(subjects)]
    return pd.DataFrame(rows)


def test_identical_arms_tie_and_a_clearly_better_arm_is_called():
    calls = _calls({("r3d", "scratch"): 0.6, ("r3d", "pretrained"): 0.6})
    same = calls[calls["init"] == "scratch"]
    tie = arm_comparisons(pd.concat([same, same.assign(init="pretrained", run=same["run"] + "-copy")]))
    assert tie.loc[0, "B - A"] == 0 and tie.loc[0, "calls that differ"] == 0 and tie.loc[0, "better"] == "undecided"
    clear = arm_comparisons(_calls({("r3d", "scratch"): 0.4, ("r3d", "pretrained"): 0.95}))
    assert clear.loc[0, "better"] == "r3d pretrained" and clear.loc[0, "95% CI"][0] > 0
    assert clear.loc[0, "subjects"] == 48


def test_every_pair_the_paper_asks_about_is_compared():
    arms = {(arch, init): 0.7 for arch in ("r3d", "mc3", "r2plus1d") for init in ("scratch", "pretrained")}
    table = arm_comparisons(_calls(arms), n_resamples=50)
    assert len(table) == 3 + 2 * 3  # pre-training for each architecture, each two architectures at each init
    assert set(table["A"].str.split().str[1] == table["B"].str.split().str[1]) == {True, False}


def test_every_run_is_scored_on_every_subject_of_the_common_set(prepared, tmp_path):
    config = ExperimentConfig(arch="r3d_18", data_root=str(prepared), spacing=TINY.spacing, input_shape=TINY.input_shape,
                              skull_strip="none", epochs=1, max_steps_per_epoch=1, batch_size=2, num_workers=0,
                              val_fraction=0.0, output_dir=str(tmp_path / "runs"), preset="test")
    prepare_data(config, verbose=False)
    for fold in (0, 1):
        fit(config.replace(fold=fold), progress=False)
    results = collect_runs(config.output_dir)
    subjects = load_fold(config).train  # any dataset serves; the synthetic grid passes common_test_set(config)
    calls = score_runs(config.output_dir, results, subjects)
    assert len(calls) == 2 * len(subjects) and calls.groupby("run")["subject_id"].nunique().eq(len(subjects)).all()
    assert set(calls["fold"]) == {0, 1} and calls.filter(like="p_").sum(axis=1).round(4).eq(1).all()
    table = common_test_metrics(calls)
    assert table["subjects"].eq(len(subjects)).all() and table["macro_f1"].between(0, 1).all()


def test_a_partial_grid_is_compared_over_the_folds_both_arms_have_and_nothing_to_compare_is_an_empty_table():
    calls = _calls({("r3d", "scratch"): 0.6, ("r3d", "pretrained"): 0.6})
    partial = calls[calls["run"] != "r3d-pretrained-2"]
    table = arm_comparisons(partial, n_resamples=50)
    assert table.loc[0, "folds"] == 2 and table.loc[0, "calls that differ"] <= 2 * 48
    alone = arm_comparisons(calls[calls["init"] == "scratch"], n_resamples=50)
    assert alone.empty and "better" in alone.columns


def test_an_arms_figures_are_the_mean_and_sd_over_its_runs():
    runs = pd.DataFrame({"arch": ["r3d"] * 3, "init": ["scratch"] * 3, "macro_f1": [0.6, 0.7, 0.8],
                         "Healthy": [1.0, 1.0, 1.0], "LGG": [0.5, 0.6, 0.7], "HGG": [0.3, 0.5, 0.7]})
    row = arm_means(runs).loc[("r3d", "scratch")]
    assert row["macro_f1"] == pytest.approx(0.7) and row["sd"] == pytest.approx(0.1) and row["runs"] == 3
    assert row["LGG F1"] == pytest.approx(0.6) and row["HGG F1"] == pytest.approx(0.5)
