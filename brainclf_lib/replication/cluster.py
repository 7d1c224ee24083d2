"""The paper's grid on a SLURM cluster: one job array submitted through submitit, one run per array task.

A run is keyed by its config's digest, locked while it trains, written atomically and resumable, so an array task
is only ``fit(config, resume=True)`` on a shared filesystem. The data step runs once, before submission; a task
only reads the prepared cohort. Nothing here needs ``sacct`` (a cluster without ``slurmdbd`` has none): a run's
state is read from its folder first, then from ``squeue`` and, where the cluster keeps one, the job-completion log.

Taught nowhere in the notebooks: ``brainclf replicate --launcher slurm`` is its command line (README, "On a
cluster").
"""

from __future__ import annotations

import getpass
import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import submitit
from submitit.slurm.slurm import _make_sbatch_string  # the sbatch script submitit writes, for --dry-run

from ..experiment.config import ExperimentConfig
from ..experiment.run_folder import Run, init_label
from ..files import read_json, write_json
from ..paths import PathLike, resolve
from ..training.loop import fit

#: Where a grid's SLURM logs, submissions and grid record go, under its output folder.
SLURM_FOLDER = "slurm"
#: One line per submission: the job id and which array task trains which run.
SUBMISSIONS = "submissions.jsonl"
#: The grid's runs, so that ``brainclf status --output-dir DIR`` can list every one of them.
GRID = "grid.json"
@dataclass(frozen=True)
class SlurmSettings:
    """What each array task asks SLURM for (the ``--slurm-*`` options): one run needs one GPU, a few data workers
    and well under 32 GB at the paper's 2 mm; two hours leave room for 100 epochs (about 15 to 20 minutes a run on
    an H100, README "What it costs")."""

    partition: str | None = None
    time: int = 120  # minutes; a task that reaches it is requeued and resumes from last.pt
    gpus_per_task: int = 1
    cpus_per_task: int = 8
    mem: str = "32G"
    array_parallelism: int = 18  # the whole grid at once, if the cluster lets it
    setup: tuple[str, ...] = ()  # lines before the task, e.g. "module load cuda", "source .venv/bin/activate"

    def sbatch_parameters(self) -> dict:
        """submitit's names for these settings."""
        parameters = {"job_name": "brainclf", "time": self.time, "cpus_per_task": self.cpus_per_task,
                      "mem": self.mem, "array_parallelism": self.array_parallelism, "setup": list(self.setup)}
        if self.partition:
            parameters["partition"] = self.partition
        if self.gpus_per_task:
            parameters["gpus_per_task"] = self.gpus_per_task
        return parameters


class TrainTask(submitit.helpers.Checkpointable):
    """One array task: train (or resume) one run. When its time runs out (or SLURM signals a preemption with
    ``USR2``), submitit calls :meth:`checkpoint`, which requeues the same call; ``fit`` then resumes from
    ``last.pt``. ``scancel`` (SIGTERM) stops the run at once, leaving it resumable, instead of training on for
    SLURM's kill-wait only to be killed."""

    def __call__(self, config: dict) -> str:
        run = ExperimentConfig.from_dict(config)
        folder = Run.of(run)
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
        resuming = folder.path(Run.LAST).exists()
        print(f"[task] {'resuming' if resuming else 'training'} {folder.name} ({run.arch}, {init_label(run)}, "
              f"fold {run.fold}){' from its last.pt' if resuming else ''}", flush=True)
        fit(run, resume=True, progress=False)
        return folder.name


def submit_grid(runs: list[ExperimentConfig], output_dir: PathLike, settings: SlurmSettings) -> str | None:
    """Submit, as one job array, every run that is neither finished nor still queued or running.

    Args:
        runs: the grid's runs (their data prepared already).
        output_dir: the grid's output folder; logs go to ``<output_dir>/slurm/``.
        settings: the resources of each task.

    Returns:
        The array's job id, or ``None`` when nothing needed submitting.
    """
    folder = slurm_folder(output_dir)
    write_json(folder / GRID, [run.to_dict() for run in runs])
    states = grid_status(runs, output_dir)
    todo = [run for run, state in zip(runs, states["state"], strict=True) if state in ("not submitted", "failed")]
    if not todo:
        return None
    executor = submitit.SlurmExecutor(folder=folder)
    executor.update_parameters(**settings.sbatch_parameters())
    jobs = executor.map_array(TrainTask(), [run.to_dict() for run in todo])
    record = {"job": jobs[0].job_id.split("_")[0], "submitted": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "tasks": {Run.of(run).name: {"task": job.job_id, "log": str(job.paths.stderr)} for run, job in zip(todo, jobs, strict=True)}}
    with open(folder / SUBMISSIONS, "a") as handle:
        handle.write(json.dumps(record) + "\n")
    return record["job"]


def grid_status(runs: list[ExperimentConfig], output_dir: PathLike) -> pd.DataFrame:
    """Every run of the grid and its state: ``done``, ``pending``, ``running``, ``failed`` (with the scheduler's
    word for it where it has one, and the last lines of its log) or ``not submitted``.

    Args:
        runs: the grid's runs.
        output_dir: the grid's output folder.
    """
    tasks = latest_tasks(output_dir)
    queued = squeue_states()
    ended = jobcomp_states()
    rows = []
    for config in runs:
        run = Run.of(config)
        task = tasks.get(run.name, {})
        state, detail = _state(run, task.get("task"), queued, ended)
        rows.append({"arch": config.arch, "init": init_label(config), "fold": config.fold, "run": run.name,
                     "state": state, "task": task.get("task", ""), "detail": detail, "log": task.get("log", "")})
    return pd.DataFrame(rows, columns=["arch", "init", "fold", "run", "state", "task", "detail", "log"])


