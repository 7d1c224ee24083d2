"""``brainclf replicate``: the paper's grid, 3 architectures x {scratch, pre-trained} x 3 folds, in one table;
and cross-validation, its one-architecture slice. Both sit above the training loop and train through
:func:`~brainclf_lib.training.parallel.fit_many`.

Taught in ``06_results``. Finished runs are skipped, so a grid killed half-way picks up where it stopped. With
several devices runs go in parallel, one per device; on a CPU two at a time, each on half its threads. Runs are
found by their stored config, not their folder name.
"""

from __future__ import annotations

import itertools
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pandas as pd

from ..conventions import CLASS_TO_INDEX, KINETICS, is_kinetics
from ..data.step import prepare_data
from ..errors import GridIncompleteError
from ..evaluation.metrics import PER_CLASS, aggregate_folds, mcnemar
from ..experiment.config import ExperimentConfig
from ..experiment.protocols import protocol_plan
from ..experiment.run_folder import Run, cv_summary_path, find_runs, init_label, source_label
from ..files import write_csv, write_json
from ..models.architectures import ARCHS, PAPER_NAMES
from ..models.pretrained import PretrainedWeightsUnavailable, load_source_state
from ..paths import PathLike, resolve
from ..training.loop import fit
from ..training.parallel import fit_many
from ..training.source_task import source_weights_file
from . import cluster
from .cluster import SlurmSettings

RESULTS = "results.csv"


def grid(config: ExperimentConfig, archs: tuple[str, ...] = ARCHS, pretrained: str | None = KINETICS) -> list[ExperimentConfig]:
    """Every run of the grid; ``pretrained`` is the source of the pre-trained arm (None: scratch only)."""
    inits = [None] + ([pretrained] if pretrained else [])
    return [config.replace(arch=arch, pretrained=init, fold=fold)
            for arch in archs for init in inits for fold in protocol_plan(config).folds]


def sourced_grid(config: ExperimentConfig, archs: tuple[str, ...] = ARCHS, pretrained: str | None = KINETICS) -> list[ExperimentConfig]:
    """The grid's runs, each pre-trained one pointing at its own architecture's source weights."""
    return [_with_source(c, pretrained) for c in grid(config, archs, pretrained)]


def replicate(config: ExperimentConfig, archs: tuple[str, ...] = ARCHS, pretrained: str | None = KINETICS,
              devices: list[str] | None = None, progress: bool = True, launcher: str = "local",
              slurm: SlurmSettings | None = None, wait: bool = True, dry_run: bool = False) -> pd.DataFrame | None:
    """Run the grid (skipping finished runs) and write ``<output_dir>/results.csv``: a row per run and class.

    Taught in ``06_results`` (its ``fill_missing`` cell, on by default); ``brainclf replicate`` is its command line.

    Args:
        config: the experiment; its architecture, initialisation and fold are replaced by the grid's.
        archs: the architectures of the grid.
        pretrained: ``kinetics400``, or a folder holding ``<arch>.pt`` source weights for each architecture
            (or ``<arch>_fold<k>.pt`` for each fold, as ``brainclf source`` makes them on real data);
            ``None`` trains the scratch arm only.
        devices: one run at a time per device (e.g. ``["cuda:0", "cuda:1"]``); default: the config's device (on a
            CPU, two runs at a time: :func:`~brainclf_lib.training.parallel.runs_at_once`).
        progress: show progress bars.
        launcher: ``local`` (this machine) or ``slurm`` (one job array, one run per task, through submitit).
        slurm: each SLURM task's resources (default :class:`SlurmSettings`).
        wait: with ``slurm``, block until the array ends; without, return once it is submitted.
        dry_run: with ``slurm``, print the array and its sbatch script, and submit nothing.

    Returns:
        The results table, or ``None`` when runs submitted to SLURM have not finished yet (or on a dry run).
    """
    runs = sourced_grid(config, archs, pretrained)
    _check_sources(runs)
    if launcher == "slurm":
        return _replicate_on_slurm(config, runs, slurm or SlurmSettings(), wait, dry_run)
    if launcher != "local" or dry_run:
        raise ValueError(f"launcher={launcher!r}{' with dry_run' if dry_run else ''}: give launcher='local' or "
                         "'slurm' (a dry run is SLURM's)")
    todo = [run for run in runs if not Run.of(run).is_complete]
    devices = devices or [config.device]
    if len(devices) == 1:  # on a CPU, side by side where that trains more runs a minute (training.parallel)
        fit_many([run.replace(device=devices[0]) for run in todo], progress=progress)
    else:
        context = multiprocessing.get_context("spawn")
        with context.Manager() as manager:
            free = manager.Queue()
            for device in devices:
                free.put(device)
            with ProcessPoolExecutor(len(devices), mp_context=context) as pool:
                list(pool.map(_run_on_free_device, todo, [free] * len(todo)))
    return _write_results(config, runs)


