"""``brainclf replicate``: the paper's grid, 3 architectures x {scratch, pre-trained} x 3 folds, in one table.

Taught in ``06_results``. Finished runs are skipped, so a grid killed half-way picks up where it stopped; with
several devices, runs go in parallel, one per device.
"""

from __future__ import annotations

import itertools
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from .config import ExperimentConfig
from .conventions import CLASSES
from .evaluation import is_complete
from .io import read_json, write_csv
from .metrics import PER_CLASS, mcnemar
from .models import ARCHS, PAPER_NAMES
from .paths import resolve
from .training import fit, run_dir_of

RESULTS = "results.csv"


def grid(config: ExperimentConfig, archs: tuple[str, ...] = ARCHS, pretrained: str | None = "kinetics400") -> list[ExperimentConfig]:
    """Every run of the grid; ``pretrained`` is the source of the pre-trained arm (None: scratch only)."""
    inits = [None] + ([pretrained] if pretrained else [])
    return [config.replace(arch=arch, pretrained=init, fold=fold)
            for arch in archs for init in inits for fold in range(config.n_folds)]


def replicate(config: ExperimentConfig, archs: tuple[str, ...] = ARCHS, pretrained: str | None = "kinetics400",
              devices: list[str] | None = None, progress: bool = True) -> pd.DataFrame:
    """Run the grid (skipping finished runs) and write ``<output_dir>/results.csv``: a row per run and class.

    Args:
        pretrained: ``kinetics400``, or a folder holding ``<arch>.pt`` source weights for each architecture.
        devices: one run at a time per device (e.g. ``["cuda:0", "cuda:1"]``); default: the config's device.
    """
    runs = [_with_source(c, pretrained) for c in grid(config, archs, pretrained)]
    _check_sources(runs)
    todo = [run for run in runs if not is_complete(run_dir_of(run))]
    devices = devices or [config.device]
    if len(devices) == 1:
        for run in todo:
            fit(run.replace(device=devices[0]), resume=True, progress=progress)
    else:
        context = multiprocessing.get_context("spawn")
        with context.Manager() as manager:
            free = manager.Queue()
            for device in devices:
                free.put(device)
            with ProcessPoolExecutor(len(devices), mp_context=context) as pool:
                list(pool.map(_run_on_free_device, todo, [free] * len(todo)))
    table = results_table([run_dir_of(run) for run in runs])
    write_csv(resolve(config.output_dir) / RESULTS, table)
    return table


def results_table(run_dirs: list[Path]) -> pd.DataFrame:
    """The tidy table the results notebook reads: run, arch, init, fold, class and every figure."""
    rows = []
    for run_dir in run_dirs:
        config = ExperimentConfig.from_json(run_dir / "config.json")
        metrics = read_json(run_dir / "metrics.json")
        common = {"run": run_dir.name, "arch": config.arch, "model": PAPER_NAMES[config.arch],
                  "init": "scratch" if config.pretrained is None else "pretrained", "fold": config.fold,
                  "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"], "weighted_f1": metrics["weighted_f1"]}
        for name, values in metrics["per_class"].items():
            rows.append({**common, "class": name, **{k: values[k] for k in (*PER_CLASS, "support")}})
    return pd.DataFrame(rows)


def _with_source(config: ExperimentConfig, pretrained: str | None) -> ExperimentConfig:
    if config.pretrained is None or str(pretrained).lower() in ("kinetics400", "kinetics"):
        return config
    return config.replace(pretrained=str(resolve(pretrained) / f"{config.arch}.pt"))


def _check_sources(runs: list[ExperimentConfig]) -> None:
    """Fail before the first run, not hours into the grid, when a pre-trained arm's weights cannot be had."""
    from .pretrained import PretrainedWeightsUnavailable, load_source_state

    for source, arch in dict.fromkeys((run.pretrained, run.arch) for run in runs if run.pretrained):
        try:
            load_source_state(source, arch)
        except (PretrainedWeightsUnavailable, FileNotFoundError) as error:
            raise PretrainedWeightsUnavailable(
                f"The pre-trained arm needs {source} for {arch}: {error}. Pass --pretrained none (scratch only) "
                "or a folder of <arch>.pt files (`brainclf source --out DIR` trains a source task here)."
            ) from error


def _run_on_free_device(config: ExperimentConfig, free) -> None:
    device = free.get()
    try:
        fit(config.replace(device=device), resume=True, progress=False)
    finally:
        free.put(device)


def collect_runs(output_dir: str | Path) -> pd.DataFrame:
    """The results table of every finished run under ``output_dir`` (what ``06_results`` reads)."""
    from .evaluation import is_complete

    folder = resolve(output_dir)
    runs = sorted(p for p in folder.glob("*_fold*") if p.is_dir() and is_complete(p)) if folder.exists() else []
    return results_table(runs)


def run_metrics(output_dir: str | Path, results: pd.DataFrame) -> dict[str, dict]:
    """Each run's ``metrics.json`` (confusion matrices, bootstrap intervals), by run name, read once."""
    folder = resolve(output_dir)
    return {run: read_json(folder / run / "metrics.json") for run in results["run"].unique()}


def paired_comparisons(output_dir: str | Path, results: pd.DataFrame) -> pd.DataFrame:
    """McNemar's exact test between every two models (architecture x initialisation) on the subjects both were
    tested on, pooled over folds: is a difference in accuracy more than which subjects happened to be drawn?"""
    folder = resolve(output_dir)
    predictions = {}
    for (model, init), runs in results.groupby(["model", "init"]):
        frames = [pd.read_csv(folder / run / "predictions.csv") for run in runs["run"].unique()]
        predictions[f"{model} · {init}"] = pd.concat(frames).set_index("subject_id")
    rows = []
    for a, b in itertools.combinations(predictions, 2):
        common = predictions[a].index.intersection(predictions[b].index)
        if common.empty:
            continue
        first, second = predictions[a].loc[common], predictions[b].loc[common]
        truth = first["label"].map(CLASSES.index)
        test = mcnemar(truth, first["pred"].map(CLASSES.index), second["pred"].map(CLASSES.index))
        rows.append({"model A": a, "model B": b, "subjects": len(common),
                     "accuracy A": float((first["pred"] == first["label"]).mean()),
                     "accuracy B": float((second["pred"] == second["label"]).mean()), **test})
    return pd.DataFrame(rows)
