"""``brainclf synth``: write a seeded synthetic cohort in the real BraTS 2019 and IXI layouts.

Taught in ``01_data_exploration``. Tumour subjects are BraTS-like (t1, t1ce, t2, flair and seg, skull-stripped,
240 x 240 x 155 at 1 mm, LPS); healthy subjects are IXI-like T1 heads (skull kept, sagittal, 256 x 256 x 150 at
0.9375 x 0.9375 x 1.2 mm, PSR) from another anatomy and another scanner. That gap is real in the paper's data, and
``healthy_like="brats"`` removes it to show how much of the healthy-vs-tumour score it explains.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ...conventions import BRATS_CONTRASTS, BRATS_GRADES, BRATS_ROOT_NAME, CLASS_TO_INDEX, CLASSES, IXI_ROOT_NAME
from ...files import atomic_write, read_json, write_csv, write_json
from ...paths import PathLike
from .contrasts import compose, scanner, thick_slices
from .templates import mni_tissues, robex_head
from .tumours import compartments, lobe_of, mass_effect_points, sample_tumour, segmentation
from .vessels import normal_enhancement
from .warp import mass_effect, random_affine, sample, smooth_field, world_grid

BRATS_SHAPE = (240, 240, 155)
BRATS_AFFINE = np.array([[-1.0, 0, 0, 119.5], [0, -1.0, 0, 102.5], [0, 0, 1.0, -72.5], [0, 0, 0, 1]])  # LPS, 1 mm
IXI_SHAPE = (256, 256, 150)
IXI_AFFINE = np.array([[0, 0, 1.2, -89.4], [-0.9375, 0, 0, 102.0], [0, 0.9375, 0, -110.0], [0, 0, 0, 1]])  # PSR
#: What each subject was drawn as (site, tumour size, enhancement, lobe, whether it mimics the other grade): the
#: answer key a real cohort lacks, written beside the layouts. Each subject's row is kept in ``drawn/`` until then.
SUBJECTS_TABLE = "subjects.csv"
#: IXI's three hospitals: intensity scale, noise, and a gamma for each scanner's tissue contrast (HH's 3 T the most).
IXI_SITES = {"Guys": (1.00, 0.015, 1.00), "HH": (1.30, 0.025, 1.20), "IOP": (0.80, 0.020, 0.85)}


@dataclass(frozen=True)
class Site:
    """One BraTS contributing centre's protocol: how much its tissues differ, its noise and bias, and the slice
    thickness of its 2D acquisitions (BraTS resampled them all to 1 mm, so thick slices show as blur along z)."""

    tissue_contrast: float
    noise: float
    bias: float
    slice_mm: float


#: BraTS 2019 pooled 19 centres; four protocols span what differs between them.
BRATS_SITES: dict[str, Site] = {
    "A": Site(1.00, 0.012, 0.08, 1.0),  # 3D acquisition, 3 T
    "B": Site(0.80, 0.020, 0.15, 5.0),  # 2D, 5 mm slices, 1.5 T
    "C": Site(1.20, 0.015, 0.10, 3.0),  # 2D, 3 mm slices
    "D": Site(0.90, 0.025, 0.20, 1.5),  # 3D, noisier, stronger bias
}


@dataclass(frozen=True)
class Pose:
    """How far a subject's head differs from the template: rotation (degrees), shift (mm), anisotropic and overall
    size, and elastic shape (mm). BraTS volumes were co-registered to one atlas, so they vary less than IXI's
    unregistered heads, which lie where each was scanned. ``base`` is the template's size relative to a real
    head: MNI152 2009's brain is larger than a subject's, ROBEX's a little smaller; both are brought to one real
    size, so that a brain's size says nothing of its class (in version 4 every tumour brain was larger than every
    healthy one, and real low-grade gliomas were called healthy)."""

    degrees: float
    shift: float
    aspect: float
    size: float
    elastic: float
    base: float = 1.0


BRATS_POSE = Pose(degrees=6.0, shift=5.0, aspect=0.04, size=0.09, elastic=3.0, base=0.91)
IXI_POSE = Pose(degrees=15.0, shift=12.0, aspect=0.04, size=0.09, elastic=3.0, base=1.05)
#: The lateral ventricles' centre in MNI space (mm), and how far (fraction) sampling points move towards it:
#: negative shrinks the ventricles, positive enlarges them (as with age or hydrocephalus).
VENTRICLES = np.array([0.0, -12.0, 14.0])
VENTRICLE_CHANGE = (-0.15, 0.35)


#: Raised whenever the generator changes what it writes, so a cohort cached by an older version is not reused.
#: 3: high-grade rims enhance by 0.65 to 0.95, not 0.5 to 0.8 (in version 2, three of the four high-grade tumours
#: that every model called low grade enhanced least, 0.52 to 0.56, so no difficulty setting could raise HGG's F1).
#: 4: the share of mimics is exact (:func:`mimic_subjects`); drawn tumour by tumour, 0.1 gave seed 0 no mimic.
#: 5: what real scans hold (issue #38): normal enhancement on T1ce (:mod:`.vessels`), brains of one real size in
#: both datasets, tissue contrast and bias randomised wider, low-grade gliomas ill-defined with little mass effect.
#: 6: contrast randomised as widely as real scans differ (issue #38, after SynthSeg): normal enhancement from faint
#: to strong (:data:`NORMAL_GAIN`), tissue contrast by :data:`CONTRAST_GAIN`, and each IXI head's gamma by
#: :data:`IXI_GAMMA`. In version 5 every synthetic T1ce's normal enhancement was strong, so after the percentile
#: window the brain's 85th percentile (white matter) sat at 0.39 to 0.60 in eight synthetic T1ce and at 0.73 in the
#: real low-grade glioma, and the real IXI heads' brain median (0.48 to 0.55 at 8 mm) lay above every synthetic
#: head's (0.37 +- 0.03).
GENERATOR_VERSION = 6
#: How much brighter than white matter normal enhancement is: from faint (a low dose, an early or a 2D acquisition)
#: to more than twice as bright (version 5: 0.7 to 1.3, always strong). Never none: every real T1ce shows its
#: sinuses and choroid plexus, and at a gain of 0.1 a synthetic T1ce's upper percentile sat where a plain T1's does
#: (1.09 to 1.10 times its 90th, against 1.27 in the real low-grade glioma).
NORMAL_GAIN = (0.4, 1.3)
#: Each subject's tissue contrast beyond its site's (version 5: 0.85 to 1.15).
CONTRAST_GAIN = (0.7, 1.3)
#: Each IXI head's gamma beyond its site's (version 5: 0.9 to 1.1).
IXI_GAMMA = (0.55, 1.15)


@dataclass(frozen=True)
class CohortSpec:
    n_per_class: int = 16
    seed: int = 0
    difficulty: float = 0.0  # share x 2 of tumours with the other grade's radiology (0: none; 1: half, no signal)
    healthy_like: str = "ixi"  # ixi (the real data's gap) | brats (same template and contrast as the tumours)
    generator: int = GENERATOR_VERSION


def generate_cohort(out: PathLike, spec: CohortSpec = CohortSpec(), n_jobs: int | None = None) -> Path:
    """Write the cohort under ``out`` (skipping subjects already written for the same spec) and return ``out``."""
    if spec.healthy_like not in ("ixi", "brats"):
        raise ValueError(f"healthy_like={spec.healthy_like!r} must be ixi or brats")
    if not 0 <= spec.difficulty <= 1:
        raise ValueError(f"difficulty={spec.difficulty} must lie in [0, 1]")
    out = Path(out)
    if (out / "cohort.json").exists() and read_json(out / "cohort.json") != asdict(spec):
        raise FileExistsError(f"{out} holds a cohort of another spec ({read_json(out / 'cohort.json')}); use another folder")
    write_json(out / "cohort.json", asdict(spec))
    jobs = _jobs(out, spec)
    todo = [job for job in jobs if not all(p.exists() for p in [*_paths(*job).values(), _drawn_path(*job)])]
    n_jobs = n_jobs or min(2, os.cpu_count() or 1)
    progress = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc="synth", unit="subject")
    if n_jobs > 1 and len(todo) > 1:
        with ProcessPoolExecutor(n_jobs, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            for _ in pool.map(_write_subject, todo):
                progress.update()
    else:
        for job in todo:
            _write_subject(job)
            progress.update()
    progress.close()
    names = [{"BraTS_2019_subject_ID": _brats_id(i, g), "Grade": g} for g in BRATS_GRADES for i in range(spec.n_per_class)]
    write_csv(out / BRATS_ROOT_NAME / "name_mapping.csv", pd.DataFrame(names))
    write_csv(out / SUBJECTS_TABLE, pd.DataFrame([read_json(_drawn_path(*job)) for job in jobs]))
    return out


def write_missing_scan(root: Path, path: Path) -> None:
    """Write the subject that ``path``, a missing scan of the cohort folder ``root``, belongs to, exactly as
    :func:`generate_cohort` would have; nothing for a path that is no scan of it, or a cohort an older generator
    wrote. Called by :func:`~brainclf_lib.data.scan_on_read.write_when_read`."""
    try:
        spec = CohortSpec(**read_json(root / "cohort.json"))
    except TypeError:  # some other cohort.json
        return
    job = next((job for job in _jobs(root, spec) if path in _paths(*job).values()), None)
    if job is not None and spec.generator == GENERATOR_VERSION:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as generate_cohort's workers run: the same reductions, the same floats
        try:
            _write_subject(job)
        finally:
            torch.set_num_threads(threads)


def mimic_subjects(spec: CohortSpec) -> set[tuple[str, int]]:
    """The ``(grade, index)`` of the tumours given the other grade's radiology: ``difficulty / 2`` of all tumour
    subjects, rounded, chosen by the cohort's seed. Exact rather than drawn subject by subject: with 32 tumours a
    draw each, difficulty 0.1 gave no mimic at all, 0.2 and 0.3 one, and 0.4 five (seed 0).

    >>> len(mimic_subjects(CohortSpec(n_per_class=16, difficulty=0.2))), len(mimic_subjects(CohortSpec(difficulty=0.1)))
    (3, 2)
    """
    tumours = [(grade, index) for grade in BRATS_GRADES for index in range(spec.n_per_class)]
    count = round(spec.difficulty / 2 * len(tumours))
    order = np.random.default_rng([spec.seed, 2019]).permutation(len(tumours))
    return {tumours[i] for i in order[:count]}


def synthesise_tumour_subject(grade: str, rng: np.random.Generator, difficulty: float,
                              drawn: dict | None = None, mimic: bool | None = None) -> dict[str, np.ndarray]:
    """One BraTS-like subject: ``{t1, t1ce, t2, flair, seg}`` arrays on the BraTS grid; ``drawn`` receives what
    it was drawn as (a row of :data:`SUBJECTS_TABLE`); ``mimic`` decides whether the tumour has the other grade's
    radiology (``None``: drawn with probability ``difficulty / 2``)."""
    template = mni_tissues()
    roi = _brain_roi()
    roi_affine = BRATS_AFFINE.copy()
    roi_affine[:3, 3] = (BRATS_AFFINE @ np.array([s.start for s in roi] + [1]))[:3]
    points = _warped_points(world_grid(tuple(s.stop - s.start for s in roi), roi_affine), rng, BRATS_POSE)
    site_name = list(BRATS_SITES)[rng.integers(len(BRATS_SITES))]
    site = BRATS_SITES[site_name]
    contrast_gain, bias_gain = rng.uniform(*CONTRAST_GAIN), rng.uniform(0.6, 1.6)
    tumour = sample_tumour(grade, rng, difficulty, mimic) if grade != "Healthy" else None
    if drawn is not None:
        drawn.update(site=site_name, mimic=bool(tumour and tumour.mimic))
        if tumour is not None:
            drawn.update(radius_mm=round(tumour.radius, 1), enhancement=round(tumour.enhancement, 2),
                         necrosis=round(tumour.necrosis, 2), lobe=lobe_of(tumour.centre),
                         hemisphere="right" if tumour.centre[0] > 0 else "left")
    pushed = points if tumour is None else mass_effect_points(points, tumour)
    tissues = dict(zip(template.names, sample(template.channels, template.affine, pushed), strict=False))
    maps = compartments(tumour, points, rng) if tumour is not None else None
    brain = tissues["brain"]
    if maps is not None:  # a tumour at the brain's edge still belongs to the brain
        brain = torch.maximum(brain, maps["core"] * (brain > 0.05))
        tissues["brain"] = brain
    normal, normal_gain = normal_enhancement(tissues, pushed, rng), rng.uniform(*NORMAL_GAIN)
    scale = rng.uniform(600, 1400)
    arrays = {}
    for contrast in BRATS_CONTRASTS:
        image = compose(contrast, tissues, maps, tumour.enhancement if tumour else 0.0, rng,
                        site.tissue_contrast * contrast_gain, normal, normal_gain)
        image = scanner(thick_slices(image, site.slice_mm), rng, noise=site.noise, bias=site.bias * bias_gain) * (brain > 0.5)
        arrays[contrast] = _paste((image * scale).round().clamp(0, 32767).to(torch.int16).numpy(), roi, np.int16)
    seg = segmentation(maps, brain) if maps is not None else torch.zeros_like(brain, dtype=torch.uint8)
    arrays["seg"] = _paste(seg.numpy(), roi, np.uint8)
    return arrays


def synthesise_ixi_subject(site: str, rng: np.random.Generator) -> np.ndarray:
    """One IXI-like healthy T1: ROBEX's head with its skull, warped, on IXI's sagittal grid and scanner."""
    template = robex_head()
    points = _warped_points(world_grid(IXI_SHAPE, IXI_AFFINE), rng, IXI_POSE)
    t1 = sample(template.channels[:1], template.affine, points)[0]
    scale, noise, gamma = IXI_SITES[site]
    image = scanner(t1.clamp(min=0) ** (gamma * rng.uniform(*IXI_GAMMA)) * rng.uniform(0.9, 1.1), rng, noise=noise,
                    bias=0.15 * rng.uniform(0.6, 1.6))
    return (image * 400 * scale).round().clamp(0, 32767).to(torch.int16).numpy()


def _jobs(out: Path, spec: CohortSpec) -> list[tuple[Path, CohortSpec, str, int]]:
    return [(out, spec, grade, i) for grade in CLASSES for i in range(spec.n_per_class)]


def _write_subject(job: tuple[Path, CohortSpec, str, int]) -> None:
    out, spec, grade, index = job
    rng = np.random.default_rng([spec.seed, CLASS_TO_INDEX[grade], index])
    paths = _paths(*job)
    drawn = {"subject_id": _subject_id(grade, index), "grade": grade}
    if grade == "Healthy" and spec.healthy_like == "ixi":
        site = _ixi_site(index)
        arrays, affine = {"T1": synthesise_ixi_subject(site, rng)}, IXI_AFFINE
        drawn.update(site=site, mimic=False)
    elif grade == "Healthy":
        arrays = {"T1": synthesise_tumour_subject("Healthy", rng, spec.difficulty, drawn)["t1ce"]}
        affine = BRATS_AFFINE
    else:
        mimic = (grade, index) in mimic_subjects(spec)
        arrays, affine = synthesise_tumour_subject(grade, rng, spec.difficulty, drawn, mimic), BRATS_AFFINE
    for name, array in arrays.items():
        image = nib.Nifti1Image(array, affine)
        image.header.set_xyzt_units("mm", "sec")
        atomic_write(paths[name], lambda tmp, image=image: nib.save(image, tmp))
    write_json(_drawn_path(*job), drawn)  # last: the subject is complete


def _paths(out: Path, spec: CohortSpec, grade: str, index: int) -> dict[str, Path]:
    if grade == "Healthy":
        return {"T1": out / IXI_ROOT_NAME / f"{_subject_id(grade, index)}-T1.nii.gz"}
    subject = _brats_id(index, grade)
    folder = out / BRATS_ROOT_NAME / grade / subject
    return {c: folder / f"{subject}_{c}.nii.gz" for c in (*BRATS_CONTRASTS, "seg")}


def _drawn_path(out: Path, spec: CohortSpec, grade: str, index: int) -> Path:
    return out / "drawn" / f"{_subject_id(grade, index)}.json"


def _subject_id(grade: str, index: int) -> str:
    """The id the prepared manifest gives the subject."""
    return f"IXI{index + 2:03d}-{_ixi_site(index)}-{1000 + index:04d}" if grade == "Healthy" else _brats_id(index, grade)


def _brats_id(index: int, grade: str) -> str:
    return f"BraTS19_SYN{'H' if grade == 'HGG' else 'L'}_{index + 1:03d}_1"


def _ixi_site(index: int) -> str:
    return list(IXI_SITES)[index % len(IXI_SITES)]


def _warped_points(grid: torch.Tensor, rng: np.random.Generator, pose: Pose) -> torch.Tensor:
    """Where each output voxel samples the template: this subject's head pose and size, an elastic change of shape,
    and its ventricles' size, composed into one sampling grid."""
    matrix = random_affine(rng, pose.degrees, pose.aspect, pose.shift, pose.size)
    matrix[:3, :3] /= pose.base
    matrix = torch.from_numpy(matrix.astype(np.float32))
    points = grid @ matrix[:3, :3].T + matrix[:3, 3]
    points = points + smooth_field(rng, tuple(grid.shape[:3]), std=pose.elastic, control=5, channels=3)
    return mass_effect(points, VENTRICLES, 15.0, float(rng.uniform(*VENTRICLE_CHANGE)))


