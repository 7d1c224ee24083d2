import json

import numpy as np
import pandas as pd
import pytest
import torch

from brainclf_lib import viz
from brainclf_lib.cli import main
from brainclf_lib.experiment.run_folder import Run, config_digest, cv_summary_path
from brainclf_lib.models.pretrained import PretrainedWeightsUnavailable
from brainclf_lib.replication.replicate import (
    collect_runs,
    cross_validate,
    missing_runs,
    paired_comparisons,
    replicate,
    run_metrics,
)
from brainclf_lib.training.loop import fit


def _no_network(*args, **kwargs):
    raise OSError("no network")


def test_unavailable_kinetics_fails_before_the_first_run(tiny_config, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _no_network)
    with pytest.raises(PretrainedWeightsUnavailable, match="r3d_18-b3b3357e.pth.*--pretrained none"):
        replicate(tiny_config, archs=("r3d",), pretrained="kinetics400", progress=False)
    assert not (tmp_path / "runs").exists()


def test_the_grid_with_self_trained_sources_has_every_run(tiny_config, tmp_path, capsys):
    options = ["--preset", "smoke", "--data-root", tiny_config.data_root, "--spacing", str(tiny_config.spacing),
               "--input-shape", *map(str, tiny_config.input_shape), "--skull-strip", "none", "--num-workers", "0",
               "--output-dir", tiny_config.output_dir, "--arch", "r3d", "--quiet"]
    assert main(["source", *options, "--out", str(tmp_path / "sources"), "--source-epochs", "1"]) == 0
    # real data: one source model a fold, from that fold's training subjects (never another fold's test subjects)
    assert sorted(p.name for p in (tmp_path / "sources").glob("r3d_18*.pt")) == [f"r3d_18_fold{k}.pt" for k in range(3)]
    table = replicate(tiny_config.replace(epochs=1, max_steps_per_epoch=2), archs=("r3d",),
                      pretrained=str(tmp_path / "sources"), progress=False)
    names = sorted(table["run"].unique())
    assert [name.split("-")[0] for name in names] == [f"r3d_18_{init}_fold{k}" for init in ("pretrained", "scratch") for k in range(3)]
    scratch = table[table["init"] == "scratch"]["run"].unique()
    grid_config = tiny_config.replace(epochs=1, max_steps_per_epoch=2)
    assert {name.split("-")[1] for name in scratch} == {config_digest(grid_config)}  # one experiment, one digest
    sources = {Run(tmp_path / "runs" / name).config.pretrained.rsplit("/", 1)[-1] for name in names if "pretrained" in name}
    assert sources == {f"r3d_18_fold{k}.pt" for k in range(3)}  # each fold's run loaded its own fold's weights
    assert collect_runs(tmp_path / "runs", like=tiny_config.replace(lr=1.0)).empty  # another experiment: none of these
    assert len(table) == 6 * 3 and set(table["class"]) == {"Healthy", "LGG", "HGG"}
    written = pd.read_csv(tmp_path / "runs" / "results.csv")
    assert len(written) == len(table)
    paired = paired_comparisons(tmp_path / "runs", table)
    assert len(paired) == 1 and paired.loc[0, "subjects"] == 12  # every subject is tested once over the 3 folds
    assert 0 <= paired.loc[0, "McNemar p"] <= 1
    assert paired.loc[0, "A right, B wrong"] + paired.loc[0, "B right, A wrong"] <= 12
    metrics = run_metrics(tmp_path / "runs", table)
    assert sorted(metrics) == sorted(table["run"].unique())
    assert all(m["macro_f1"] == table.loc[table["run"] == run, "macro_f1"].iloc[0] for run, m in metrics.items())
    fold0 = Run.of(tiny_config.replace(epochs=1, max_steps_per_epoch=2))
    assert np.asarray(metrics[fold0.name]["confusion_normalised"]).shape == (3, 3)
    heatmap = viz.metric_heatmap(table, "f1").data[0]  # Fig. 7 straight from the results table
    assert sorted(heatmap.y) == ["ResNet3D · pretrained", "ResNet3D · scratch"] and list(heatmap.x) == ["Healthy", "LGG", "HGG"]
    assert np.allclose(np.asarray(heatmap.z)[list(heatmap.y).index("ResNet3D · scratch")],
                       table[table["init"] == "scratch"].groupby("class")["f1"].mean()[["Healthy", "LGG", "HGG"]])
    before = fold0.path(Run.METRICS).stat().st_mtime_ns
    replicate(tiny_config.replace(epochs=1, max_steps_per_epoch=2), archs=("r3d",), pretrained=str(tmp_path / "sources"),
              progress=False)  # finished runs are skipped
    assert fold0.path(Run.METRICS).stat().st_mtime_ns == before


def test_cross_validation_writes_fold_wise_and_mean_std_metrics(tiny_config, tmp_path):
    config = tiny_config.replace(epochs=1, max_steps_per_epoch=2)
    summary = cross_validate(config, progress=False)
    written = json.loads(cv_summary_path(config).read_text())
    assert cv_summary_path(config).name == f"r3d_18_scratch-{config_digest(config)}_cv.json"
    assert len(written["folds"]) == 3 and written["n_folds"] == 3
    accuracies = [fold["accuracy"] for fold in written["folds"]]
    assert written["mean"]["accuracy"] == pytest.approx(sum(accuracies) / 3)
    assert written["std"]["accuracy"] == pytest.approx(float(np.std(accuracies, ddof=1)))
    assert summary["mean"]["macro_f1"] == written["mean"]["macro_f1"]


def test_missing_runs_lists_what_replicate_would_train(tiny_config):
    config = tiny_config.replace(epochs=1, max_steps_per_epoch=1)
    missing = missing_runs(config, pretrained=None)
    assert len(missing) == 3 * config.n_folds and set(missing["init"]) == {"scratch"}
    done = fit(config.replace(arch="mc3", fold=1), progress=False)
    after = missing_runs(config, pretrained=None)
    assert len(after) == len(missing) - 1 and done.name not in set(after["run"])
    assert all(Run.of(config.replace(arch=a, fold=f)).name in set(missing["run"]) for a in ("r3d", "mc3") for f in (0, 2))