def missing_runs(config: ExperimentConfig, pretrained: str | None = KINETICS, archs: tuple[str, ...] = ARCHS) -> pd.DataFrame:
    """The runs of the grid that have not finished: what :func:`replicate` would train next.

    Taught in ``06_results``.

    Args:
        config: the experiment.
        pretrained: the pre-trained arm's source, as :func:`replicate` takes it.
        archs: the architectures of the grid.
    """
    runs = sourced_grid(config, archs, pretrained)
    rows = [{"arch": run.arch, "init": init_label(run), "fold": run.fold, "run": Run.of(run).name}
            for run in runs if not Run.of(run).is_complete]
    return pd.DataFrame(rows, columns=["arch", "init", "fold", "run"])


def cross_validate(config: ExperimentConfig, progress: bool = True) -> dict[str, Any]:
    """Train and evaluate every fold (reusing finished ones), then write fold-wise and mean ± std metrics.

    Taught in ``04_train``. The summary lands beside the runs, named by the experiment's digest.
    """
    folds = [run.metrics for run in fit_many([config.replace(fold=fold) for fold in protocol_plan(config).folds], progress=progress)]
    summary = {"folds": folds, **aggregate_folds(folds)}
    write_json(cv_summary_path(config), summary)
    return summary


def results_table(runs: list[Run]) -> pd.DataFrame:
    """The tidy table the results notebook reads: run, arch, init, fold, class and every figure."""
    rows = []
    for run in runs:
        config, metrics = run.config, run.metrics
        common = {"run": run.name, "arch": config.arch, "model": PAPER_NAMES.get(config.arch, config.arch),
                  "init": init_label(config), "source": source_label(config),
                  "fold": config.fold, "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
                  "weighted_f1": metrics["weighted_f1"], "device": _device_name(run)}
        for name, values in metrics["per_class"].items():
            rows.append({**common, "class": name, **{k: values[k] for k in (*PER_CLASS, "support")}})
    return pd.DataFrame(rows)


def collect_runs(output_dir: PathLike, like: ExperimentConfig | None = None) -> pd.DataFrame:
    """The results table of every finished run under ``output_dir``: one row per run and class.

    Taught in ``06_results``.

    Args:
        output_dir: the folder holding the run folders.
        like: keep only the runs of this experiment (every setting equal but architecture, fold and pre-trained
            weights), so a grid at other settings in the same folder never mixes in.

    Returns:
        A tidy table: arch, init, fold, run name, class, precision, recall, specificity, F1, support, and the run's
        accuracy and macro / weighted F1.
    """
    return results_table(find_runs(output_dir, like=like))


def run_metrics(output_dir: PathLike, results: pd.DataFrame) -> dict[str, dict]:
    """Each run's metrics (confusion matrices, bootstrap intervals), by run name, read once.

    Taught in ``06_results``.

    Args:
        output_dir: the folder holding the run folders.
        results: :func:`collect_runs`' table, which names the runs.
    """
    folder = resolve(output_dir)
    return {name: Run(folder / name).metrics for name in results["run"].unique()}