def wait_for_grid(runs: list[ExperimentConfig], output_dir: PathLike, poll_s: float = 10.0,
                  say: Callable[[str], None] = print) -> pd.DataFrame:
    """Block until no run of the grid is pending or running, saying how many are in each state as that changes."""
    last = None
    while True:
        status = grid_status(runs, output_dir)
        counts = status["state"].value_counts()
        line = ", ".join(f"{counts.get(state, 0)} {state}" for state in ("pending", "running", "done", "failed"))
        if line != last:
            say(f"[slurm] {line}")
            last = line
        if not counts.get("pending", 0) and not counts.get("running", 0):
            return status
        time.sleep(poll_s)


def dry_run(runs: list[ExperimentConfig], output_dir: PathLike, settings: SlurmSettings) -> str:
    """What ``--launcher slurm`` would submit, as text: the runs (one array task each), the resources and the sbatch
    script submitit would write. Nothing is submitted or written."""
    folder = slurm_folder(output_dir, create=False)
    todo = [run for run in runs if not Run.of(run).is_complete]
    lines = [f"A job array of {len(todo)} tasks ({len(runs) - len(todo)} of the grid's {len(runs)} runs are finished):"]
    lines += [f"  task {i:2d}: {config.arch:12s} {init_label(config):10s} fold {config.fold}  {Run.of(config).name}"
              for i, config in enumerate(todo)]
    lines.append("Resources of each task: " + ", ".join(f"{k}={v}" for k, v in asdict(settings).items()))
    command = " ".join([shlex.quote(sys.executable), "-u -m submitit.core._submit", shlex.quote(str(folder))])
    script = _make_sbatch_string(command=command, folder=folder, map_count=len(todo), **settings.sbatch_parameters())
    return "\n".join(lines + ["The sbatch script (submitit writes it, with the runs pickled beside it):", script])


def slurm_folder(output_dir: PathLike, create: bool = True) -> Path:
    """``<output_dir>/slurm/``: the logs, the submissions and the grid record."""
    folder = resolve(output_dir) / SLURM_FOLDER
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def recorded_grid(output_dir: PathLike) -> list[ExperimentConfig]:
    """The runs of the grid last submitted from ``output_dir``."""
    path = slurm_folder(output_dir, create=False) / GRID
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: no grid was submitted to SLURM from {resolve(output_dir)}")
    return [ExperimentConfig.from_dict(config) for config in read_json(path)]


def latest_tasks(output_dir: PathLike) -> dict[str, dict]:
    """Run name -> its latest submission's array task (``<job>_<index>``) and log."""
    path = slurm_folder(output_dir, create=False) / SUBMISSIONS
    tasks: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                tasks.update(json.loads(line)["tasks"])
    return tasks


def squeue_states() -> dict[str, str]:
    """``<job>_<index>`` -> state of this user's tasks that SLURM still holds (pending ones listed one by one)."""
    if shutil.which("squeue") is None:
        return {}
    done = subprocess.run(["squeue", "-h", "-r", "-u", getpass.getuser(), "-o", "%i|%T"], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"squeue failed: {done.stderr.strip()}")
    return dict(line.split("|", 1) for line in done.stdout.split() if "|" in line)


def jobcomp_states() -> dict[str, str]:
    """``<job>_<index>`` (or ``<job>``) -> final state, from the job-completion log where the cluster keeps one as text
    (``JobCompType=jobcomp/filetxt``); empty otherwise."""
    if shutil.which("scontrol") is None:
        return {}
    done = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True)
    settings = dict(re.findall(r"^(JobComp\w+)\s*=\s*(\S*)", done.stdout, re.M))
    path = Path(settings.get("JobCompLoc", ""))
    if settings.get("JobCompType") != "jobcomp/filetxt" or not path.is_file():
        return {}
    states = {}
    for line in path.read_text(errors="replace").splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if "ArrayJobId" in fields and "ArrayTaskId" in fields:
            states[f"{fields['ArrayJobId']}_{fields['ArrayTaskId']}"] = fields.get("JobState", "")
        elif "JobId" in fields:  # a resubmission of one run is a job of its own, not an array
            states[fields["JobId"]] = fields.get("JobState", "")
    return states


def log_tail(path: PathLike, lines: int = 8) -> str:
    """The last lines of a task's log, or a line saying there is none yet."""
    path = Path(path)
    if not path.exists():
        return f"(no log at {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _state(run: Run, task: str | None, queued: dict[str, str], ended: dict[str, str]) -> tuple[str, str]:
    if run.is_complete:
        return "done", ended.get(task, "") if task else ""
    if task is None:
        return "not submitted", ""
    if task in queued:
        return ("pending" if queued[task] == "PENDING" else "running"), queued[task]
    word = ended.get(task) or "ended without finishing its run"
    resumable = " (resumable from last.pt)" if run.path(Run.LAST).exists() else ""
    return "failed", f"{word}{resumable}"


def _stop_on_sigterm(signum: int, frame) -> None:
    raise SystemExit(f"SLURM sent {signal.Signals(signum).name} (scancel, or a preemption that cancels): the run "
                     "stops here, resumable from its last.pt")