@lru_cache(maxsize=1)
def _brain_roi(margin_mm: float = 26.0) -> tuple[slice, slice, slice]:
    """The part of the BraTS grid that can hold brain after a warp: the template's brain box plus a margin."""
    template = mni_tissues()
    index = np.argwhere(template.channel("brain").numpy() > 0.05)
    corners = np.array([[a, b, c, 1] for a in index[:, 0][[0, -1]] for b in (index[:, 1].min(), index[:, 1].max())
                        for c in (index[:, 2].min(), index[:, 2].max())], dtype=float)
    world = (template.affine @ corners.T)[:3].T
    low, high = world.min(0) - margin_mm, world.max(0) + margin_mm
    ijk = (np.linalg.inv(BRATS_AFFINE) @ np.c_[[low, high], [1, 1]].T)[:3].T
    start = np.clip(np.floor(ijk.min(0)), 0, None).astype(int)
    stop = np.minimum(np.ceil(ijk.max(0)) + 1, BRATS_SHAPE).astype(int)
    return tuple(slice(int(a), int(b)) for a, b in zip(start, stop, strict=False))


def _paste(array: np.ndarray, roi: tuple[slice, ...], dtype: type) -> np.ndarray:
    full = np.zeros(BRATS_SHAPE, dtype=dtype)
    full[roi] = array
    return full