def paired_comparisons(output_dir: PathLike, results: pd.DataFrame) -> pd.DataFrame:
    """McNemar's exact test between every two models (architecture x initialisation) on the subjects both were tested
    on, pooled over folds: is a difference in accuracy more than which subjects happened to be drawn?

    Taught in ``06_results``.

    Args:
        output_dir: the folder holding the run folders.
        results: :func:`collect_runs`' table, which names the runs to compare.

    Returns:
        One row per pair: subjects, both accuracies, and McNemar's discordant counts and exact p-value (``McNemar p``;
        headers in words, which a page can wrap).
    """
    folder = resolve(output_dir)
    predictions = {}
    for (model, init), runs in results.groupby(["model", "init"]):
        frames = [Run(folder / name).predictions for name in runs["run"].unique()]
        predictions[f"{model} · {init}"] = pd.concat(frames).set_index("subject_id")
    rows = []
    for a, b in itertools.combinations(predictions, 2):
        common = predictions[a].index.intersection(predictions[b].index)
        if common.empty:
            continue
        first, second = predictions[a].loc[common], predictions[b].loc[common]
        truth = first["label"].map(CLASS_TO_INDEX)
        test = mcnemar(truth, first["pred"].map(CLASS_TO_INDEX), second["pred"].map(CLASS_TO_INDEX))
        rows.append({"model A": a, "model B": b, "subjects": len(common),
                     "accuracy A": float((first["pred"] == first["label"]).mean()),
                     "accuracy B": float((second["pred"] == second["label"]).mean()),
                     "A right, B wrong": test["a_right_b_wrong"], "B right, A wrong": test["b_right_a_wrong"],
                     "McNemar p": test["p_value"]})
    return pd.DataFrame(rows)




def _with_source(config: ExperimentConfig, pretrained: str | None) -> ExperimentConfig:
    if config.pretrained is None or is_kinetics(pretrained):
        return config
    return config.replace(pretrained=str(source_weights_file(pretrained, config)))


def _check_sources(runs: list[ExperimentConfig]) -> None:
    """Fail before the first run, not hours into the grid, when a pre-trained arm's weights cannot be had."""
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


def _device_name(run: Run) -> str:
    environment = run.environment if run.path(Run.ENVIRONMENT).exists() else {}
    return environment.get("device_name") or environment.get("device") or "unknown"


def _replicate_on_slurm(config: ExperimentConfig, runs: list[ExperimentConfig], settings: SlurmSettings, wait: bool,
                        dry_run: bool) -> pd.DataFrame | None:
    """The data step once, here; then one job array of the unfinished runs; the table once every run is done."""
    if dry_run:
        print(cluster.dry_run(runs, config.output_dir, settings))
        return None
    prepare_data(config)  # the grid's runs share one cohort and its splits: tasks only read them, never race for them
    job = cluster.submit_grid(runs, config.output_dir, settings)
    print(f"[slurm] submitted job array {job} (logs in {cluster.slurm_folder(config.output_dir)})" if job else
          "[slurm] nothing to submit: every run is finished, queued or running", flush=True)
    status = cluster.wait_for_grid(runs, config.output_dir) if wait else cluster.grid_status(runs, config.output_dir)
    if (status["state"] == "done").all():
        return _write_results(config, runs)
    if not wait:
        return None
    failed = status[status["state"] == "failed"]
    raise GridIncompleteError("\n".join(
        [f"{len(failed)} of {len(status)} runs ended without finishing; run the same command again to resubmit "
         "them (each resumes from its last.pt):"] +
        [f"  {row.run} ({row.task}): {row.detail}; log {row.log}:\n{cluster.log_tail(row.log)}" for row in failed.itertuples()]))


def _write_results(config: ExperimentConfig, runs: list[ExperimentConfig]) -> pd.DataFrame:
    table = results_table([Run.of(run) for run in runs])
    write_csv(resolve(config.output_dir) / RESULTS, table)
    return table
