import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from brainclf_lib.data.datasets import VolumeDataset
from brainclf_lib.errors import NonFiniteLossError
from brainclf_lib.experiment.run_folder import Run
from brainclf_lib.training import loop as training
from brainclf_lib.training.loop import _train, fit


def test_a_run_writes_every_artefact_and_drops_its_resume_state(tiny_config):
    run = fit(tiny_config.replace(val_fraction=0.3), progress=False)
    assert {p.name for p in run.folder.iterdir()} >= {Run.CONFIG, Run.ENVIRONMENT, Run.LOG, Run.BEST, Run.PREDICTIONS,
                                                      Run.METRICS}
    assert not run.path(Run.LAST).exists()  # Adam's state is dropped once the run is complete
    log = run.log
    assert list(log["epoch"]) == [0, 1] and log["val_macro_f1"].notna().all()
    assert log["data_wait"].between(0, 1).all() and (log["seconds"] > 0).all()
    predictions = run.predictions
    assert len(predictions) == 4  # the held-out fold: 12 subjects / 3
    assert np.allclose(predictions[["p_Healthy", "p_LGG", "p_HGG"]].sum(axis=1), 1, atol=1e-5)
    assert run.metrics["n"] == 4 and len(run.metrics["accuracy_ci95"]) == 2
    assert json.loads(run.path(Run.ENVIRONMENT).read_text())["seed"] == tiny_config.seed


def test_checkpoints_are_written_at_most_every_resume_every_s_and_at_the_end(tiny_config, monkeypatch):
    writes = []
    monkeypatch.setattr(Run, "save_last", lambda self, state: writes.append(("last", state.epoch)))
    save_best = Run.save_best
    monkeypatch.setattr(Run, "save_best", lambda self, weights, epoch, config: (writes.append(("best", epoch)),
                                                                               save_best(self, weights, epoch, config)))
    monkeypatch.setattr(training, "RESUME_EVERY_S", 1e9)
    run = fit(tiny_config.replace(epochs=2), progress=False)
    assert writes == [("best", 1)]  # no validation subset: the last epoch is the best, written once at the end
    assert run.best_state()["epoch"] == 1
    writes.clear()
    monkeypatch.setattr(training, "RESUME_EVERY_S", 0.0)
    fit(tiny_config.replace(epochs=2), overwrite=True, progress=False)
    assert writes == [("best", 0), ("last", 0), ("best", 1), ("last", 1)]  # best.pt first: last.pt's best_score names it


def test_recomputed_bn_statistics_are_the_training_volumes_averages(tiny_config):
    data = training.load_fold(tiny_config)
    model = training.build_model("r3d_18", in_channels=1)
    plain = VolumeDataset(data.train.subjects)  # as evaluation sees them: not augmented
    training.recompute_bn_statistics(model, plain, batch_size=len(plain) // 2, device=torch.device("cpu"))
    assert model.training
    with torch.no_grad():
        images = torch.stack([plain[i]["image"] for i in range(len(plain))])
        stem = model.stem[0](images)  # the first BatchNorm's input
    assert torch.allclose(model.stem[1].running_mean, stem.mean(dim=(0, 2, 3, 4)), atol=1e-4)


def test_keep_last_keeps_the_resume_state(tiny_config):
    run = fit(tiny_config.replace(epochs=1), keep_last=True, progress=False)
    assert run.is_complete and run.load_last().epoch == 0


def test_runs_repeat_with_the_same_seed(tiny_config):
    a, _ = _train(tiny_config.replace(epochs=1, output_dir=tiny_config.output_dir + "/a"), progress=False)
    b, _ = _train(tiny_config.replace(epochs=1, output_dir=tiny_config.output_dir + "/b"), progress=False)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


# A real trainer in its own process. With a marker path it pauses in the middle of its second epoch (after one
# optimiser step of it) so that the test can SIGKILL it there: whatever it had computed of that epoch is lost, as in
# a real crash. Every run the test compares trains in a fresh interpreter: a library loaded earlier in the test
# process can change how the CPU rounds (flush-to-zero), and bit-equal weights need the same arithmetic.
TRAINER = """
import json, sys, time
from pathlib import Path
from brainclf_lib.data import datasets
from brainclf_lib.experiment.config import ExperimentConfig
from brainclf_lib.training import loop as training
from brainclf_lib.training.loop import fit

training.RESUME_EVERY_S = 0  # the resume state after every epoch: the test kills the run in its second
config, marker, pause_at, resume = ExperimentConfig.from_dict(json.loads(sys.argv[1])), sys.argv[2], int(sys.argv[3]), sys.argv[4] == "resume"
read = datasets.VolumeDataset.__getitem__
reads = {"training": 0}

def pausing_read(self, index):
    if self.transform is not None:
        reads["training"] += 1
        if reads["training"] == pause_at:
            Path(marker).write_text("paused")
            time.sleep(600)
    return read(self, index)

datasets.VolumeDataset.__getitem__ = pausing_read
fit(config, resume=resume, progress=False)
"""


def _trainer(config, marker: Path | None = None, pause_at: int = 0, resume: bool = False) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", TRAINER, json.dumps(config.to_dict()), str(marker), str(pause_at),
                             "resume" if resume else "new"], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())})


