"""One architecture under the corrected protocol, under each published-code deviation alone, and under the paper's
and the published code's protocols: what each deviation does to the reported figures.

Taught in ``08_protocols``; ``brainclf protocols`` is its command line. Every variant is an ordinary run (its
deviations are part of its identity), so finished ones are reused and a killed comparison resumes.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ..conventions import CLASS_TO_INDEX, CLASSES
from ..evaluation.metrics import bootstrap_ci
from ..experiment.config import ExperimentConfig
from ..experiment.protocols import ONE_AT_A_TIME, protocol_plan
from ..experiment.run_folder import Run
from ..training.parallel import fit_many


def protocol_variants(config: ExperimentConfig, deviations: Sequence[str] | None = None) -> dict[str, ExperimentConfig]:
    """The configs compared: ``corrected``, ``+ <deviation>`` for each of ``deviations``, ``paper-text`` and
    ``published-code``, all otherwise equal to ``config`` (fold 0: the random split has no other).

    Taught in ``08_protocols``.

    Args:
        config: the experiment (architecture, preset, cohort); its own protocol and deviations are replaced.
        deviations: the deviations added to the corrected protocol one at a time (``None``: :data:`ONE_AT_A_TIME`).
    """
    base = config.replace(protocol="corrected", deviations=(), fold=0)
    variants = {"corrected": base}
    variants.update({f"+ {name}": base.replace(deviations=(name,)) for name in (deviations or ONE_AT_A_TIME)})
    variants["paper-text"] = base.replace(protocol="paper-text")
    variants["published-code"] = base.replace(protocol="published-code")
    return variants


def compare_protocols(config: ExperimentConfig, deviations: Sequence[str] | None = None,
                      progress: bool = True) -> dict[str, Run]:
    """Train (or reuse) every variant of :func:`protocol_variants` and return its run, by variant.

    Taught in ``08_protocols``.

    Args:
        config: the experiment.
        deviations: the deviations added to the corrected protocol one at a time (``None``: :data:`ONE_AT_A_TIME`).
        progress: show progress bars.
    """
    variants = protocol_variants(config, deviations)
    if progress:
        for label, variant in variants.items():
            print(f"[protocols] {label}: {', '.join(sorted(protocol_plan(variant).deviations)) or 'no deviation'}", flush=True)
    return dict(zip(variants, fit_many(variants.values(), progress=progress), strict=True))


def protocol_table(runs: dict[str, Run], n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Accuracy, macro F1 and each class's F1 of every variant, with bootstrap 95 % intervals over its test
    predictions, and the change in macro F1 from the corrected protocol.

    Taught in ``08_protocols``. A run of the ``accumulated_confusion`` deviation holds one prediction per subject
    *and epoch*; its intervals resample those rows, which are not independent, so they are too narrow.

    Args:
        runs: :func:`compare_protocols`' runs, by variant; ``corrected`` is the reference when present.
        n_resamples: bootstrap resamples.
        seed: the bootstrap's seed.

    Returns:
        One row per variant: its deviations, test predictions, and each figure as ``value`` with ``low`` and
        ``high`` columns.
    """
    rows = []
    for label, run in runs.items():
        predictions = run.predictions
        y_true = predictions["label"].map(CLASS_TO_INDEX).to_numpy()
        y_pred = predictions["pred"].map(CLASS_TO_INDEX).to_numpy()
        row = {"variant": label, "deviations": ", ".join(sorted(protocol_plan(run.config).deviations)) or "none",
               "test predictions": len(predictions)}
        for name, metric in _figures().items():
            value, low, high = bootstrap_ci(y_true, y_pred, metric, n_resamples=n_resamples, seed=seed)
            row.update({name: value, f"{name} low": low, f"{name} high": high})
        rows.append(row)
    table = pd.DataFrame(rows).set_index("variant")
    if "corrected" in table.index:
        table.insert(2, "Δ macro F1", table["macro F1"] - table.loc["corrected", "macro F1"])
    return table


def _figures() -> dict[str, str]:
    """Each figure of the table and the :func:`~brainclf_lib.evaluation.metrics.bootstrap_ci` metric it is."""
    return {"accuracy": "accuracy", "macro F1": "macro_f1", **{f"{name} F1": f"f1_{name}" for name in CLASSES}}
