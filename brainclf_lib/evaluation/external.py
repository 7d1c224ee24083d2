"""``brainclf validate``: trained runs applied to labelled scans from outside their cohort (external validation).

A model trained on the synthetic cohort, or on one hospital's scans, is only as good as its calls on scans it has
never seen the like of. ``data/real/manifest.csv`` lists twelve real scans that ship with the project (two
skull-stripped tumour scans, ten IXI whole heads); a researcher with labelled scans of their own writes a manifest
of the same form (``file`` and ``label`` are required) and runs the same command.

Every scan is preprocessed once per distinct preprocessing setting (the runs of one grid share it), skull-stripped
when it still holds a skull (``skull_strip="auto"``), and classified by every run. The calls land in ``calls.csv``
(one row per run and scan) and each run's figures in ``summary.csv``: sensitivity (tumour vs healthy),
specificity, per-class F1, accuracy, macro F1 and the confusion matrix, from
:func:`~brainclf_lib.evaluation.metrics.classification_metrics`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import pandas as pd
from tqdm.auto import tqdm

from ..conventions import BRATS_CONTRASTS, CLASS_TO_INDEX, CLASSES
from ..data.preprocessing import PreprocessSettings
from ..data.skull import skull_strip_mode
from ..errors import BadInputError, ManifestError
from ..experiment.run_folder import Run, find_runs, init_label
from ..files import write_csv
from ..paths import REPO_ROOT, PathLike
from .inference import Predictor, preprocess_scan, scan_settings
from .metrics import classification_metrics

#: The columns every manifest needs: the scan (relative to the manifest, or absolute) and its true class.
REQUIRED_COLUMNS: tuple[str, ...] = ("file", "label")
#: Columns ``data/real/manifest.csv`` adds to describe each scan; a researcher's manifest may leave them out.
DESCRIPTIVE_COLUMNS: tuple[str, ...] = ("contrast", "skull_stripped", "voxel_size", "shape", "source", "licence")
#: The twelve real scans that ship with the project (``data/real/SOURCES.md`` holds their licences).
REAL_MANIFEST = REPO_ROOT / "data" / "real" / "manifest.csv"
CALLS = "calls.csv"  # one row per run and scan
SUMMARY = "summary.csv"  # one row per run
#: The binary reading of the three classes: sensitivity is the tumour class's recall, specificity Healthy's.
TUMOUR_VS_HEALTHY: tuple[str, ...] = ("Healthy", "tumour")


def read_scan_manifest(manifest: PathLike) -> pd.DataFrame:
    """The manifest's rows, each checked, with ``path``: the scan's absolute path.

    A missing column, a missing or unreadable file, a label that is not a class, an unknown contrast or a scan
    that is not 3D is a :class:`~brainclf_lib.errors.ManifestError` naming the manifest, the line and the file,
    raised before anything is computed or written.

    Args:
        manifest: a CSV with at least the columns ``file`` and ``label`` (Healthy, LGG or HGG).
    """
    manifest = Path(manifest).resolve()
    if not manifest.is_file():
        raise ManifestError(f"{manifest}: no such manifest")
    try:
        table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ManifestError(f"{manifest}: cannot be read as a CSV table ({error})") from error
    missing = [column for column in REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        raise ManifestError(f"{manifest}: no column {', '.join(missing)} (a manifest needs {', '.join(REQUIRED_COLUMNS)}; "
                            f"it has {', '.join(table.columns) or 'none'})")
    if table.empty:
        raise ManifestError(f"{manifest}: lists no scans")
    records = table.to_dict("records")  # line 1 of the file is the header
    table["path"] = [_checked_scan(manifest, index + 2, row) for index, row in enumerate(records)]
    return table


def validation_runs(runs: PathLike) -> list[Run]:
    """The finished runs to validate: ``runs`` itself when it is a run folder, else every run folder in it (a grid
    folder, as ``brainclf replicate`` writes it), found by their stored config as :func:`find_runs` finds them.

    Args:
        runs: a run folder (or its best checkpoint), or a folder of run folders.
    """
    folder = Path(runs).parent if Path(runs).is_file() else Path(runs)  # a run's best checkpoint names its run
    if (folder / Run.CONFIG).is_file():
        run = Run(folder)
        if not run.path(Run.BEST).is_file():
            raise BadInputError(f"{folder}: the run has no best checkpoint yet (unfinished?)")
        return [run]
    found = find_runs(folder)
    if not found:
        raise BadInputError(f"{folder}: neither a run folder nor a folder holding finished runs")
    return found


def default_out(runs: PathLike, manifest: PathLike) -> Path:
    """Where ``brainclf validate`` writes without ``--out``: ``<grid>/validation/<manifest's folder>`` for a grid,
    ``<runs' folder>/validation/<manifest's folder>-<run>`` for one run, so two validations never share a file."""
    runs, name = Path(runs).parent if Path(runs).is_file() else Path(runs), Path(manifest).resolve().parent.name
    if (runs / Run.CONFIG).is_file():
        return runs.parent / "validation" / f"{name}-{runs.name}"
    return runs / "validation" / name


def validate_runs(runs: list[Run] | PathLike, manifest: PathLike, out: PathLike | None = None,
                  skull_strip: str | bool = "auto", device: str = "auto",
                  progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every run's call on every scan of a manifest, and each run's figures; written to ``out`` when given.

    Taught in ``09_real_scans``, on the twelve real scans of ``data/real/`` and the grid's runs.

    Args:
        runs: runs, a run folder, or a grid folder (see :func:`validation_runs`).
        manifest: the labelled scans (see :func:`read_scan_manifest`), checked before anything is computed.
        out: the folder for ``calls.csv``, ``summary.csv`` and the cached brain masks; ``None`` writes nothing.
        skull_strip: ``auto`` (strip a scan that holds a skull), ``yes`` or ``no``.
        device: ``auto``, ``cpu`` or ``cuda``.
        progress: a progress bar over the scans of each preprocessing setting.

    Returns:
        ``(calls, summary)``: one row per run and scan, one row per run.
    """
    mode, table = skull_strip_mode(skull_strip), read_scan_manifest(manifest)
    runs = validation_runs(runs) if not isinstance(runs, list) else runs
    groups: dict[PreprocessSettings, list[Run]] = {}
    for run in runs:  # every run checked (single contrast) before the first scan is read
        groups.setdefault(scan_settings(run.config), []).append(run)
    cache = Path(out) / "masks" if out is not None else None
    rows = []
    for settings, members in groups.items():
        scans = [preprocess_scan(path, settings, mode, cache)
                 for path in tqdm(table["path"], desc=f"preprocessing ({settings.key})", disable=not progress)]
        for run in members:
            predictor = Predictor(run, device)
            for (image, skull), row in zip(scans, table.to_dict("records"), strict=True):
                rows.append({**_run_fields(run), **_call_fields(row, predictor.classify(image)), **skull.as_fields()})
    calls = pd.DataFrame(rows)
    summary = validation_summary(calls)
    if out is not None:
        write_csv(Path(out) / CALLS, calls)
        write_csv(Path(out) / SUMMARY, summary)
    return calls, summary


