import argparse
import functools
import json
import subprocess
import sys

import nibabel as nib
import numpy as np

from brainclf_lib import cli
from brainclf_lib.cli import _parser, main
from brainclf_lib.replication.replicate import replicate
from brainclf_lib.training.loop import fit
from brainclf_lib.training.source_task import make_source_weights


def _brainclf(*args):
    return subprocess.run([sys.executable, "-m", "brainclf_lib", *args], capture_output=True, text=True, timeout=300)


def test_help_documents_every_option():
    result = _brainclf("train", "--help")
    assert result.returncode == 0
    for option in ("--arch", "--pretrained", "--fold", "--epochs", "--lr", "--weight-decay", "--resume", "--amp"):
        assert option in result.stdout
    assert _brainclf("train", "--arch").returncode == 2


def test_predict_any_orientation_and_voxel_size(tiny_config, tmp_path, raw_cohort, capsys):
    run = fit(tiny_config.replace(epochs=1), progress=False)
    brats, _ = raw_cohort
    source = next((brats / "HGG").glob("*/*_t1ce.nii.gz"))
    image = nib.load(source)
    # the same scan stored sagittal (PSR) at 0.9 x 0.9 x 1.3 mm
    data = np.transpose(np.asanyarray(image.dataobj), (1, 2, 0))[::-1]
    affine = np.array([[0, 0, 1.3, 0], [-0.9, 0, 0, 0], [0, 0.9, 0, 0], [0, 0, 0, 1]])
    sagittal = tmp_path / "sagittal.nii.gz"
    nib.save(nib.Nifti1Image(data, affine), sagittal)
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not a nifti")
    code = main(["predict", "--run", str(run.folder), str(source), str(broken), str(sagittal)])
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and len(lines) == 2 and str(broken) in err
    assert lines[1]["scan"] == str(sagittal) and lines[1]["label"] in ("Healthy", "LGG", "HGG")
    assert abs(sum(lines[1]["probabilities"].values()) - 1) < 1e-4


#: The names of the arguments that take a file or folder, and (some of) the commands that have each (``--data-root``,
#: ``--output-dir`` and ``--pretrained`` on every command that takes a configuration).
PATH_DESTS = ("out", "brats", "ixi", "run", "runs", "manifest", "output_dir", "data_root", "pretrained", "work",
              "executed", "solutions", "nbgrader")
CONFIGURED = ("data", "train", "replicate", "protocols", "calibrate", "source")
EXPECTED_PATHS = {"synth": {"out"}, "prepare": {"brats", "ixi", "out"}, "evaluate": {"run"}, "status": {"output_dir"},
                  "predict": {"run"}, "notebooks": {"out"}, "expectations": {"work", "out"},
                  "book": {"executed", "solutions", "out"}, "course": {"nbgrader", "output_dir"},
                  **{command: {"data_root", "output_dir", "pretrained"} for command in CONFIGURED}}


def _commands() -> dict[str, argparse.ArgumentParser]:
    return next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)).choices


def _typing(parser: argparse.ArgumentParser, action: argparse.Action) -> list[str]:
    """A command line that types ``action``'s path, with whatever else the command requires."""
    chosen = [action, *(a for a in parser._actions if a.required and a is not action)]
    chosen += [group._group_actions[0] for group in parser._mutually_exclusive_groups
               if group.required and action not in group._group_actions]
    return [arg for a in chosen for arg in (*a.option_strings[:1], f"typed/{a.dest}")]


def test_every_path_option_is_relative_to_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = {}
    for command, parser in _commands().items():
        actions = [a for a in parser._actions if a.dest in PATH_DESTS and a.nargs != 0]  # not notebooks' flag --solutions
        for action in actions:
            args = parser.parse_args(_typing(parser, action))
            assert getattr(args, action.dest) == str(tmp_path / "typed" / action.dest), (command, action.dest)
        found[command] = {a.dest for a in actions}
    assert all(expected <= found[command] for command, expected in EXPECTED_PATHS.items()), found
    # the words that are not paths, and the defaults nobody typed, are left as they are
    args = _commands()["replicate"].parse_args(["--data-root", "synthetic"])
    assert (args.data_root, args.pretrained, args.output_dir) == ("synthetic", "kinetics400", None)
    for word in ("kinetics400", "none", "None"):
        assert _commands()["train"].parse_args(["--pretrained", word]).pretrained == word
    assert _commands()["notebooks"].parse_args([]).out == "runs/notebooks"
    assert _commands()["train"].parse_args(["--pretrained", "~/w.pt"]).pretrained.startswith("/")


def test_source_then_replicate_from_another_folder_find_the_same_weights(tiny_config, tmp_path, monkeypatch, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for name, function in (("make_source_weights", make_source_weights), ("replicate", replicate)):
        monkeypatch.setattr(cli, name, functools.partial(function, archs=("r3d",)))  # one architecture: seconds
    options = ["--preset", "smoke", "--data-root", tiny_config.data_root, "--spacing", str(tiny_config.spacing),
               "--input-shape", *map(str, tiny_config.input_shape), "--skull-strip", "none", "--num-workers", "0",
               "--output-dir", "runs", "--quiet"]
    assert main(["source", *options, "--out", "sources", "--source-epochs", "1"]) == 0
    assert list((elsewhere / "sources").glob("r3d_18*.pt"))
    capsys.readouterr()
    # the grid loads every source's weights before it lists its array (nothing trained, nothing submitted)
    code = main(["replicate", *options, "--pretrained", "sources", "--launcher", "slurm", "--dry-run"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "A job array of 6 tasks" in out and out.count(" pretrained ") == 3
