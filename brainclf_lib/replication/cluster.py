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

from ..experiment.config import ExperimentConfig
from ..experiment.run_folder import Run, init_label
from ..extras import require
from ..files import read_json, write_json
from ..paths import PathLike, resolve
from ..training.loop import fit

#: Where a grid's SLURM logs, submissions and grid record go, under its output folder.
SLURM_FOLDER = "slurm"
#: One line per submission: the job id and which array task trains which run.
SUBMISSIONS = "submissions.jsonl"
#: The grid's runs, so that ``brainclf status --output-dir DIR`` can list every one of them.
GRID = "grid.json"
#: squeue's pending reasons that waiting never clears: the request is more than the partition's nodes, time limit or a
#: per-job limit will ever give. ``Resources``, ``Priority``, the ``*Grp*`` limits, ``ReqNodeNotAvail`` and
#: ``PartitionNodeLimit`` (which can both mean a node is down) clear by themselves, so they are waited on.
HOPELESS = re.compile(r"PartitionConfig|BadConstraints|PartitionTimeLimit|MaxMemPerLimit|InvalidQOS|InvalidAccount"
                      r"|(QOS|Assoc)Max\w*Per(Job|Node)\w*|QOSMin\w+")
#: A word of a pending reason or an sbatch error -> the option that changes it, and the field that holds its value.
_OPTIONS = (("Time|Wall|time limit", "--slurm-time", "time"), ("Cpu|processors", "--slurm-cpus-per-task", "cpus_per_task"),
            ("Mem", "--slurm-mem", "mem"), ("GRES|gres", "--slurm-gpus-per-task", "gpus_per_task"))


class SlurmRequestError(ValueError):
    """A request SLURM can never meet (more CPUs, memory, GPUs or time than the partition gives). A ``ValueError``, so
    that ``brainclf`` exits 1 with it instead of leaving an array pending that would never start."""


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


class TrainTask:
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

    def checkpoint(self, config: dict):
        """What submitit's ``helpers.Checkpointable`` does, without subclassing it, so that importing this module
        needs no submitit: requeue the same call."""
        return require("submitit", "cluster").helpers.DelayedSubmission(self, config)


def submit_grid(runs: list[ExperimentConfig], output_dir: PathLike, settings: SlurmSettings) -> str | None:
    """Submit, as one job array, every run that is neither finished nor still queued or running.

    Args:
        runs: the grid's runs (their data prepared already).
        output_dir: the grid's output folder; logs go to ``<output_dir>/slurm/``.
        settings: the resources of each task.

    Returns:
        The array's job id, or ``None`` when nothing needed submitting.

    Raises:
        SlurmRequestError: ``settings`` ask for more than the partition's nodes have (checked with ``sinfo`` before
            anything is submitted), or sbatch refused them; the message names the ``--slurm-*`` option to change.
    """
    folder = slurm_folder(output_dir)
    write_json(folder / GRID, [run.to_dict() for run in runs])
    states = grid_status(runs, output_dir)
    todo = [run for run, state in zip(runs, states["state"], strict=True) if state in ("not submitted", "failed")]
    if not todo:
        return None
    check_request(settings)
    submitit = require("submitit", "cluster", "--launcher slurm")
    from submitit.core.utils import FailedJobError  # here, not at the top: submitit is the cluster extra

    executor = submitit.SlurmExecutor(folder=folder)
    executor.update_parameters(**settings.sbatch_parameters())
    try:
        jobs = executor.map_array(TrainTask(), [run.to_dict() for run in todo])
    except FailedJobError as error:  # sbatch refused the array: name the option behind its words, where they say
        advice = _option_advice(str(error), settings)
        if advice is None:
            raise
        raise SlurmRequestError(f"sbatch refused the array ({str(error).strip()}): {advice}; nothing was "
                                "submitted") from error
    record = {"job": jobs[0].job_id.split("_")[0], "submitted": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "tasks": {Run.of(run).name: {"task": job.job_id, "log": str(job.paths.stderr)} for run, job in zip(todo, jobs, strict=True)},
              "settings": asdict(settings)}  # read back to name the option when a task can never start
    with open(folder / SUBMISSIONS, "a") as handle:
        handle.write(json.dumps(record) + "\n")
    return record["job"]


