"""``brainclf calibrate``: how hard the synthetic cohort must be for a preset's results to land where the paper's do.

Taught in ``06_results``. The cohort's ``synthetic_difficulty`` is the share (times two) of tumours given the other
grade's radiology; on the first version of the cohort every model scored 1.0 on fold 0 and nothing could be
compared. This trains every architecture from scratch on every fold at each difficulty and sets the per-class F1
beside the paper's ranges (:data:`PAPER_RANGES`); the default difficulty is the one whose results come closest to
them (README: with the ``fast`` preset, 0, where one architecture of three lies just above their upper ends).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..conventions import CLASS_TO_INDEX, CLASSES
from ..data.cohorts import drawn_subjects
from ..evaluation.metrics import aggregate_folds
from ..experiment.config import ExperimentConfig
from ..experiment.protocols import protocol_plan
from ..models.architectures import ARCHS
from ..paths import REPO_ROOT
from ..training.loop import fit

#: Where ``brainclf calibrate --out`` keeps the measured tables that the README and ``06_results`` show.
MEASURED = REPO_ROOT / "benchmarks" / "results"

#: Where the paper's scratch and pre-trained results fall (``shared/PAPER.md``, Table 2): Healthy near 1.0 (the
#: IXI-vs-BraTS shortcut the paper also had), LGG and HGG F1 between 0.75 and 0.92, macro F1 between 0.80 and 0.95.
PAPER_RANGES: dict[str, tuple[float, float]] = {
    "Healthy F1": (0.95, 1.0),
    "LGG F1": (0.75, 0.92),
    "HGG F1": (0.75, 0.92),
    "macro F1": (0.80, 0.95),
}


def calibrate(config: ExperimentConfig, difficulties: Sequence[float], archs: Sequence[str] = ARCHS,
              progress: bool = True) -> pd.DataFrame:
    """Train (or reuse) each architecture from scratch on every fold at each difficulty; one row per difficulty and
    architecture with the fold means and standard deviations of each class's F1 and of macro F1, and the share of
    errors that are LGG <-> HGG.

    Taught in ``06_results``.

    Args:
        config: the preset whose results are calibrated (its difficulty is replaced by each of ``difficulties``).
        difficulties: the cohorts' ``synthetic_difficulty`` values.
        archs: the architectures trained.
        progress: show progress bars.
    """
    rows = []
    for difficulty in difficulties:
        for arch in archs:
            runs = [fit(config.replace(synthetic_difficulty=float(difficulty), arch=arch, fold=fold, pretrained=None),
                        resume=True, progress=progress) for fold in protocol_plan(config).folds]
            summary = aggregate_folds([run.metrics for run in runs])
            drawn = drawn_subjects(runs[0].config)
            row = {"difficulty": float(difficulty), "arch": runs[0].config.arch,
                   "mimics": math.nan if drawn is None else int(drawn["mimic"].sum())}
            for name, key in [*((f"{c} F1", f"{c}/f1") for c in CLASSES), ("macro F1", "macro_f1")]:
                row[name] = summary["mean"][key]
                row[f"{name} std"] = summary["std"][key]
            row["LGG<->HGG share of errors"] = grade_error_share([run.metrics["confusion"] for run in runs])
            rows.append(row)
    table = pd.DataFrame(rows)
    table["in paper ranges"] = in_paper_ranges(table)
    return table


def grade_error_share(confusions: Sequence[Sequence[Sequence[int]]]) -> float:
    """The share of misclassified subjects that are LGG called HGG or HGG called LGG (NaN without errors).

    >>> grade_error_share([[[5, 0, 0], [0, 4, 1], [0, 2, 3]], [[5, 0, 0], [1, 4, 0], [0, 0, 5]]])
    0.75
    """
    counts = np.sum(np.asarray(confusions, dtype=float), axis=0)
    errors = counts.sum() - np.trace(counts)
    lgg, hgg = CLASS_TO_INDEX["LGG"], CLASS_TO_INDEX["HGG"]
    return float((counts[lgg, hgg] + counts[hgg, lgg]) / errors) if errors else float("nan")


def in_paper_ranges(table: pd.DataFrame) -> pd.Series:
    """Whether every figure of :data:`PAPER_RANGES` of a row lies inside its range."""
    inside = [table[name].between(low, high) for name, (low, high) in PAPER_RANGES.items()]
    return pd.concat(inside, axis=1).all(axis=1)


def calibration_markdown(table: pd.DataFrame) -> str:
    """The table as the README prints it: mean ± std over folds, one row per difficulty and architecture."""
    lines = ["| difficulty | mimics | arch | Healthy F1 | LGG F1 | HGG F1 | macro F1 | LGG<->HGG errors | in ranges |",
             "|---|---|---|---|---|---|---|---|---|"]
    for _, row in table.iterrows():
        cells = [f"{row[name]:.2f} ± {row[f'{name} std']:.2f}" for name in ("Healthy F1", "LGG F1", "HGG F1", "macro F1")]
        share = "n/a" if np.isnan(row["LGG<->HGG share of errors"]) else f"{row['LGG<->HGG share of errors']:.0%}"
        mimics = "n/a" if pd.isna(row.get("mimics", math.nan)) else f"{int(row['mimics'])}"
        lines.append(f"| {row['difficulty']:g} | {mimics} | {row['arch']} | {' | '.join(cells)} | {share} | "
                     f"{'yes' if row['in paper ranges'] else 'no'} |")
    return "\n".join(lines)


def measured_calibration(preset: str = "fast") -> pd.DataFrame | None:
    """The calibration measured for ``preset`` (``benchmarks/results/calibration_<preset>.csv``), or ``None``.

    Taught in ``06_results``.

    Args:
        preset: the preset whose calibration was measured.
    """
    path = MEASURED / f"calibration_{preset}.csv"
    return pd.read_csv(path) if path.exists() else None