def validation_summary(calls: pd.DataFrame) -> pd.DataFrame:
    """One row per run: n, accuracy, macro F1, sensitivity (tumour vs healthy), specificity, per-class F1 and the
    confusion matrix (rows the true classes, columns the calls, in ``CLASSES`` order, as JSON).

    Taught in ``09_real_scans``, which also pools every run's calls into one row (``calls.assign(run=...)``).

    Args:
        calls: what :func:`validate_runs` returns first (``run``, ``label`` and ``pred`` columns at least).
    """
    rows = []
    for run, group in calls.groupby("run", sort=False):
        truth = [CLASS_TO_INDEX[label] for label in group["label"]]
        pred = [CLASS_TO_INDEX[label] for label in group["pred"]]
        metrics = classification_metrics(truth, pred)
        binary = classification_metrics([int(t > 0) for t in truth], [int(p > 0) for p in pred], TUMOUR_VS_HEALTHY)
        first = group.iloc[0]
        rows.append({"run": run, **{k: first[k] for k in ("arch", "init", "fold") if k in group}, "n": metrics["n"],
                     "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
                     "sensitivity": binary["per_class"]["tumour"]["recall"],
                     "specificity": binary["per_class"]["Healthy"]["recall"],
                     **{f"f1_{name}": metrics["per_class"][name]["f1"] for name in CLASSES},
                     "confusion": json.dumps(metrics["confusion"])})
    return pd.DataFrame(rows)


def _checked_scan(manifest: Path, line: int, row: dict[str, str]) -> Path:
    """One manifest row's scan, or a :class:`ManifestError` naming the manifest, the line and the file."""
    where = f"{manifest}, line {line} (file {row['file']!r})"
    if not row["file"].strip():
        raise ManifestError(f"{where}: the file is empty")
    path = (manifest.parent / row["file"].strip()).resolve()
    if row["label"] not in CLASSES:
        raise ManifestError(f"{where}: label {row['label']!r} is not a class ({', '.join(CLASSES)})")
    if row.get("contrast", BRATS_CONTRASTS[0]) not in BRATS_CONTRASTS:
        raise ManifestError(f"{where}: contrast {row['contrast']!r} is not one of {', '.join(BRATS_CONTRASTS)}")
    if not path.is_file():
        raise ManifestError(f"{where}: {path} does not exist")
    try:
        shape = nib.load(path).shape
    except Exception as error:  # nibabel raises many kinds for a file that is not NIfTI
        raise ManifestError(f"{where}: cannot be read as a NIfTI volume ({type(error).__name__}: {error})") from error
    if not (len(shape) == 3 or (len(shape) == 4 and shape[3] == 1)):
        raise ManifestError(f"{where}: expected a 3D scan, got an image of shape {shape}")
    return path


def _run_fields(run: Run) -> dict[str, Any]:
    config = run.config
    return {"run": run.name, "arch": config.arch, "init": init_label(config), "fold": config.fold}


def _call_fields(row: dict[str, str], call: dict[str, Any]) -> dict[str, Any]:
    """A ``calls.csv`` row's scan, truth and call; the manifest's contrast when it has one."""
    return {"file": row["file"], "label": row["label"], "pred": call["label"], "correct": call["label"] == row["label"],
            **{f"p_{name}": p for name, p in call["probabilities"].items()},
            **({"contrast": row["contrast"]} if "contrast" in row else {})}
