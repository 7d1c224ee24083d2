"""``brainclf replicate``: the paper's grid, 3 architectures x {scratch, pre-trained} x 3 folds, in one table.

Taught in ``06_results``. Finished runs are skipped, so a grid killed half-way picks up where it stopped; with
several devices, runs go in parallel, one per device.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from .config import ExperimentConfig
from .evaluation import is_complete
from .io import read_json, write_csv
from .metrics import PER_CLASS
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
    return config.replace(pretrained=str(Path(pretrained) / f"{config.arch}.pt"))


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