def test_a_run_killed_mid_epoch_resumes_to_the_same_weights(tiny_config, tmp_path):
    config = tiny_config.replace(epochs=3)  # light augmentation: the pausing read counts augmented (training) reads
    whole_config, killed_config = (config.replace(output_dir=str(tmp_path / name)) for name in ("whole", "killed"))
    whole = _trainer(whole_config)
    assert whole.wait(timeout=300) == 0, whole.stderr.read()
    marker = tmp_path / "paused"
    n_train = 8  # 12 subjects, 4 held out, no validation subset
    trainer = _trainer(killed_config, marker, pause_at=n_train + 2)
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert trainer.poll() is None and time.monotonic() < deadline, "the trainer ended before it paused"
            time.sleep(0.2)
    finally:
        trainer.send_signal(signal.SIGKILL)
        trainer.wait()
    run = Run.of(killed_config)
    assert run.load_last().epoch == 0 and len(run.log) == 1 and not run.is_complete
    resumed = _trainer(killed_config, resume=True)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    assert f"taking over the lock of process {trainer.pid}" in resumed.stderr.read()
    assert list(Run.of(killed_config).log["epoch"]) == [0, 1, 2]
    expected, got = Run.of(whole_config).load_model().state_dict(), Run.of(killed_config).load_model().state_dict()
    for name, tensor in expected.items():
        assert torch.equal(tensor, got[name]), name


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tiny_config, monkeypatch):
    monkeypatch.setattr(training, "RESUME_EVERY_S", 0.0)
    # NaN voxels cannot poison the loss (TorchIO zeroes them on read), so the model itself turns non-finite
    # from the second epoch on, as a diverging run would.
    config = tiny_config.replace(epochs=2)
    run = Run.of(config)
    original = training.build_model
    builds = []

    def diverging_model(*args, **kwargs):
        model = original(*args, **kwargs)
        builds.append(model)
        model.register_forward_hook(lambda module, inputs, output: output * (float("nan") if module.diverge else 1))
        model.diverge = False
        return model

    original_epoch = training.train_epoch

    def epoch_then_diverge(model, *args, **kwargs):
        stats = original_epoch(model, *args, **kwargs)
        builds[-1].diverge = True  # every step after the first epoch is non-finite
        return stats

    monkeypatch.setattr(training, "build_model", diverging_model)
    monkeypatch.setattr(training, "train_epoch", epoch_then_diverge)
    with pytest.raises(NonFiniteLossError, match=r"became nan at epoch 1, step 0 \(subjects \['.+'\]\).*last good checkpoint"):
        fit(config, progress=False)
    kept = run.load_last()
    assert kept.epoch == 0 and len(run.log) == 1 and not run.is_complete
    assert not [p for p in run.folder.iterdir() if ".tmp" in p.name]


def test_every_optimiser_step_of_the_suite_is_training_step():
    """fit, the rotation source task and the benchmark step an optimiser through training.step.training_step, nowhere
    else: no other module calls ``<optimizer or scaler>.step(...)``."""
    import ast

    root = Path(training.__file__).parents[2]
    stepping = set()
    for path in [*root.glob("brainclf_lib/**/*.py"), *root.glob("benchmarks/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "step":
                receiver = ast.unparse(node.func.value)
                if "optim" in receiver or "scaler" in receiver:
                    stepping.add(f"{path.relative_to(root).as_posix()}:{receiver}")
    assert stepping == {"brainclf_lib/training/step.py:scaler"}, stepping
    import inspect

    assert "training_step(" in inspect.getsource(training.train_epoch)


def test_accumulation_steps_on_the_epochs_last_short_group():
    """Six batches, accumulate 4: two optimiser steps, the second on the mean gradient of the last two batches
    (it used to be wiped by the next epoch's zero_grad)."""
    torch.manual_seed(0)
    batches = [{"image": torch.randn(1, 4), "label": torch.tensor([i % 3]), "subject_id": [f"s{i}"]} for i in range(6)]
    model = torch.nn.Linear(4, 3)
    reference = torch.nn.Linear(4, 3)
    reference.load_state_dict(model.state_dict())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    seen = []
    optimizer.register_step_pre_hook(lambda opt, args, kwargs: seen.append(model.weight.grad.clone()))
    stats = training.train_epoch(model, batches, torch.nn.CrossEntropyLoss(), optimizer, accumulate=4)
    assert stats.steps == 6 and len(seen) == 2

    def mean_gradient(group):
        reference.zero_grad()
        for batch in group:
            (torch.nn.functional.cross_entropy(reference(batch["image"]), batch["label"]) / len(group)).backward()
        return reference.weight.grad.clone()

    first = mean_gradient(batches[:4])
    assert torch.allclose(seen[0], first, atol=1e-6)
    with torch.no_grad():
        for parameter in reference.parameters():
            parameter -= 0.5 * parameter.grad
    assert torch.allclose(seen[1], mean_gradient(batches[4:]), atol=1e-6)
    assert torch.allclose(model.weight, reference.weight - 0.5 * reference.weight.grad, atol=1e-6)


def test_the_resume_promise_is_made_for_the_cpu_only():
    """cuDNN's 3D convolution backward is not deterministic: every paragraph promising that a resumed run ends with
    an uninterrupted one's weights says it holds on the CPU."""
    from brainclf_lib.experiment import run_folder

    root = Path(training.__file__).parents[2]
    notebook = json.loads((root / "notebooks" / "04_train.ipynb").read_text())
    texts = {"README.md": (root / "README.md").read_text(), "training/loop.py": training.__doc__,
             "ResumeState": run_folder.ResumeState.__doc__,
             "04_train": "\n\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown")}
    promises = 0
    for name, text in texts.items():
        for paragraph in text.split("\n\n"):
            flat = " ".join(paragraph.split())
            if "resume" in flat and ("same weights" in flat or "uninterrupted run ends with" in flat):
                promises += 1
                assert "CPU" in flat, f"{name}: {flat[:200]}"
    assert promises >= 4
