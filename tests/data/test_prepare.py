import nibabel as nib
import numpy as np
import pytest

from brainclf_lib.data.prepare import prepare, read_manifest
from brainclf_lib.errors import BadInputError

from ..conftest import BRATS_AFFINE, TINY, brats_subject, save


def test_manifest_rows_and_columns(prepared):
    manifest = read_manifest(prepared)
    assert len(manifest) == 12
    assert manifest["label"].value_counts().to_dict() == {"HGG": 4, "LGG": 4, "Healthy": 4}
    healthy = manifest[manifest["label"] == "Healthy"].iloc[0]
    assert healthy["source"] == "IXI" and healthy["original_spacing"] == "0.9375x0.9375x1.2"
    assert healthy["original_orientation"] == "PSR" and healthy["original_shape"] == "56x56x40"
    hgg = manifest[manifest["label"] == "HGG"].iloc[0]
    assert hgg["original_orientation"] == "LPS" and hgg["seg"].endswith("_seg.nii")


def test_preprocessed_volumes_have_the_spacing_shape_orientation_and_range(prepared):
    for path in read_manifest(prepared)["image_t1ce"]:
        image = nib.load(path)
        data = image.get_fdata()
        assert image.shape == (16, 16, 12)  # (x, y, z) = (W, H, D)
        assert np.allclose(image.header.get_zooms(), 3.0)
        assert nib.aff2axcodes(image.affine) == ("R", "A", "S")
        assert data.min() >= 0 and data.max() <= 1 and data.max() > 0.9


def test_percentile_normalisation_clips_outliers(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "MICCAI_BraTS_2019_Data_Training"
    folder = brats_subject(root, "HGG", "BraTS19_CBICA_AAA_1", rng, contrasts=("t1ce",))
    image = nib.load(folder / "BraTS19_CBICA_AAA_1_t1ce.nii.gz")
    data = np.asanyarray(image.dataobj).astype(np.int16)
    data[24, 26, 18] = 30000  # one hot voxel must not squash the rest into black
    save(folder / "BraTS19_CBICA_AAA_1_t1ce.nii.gz", data, BRATS_AFFINE)
    prepare(tmp_path / "out", brats=root, settings=TINY, n_jobs=1)
    volume = nib.load(read_manifest(tmp_path / "out")["image_t1ce"][0]).get_fdata()
    brain = volume > 0.01  # anti-aliased resampling leaves a faint halo of near-zero values around the brain
    assert np.median(volume[brain]) > 0.1


def test_a_prepared_subject_is_not_prepared_again(prepared, raw_cohort):
    path = read_manifest(prepared)["image_t1ce"][0]
    before = (path, nib.load(path).get_fdata().sum(), __import__("os").stat(path).st_mtime_ns)
    prepare(prepared, brats=raw_cohort[0], ixi=raw_cohort[1], n_healthy=4, settings=TINY, n_jobs=1)
    assert __import__("os").stat(path).st_mtime_ns == before[2]


@pytest.mark.parametrize("problem", ["corrupt", "4d", "not_nifti"])
def test_bad_input_names_the_file_and_keeps_what_was_prepared(tmp_path, problem):
    rng = np.random.default_rng(0)
    root = tmp_path / "MICCAI_BraTS_2019_Data_Training"
    brats_subject(root, "HGG", "BraTS19_TCIA02_001_1", rng, contrasts=("t1ce",))
    out = tmp_path / "out"
    prepare(out, brats=root, settings=TINY, n_jobs=1)
    manifest_before = (out / "manifest.csv").read_text()
    bad = root / "LGG" / "BraTS19_TCIA02_002_1" / "BraTS19_TCIA02_002_1_t1ce.nii.gz"
    bad.parent.mkdir(parents=True)
    if problem == "corrupt":
        bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
        expected = "cannot be read"
    elif problem == "4d":
        save(bad, np.zeros((8, 8, 8, 3), np.int16), BRATS_AFFINE)
        expected = "expected a 3D volume"
    else:
        bad.write_text("hello")
        expected = "cannot be read"
    with pytest.raises(BadInputError, match=f"{bad}.*{expected}|{expected}"):
        prepare(out, brats=root, settings=TINY, n_jobs=1)
    assert (out / "manifest.csv").read_text() == manifest_before
    assert not list(out.rglob("*.tmp*"))


def test_a_trailing_axis_of_length_one_is_fine(tmp_path):
    root = tmp_path / "MICCAI_BraTS_2019_Data_Training"
    folder = brats_subject(root, "HGG", "BraTS19_TCIA03_001_1", np.random.default_rng(0), contrasts=("t1ce",))
    path = folder / "BraTS19_TCIA03_001_1_t1ce.nii.gz"
    save(path, np.asanyarray(nib.load(path).dataobj)[..., None], BRATS_AFFINE)
    prepare(tmp_path / "out", brats=root, settings=TINY, n_jobs=1)
    assert nib.load(read_manifest(tmp_path / "out")["image_t1ce"][0]).ndim == 3


def test_prepare_needs_a_source(tmp_path):
    with pytest.raises(ValueError, match="BraTS folder, an IXI folder"):
        prepare(tmp_path)
