"""A run folder is one configuration, written whole, readable, locked and lean."""

import os
import stat
import subprocess
import sys
import time

import pytest
import torch

from brainclf_lib.cli import main
from brainclf_lib.errors import BadInputError, RunExistsError, RunLockedError
from brainclf_lib.evaluation.inference import Predictor
from brainclf_lib.evaluation.scoring import evaluate
from brainclf_lib.experiment.config import make_config
from brainclf_lib.experiment.run_folder import Run, differing_settings, find_runs, run_name
from brainclf_lib.files import atomic_write, write_json
from brainclf_lib.replication.replicate import results_table
from brainclf_lib.training.loop import fit


def test_configs_that_differ_only_in_lr_train_two_runs(tiny_config):
    a = fit(tiny_config.replace(epochs=1), progress=False)
    b = fit(tiny_config.replace(epochs=1, lr=3e-4), resume=True, progress=False)
    assert a.folder != b.folder and a.name.split("-")[0] == b.name.split("-")[0] == "r3d_18_scratch_fold0"
    assert (a.config.lr, b.config.lr) == (1e-4, 3e-4)
    assert len(find_runs(tiny_config.output_dir)) == 2
    assert [run.config.lr for run in find_runs(tiny_config.output_dir, like=tiny_config.replace(epochs=1))] == [1e-4]


def test_a_baseline_trained_into_the_same_folder_stays_out_of_the_papers_grid(tiny_config):
    """``lesion_cnn`` differs from the grid's runs only in ``arch``, a grid axis: read as one of the grid, it broke
    06's tables (the paper has no name for it) and would have joined its comparisons."""
    fit(tiny_config.replace(epochs=1), progress=False)
    fit(tiny_config.replace(epochs=1, arch="lesion_cnn"), progress=False)
    like = tiny_config.replace(epochs=1)
    assert [run.config.arch for run in find_runs(like.output_dir, like=like)] == ["r3d_18"]
    with_baseline = find_runs(like.output_dir, like=like.replace(arch="lesion_cnn"))
    assert [run.config.arch for run in with_baseline] == ["lesion_cnn", "r3d_18"]
    assert set(results_table(with_baseline)["model"]) == {"lesion_cnn", "ResNet3D"}  # the paper has no name for it
    assert len(find_runs(like.output_dir)) == 2


def test_a_finished_run_is_reused_never_rewritten(tiny_config):
    config = tiny_config.replace(epochs=1)
    run = fit(config, progress=False)
    stored = {name: run.path(name).read_bytes() for name in (Run.CONFIG, Run.BEST, Run.METRICS)}
    times = {name: run.path(name).stat().st_mtime_ns for name in stored}
    again = fit(config.replace(device="cpu", num_workers=0), resume=True, progress=False)  # where, not what
    assert again.folder == run.folder
    assert {name: run.path(name).read_bytes() for name in stored} == stored
    assert {name: run.path(name).stat().st_mtime_ns for name in stored} == times
    with pytest.raises(RunExistsError, match="finished run.*resume=True.*overwrite=True"):
        fit(config, progress=False)


def test_a_folder_holding_other_settings_is_refused_by_name(tiny_config):
    config = tiny_config.replace(epochs=1)
    run = fit(config, progress=False)
    edited = config.replace(batch_size=2).to_dict()  # as if the folder had been made by another experiment
    write_json(run.path(Run.CONFIG), edited)
    with pytest.raises(RunExistsError, match=r"other settings \(batch_size: 2 here, 1 asked for\).*new output_dir.*overwrite=True"):
        fit(config, resume=True, progress=False)
    assert differing_settings(run.config, config) == {"batch_size": (2, 1)}
    assert fit(config, overwrite=True, progress=False).config == config


def test_files_are_created_with_the_umask(tiny_config, tmp_path):
    previous = os.umask(0o022)
    try:
        run = fit(tiny_config.replace(epochs=1), progress=False)
        for path in run.folder.iterdir():
            if path.name != Run.LOCK:
                assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name
        os.umask(0o002)
        shared = atomic_write(tmp_path / "report.html", lambda tmp: tmp.write_text("<p>"))
        assert stat.S_IMODE(shared.stat().st_mode) == 0o664
    finally:
        os.umask(previous)


