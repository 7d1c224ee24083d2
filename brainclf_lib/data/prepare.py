"""``brainclf prepare``: discover the raw scans, preprocess each once, write ``manifest.csv``.

Taught in ``02_preprocessing``. Outputs live under ``<out>/volumes/<settings key>/``; a subject already prepared
with the same settings is not prepared again, and a failed subject leaves nothing partial behind.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import nibabel as nib
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..conventions import DEFAULT_CONTRAST
from ..errors import BadInputError
from ..files import write_csv, write_json
from ..paths import PathLike
from .discovery import RawSubject, discover_brats, discover_ixi, sample_healthy
from .preprocessing import PreprocessSettings, load_volume, preprocessing_steps, save_volume

MANIFEST = "manifest.csv"


def prepare(
    out: PathLike,
    brats: PathLike | None = None,
    ixi: PathLike | None = None,
    contrasts: tuple[str, ...] = (DEFAULT_CONTRAST,),
    n_healthy: int | None = 259,
    settings: PreprocessSettings | None = None,
    seed: int = 0,
    n_jobs: int | None = None,
    mask_cache: PathLike | None = None,
) -> Path:
    """Prepare a cohort and return the path of its manifest.

    Args:
        out: output folder; holds ``manifest.csv``, ``prepare.json`` and ``volumes/``.
        brats: BraTS 2019 training folder (or its parent, or a grade folder); optional.
        ixi: folder of IXI scans; optional.
        contrasts: BraTS contrasts to prepare, stacked as channels later (IXI gives T1 for t1 / t1ce).
        n_healthy: healthy subjects drawn at random (seeded) from IXI, as the paper drew 259; None for all.
        settings: spacing, shape and skull stripping.
        n_jobs: processes working on subjects at once (default: the CPU count, at most 4).
        mask_cache: where skull-stripping masks are kept (default ``<out>/skullstrip``), so a scan is stripped once
            whatever the spacing or shape asked for later.
    """
    settings = settings or PreprocessSettings()
    if brats is None and ixi is None:
        raise ValueError("prepare needs a BraTS folder, an IXI folder, or both")
    subjects = discover_brats(brats, contrasts) if brats is not None else []
    if ixi is not None:
        subjects += sample_healthy(_healthy_with_every_contrast(ixi, contrasts), n_healthy, seed)
    out = Path(out)
    volume_dir = out / "volumes" / settings.key
    mask_cache = Path(mask_cache) if mask_cache else out / "skullstrip"
    jobs = [(subject, settings, volume_dir, mask_cache) for subject in subjects]
    n_jobs = n_jobs or min(4, os.cpu_count() or 1)
    rows, errors = [], []
    if n_jobs > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(n_jobs, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            results = pool.map(_prepare_one_safely, jobs)
            for result in tqdm(results, total=len(jobs), desc="prepare", unit="subject"):
                (rows if isinstance(result, dict) else errors).append(result)
    else:
        for job in tqdm(jobs, desc="prepare", unit="subject"):
            result = _prepare_one_safely(job)
            (rows if isinstance(result, dict) else errors).append(result)
    if errors:
        raise BadInputError(f"{len(errors)} of {len(jobs)} subjects failed:\n" + "\n".join(errors))
    manifest = pd.DataFrame(rows)
    for column in [c for c in manifest.columns if c.startswith("image_") or c == "seg"]:
        manifest[column] = manifest[column].map(lambda p: os.path.relpath(p, out) if p else "")
    write_json(out / "prepare.json", {"settings": settings.__dict__ | {"key": settings.key}, "contrasts": contrasts,
                                      "n_healthy": n_healthy, "seed": seed, "brats": str(brats), "ixi": str(ixi)})
    return write_csv(out / MANIFEST, manifest)


def prepare_subject(subject: RawSubject, settings: PreprocessSettings, volume_dir: Path, mask_cache: Path) -> dict[str, Any]:
    """Preprocess one subject (or reuse its cached outputs) and return its manifest row."""
    first = next(iter(subject.images))
    header = _header(subject.images[first])
    outputs = {c: volume_dir / f"{subject.subject_id}_{c}.nii" for c in subject.images}
    seg_out = volume_dir / f"{subject.subject_id}_seg.nii" if subject.seg else None
    if not all(p.exists() for p in [*outputs.values(), *([seg_out] if seg_out else [])]):
        images = {c: load_volume(p) for c, p in subject.images.items()}
        seg = load_volume(subject.seg, label_map=True) if subject.seg else None
        *_, (_, result) = preprocessing_steps(images, settings, subject.source == "IXI", seg, mask_cache)
        for contrast, path in outputs.items():
            save_volume(result[contrast], path)
        if seg_out:
            save_volume(result["seg"], seg_out)
    return {
        "subject_id": subject.subject_id,
        "label": subject.label,
        "source": subject.source,
        "site": subject.site,
        "original_path": str(subject.images[first]),
        "original_shape": "x".join(str(int(s)) for s in header.get_data_shape()[:3]),
        "original_spacing": "x".join(f"{float(z):.4g}" for z in header.get_zooms()[:3]),
        "original_orientation": "".join(nib.aff2axcodes(header.get_best_affine())),
        **{f"image_{c}": str(p) for c, p in outputs.items()},
        "seg": str(seg_out) if seg_out else "",
    }


def read_manifest(folder: PathLike) -> pd.DataFrame:
    """The manifest of a prepared folder, with image paths made absolute.

    Taught in ``01_data_exploration``.

    Args:
        folder: a folder written by ``brainclf prepare`` or :func:`~brainclf_lib.data.step.prepare_data`.

    Returns:
        One row per subject: id, label, source, site, and a path column per contrast (and ``seg``).
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise BadInputError(f"{folder} holds no {MANIFEST}: run `brainclf prepare` on it first")
    manifest = pd.read_csv(path, dtype={"subject_id": str}, keep_default_na=False)
    missing = {"subject_id", "label"} - set(manifest.columns)
    if missing or not any(c.startswith("image_") for c in manifest.columns):
        raise BadInputError(f"{path} lacks the columns {sorted(missing) or 'image_<contrast>'}")
    for column in [c for c in manifest.columns if c.startswith("image_") or c == "seg"]:
        manifest[column] = manifest[column].map(lambda p: str((folder / p).resolve()) if p else "")
    return manifest


def _header(path: Path) -> nib.Nifti1Header:
    try:
        return nib.load(path).header
    except Exception as error:
        raise BadInputError(f"{path}: cannot be read as a NIfTI volume ({type(error).__name__}: {error})") from error


def _prepare_one_safely(job: tuple) -> dict[str, Any] | str:
    try:
        return prepare_subject(*job)
    except BadInputError as error:
        return str(error)
    except Exception as error:  # any other failure still names the subject and its files
        subject = job[0]
        return f"{subject.subject_id} ({', '.join(map(str, subject.images.values()))}): {type(error).__name__}: {error}"


def _healthy_with_every_contrast(ixi: PathLike, contrasts: tuple[str, ...]) -> list[RawSubject]:
    """The IXI subjects that have a scan of every contrast asked for, each holding all of them."""
    healthy = [discover_ixi(ixi, c) for c in contrasts]
    by_id = {s.subject_id: s for s in healthy[0]}
    for other in healthy[1:]:
        other_ids = {s.subject_id: s for s in other}
        by_id = {k: v for k, v in by_id.items() if k in other_ids}
        for key, subject in by_id.items():
            subject.images.update(other_ids[key].images)
    return list(by_id.values())
