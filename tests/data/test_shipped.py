"""The shipped cohorts: the ones the fast preset reads, installed as shipped, and still what the generator writes."""

import multiprocessing
import shutil
import tarfile
from dataclasses import asdict
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from brainclf_lib.conventions import IXI_ROOT_NAME
from brainclf_lib.data import shipped
from brainclf_lib.data.cohorts import dataset_folder, preprocess_settings, synthetic_folder
from brainclf_lib.data.prepare import read_manifest
from brainclf_lib.data.preprocessing import load_volume, preprocessing_steps, save_volume
from brainclf_lib.data.scan_on_read import write_when_read
from brainclf_lib.data.shipped import SHIPPED_DIR, install_shipped, ship_cohort, shipped_archive
from brainclf_lib.data.source import source_cohort_config
from brainclf_lib.data.step import prepare_data
from brainclf_lib.data.synthetic import CohortSpec
from brainclf_lib.data.synthetic.cohort import GENERATOR_VERSION
from brainclf_lib.errors import BadInputError
from brainclf_lib.evaluation.common_test import common_test_config
from brainclf_lib.experiment.config import ExperimentConfig, make_config
from brainclf_lib.files import write_json

FAST = make_config("fast")
SMOKE = make_config("smoke")


def test_the_shipped_cohorts_are_the_ones_make_demo_and_the_smoke_tests_read():
    """A generator or preprocessing change renames the cohorts the presets ask for: ``make cohorts`` then."""
    presets = (FAST, SMOKE)
    wanted = {shipped_archive(c).name for p in presets for c in (p, source_cohort_config(p), common_test_config(p))}
    assert {path.name for path in SHIPPED_DIR.glob("*.tar.xz")} == wanted


def test_the_fast_cohort_installs_as_shipped_and_its_scans_are_what_the_generator_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINCLF_DATA", str(tmp_path))
    folder = prepare_data(FAST, verbose=False)
    manifest = read_manifest(folder)
    assert manifest["label"].value_counts().to_dict() == {"HGG": 24, "LGG": 24, "Healthy": 24}
    assert all(map(_is_file, manifest["image_t1ce"])) and not any(map(_is_file, manifest["original_path"]))
    assert all(Path(path).is_relative_to(synthetic_folder(FAST)) for path in manifest["original_path"])
    assert (synthetic_folder(FAST) / "subjects.csv").is_file()  # what each subject was drawn as ships too
    for label, strip in (("HGG", False), ("Healthy", True)):  # a tumour, and a head through deepbet
        row = manifest[manifest["label"] == label].iloc[0]
        scan = load_volume(row["original_path"])  # generated now, as generate_cohort writes it
        *_, (_, again) = preprocessing_steps({"t1ce": scan}, preprocess_settings(FAST), strip_skull=strip,
                                             mask_cache=tmp_path / "masks")
        save_volume(again["t1ce"], tmp_path / f"{label}.nii")
        np.testing.assert_allclose(_array(tmp_path / f"{label}.nii"), _array(row["image_t1ce"]), atol=1e-4)


def test_a_shipped_cohort_round_trips_and_ships_the_same_bytes_twice(tiny_synthetic, tmp_path, monkeypatch):
    config = ExperimentConfig(n_per_class=1, synthetic_seed=3, spacing=8.0, input_shape=(16, 24, 20))
    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path / "cohorts")
    monkeypatch.setenv("BRAINCLF_DATA", str(tmp_path / "maker"))
    shutil.copytree(tiny_synthetic, synthetic_folder(config))  # generated once a session: ship prepares it
    archive = ship_cohort(config)
    first = archive.read_bytes()
    assert ship_cohort(config).read_bytes() == first  # no times or owners in it: git stores it once
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert not [name for name in names if name.endswith(".nii.gz")]  # prepared volumes only, no 1 mm scan
    assert not dataset_folder(config).exists()  # prepared afresh beside, never into the maker's prepared folder

    monkeypatch.setenv("BRAINCLF_DATA", str(tmp_path / "user"))
    assert install_shipped(config) == archive
    manifest = read_manifest(dataset_folder(config))
    assert sorted(manifest["label"]) == ["HGG", "Healthy", "LGG"]
    head = manifest.set_index("label").loc["Healthy", "original_path"]
    original = tiny_synthetic / _relative_to_raw(head, config)
    assert np.array_equal(load_volume(head).data, load_volume(original).data)  # written when read, as generated
    pd.testing.assert_frame_equal(pd.read_csv(synthetic_folder(config) / "subjects.csv"),
                                  pd.read_csv(tiny_synthetic / "subjects.csv"))


def test_an_interrupted_install_is_redone(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINCLF_DATA", str(tmp_path))
    folder = prepare_data(SMOKE, verbose=False)
    volume = Path(read_manifest(folder)["image_t1ce"].iloc[0])
    whole = volume.read_bytes()
    (folder / "manifest.csv").unlink()  # killed mid-install: no manifest yet, a volume half written
    volume.write_bytes(whole[:100])
    assert prepare_data(SMOKE, verbose=False) == folder
    assert volume.read_bytes() == whole and len(read_manifest(folder)) == 12


def test_two_processes_installing_at_once_leave_one_whole_cohort(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINCLF_DATA", str(tmp_path))
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        archives = pool.map(install_shipped, [SMOKE, SMOKE])
    assert archives == [shipped_archive(SMOKE)] * 2
    manifest = read_manifest(dataset_folder(SMOKE))
    assert len(manifest) == 12 and all(_array(path).shape == (20, 24, 16) for path in manifest["image_t1ce"])


def test_a_damaged_archive_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINCLF_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path)
    shipped_archive(SMOKE).write_bytes(b"not an archive")
    with pytest.raises(BadInputError, match=shipped_archive(SMOKE).name):
        install_shipped(SMOKE)


def test_a_missing_scan_of_an_older_generators_cohort_is_not_written_by_this_one(tmp_path):
    write_json(tmp_path / "cohort.json", asdict(CohortSpec(n_per_class=1, generator=GENERATOR_VERSION - 1)))
    scan = tmp_path / IXI_ROOT_NAME / "IXI002-Guys-1000-T1.nii.gz"  # the cohort's first head, by name
    assert write_when_read(scan) == scan and not scan.exists()
    with pytest.raises(BadInputError, match="file does not exist"):
        load_volume(scan)


def test_only_a_synthetic_cohort_ships(tmp_path):
    with pytest.raises(ValueError, match="only a synthetic cohort ships"):
        ship_cohort(FAST.replace(data_root=str(tmp_path)))


def _is_file(path: str) -> bool:
    return Path(path).is_file()


def _array(path) -> np.ndarray:
    return np.asanyarray(nib.load(path).dataobj)


def _relative_to_raw(path: str, config: ExperimentConfig) -> Path:
    return Path(path).relative_to(synthetic_folder(config))
