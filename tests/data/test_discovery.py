import pytest

from brainclf_lib.data.discovery import discover_brats, discover_ixi, find_brats_root, sample_healthy
from brainclf_lib.errors import BadInputError

from ..conftest import brats_subject


def test_brats_subjects_and_labels_are_found(raw_cohort):
    brats, _ = raw_cohort
    subjects = discover_brats(brats, ("t1ce", "flair"))
    assert len(subjects) == 8
    assert {s.label for s in subjects} == {"HGG", "LGG"}
    first = next(s for s in subjects if s.subject_id == "BraTS19_TCIA01_100_1")
    assert first.label == "HGG" and first.images["t1ce"].name == "BraTS19_TCIA01_100_1_t1ce.nii.gz"
    assert first.seg.name == "BraTS19_TCIA01_100_1_seg.nii.gz"


def test_brats_root_given_one_level_up_or_down(raw_cohort):
    brats, _ = raw_cohort
    assert find_brats_root(brats.parent) == brats
    assert find_brats_root(brats / "HGG") == brats


def test_ixi_t1_scans_are_found_and_other_files_ignored(raw_cohort):
    _, ixi = raw_cohort
    subjects = discover_ixi(ixi, "t1ce")
    assert len(subjects) == 6
    assert subjects[0].subject_id == "IXI002-Guys-1000" and subjects[0].label == "Healthy"
    assert all(s.images["t1ce"].name.endswith("-T1.nii.gz") for s in subjects)
    assert {s.site for s in subjects} == {"Guys", "HH", "IOP"}
    with pytest.raises(BadInputError, match="FLAIR|flair"):
        discover_ixi(ixi, "flair")


def test_healthy_sampling_is_seeded(raw_cohort):
    subjects = discover_ixi(raw_cohort[1])
    a, b = sample_healthy(subjects, 3, seed=1), sample_healthy(subjects, 3, seed=1)
    assert [s.subject_id for s in a] == [s.subject_id for s in b] and len(a) == 3
    assert len({tuple(s.subject_id for s in sample_healthy(subjects, 3, seed)) for seed in range(6)}) > 1
    assert len(sample_healthy(subjects, 100)) == 6


def test_empty_and_unrecognised_folders_say_what_was_expected(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInputError, match="HGG"):
        discover_brats(tmp_path / "empty")
    with pytest.raises(BadInputError, match=r"IXI002-Guys-0828-T1\.nii\.gz"):
        discover_ixi(tmp_path / "empty")
    with pytest.raises(BadInputError, match="does not exist"):
        discover_ixi(tmp_path / "nowhere")


def test_a_subject_missing_the_contrast_is_named(tmp_path):
    import numpy as np

    root = tmp_path / "MICCAI_BraTS_2019_Data_Training"
    folder = brats_subject(root, "LGG", "BraTS19_2013_9_1", np.random.default_rng(0), contrasts=("t1", "t2"))
    with pytest.raises(BadInputError, match=f"{folder}.*BraTS19_2013_9_1_t1ce"):
        discover_brats(root)
