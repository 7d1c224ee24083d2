"""Several runs at once: :func:`fit_many` trains a list of runs side by side where that trains more of them a minute.

At the fast preset's small volumes one run does not keep two CPU cores busy. On the 2-core machine six fast-preset
runs (the three architectures on folds 0 and 1, ``benchmarks/parallel_runs.py``) took 251 s one after another on two
threads and 211 s two at a time on one thread each: 1.2 times as many runs a minute. So on a CPU the runs of a grid
go as many at a time as this process has threads (at most :data:`MAX_AT_ONCE`), each on its share of them. A run is
seeded from its config, so it ends with the same weights whichever process trains it, given the same thread count:
on two cores the grid's runs train on one thread each, the float path of the expectations table's ``threads=1``
trajectories. On CUDA, runs go one at a time per device (``replicate(devices=...)``).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

import torch
from tqdm.auto import tqdm

from ..data.step import prepare_data, splits_path
from ..experiment.config import ExperimentConfig
from ..experiment.device import pick_device
from ..experiment.run_folder import Run
from .loop import fit

#: Runs trained side by side on a CPU, at most: measured on 2 cores; more processes would also hold more memory.
MAX_AT_ONCE = 2
#: Jobs of fewer optimiser steps than this go one after another: a process takes about 5 s to start (torch's import),
#: more than the smoke preset's 4-step runs take to train.
MIN_STEPS_SIDE_BY_SIDE = 20

Job = TypeVar("Job")


def runs_at_once(device: str = "auto", limit: int = MAX_AT_ONCE) -> int:
    """How many runs to train side by side: on a CPU one per thread this process may use (``OMP_NUM_THREADS``,
    ``torch.set_num_threads``), at most ``limit``; on a GPU one."""
    if pick_device(device).type != "cpu":
        return 1
    return max(1, min(limit, torch.get_num_threads()))


def side_by_side(n_jobs: int, device: str = "auto", steps: int | None = None) -> int:
    """How many of ``n_jobs`` jobs of ``steps`` optimiser steps each (``None``: a whole epoch or more) to run at
    once: :func:`runs_at_once`, at most ``n_jobs``, and 1 for jobs too short to repay a process."""
    if steps is not None and steps < MIN_STEPS_SIDE_BY_SIDE:
        return 1
    return max(1, min(runs_at_once(device), n_jobs))


def map_in_processes(function: Callable[[Job], Any], jobs: Sequence[Job], at_once: int, name: Callable[[Job], str] = str,
                     progress: bool = True, description: str = "runs") -> list[Any]:
    """``[function(job) for job in jobs]``, ``at_once`` jobs at a time in processes of their own, each on an equal
    share of this process's threads. Every job runs even when another fails; the failures are raised together at
    the end, each named by ``name(job)``, so nothing another job finished is lost.

    ``function`` must be importable (a module's function, not a notebook's): the processes are spawned.
    """
    threads = max(1, torch.get_num_threads() // at_once)
    context = multiprocessing.get_context("spawn")
    results: dict[int, Any] = {}
    failures: list[str] = []
    bar = tqdm(total=len(jobs), desc=f"{description} ({at_once} at a time, {threads} thread{'s' * (threads > 1)} each)",
               unit="run", disable=not progress)
    with ProcessPoolExecutor(at_once, mp_context=context, initializer=torch.set_num_threads, initargs=(threads,)) as pool:
        pending: dict[Future, int] = {pool.submit(function, job): i for i, job in enumerate(jobs)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                try:
                    results[index] = future.result()
                except Exception as error:  # noqa: BLE001 - every failure is reported below, with its job's name
                    failures.append(f"{name(jobs[index])}: {type(error).__name__}: {error}")
                bar.update()
    bar.close()
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(jobs)} {description} failed (the others finished and are kept):\n"
                           + "\n".join(failures))
    return [results[i] for i in range(len(jobs))]


def fit_many(configs: Iterable[ExperimentConfig], at_once: int | None = None, progress: bool = True) -> list[Run]:
    """Train every run of ``configs`` that has not finished (as ``fit(config, resume=True)`` would) and return each
    config's :class:`~brainclf_lib.experiment.run_folder.Run`, in order.

    Taught in ``05_transfer_learning``, beside ``fit``; ``replicate`` and ``compare_protocols`` train through it.

    Args:
        configs: the runs; the same run twice is trained once.
        at_once: runs side by side (default :func:`side_by_side` for the first config's device; 1: one after the
            other in this process, as ``fit`` does).
        progress: show progress (one bar per epoch when one at a time, one bar of runs otherwise).
    """
    configs = list(configs)
    if not configs:
        return []
    todo = list({Run.of(config).folder: config for config in configs if not Run.of(config).is_complete}.values())
    steps = [_steps(config) for config in todo]
    longest = None if None in steps else max(steps, default=0)
    at_once = min(at_once, len(todo)) if at_once else side_by_side(len(todo), configs[0].device, longest)
    if at_once <= 1:
        for config in todo:
            fit(config, resume=True, progress=progress)
    else:
        for config in {splits_path(config): config for config in todo}.values():
            prepare_data(config, verbose=progress)  # here, once: no two processes write the same cohort or splits
        map_in_processes(_fit_quietly, todo, at_once, name=lambda config: Run.of(config).name, progress=progress)
    return [Run.of(config) for config in configs]


def _steps(config: ExperimentConfig) -> int | None:
    return None if config.max_steps_per_epoch is None else config.epochs * config.max_steps_per_epoch


def _fit_quietly(config: ExperimentConfig) -> str:
    return fit(config, resume=True, progress=False).name