def grid_status(runs: list[ExperimentConfig], output_dir: PathLike) -> pd.DataFrame:
    """Every run of the grid and its state: ``done``, ``pending``, ``running``, ``failed`` (with the scheduler's
    word for it where it has one, and the last lines of its log) or ``not submitted``; a pending run's ``reason`` is
    squeue's (``Priority``, ``Resources``, ``PartitionConfig``...), in its ``detail`` too.

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
        reason = queued[task["task"]][1] if state == "pending" else ""
        rows.append({"arch": config.arch, "init": init_label(config), "fold": config.fold, "run": run.name,
                     "state": state, "task": task.get("task", ""), "detail": detail, "reason": reason,
                     "log": task.get("log", "")})
    return pd.DataFrame(rows, columns=["arch", "init", "fold", "run", "state", "task", "detail", "reason", "log"])


def wait_for_grid(runs: list[ExperimentConfig], output_dir: PathLike, poll_s: float = 10.0,
                  say: Callable[[str], None] = print) -> pd.DataFrame:
    """Block until no run of the grid is pending or running, saying how many are in each state (and why SLURM keeps
    the pending ones waiting) as that changes. Tasks pending for a reason that never clears (:data:`HOPELESS`) are
    cancelled and raise :class:`SlurmRequestError` at once: waiting on them would be waiting forever."""
    last = None
    while True:
        status = grid_status(runs, output_dir)
        counts = status["state"].value_counts()
        reasons = sorted(set(status.loc[status["state"] == "pending", "reason"]) - {"", "None"})
        why = {"pending": f" ({', '.join(reasons)})" if reasons else ""}
        line = ", ".join(f"{counts.get(state, 0)} {state}{why.get(state, '')}"
                         for state in ("pending", "running", "done", "failed"))
        if line != last:
            say(f"[slurm] {line}")
            last = line
        cancel_hopeless(status, output_dir)
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
    require("submitit", "cluster", "--launcher slurm")
    # here, not at the top: submitit is the cluster extra. A private function, as submitit has no public way to show
    # its script: SlurmExecutor refuses to start without srun (a dry run is read off the cluster too) and builds the
    # text in its private _make_submission_file_text, with this function. submitit is pinned, and
    # tests/replication/test_cluster.py reads this text from a dry run against a real SLURM.
    from submitit.slurm.slurm import _make_sbatch_string  # here, not at the top: see above

    command = " ".join([shlex.quote(sys.executable), "-u -m submitit.core._submit", shlex.quote(str(folder))])
    script = _make_sbatch_string(command=command, folder=folder, map_count=len(todo), **settings.sbatch_parameters())
    return "\n".join(lines + ["The sbatch script (submitit writes it, with the runs pickled beside it):", script])


def check_request(settings: SlurmSettings) -> None:
    """Refuse, before anything is submitted, what no node of the partition can ever give: SLURM accepts some such
    arrays and keeps them pending forever (``PartitionConfig``), and refuses others in words that name no option."""
    problems = request_problems(settings)
    if problems:
        raise SlurmRequestError("SLURM could never start a task of this array, so nothing was submitted: "
                                + "; ".join(problems))


def request_problems(settings: SlurmSettings) -> list[str]:
    """What of ``settings`` is more than the largest node of the partition has (CPUs, memory, GPUs) or more than its
    time limit, each as the ``--slurm-*`` option to change and to what; empty where all fits or sinfo cannot say."""
    nodes = partition_nodes(settings.partition)
    if nodes is None:
        return []
    if not nodes:
        return [f"--slurm-partition {settings.partition} is no partition of this cluster (`sinfo -s` lists them)"]
    where = f" in partition {nodes[0]['partition']}"
    cpus, mem, gpus = (max(node[key] for node in nodes) for key in ("cpus", "mem", "gpus"))
    problems = []
    if settings.cpus_per_task > cpus:
        problems.append(f"--slurm-cpus-per-task {settings.cpus_per_task} exceeds the largest node's {cpus} CPUs{where}: "
                        f"pass --slurm-cpus-per-task {cpus} or less")
    if (_megabytes(settings.mem) or 0) > mem:
        problems.append(f"--slurm-mem {settings.mem} exceeds the largest node's {mem} MB of memory{where}: "
                        f"pass --slurm-mem {mem}M or less")
    if settings.gpus_per_task > gpus:
        problems.append(f"--slurm-gpus-per-task {settings.gpus_per_task} " + (
            f"exceeds the largest node's {gpus} GPUs{where}: pass --slurm-gpus-per-task {gpus} or less" if gpus else
            f"asks for GPUs, but no node{where} has one: pass --slurm-gpus-per-task 0 on a CPU-only cluster"))
    limit = nodes[0]["minutes"]
    if limit is not None and settings.time > limit:
        problems.append(f"--slurm-time {settings.time} exceeds the time limit{where} ({limit:g} minutes): "
                        f"pass --slurm-time {int(limit)} or less")
    return problems


def partition_nodes(partition: str | None) -> list[dict] | None:
    """CPUs, memory (MB), GPUs and time limit (minutes; None: none) of each node of ``partition`` (the cluster's default
    where None), from ``sinfo``; None where sinfo is missing or says nothing, so that a submission the check cannot
    judge is left to SLURM."""
    if shutil.which("sinfo") is None:
        return None
    done = subprocess.run(["sinfo", "-h", "-N", "-o", "%c|%m|%G|%P|%l"], capture_output=True, text=True)
    rows = [line.split("|") for line in done.stdout.splitlines() if line.count("|") == 4]
    name = partition or next((row[3][:-1] for row in rows if row[3].endswith("*")), None)
    if done.returncode != 0 or not rows or name is None:
        return None
    try:
        return [{"cpus": int(cpus.rstrip("+")), "mem": int(mem.rstrip("+")), "gpus": _gpus(gres), "partition": name,
                 "minutes": _minutes(limit)} for cpus, mem, gres, part, limit in rows if part.rstrip("*") == name]
    except ValueError:  # a figure sinfo did not give as a number
        return None


def cancel_hopeless(status: pd.DataFrame, output_dir: PathLike) -> None:
    """Cancel the grid's tasks that SLURM keeps pending for a reason that never clears (:data:`HOPELESS`), and raise
    naming the option to change: left queued they would wait forever, and hold back a corrected submission."""
    stuck = status[(status["state"] == "pending") & status["reason"].map(lambda r: bool(HOPELESS.fullmatch(r)))]
    if stuck.empty:
        return
    tasks, reason = stuck["task"].tolist(), stuck["reason"].iloc[0]
    done = subprocess.run(["scancel", *tasks], capture_output=True, text=True)
    cancelled = ("Cancelled them (scancel), so none is left queued" if done.returncode == 0 else
                 f"scancel failed ({done.stderr.strip()}): `scancel {' '.join(tasks)}` cancels them")
    jobs = ", ".join(sorted({task.split("_")[0] for task in tasks}))
    raise SlurmRequestError(
        f"{len(tasks)} task(s) of job {jobs} can never start: SLURM keeps them pending with reason {reason}, which "
        f"waiting never clears. {_pending_advice(reason, recorded_settings(output_dir))}. {cancelled}; the same "
        "command with that option changed submits them again")


def recorded_settings(output_dir: PathLike) -> SlurmSettings | None:
    """The settings of the grid's latest submission (None before any, or where it did not record them)."""
    path = slurm_folder(output_dir, create=False) / SUBMISSIONS
    lines = [line for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    settings = json.loads(lines[-1]).get("settings") if lines else None
    return SlurmSettings(**{**settings, "setup": tuple(settings["setup"])}) if settings else None


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


def squeue_states() -> dict[str, tuple[str, str]]:
    """``<job>_<index>`` -> state and reason (why a pending one waits: ``Priority``, ``PartitionConfig``...) of this
    user's tasks that SLURM still holds (pending ones listed one by one)."""
    if shutil.which("squeue") is None:
        return {}
    done = subprocess.run(["squeue", "-h", "-r", "-u", getpass.getuser(), "-o", "%i|%T|%r"], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"squeue failed: {done.stderr.strip()}")
    rows = [line.split("|", 2) for line in done.stdout.splitlines() if line.count("|") == 2]
    return {task: (state, reason.strip()) for task, state, reason in rows}


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


def _pending_advice(reason: str, settings: SlurmSettings | None) -> str:
    """What to change for a pending reason that never clears: the node check names the option where a node is too
    small; the reason's own words name it where a partition's or a per-job limit is the bound."""
    if settings is None:
        return "Change the --slurm-* options they were submitted with"
    advice = "; ".join(request_problems(settings)) or _option_advice(reason, settings)
    if advice:
        return advice
    request = " ".join(f"{option} {getattr(settings, field)}" for _, option, field in _OPTIONS)
    return (f"The request ({request}) is more than partition {settings.partition or '(the default)'} allows a task "
            "(`scontrol show partition` lists its limits): lower one of them, or pass another --slurm-partition")


def _option_advice(words: str, settings: SlurmSettings) -> str | None:
    """The ``--slurm-*`` option that SLURM's words (a pending reason, an sbatch error) are about, and what to pass;
    None where they name none."""
    for pattern, option, field in _OPTIONS:
        if re.search(pattern, words):
            fix = "0 on a CPU-only cluster" if field == "gpus_per_task" else "a smaller value"
            return f"{option} {getattr(settings, field)} is more than SLURM gives a task here: pass {option} {fix}"
    if re.search("QOS|Account", words):
        return "SLURM finds no valid account or QOS of yours here: ask the cluster's admins (no --slurm-* option)"
    return None


def _megabytes(mem: str) -> float | None:
    """``--mem`` as SLURM reads it (a number with K, M, G or T; M where none) in MB; None where it is no such number."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)B?", str(mem).strip().upper())
    return float(match[1]) * 1024.0 ** "KMGT".index(match[2] or "M") / 1024 if match else None


def _gpus(gres: str) -> int:
    """The GPUs of one node in sinfo's ``%G`` (``gpu:4``, ``gpu:a100:4(S:0-1)``, ``(null)``)."""
    return sum(int(count) for count in re.findall(r"gpu(?::[^:,(]+)?:(\d+)", gres))


def _minutes(limit: str) -> float | None:
    """sinfo's time limit (``M:SS``, ``H:MM:SS``, ``D-HH:MM:SS``) in minutes; None for ``infinite`` or none."""
    days, _, clock = limit.rpartition("-")
    if not re.fullmatch(r"\d*", days) or not re.fullmatch(r"\d+(:\d+){0,2}", clock):
        return None
    return int(days or 0) * 1440 + sum(int(part) * 60 ** i for i, part in enumerate(clock.split(":")[::-1])) / 60


def _state(run: Run, task: str | None, queued: dict[str, tuple[str, str]], ended: dict[str, str]) -> tuple[str, str]:
    if run.is_complete:
        return "done", ended.get(task, "") if task else ""
    if task is None:
        return "not submitted", ""
    if task in queued:
        state, reason = queued[task]
        if state != "PENDING":
            return "running", state
        never = ": can never start" if HOPELESS.fullmatch(reason) else ""
        return "pending", f"PENDING ({reason}{never})" if reason and reason != "None" else "PENDING"
    word = ended.get(task) or "ended without finishing its run"
    resumable = " (resumable from last.pt)" if run.path(Run.LAST).exists() else ""
    return "failed", f"{word}{resumable}"


def _stop_on_sigterm(signum: int, frame) -> None:
    raise SystemExit(f"SLURM sent {signal.Signals(signum).name} (scancel, or a preemption that cancels): the run "
                     "stops here, resumable from its last.pt")
