import json

import numpy as np
import pandas as pd
import pytest
import torch

from brainclf_lib import training
from brainclf_lib.errors import NonFiniteLossError
from brainclf_lib.io import load_torch
from brainclf_lib.models import build_model
from brainclf_lib.training import fit, train


def test_a_run_writes_every_artefact(tiny_config):
    run_dir = fit(tiny_config.replace(val_fraction=0.3), progress=False)
    assert {p.name for p in run_dir.iterdir()} >= {"config.json", "environment.json", "log.csv", "last.pt", "best.pt",
                                                   "predictions.csv", "metrics.json"}
    log = pd.read_csv(run_dir / "log.csv")
    assert list(log["epoch"]) == [0, 1] and log["val_macro_f1"].notna().all()
    assert log["data_wait"].between(0, 1).all() and (log["seconds"] > 0).all()
    predictions = pd.read_csv(run_dir / "predictions.csv")
    assert len(predictions) == 4  # the held-out fold: 12 subjects / 3
    assert np.allclose(predictions[["p_Healthy", "p_LGG", "p_HGG"]].sum(axis=1), 1, atol=1e-5)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["n"] == 4 and len(metrics["accuracy_ci95"]) == 2
    assert json.loads((run_dir / "environment.json").read_text())["seed"] == tiny_config.seed
    with pytest.raises(FileExistsError, match="resume"):
        fit(tiny_config.replace(val_fraction=0.3), progress=False)


def test_a_killed_run_resumes_to_the_same_weights(tiny_config):
    whole, _ = train(tiny_config.replace(output_dir=tiny_config.output_dir + "/whole"), progress=False)
    first = tiny_config.replace(output_dir=tiny_config.output_dir + "/killed", epochs=1)
    train(first, progress=False)  # "killed" after epoch 0: last.pt holds epoch 0
    resumed, run_dir = train(first.replace(epochs=2), resume=True, progress=False)
    assert load_torch(run_dir / "last.pt")["epoch"] == 1
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=False):
        assert torch.equal(a, b), name
    assert len(pd.read_csv(run_dir / "log.csv")) == 2


def test_runs_repeat_with_the_same_seed(tiny_config):
    a, _ = train(tiny_config.replace(epochs=1, output_dir=tiny_config.output_dir + "/a"), progress=False)
    b, _ = train(tiny_config.replace(epochs=1, output_dir=tiny_config.output_dir + "/b"), progress=False)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=False))


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tiny_config, monkeypatch):
    # NaN voxels cannot poison the loss (TorchIO zeroes them on read), so the model itself turns non-finite
    # from the second epoch on, as a diverging run would.
    config = tiny_config.replace(epochs=1)
    run_dir = fit(config, progress=False)
    good = load_torch(run_dir / "last.pt")["model"]

    def diverging_model(*args, **kwargs):
        model = build_model(*args, **kwargs)
        model.register_forward_hook(lambda module, inputs, output: output * float("nan"))
        return model

    monkeypatch.setattr(training, "build_model", diverging_model)
    with pytest.raises(NonFiniteLossError, match=r"became nan at epoch 1, step 0 \(subjects \['.+'\]\).*last good checkpoint"):
        fit(config.replace(epochs=2), resume=True, progress=False)
    kept = load_torch(run_dir / "last.pt")
    assert kept["epoch"] == 0 and all(torch.equal(good[k], kept["model"][k]) for k in good)
    assert len(pd.read_csv(run_dir / "log.csv")) == 1 and not (run_dir / "last.pt.tmp").exists()
