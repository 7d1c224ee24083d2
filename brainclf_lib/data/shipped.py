"""The synthetic cohorts of the fast and smoke presets, shipped prepared in ``data/cohorts/``: installed on first use.

Taught in ``01_data_exploration``. Generating and preparing the three cohorts that ``make demo`` reads took 11 of
its 35 minutes on two cores (the smoke preset's three, which the tests' notebooks read, 2.6 minutes); installing
them takes a second, and every machine then trains on the same volumes.
An archive holds a cohort's prepared folder (its manifest, each subject's raw path relative to the folder until
installed, and the 8 mm volumes) and its raw folder's records (``cohort.json``, what each subject was drawn as),
not the 1 mm scans (about 9 MB a subject): a viewer or a figure that reads one gets its subject generated then
(:func:`~brainclf_lib.data.scan_on_read.write_when_read`). After a change to the generator or to the
preprocessing, ``make cohorts`` writes the archives again from a fresh generation.
"""

from __future__ import annotations

import fcntl
import lzma
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ..conventions import BRATS_ROOT_NAME, IXI_ROOT_NAME
from ..errors import BadInputError
from ..experiment.config import ExperimentConfig
from ..files import atomic_write, read_json, write_csv, write_json
from ..paths import REPO_ROOT, data_dir
from .cohorts import cohort_spec, dataset_folder, preprocess_settings, synthetic_folder
from .prepare import MANIFEST, prepare
from .synthetic import generate_cohort
from .synthetic.cohort import SUBJECTS_TABLE

#: Where the prepared cohorts ship: in the repository, whatever ``$BRAINCLF_DATA`` says.
SHIPPED_DIR = REPO_ROOT / "data" / "cohorts"
#: The raw folder's records an archive carries (relative to the raw folder); the scans are written when read.
RAW_RECORDS = ("cohort.json", SUBJECTS_TABLE, f"{BRATS_ROOT_NAME}/name_mapping.csv")


def shipped_archive(config: ExperimentConfig) -> Path:
    """Where ``config``'s prepared synthetic cohort ships: ``data/cohorts/<its prepared folder's name>.tar.xz``."""
    return SHIPPED_DIR / f"{dataset_folder(config).name}.tar.xz"


def install_shipped(config: ExperimentConfig) -> Path | None:
    """Unpack ``config``'s shipped cohort into the data folder and return its archive, or ``None`` where none ships.

    One process installs while any other waits for it (an ``flock``, released however the process ends) and then
    finds the manifest; the manifest is moved in last, so a folder with a manifest is complete and is never written
    again, and an interrupted install is redone. A damaged archive is a ``BadInputError`` naming it.
    """
    archive = shipped_archive(config)
    if config.data_root != "synthetic" or not archive.is_file():
        return None
    prepared = dataset_folder(config)
    prepared.parent.mkdir(parents=True, exist_ok=True)
    with open(prepared.parent / f".{prepared.name}.install-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (prepared / MANIFEST).exists():
            _unpack(archive, prepared, synthetic_folder(config))
    return archive


def ship_cohort(config: ExperimentConfig) -> Path:
    """Write ``config``'s archive in ``data/cohorts`` from the generator: the raw cohort is generated where it is
    missing and prepared afresh (never from an installed copy); return the archive.

    Args:
        config: a synthetic experiment; its cohort settings and preprocessing name the archive.
    """
    if config.data_root != "synthetic":
        raise ValueError(f"only a synthetic cohort ships, not data_root={config.data_root!r}")
    raw = generate_cohort(synthetic_folder(config), cohort_spec(config))
    folder = dataset_folder(config)
    with tempfile.TemporaryDirectory(prefix=".ship-", dir=data_dir()) as staging:
        prepared = Path(staging) / "prepared"
        prepare(prepared, brats=raw, ixi=raw / IXI_ROOT_NAME, contrasts=config.contrasts, n_healthy=None,
                settings=preprocess_settings(config), mask_cache=data_dir() / "prepared" / "skullstrip")
        _rewrite_raw_paths(prepared, lambda path: os.path.relpath(path, folder))
        members = [(prepared, "prepared")] + [(raw / name, f"raw/{name}") for name in RAW_RECORDS]
        return atomic_write(shipped_archive(config), lambda tmp: _write_archive(tmp, members))


def _unpack(archive: Path, prepared: Path, raw: Path) -> None:
    """The archive's prepared folder into ``prepared``, its raw paths made absolute again, and its raw records into
    ``raw`` (which may lie on another disk: copied, each atomically)."""
    with tempfile.TemporaryDirectory(prefix=".install-", dir=prepared.parent) as tmp:
        staging = Path(tmp)
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(staging, filter="data")
        except (tarfile.TarError, EOFError, OSError, lzma.LZMAError) as error:
            raise BadInputError(f"{archive}: cannot be unpacked ({type(error).__name__}: {error}); restore it "
                                f"(git checkout -- {archive.name}) or delete it to generate the cohort instead") from error
        for record in RAW_RECORDS:
            if not (raw / record).exists():
                atomic_write(raw / record, lambda tmp, record=record: shutil.copyfile(staging / "raw" / record, tmp))
        _rewrite_raw_paths(staging / "prepared", lambda path: os.path.normpath(prepared / path))
        shutil.copytree(staging / "prepared", prepared, dirs_exist_ok=True, ignore=shutil.ignore_patterns(MANIFEST))
        os.replace(staging / "prepared" / MANIFEST, prepared / MANIFEST)


def _rewrite_raw_paths(folder: Path, rewrite: Callable[[str], str]) -> None:
    """Rewrite where a prepared folder says its raw scans are (the manifest's ``original_path``, ``prepare.json``'s
    raw folders): relative to the folder in an archive, absolute once installed."""
    manifest = pd.read_csv(folder / MANIFEST, dtype={"subject_id": str}, keep_default_na=False)
    manifest["original_path"] = manifest["original_path"].map(rewrite)
    write_csv(folder / MANIFEST, manifest)
    record = read_json(folder / "prepare.json")
    write_json(folder / "prepare.json", record | {key: rewrite(record[key]) for key in ("brats", "ixi")})


def _write_archive(path: Path, members: list[tuple[Path, str]]) -> None:
    """An xz tarball whose bytes depend on the files alone (sorted, no owners, no times), so git stores a cohort
    written twice once."""
    def plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        info.mode = 0o755 if info.isdir() else 0o644
        return info

    with tarfile.open(path, "w:xz", preset=9, format=tarfile.PAX_FORMAT) as tar:
        for source, name in members:
            files = sorted(source.rglob("*")) if source.is_dir() else []
            tar.add(source, name, recursive=False, filter=plain)
            for item in files:
                tar.add(item, f"{name}/{item.relative_to(source).as_posix()}", recursive=False, filter=plain)