def test_writes_are_durable(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def recording_fsync(descriptor):
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    target = tmp_path / "best.pt"
    atomic_write(target, lambda tmp: tmp.write_bytes(b"weights"))
    assert len(synced) == 2 and ".tmp" in synced[0] and synced[1] == str(tmp_path)  # the file, then its folder
    assert target.read_bytes() == b"weights" and [p.name for p in tmp_path.iterdir()] == ["best.pt"]


HOLDER = """
import sys, time
from brainclf_lib.experiment.run_folder import Run
with Run(sys.argv[1]).lock():
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_second_trainer_on_a_locked_folder_fails_by_name(tiny_config):
    config = tiny_config.replace(epochs=1)
    run = Run.of(config)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run.folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"{run.name} is being trained by process {holder.pid}"):
            fit(config, progress=False)
        assert fit(config.replace(lr=3e-4), progress=False).is_complete  # another run's folder is not locked
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    with pytest.warns(UserWarning, match=f"lock of process {holder.pid}"):  # a dead holder's lock is taken over
        assert fit(config, progress=False).is_complete


def test_a_truncated_checkpoint_is_an_error_naming_it(tiny_config, capsys):
    run = fit(tiny_config.replace(epochs=1), progress=False)
    best = run.path(Run.BEST)
    best.write_bytes(best.read_bytes()[: best.stat().st_size // 3])
    with pytest.raises(BadInputError, match=f"{best}.*not a readable checkpoint"):
        evaluate(run)
    with pytest.raises(BadInputError, match=f"{best}.*not a readable checkpoint"):
        Predictor(run.folder)
    assert main(["evaluate", str(run.folder)]) == 1
    assert str(best) in capsys.readouterr().err


def test_run_names_are_readable_and_digest_the_rest(tiny_config):
    name = run_name(tiny_config.replace(fold=2, pretrained="source/r3d_18.pt"))
    assert name.startswith("r3d_18_pretrained_fold2-") and len(name.split("-")[1]) == 8
    assert run_name(tiny_config) == run_name(tiny_config.replace(device="cpu", num_workers=3, output_dir="elsewhere"))
    for change in ({"lr": 1e-3}, {"epochs": 9}, {"batch_size": 2}, {"augmentation": "none"}, {"spacing": 4.0},
                   {"contrasts": ("t1ce", "flair")}, {"data_root": "synthetic"}, {"synthetic_difficulty": 0.9},
                   {"pretrained": "kinetics400"}, {"stem_init": "rgb_mean"}, {"seed": 1}):
        assert run_name(tiny_config.replace(**change)).split("-")[1] != run_name(tiny_config).split("-")[1], change


def test_runs_of_other_protocols_are_told_apart_not_crashed_on():
    corrected, published = make_config("fast"), make_config("fast", protocol="published-code")
    differing = differing_settings(published, corrected)
    assert differing["split"] == ("random", "kfold") and differing["lr"] == (1e-3, 3e-4)


def test_a_run_is_named_by_its_weights_content_not_their_path(tiny_config, tmp_path):
    """Weights regenerated under the same path are another run; the same weights at another path are the same."""
    path, copy = tmp_path / "source" / "r3d_18.pt", tmp_path / "elsewhere" / "r3d_18.pt"
    path.parent.mkdir()
    copy.parent.mkdir()
    torch.save({"w": torch.zeros(3)}, path)
    first = run_name(tiny_config.replace(pretrained=str(path)))
    copy.write_bytes(path.read_bytes())
    assert run_name(tiny_config.replace(pretrained=str(copy))) == first
    torch.save({"w": torch.ones(3)}, path)
    assert run_name(tiny_config.replace(pretrained=str(path))) != first


def test_a_data_root_is_one_run_however_it_was_typed(tiny_config, monkeypatch, tmp_path):
    """The CLI makes a typed path absolute, a notebook passes it relative: both train (and resume) one run."""
    from brainclf_lib.paths import REPO_ROOT, data_dir

    monkeypatch.setenv("BRAINCLF_DATA", str(tmp_path / "data"))
    inside = data_dir() / "prepared" / "real"
    relative = os.path.relpath(inside, REPO_ROOT)
    assert run_name(tiny_config.replace(data_root=relative)) == run_name(tiny_config.replace(data_root=str(inside)))
    assert run_name(tiny_config.replace(data_root="/a/prepared")) != run_name(tiny_config.replace(data_root="/b/prepared"))


def test_a_figure_names_a_run_without_its_digest(tmp_path):
    """Legends and titles read "mc3_18 pretrained, fold 2", not the folder's name with its settings digest."""
    config = make_config("fast", arch="mc3", fold=2, pretrained="runs/source/mc3_18.pt", output_dir=str(tmp_path))
    run = Run.of(config)
    run.folder.mkdir()
    config.to_json(run.path(Run.CONFIG))
    assert run.label == "mc3_18 pretrained, fold 2" and run.name.startswith("mc3_18_pretrained_fold2-")


def test_loading_a_model_takes_every_weight_from_the_checkpoint_and_no_random_draw(tiny_config):
    run = fit(tiny_config.replace(epochs=1), progress=False)
    torch.manual_seed(0)
    expected_draw = torch.rand(3)
    torch.manual_seed(0)
    model = run.load_model()
    assert torch.equal(torch.rand(3), expected_draw)  # built on the meta device: nothing initialised, then replaced
    stored = run.best_state()["model"]
    assert model.state_dict().keys() == stored.keys()
    assert all(torch.equal(tensor, stored[name]) for name, tensor in model.state_dict().items())
    assert not model.training and all(p.device.type == "cpu" and p.requires_grad for p in model.parameters())
    checkpoint = run.best_state()  # as CUDA training saves it: channels_last_3d weights
    checkpoint["model"] = {name: t.to(memory_format=torch.channels_last_3d) if t.dim() == 5 else t
                           for name, t in checkpoint["model"].items()}
    torch.save(checkpoint, run.path(Run.BEST))
    assert all(tensor.is_contiguous() for tensor in run.load_model().state_dict().values())  # as a fresh model's
