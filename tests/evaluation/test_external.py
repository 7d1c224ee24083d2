import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

import brainclf_lib.data.preprocessing as preprocessing
import brainclf_lib.evaluation.external as external
from brainclf_lib.cli import _parser, main
from brainclf_lib.data.preprocessing import PreprocessSettings
from brainclf_lib.data.step import prepare_data
from brainclf_lib.errors import ManifestError
from brainclf_lib.evaluation.external import CALLS, REAL_MANIFEST, SUMMARY, read_scan_manifest, validate_runs
from brainclf_lib.evaluation.inference import preprocess_scan, scan_settings
from brainclf_lib.experiment.config import PRESETS, ExperimentConfig
from brainclf_lib.training.loop import fit

from ..conftest import TINY

SMOKE = PreprocessSettings(PRESETS["smoke"]["spacing"], PRESETS["smoke"]["input_shape"], "deepbet")
HEAD, BRAIN = REAL_MANIFEST.parent / "ixi" / "IXI012-HH-1211_T1.nii.gz", REAL_MANIFEST.parent / "tcga_du_7294_t1c_bet.nii.gz"


@pytest.fixture(scope="module")
def grid(prepared, tmp_path_factory):
    """Two one-step runs (folds 0 and 1) of one experiment in one folder, as ``replicate`` leaves a grid."""
    config = ExperimentConfig(arch="r3d_18", data_root=str(prepared), spacing=TINY.spacing, input_shape=TINY.input_shape,
                              skull_strip="none", epochs=1, max_steps_per_epoch=1, batch_size=2, num_workers=0,
                              val_fraction=0.0, output_dir=str(tmp_path_factory.mktemp("grid")), preset="test")
    prepare_data(config, verbose=False)
    return [fit(config.replace(fold=fold), progress=False) for fold in (0, 1)]


def _threshold_mask(image, method, cache_dir=None, stripped=None):
    """deepbet's stand-in (2 to 19 s a head on a 2-core CPU, idle or shared): a threshold mask; ``stripped`` records the scans."""
    if stripped is not None:
        stripped.append(image.path.name)
    return (image.data[0] > image.data.mean())[None]


@pytest.fixture()
def fake_stripper(monkeypatch):
    stripped = []
    monkeypatch.setattr(preprocessing, "skull_strip_mask", lambda *a: _threshold_mask(*a, stripped=stripped))
    return stripped


