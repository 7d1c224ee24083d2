"""Finding subjects in the real BraTS 2019 and IXI folders exactly as they are downloaded.

Taught in ``01_data_exploration``. The synthetic cohort is written in the same layouts, so both go through here.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..conventions import BRATS_CONTRASTS, BRATS_GRADES, BRATS_ROOT_NAME, DEFAULT_CONTRAST
from ..errors import BadInputError
from ..paths import PathLike
from .scan_on_read import write_when_read

#: ``IXI002-Guys-0828-T1.nii.gz``: number, site, scan number, contrast.
IXI_PATTERN = re.compile(r"^(?P<id>IXI\d{3}-(?P<site>[A-Za-z]+)-\d{4})-(?P<contrast>T1|T2|PD|MRA|DTI)\.nii(\.gz)?$")
#: The IXI contrast that stands in for each BraTS contrast (the paper used IXI T1 beside BraTS T1ce).
IXI_CONTRAST_FOR = {"t1": "T1", "t1ce": "T1", "t2": "T2"}


@dataclass
class RawSubject:
    """One subject as found on disk: its images by contrast and, for BraTS, its tumour segmentation."""

    subject_id: str
    label: str  # HGG, LGG or Healthy
    source: str  # BraTS2019 or IXI
    images: dict[str, Path] = field(default_factory=dict)  # contrast -> path
    seg: Path | None = None
    site: str = ""


def find_brats_root(path: PathLike) -> Path:
    """The folder holding ``HGG/`` and ``LGG/``, given it, its parent, or one of its grade folders."""
    path = Path(path)
    if not path.is_dir():
        raise BadInputError(f"BraTS folder {path} does not exist or is not a folder")
    candidates = [path, path / BRATS_ROOT_NAME, path.parent, *sorted(p for p in path.iterdir() if p.is_dir())]
    for candidate in candidates:
        if any((candidate / grade).is_dir() for grade in BRATS_GRADES):
            return candidate
    raise BadInputError(
        f"{path} is not a BraTS 2019 training folder: expected {BRATS_ROOT_NAME}/{{HGG,LGG}}/<ID>/<ID>_t1ce.nii.gz "
        "(the folder itself, its parent or one of HGG/LGG)"
    )


def discover_brats(path: PathLike, contrasts: tuple[str, ...] = (DEFAULT_CONTRAST,)) -> list[RawSubject]:
    """Every subject of ``HGG/`` and ``LGG/``, with the asked contrasts and the segmentation when present."""
    for contrast in contrasts:
        if contrast not in BRATS_CONTRASTS:
            raise ValueError(f"Unknown BraTS contrast {contrast!r}; valid ones are {BRATS_CONTRASTS}")
    root = find_brats_root(path)
    subjects = []
    for grade in BRATS_GRADES:
        grade_dir = root / grade
        if not grade_dir.is_dir():
            continue
        for folder in sorted(p for p in grade_dir.iterdir() if p.is_dir()):
            subject = RawSubject(folder.name, grade, "BraTS2019")
            for contrast in contrasts:
                subject.images[contrast] = _nifti(folder, f"{folder.name}_{contrast}")
            seg = [p for p in (folder / f"{folder.name}_seg.nii.gz", folder / f"{folder.name}_seg.nii") if p.exists()]
            subject.seg = seg[0] if seg else None
            subjects.append(subject)
    if not subjects:
        raise BadInputError(f"No subject folders in {root}/HGG or {root}/LGG")
    return subjects


def discover_ixi(path: PathLike, contrast: str = DEFAULT_CONTRAST) -> list[RawSubject]:
    """Every IXI scan of the contrast standing in for ``contrast`` (T1 for t1ce); other files are ignored."""
    folder = Path(path)
    if not folder.is_dir():
        raise BadInputError(f"IXI folder {folder} does not exist or is not a folder")
    if contrast not in IXI_CONTRAST_FOR:
        raise BadInputError(f"IXI has no scans standing in for {contrast!r}; it offers {sorted(IXI_CONTRAST_FOR)}")
    wanted = IXI_CONTRAST_FOR[contrast]
    subjects = []
    for file in sorted(folder.iterdir()):
        match = IXI_PATTERN.match(file.name)
        if match and match["contrast"] == wanted:
            subjects.append(RawSubject(match["id"], "Healthy", "IXI", {contrast: file}, site=match["site"]))
    if not subjects:
        raise BadInputError(f"No IXI {wanted} scans named like IXI002-Guys-0828-{wanted}.nii.gz in {folder}")
    return subjects


def sample_healthy(subjects: list[RawSubject], n: int | None, seed: int = 0) -> list[RawSubject]:
    """A seeded random subset of ``n`` healthy subjects (the paper drew 259 of IXI's ~580), in ID order."""
    if n is None or n >= len(subjects):
        return sorted(subjects, key=lambda s: s.subject_id)
    ordered = sorted(subjects, key=lambda s: s.subject_id)
    return sorted(random.Random(seed).sample(ordered, n), key=lambda s: s.subject_id)


def raw_contrast_path(original: PathLike, contrast: str) -> Path | None:
    """The raw file of another contrast of the same subject, or ``None`` where the release has none.

    Taught in ``01_data_exploration``. BraTS keeps every contrast beside the others (``<ID>_t2.nii.gz``); IXI names a
    scan ``<ID>-T2.nii.gz``, and its T1 stands in for t1 and t1ce (the paper's healthy class), with no FLAIR.

    Args:
        original: any raw file of the subject (a manifest's ``original_path``).
        contrast: ``t1``, ``t1ce``, ``t2`` or ``flair``.
    """
    original = Path(original)
    ixi = IXI_PATTERN.match(original.name)
    if ixi:
        ixi_contrast = IXI_CONTRAST_FOR.get(contrast)
        candidate = original.with_name(f"{ixi['id']}-{ixi_contrast}.nii.gz") if ixi_contrast else None
    else:
        candidate = original.with_name(f"{original.name.rsplit('_', 1)[0]}_{contrast}.nii.gz")
    if candidate is not None:
        candidate = write_when_read(candidate)  # a shipped synthetic cohort's scan is generated when first read
    return candidate if candidate is not None and candidate.exists() else None


def _nifti(folder: Path, stem: str) -> Path:
    for suffix in (".nii.gz", ".nii"):
        if (folder / f"{stem}{suffix}").exists():
            return folder / f"{stem}{suffix}"
    raise BadInputError(f"BraTS subject folder {folder} has no {stem}.nii.gz")
