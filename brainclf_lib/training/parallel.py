"""Several runs at once: :func:`fit_many` trains a list of runs side by side where that trains more of them a minute.

At the fast preset's small volumes one run does not keep two CPU cores busy. On the 2-core machine six fast-preset
runs (the three architectures on folds 0 and 1, ``benchmarks/parallel_runs.py``) took 251 s one after another on two
threads and 211 s two at a time on one thread each: 1.2 times as many runs a minute. So on a CPU the runs of a grid
go as many at a time as this process has threads (at most :data:`MAX_AT_ONCE`), each on its share of them; on
one-thread shares a run that would train alone at the end starts with the first ones (:func:`processes_at_once`). A run is
seeded from its config, so it ends with the same weights whichever process trains it, given the same thread count:
on two cores the grid's runs train on one thread each, the float path of the expectations table's ``threads=1``
trajectories. On CUDA, runs go one at a time per device (``replicate(devices=...)``).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import torch
from tqdm.auto import tqdm

from ..data.step import prepare_data, splits_path
from ..experiment.config import ExperimentConfig
from ..experiment.device import pick_device
from ..experiment.run_folder import Run
from .loop import fit

#: Runs trained side by side on a CPU, at most (and, on one-thread shares, a third that would otherwise train alone at
#: the end: :func:`processes_at_once`): measured on 2 cores; more processes would also hold more memory.
MAX_AT_ONCE = 2
#: Jobs of fewer optimiser steps than this go one after another: a process takes about 5 s to start (torch's import),
#: more than the smoke preset's 4-step runs take to train.
MIN_STEPS_SIDE_BY_SIDE = 20

Job = TypeVar("Job")


def runs_at_once(device: str = "auto", limit: int = MAX_AT_ONCE) -> int:
    """How many runs to train side by side: on a CPU one per thread this process may use (``OMP_NUM_THREADS``,
    ``torch.set_num_threads``), at most ``limit``; on a GPU, or in a torchrun process, one. Measured on 2 cores
    only: on a larger CPU the runs split its threads between them, two at a time, on a float path of their own."""
    if pick_device(device).type != "cpu" or int(os.environ.get("WORLD_SIZE", 1)) > 1:
        return 1
    return max(1, min(limit, torch.get_num_threads()))


def jobs_at_once(n_jobs: int, device: str = "auto", steps: int | None = None) -> int:
    """How many of ``n_jobs`` jobs of ``steps`` optimiser steps each (``None``: a whole epoch or more) to run at
    once: :func:`runs_at_once`, at most ``n_jobs``, and 1 for jobs too short to repay a process."""
    if steps is not None and steps < MIN_STEPS_SIDE_BY_SIDE:
        return 1
    return max(1, min(runs_at_once(device), n_jobs))


def processes_at_once(n_jobs: int, at_once: int, threads: int) -> int:
    """How many processes :func:`map_in_processes` starts with for ``n_jobs`` jobs of ``at_once`` shares of
    ``threads`` threads each: ``at_once``, plus, for shares of exactly one thread, the ``n_jobs % at_once`` jobs that
    would otherwise run alone at the end, leaving cores idle. After the first ones the jobs go ``at_once`` at a time.
    Each job still runs on its one thread, so on its own float path. Three fast-preset runs on two cores took 110 s
    all at once and 129 s two at a time (``benchmarks/parallel_runs.py``). Shares of several threads get no extra
    process: processes that compute on several threads each and oversubscribe the cores wait on each other (README,
    What it costs).

    >>> processes_at_once(3, 2, 1), processes_at_once(12, 2, 1), processes_at_once(7, 2, 1), processes_at_once(3, 2, 4)
    (3, 2, 3, 2)
    """
    return at_once + (n_jobs % at_once if n_jobs > at_once and threads == 1 else 0)


def optimiser_steps(config: ExperimentConfig, epochs: int | None = None) -> int | None:
    """The optimiser steps of a job of ``config`` over ``epochs`` (default its own): ``None`` when its epochs are not
    capped (``max_steps_per_epoch``), i.e. whole epochs, long enough for :func:`jobs_at_once`."""
    if config.max_steps_per_epoch is None:
        return None
    return (config.epochs if epochs is None else epochs) * config.max_steps_per_epoch


def map_in_processes(function: Callable[[Job], Any], jobs: Sequence[Job], at_once: int, name: Callable[[Job], str] = str,
                     progress: bool = True, description: str = "runs") -> list[Any]:
    """``[function(job) for job in jobs]``, ``at_once`` at a time in processes of their own, each on an equal share of
    this process's threads, in order. On one-thread shares, jobs that would be left to run alone at the end start
    with the first ones instead (:func:`processes_at_once`), on their one thread.

    As one process would: the first failure starts no further job, the ones already running finish (what they wrote
    is kept), and the failure is raised as it was, with a note naming its job (several: an ``ExceptionGroup``). An
    interrupt (Ctrl-C, a notebook's stop button) ends the processes at once; a run they were training resumes from
    its last checkpoint. ``function`` must be importable (a module's, not a notebook's): the processes are spawned,
    and a script that calls this at its top level needs ``if __name__ == "__main__":``.
    """
    share = torch.get_num_threads() // at_once
    threads, slots = max(1, share), processes_at_once(len(jobs), at_once, share)  # a zero share gets no extra process
    waiting = list(enumerate(jobs))[::-1]  # popped from the end: in order
    running: dict[Future, int] = {}
    results: dict[int, Any] = {}
    failures: list[BaseException] = []
    extra = f", {slots - at_once} more at first" if slots > at_once else ""
    bar = tqdm(total=len(jobs), desc=f"{description} ({at_once} at a time{extra}, {threads} thread{'s' * (threads > 1)} each)",
               unit="job", disable=not progress)
    pool = ProcessPoolExecutor(slots, mp_context=multiprocessing.get_context("spawn"),
                               initializer=torch.set_num_threads, initargs=(threads,))
    try:
        while waiting or running:
            while waiting and len(running) < slots and not failures:
                index, job = waiting.pop()
                running[pool.submit(function, job)] = index
            slots = at_once  # the extra processes' jobs start with the first ones only
            if not running:
                break
            bar.set_postfix_str(", ".join(name(jobs[index]) for index in running.values()))
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                index = running.pop(future)
                try:
                    results[index] = future.result()
                except BrokenProcessPool as error:
                    error.add_note(f"{name(jobs[index])}: its process ended abruptly (killed, or out of memory?)")
                    failures.append(error)
                except Exception as error:  # noqa: BLE001 - raised below as it was, named
                    error.add_note(f"in {name(jobs[index])}")
                    failures.append(error)
                bar.update()
    except BaseException:  # an interrupt: end the processes now, not after every job
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        bar.close()
    pool.shutdown()
    if failures:
        if waiting:
            failures[0].add_note(f"not started: {', '.join(name(job) for _, job in reversed(waiting))}")
        if len(failures) == 1:
            raise failures[0]
        raise ExceptionGroup(f"{len(failures)} of {len(jobs)} {description} failed", failures)
    return [results[index] for index in range(len(jobs))]


def fit_many(configs: Iterable[ExperimentConfig], at_once: int | None = None, progress: bool = True) -> list[Run]:
    """``[fit(config, resume=True) for config in configs]``, with runs side by side on a CPU: train every run that
    has not finished and return each config's :class:`~brainclf_lib.experiment.run_folder.Run`, in order.

    Taught in ``05_transfer_learning``, beside ``fit``; ``replicate``, ``cross_validate`` and ``compare_protocols``
    train through it.

    Args:
        configs: the runs; the same run twice is trained once.
        at_once: runs side by side (default :func:`jobs_at_once` for the first config's device; 1: one after the
            other in this process, as ``fit`` does).
        progress: show progress (one bar per epoch when one at a time, one bar of runs otherwise).
    """
    configs = list(configs)
    runs = [Run.of(config) for config in configs]
    todo = list({run.folder: config for run, config in zip(runs, configs, strict=True) if not run.is_complete}.values())
    if at_once is None:
        steps = [optimiser_steps(config) for config in todo]
        at_once = jobs_at_once(len(todo), configs[0].device if configs else "auto", None if None in steps else max(steps, default=0))
    at_once = min(at_once, len(todo))
    if at_once <= 1:
        for config in todo:
            fit(config, resume=True, progress=progress)
    else:
        for config in {splits_path(config): config for config in todo}.values():
            prepare_data(config, verbose=progress)  # here, once: no two processes write the same cohort or splits
        map_in_processes(_fit_quietly, todo, at_once, name=lambda config: Run.of(config).name, progress=progress)
    return runs


def _fit_quietly(config: ExperimentConfig) -> str:
    return fit(config, resume=True, progress=False).name