@pytest.fixture(scope="module")
def served(grid):
    """The real scans preprocessed once, as the grid's runs read them: validate's tests are served from here
    (twelve scans take 10 to 30 s on a shared 2-core CPU, most of it resampling the two 1 mm tumour scans)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(preprocessing, "skull_strip_mask", _threshold_mask)
        settings = scan_settings(grid[0].config)
        return {path: preprocess_scan(path, settings, "auto") for path in read_scan_manifest(REAL_MANIFEST)["path"]}


@pytest.fixture()
def preprocessed(served, monkeypatch):
    """Every scan ``validate`` preprocesses, in order, served from :func:`served`."""
    seen = []
    monkeypatch.setattr(external, "preprocess_scan", lambda path, settings, mode, cache: seen.append(path) or served[path])
    return seen


def test_the_manifest_describes_its_scans_and_every_scan_preprocesses_at_the_smoke_shape(fake_stripper):
    manifest = read_scan_manifest(REAL_MANIFEST)
    assert len(manifest) == 12 and manifest["label"].value_counts().to_dict() == {"Healthy": 10, "LGG": 1, "HGG": 1}
    assert (REAL_MANIFEST.parent / "SOURCES.md").is_file()  # the attribution stays beside the files
    for row in manifest.itertuples():
        header = nib.load(row.path)
        assert row.shape == "x".join(map(str, header.shape))
        assert row.voxel_size == "x".join(repr(round(float(z), 4)) for z in header.header.get_zooms())
        image, skull = preprocess_scan(row.path, SMOKE, "auto")
        assert tuple(image.spatial_shape) == SMOKE.tio_shape and 0 <= image.data.min() <= image.data.max() <= 1
        assert skull.strip == (row.skull_stripped == "false")
    assert sorted(fake_stripper) == sorted(f.split("/")[1] for f in manifest["file"] if f.startswith("ixi/"))


def test_validate_a_grid_preprocesses_each_scan_once_and_scores_every_run(grid, tmp_path, preprocessed):
    assert main(["validate", "--runs", str(grid[0].folder.parent), "--out", str(tmp_path), "--quiet"]) == 0
    calls, summary = pd.read_csv(tmp_path / CALLS), pd.read_csv(tmp_path / SUMMARY)
    assert len(preprocessed) == 12  # once per scan for both runs: they share their preprocessing
    assert len(calls) == 24 and set(calls["run"]) == {run.name for run in grid}
    assert {"arch", "init", "fold", "file", "label", "pred", "p_Healthy", "p_LGG", "p_HGG", "skull_check",
            "skull_score", "skull_stripped"} <= set(calls.columns)
    assert (calls["skull_stripped"] == (calls["label"] == "Healthy")).all()
    assert {"sensitivity", "specificity", "f1_Healthy", "f1_LGG", "f1_HGG", "accuracy", "macro_f1", "confusion"} <= set(summary)
    assert all(np.sum(json.loads(c)) == 12 for c in summary["confusion"]) and list(summary["n"]) == [12, 12]


def test_validate_one_run_writes_twelve_calls(grid, tmp_path, preprocessed):
    calls, summary = validate_runs(grid[0].folder, REAL_MANIFEST, tmp_path, device="cpu")
    assert len(pd.read_csv(tmp_path / CALLS)) == 12 and len(summary) == 1
    healthy = calls["label"] == "Healthy"
    assert summary.loc[0, "specificity"] == pytest.approx((calls[healthy]["pred"] == "Healthy").mean())
    assert summary.loc[0, "sensitivity"] == pytest.approx((calls[~healthy]["pred"] != "Healthy").mean())


def test_auto_strips_a_real_head_with_deepbet_and_leaves_a_stripped_scan_alone(tmp_path, monkeypatch):
    pytest.importorskip("deepbet")
    image, skull = preprocess_scan(HEAD, SMOKE, "auto", mask_cache=tmp_path)
    unstripped, _ = preprocess_scan(HEAD, SMOKE, "no")
    assert skull.as_fields()["skull_check"] == "skull" and skull.strip and list(tmp_path.rglob("*.nii.gz"))
    assert (image.data > 0).sum() < 0.8 * (unstripped.data > 0).sum()  # the scalp and skull are gone
    monkeypatch.setattr(preprocessing, "skull_strip_mask", lambda *a, **k: pytest.fail("a stripped scan was stripped"))
    _, skull = preprocess_scan(BRAIN, SMOKE, "auto")
    assert skull.found == "stripped" and not skull.strip


def test_predict_reports_the_skull_decision(grid, capsys):
    assert main(["predict", "--run", str(grid[0].folder), str(BRAIN)]) == 0
    call = json.loads(capsys.readouterr().out)
    assert call["skull_check"] == "stripped" and call["skull_stripped"] is False and call["skull_score"] < 0.12


def test_skull_strip_takes_a_mode_and_alone_still_means_yes():
    parse = _parser().parse_args
    assert parse(["predict", "--run", "r", "a.nii"]).skull_strip == "auto"
    assert parse(["validate", "--run", "r", "--skull-strip", "never"]).skull_strip == "no"
    old = parse(["predict", "--run", "r", "--skull-strip", "a.nii", "b.nii"])  # the boolean flag of earlier versions
    assert old.skull_strip == "yes" and [*old.stray_scans, *old.scans] == ["a.nii", "b.nii"]


def _manifest(folder, rows, columns=("file", "label")):
    path = folder / "manifest.csv"
    pd.DataFrame(rows, columns=list(columns)).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("problem", ["missing file", "bad label", "4D", "2D", "missing column"])
def test_bad_manifests_are_refused_by_name_and_nothing_written_is_lost(problem, grid, tmp_path, capsys):
    scans = {"4D": np.zeros((8, 8, 8, 3), np.int16), "2D": np.zeros((8, 8), np.int16)}
    for name, array in scans.items():
        nib.save(nib.Nifti1Image(array, np.eye(4)), tmp_path / f"{name}.nii.gz")
    bad = {"missing file": ("gone.nii.gz", "LGG"), "bad label": (str(BRAIN), "GBM"), "4D": ("4D.nii.gz", "HGG"),
           "2D": ("2D.nii.gz", "HGG"), "missing column": (str(BRAIN),)}[problem]
    columns = ("file",) if problem == "missing column" else ("file", "label")
    manifest = _manifest(tmp_path, [(str(HEAD), "Healthy")[: len(columns)], bad], columns)
    out = tmp_path / "out"
    out.mkdir()
    (out / CALLS).write_text("an earlier validation\n")
    expected = "no column label" if problem == "missing column" else f"line 3 \\(file '{bad[0]}'\\)"
    with pytest.raises(ManifestError, match=f"{manifest}.*{expected}"):
        validate_runs(grid[0].folder, manifest, out)
    assert main(["validate", "--run", str(grid[0].folder), "--manifest", str(manifest), "--out", str(out)]) == 1
    assert str(manifest) in capsys.readouterr().err
    assert (out / CALLS).read_text() == "an earlier validation\n" and not (out / SUMMARY).exists()
