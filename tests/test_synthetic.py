import hashlib

import nibabel as nib
import numpy as np
import pytest

from brainclf_lib.discovery import discover_brats, discover_ixi
from brainclf_lib.synthetic import CohortSpec, generate_cohort
from brainclf_lib.synthetic.cohort import synthesise_tumour_subject
from brainclf_lib.synthetic.tumours import sample_tumour


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return generate_cohort(tmp_path_factory.mktemp("synth") / "c", CohortSpec(n_per_class=1, seed=3), n_jobs=2)


def test_cohort_uses_the_real_layouts_and_names(cohort):
    brats = discover_brats(cohort / "MICCAI_BraTS_2019_Data_Training", ("t1", "t1ce", "t2", "flair"))
    assert sorted(s.label for s in brats) == ["HGG", "LGG"] and all(s.seg for s in brats)
    ixi = discover_ixi(cohort / "IXI-T1")
    assert [s.images["t1ce"].name for s in ixi] == ["IXI002-Guys-1000-T1.nii.gz"]
    head = nib.load(ixi[0].images["t1ce"])
    assert head.shape == (256, 256, 150) and nib.aff2axcodes(head.affine) == ("P", "S", "R")
    assert np.allclose(head.header.get_zooms(), (0.9375, 0.9375, 1.2))
    t1ce = nib.load(brats[0].images["t1ce"])
    assert t1ce.shape == (240, 240, 155) and nib.aff2axcodes(t1ce.affine) == ("L", "P", "S")


def test_seg_holds_the_brats_labels(cohort):
    for subject in discover_brats(cohort / "MICCAI_BraTS_2019_Data_Training"):
        labels = set(np.unique(np.asanyarray(nib.load(subject.seg).dataobj)).tolist())
        assert labels <= {0, 1, 2, 4} and {0, 1} <= labels


def test_generation_is_deterministic(cohort, tmp_path):
    again = generate_cohort(tmp_path / "again", CohortSpec(n_per_class=1, seed=3), n_jobs=1)
    for path in sorted(cohort.rglob("*.nii.gz")):
        copy = again / path.relative_to(cohort)
        assert _digest(np.asanyarray(nib.load(path).dataobj)) == _digest(np.asanyarray(nib.load(copy).dataobj))


def test_hgg_enhances_more_than_lgg_on_t1ce():
    def enhancement(grade, seed):
        arrays = synthesise_tumour_subject(grade, np.random.default_rng(seed), 0.5)
        tumour = np.isin(arrays["seg"], (1, 4))
        brain = (arrays["t1ce"] > 0) & (arrays["seg"] == 0)
        return arrays["t1ce"][tumour].astype(float).max() / np.median(arrays["t1ce"][brain])

    hgg = [enhancement("HGG", s) for s in range(3)]
    lgg = [enhancement("LGG", s) for s in range(3)]
    assert np.mean(hgg) > np.mean(lgg) * 1.15


def test_lgg_and_hgg_overlap_at_the_default_difficulty():
    rng = np.random.default_rng(0)
    hgg = [sample_tumour("HGG", rng, 0.5) for _ in range(200)]
    lgg = [sample_tumour("LGG", rng, 0.5) for _ in range(200)]
    assert 0.1 < np.mean([t.enhancement > 0 for t in lgg]) < 0.5  # some LGG enhance faintly
    assert 0.1 < np.mean([t.necrosis == 0 for t in hgg]) < 0.5  # some HGG are small and solid
    assert max(t.radius for t in lgg) > min(t.radius for t in hgg)
    easy = [sample_tumour("LGG", rng, 0.0) for _ in range(50)]
    assert all(t.enhancement == 0 for t in easy)


def test_another_spec_in_the_same_folder_is_refused(cohort):
    with pytest.raises(FileExistsError, match="another spec"):
        generate_cohort(cohort, CohortSpec(n_per_class=2, seed=3))


def _digest(array: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest()
