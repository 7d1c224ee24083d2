"""Small files in the real BraTS 2019 and IXI layouts, orientations and voxel sizes, written per test session."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from brainclf_lib.data.prepare import prepare
from brainclf_lib.data.preprocessing import PreprocessSettings
from brainclf_lib.data.step import prepare_data
from brainclf_lib.data.synthetic import CohortSpec, generate_cohort
from brainclf_lib.experiment.config import ExperimentConfig

BRATS_AFFINE = np.diag([-1.0, -1.0, 1.0, 1.0])  # LPS, 1 mm, as BraTS ships
IXI_AFFINE = np.array([[0, 0, 1.2, 0], [-0.9375, 0, 0, 0], [0, 0.9375, 0, 0], [0, 0, 0, 1]])  # PSR, sagittal
TINY = PreprocessSettings(spacing=3.0, input_shape=(12, 16, 16), skull_strip="none")


def save(path: Path, array: np.ndarray, affine: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, affine), path)
    return path


def ellipsoid(shape: tuple[int, ...], radii: tuple[float, ...], centre: tuple[float, ...] | None = None) -> np.ndarray:
    centre = centre or tuple((s - 1) / 2 for s in shape)
    grid = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii, strict=False)) <= 1


def brats_subject(root: Path, grade: str, subject: str, rng: np.random.Generator, contrasts=("t1", "t1ce", "t2", "flair")) -> Path:
    shape = (48, 52, 36)
    brain = ellipsoid(shape, (20, 23, 15))
    tumour = ellipsoid(shape, (6, 6, 5), (18 + rng.integers(-3, 4), 26, 18))
    folder = root / grade / subject
    for contrast in contrasts:
        image = brain * (500 + 50 * rng.standard_normal(shape))
        image[tumour] = 1400 if grade == "HGG" else 700
        save(folder / f"{subject}_{contrast}.nii.gz", image.astype(np.int16), BRATS_AFFINE)
    seg = np.where(tumour, 4 if grade == "HGG" else 1, 0).astype(np.uint8)
    save(folder / f"{subject}_seg.nii.gz", seg, BRATS_AFFINE)
    return folder


def ixi_scan(folder: Path, name: str, rng: np.random.Generator, contrast: str = "T1") -> Path:
    shape = (56, 56, 40)  # (A-P, S-I, L-R) sagittal
    head = ellipsoid(shape, (26, 26, 18))
    brain = ellipsoid(shape, (20, 20, 13))
    image = head * 300.0 + brain * (300 + 40 * rng.standard_normal(shape)) + 5 * np.abs(rng.standard_normal(shape))
    return save(folder / f"{name}-{contrast}.nii.gz", image.astype(np.int16), IXI_AFFINE)


def write_raw_cohort(root: Path, n_per_class: int = 4, seed: int = 0) -> tuple[Path, Path]:
    """``root/MICCAI_BraTS_2019_Data_Training`` and ``root/IXI``, with the distractors real downloads hold."""
    rng = np.random.default_rng(seed)
    brats = root / "MICCAI_BraTS_2019_Data_Training"
    for i in range(n_per_class):
        brats_subject(brats, "HGG", f"BraTS19_TCIA01_{100 + i}_1", rng)
        brats_subject(brats, "LGG", f"BraTS19_2013_{i}_1", rng)
    (brats / "name_mapping.csv").write_text("Grade,BraTS_2019_subject_ID\n")
    ixi = root / "IXI"
    sites = ("Guys", "HH", "IOP")
    for i in range(n_per_class + 2):
        name = f"IXI{i + 2:03d}-{sites[i % 3]}-{1000 + i:04d}"
        ixi_scan(ixi, name, rng)
        ixi_scan(ixi, name, rng, contrast="T2")
    (ixi / "IXI.xls").write_bytes(b"not a scan")
    return brats, ixi


@pytest.fixture(scope="session")
def raw_cohort(tmp_path_factory) -> tuple[Path, Path]:
    return write_raw_cohort(tmp_path_factory.mktemp("raw"))


@pytest.fixture(scope="session")
def prepared(raw_cohort, tmp_path_factory) -> Path:
    brats, ixi = raw_cohort
    out = tmp_path_factory.mktemp("prepared")
    prepare(out, brats=brats, ixi=ixi, n_healthy=4, settings=TINY, n_jobs=1)
    return out


@pytest.fixture()
def tiny_config(prepared, tmp_path) -> ExperimentConfig:
    """A two-epoch r3d run on the tiny prepared cohort, its data step done."""
    config = ExperimentConfig(
        arch="r3d_18", data_root=str(prepared), spacing=TINY.spacing, input_shape=TINY.input_shape,
        skull_strip="none", epochs=2, lr=1e-4, num_workers=0, val_fraction=0.0, output_dir=str(tmp_path / "runs"),
        augmentation="light", preset="test",
    )
    prepare_data(config, verbose=False)
    return config


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory) -> Path:
    """A synthetic cohort of one subject a class (seed 3), generated once a session; tests never write into it."""
    return generate_cohort(tmp_path_factory.mktemp("synth") / "n1-d0-s3", CohortSpec(n_per_class=1, seed=3), n_jobs=2)


@pytest.fixture(scope="session")
def smoke_data(tmp_path_factory):
    """One data folder (``$BRAINCLF_DATA``) for every test that executes notebooks with the smoke preset: its
    cohort is generated once, by whichever runs first."""
    return tmp_path_factory.mktemp("smoke-data")
