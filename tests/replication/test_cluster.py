"""The grid on a real single-node SLURM (``.ci/slurm start``: munged, slurmctld and slurmd on this machine), never a
mock: one job array through submitit, states without sacct, a cancelled task resumed, a bad data root refused, a
request no node can meet refused before submission or, pending for a reason that never clears, cancelled at once."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from brainclf_lib.experiment.config import ExperimentConfig
from brainclf_lib.experiment.run_folder import Run
from brainclf_lib.replication import cluster
from brainclf_lib.replication.cluster import SlurmSettings, TrainTask
from brainclf_lib.replication.replicate import grid

ROOT = Path(__file__).resolve().parents[2]
#: CI sets this: there the SLURM tests must run, not skip.
REQUIRED = os.environ.get("BRAINCLF_REQUIRE_SLURM") == "1"
JOBCOMP = Path("/var/log/slurm/jobcomp.log")


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"SLURM is required here (BRAINCLF_REQUIRE_SLURM=1) but cannot be started: {reason}")
    pytest.skip(f"SLURM cannot be started here: {reason}")


@pytest.fixture(scope="module")
def slurm():
    """A running single-node SLURM, stopped again after the module's tests."""
    if os.geteuid() != 0:
        _unavailable("starting munged, slurmctld and slurmd needs root")
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        _unavailable("slurm-wlm is not installed and there is no apt-get to install it")
    started = subprocess.run(["bash", str(ROOT / ".ci" / "slurm"), "start"], capture_output=True, text=True, timeout=900)
    if started.returncode != 0:
        _unavailable(f"`.ci/slurm start` failed: {started.stderr[-1500:]}")
    yield
    subprocess.run(["bash", str(ROOT / ".ci" / "slurm"), "stop"], capture_output=True, timeout=120)


def _options(config: ExperimentConfig, out: Path) -> list[str]:
    return ["--preset", "smoke", "--data-root", config.data_root, "--spacing", str(config.spacing),
            "--input-shape", *map(str, config.input_shape), "--skull-strip", "none", "--num-workers", "0",
            "--epochs", "6", "--max-steps-per-epoch", "2", "--pretrained", "none", "--output-dir", str(out)]


SLURM = ["--launcher", "slurm", "--slurm-gpus-per-task", "0", "--slurm-cpus-per-task", "1", "--slurm-mem", "1G",
         "--slurm-time", "20", "--slurm-array-parallelism", "2"]


def _brainclf(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    # One thread everywhere, so that the local and the SLURM runs take the same float path; on SLURM the resume
    # state every second (not every 30 s), so that a task cancelled mid-training has one to resume from.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if "slurm" in args:
        env["BRAINCLF_RESUME_EVERY_S"] = "1"
    done = subprocess.run([sys.executable, "-m", "brainclf_lib", *args], capture_output=True, text=True, env=env,
                          timeout=900, cwd=ROOT)
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_the_grid_as_one_job_array_resumes_a_cancelled_task_and_equals_the_local_grid(slurm, tiny_config, tmp_path):
    local, on_slurm = tmp_path / "local", tmp_path / "slurm"
    _brainclf("replicate", *_options(tiny_config, local))

    submitted = _brainclf("replicate", *_options(tiny_config, on_slurm), *SLURM)  # no --wait: returns at once
    job = re.search(r"submitted job array (\d+)", submitted.stdout)[1]
    tasks = cluster.latest_tasks(on_slurm)
    assert len(tasks) == 9 and {t["task"] for t in tasks.values()} == {f"{job}_{i}" for i in range(9)}
    victim_name, victim = next((name, t["task"]) for name, t in tasks.items() if t["task"] == f"{job}_0")
    victim_run = Run(on_slurm / victim_name)
    deadline = time.monotonic() + 300
    while not (victim_run.path(Run.LAST).exists() and not victim_run.is_complete):  # mid-training: resumable
        assert time.monotonic() < deadline, "the first task never wrote its resume state"
        time.sleep(0.05)
    subprocess.run(["scancel", victim], check=True)
    while victim in cluster.squeue_states():
        time.sleep(0.5)
    assert not victim_run.is_complete and victim_run.path(Run.LAST).exists()

    status = _brainclf("status", "--output-dir", str(on_slurm)).stdout
    assert re.search(rf"failed\s+{victim}\s+CANCELLED", status) and "UNKNOWN" not in status
    again = _brainclf("replicate", *_options(tiny_config, on_slurm), *SLURM, "--wait")
    assert "[slurm] 0 pending, 0 running, 9 done, 0 failed" in again.stdout
    submissions = [json.loads(line) for line in (on_slurm / "slurm" / cluster.SUBMISSIONS).read_text().splitlines()]
    assert len(submissions) == 2 and set(submissions[1]["tasks"]) == {victim_name}  # the victim alone went again
    # (submitit submits a single run as a plain job: an array of one would be the same task)
    assert "[task] resuming" in Path(submissions[1]["tasks"][victim_name]["log"]).with_suffix(".out").read_text()
    for name in tasks:  # and no run was trained twice: each epoch logged once
        assert Run(on_slurm / name).log["epoch"].tolist() == list(range(6)), name
    resubmitted = cluster.latest_tasks(on_slurm)

    # the resumed run ends with the weights of the same run trained without interruption
    resumed = torch.load(victim_run.path(Run.BEST), map_location="cpu", weights_only=False)
    alone = torch.load(Run(local / victim_name).path(Run.BEST), map_location="cpu", weights_only=False)
    states = [b.get("model", b) for b in (resumed, alone)]
    assert states[0].keys() == states[1].keys() and all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    pd.testing.assert_frame_equal(pd.read_csv(on_slurm / "results.csv"), pd.read_csv(local / "results.csv"))

    # the scheduler's own records: every run finished as a task of an array
    records = [dict(re.findall(r"(\w+)=(\S*)", line)) for line in JOBCOMP.read_text().splitlines()]
    completed = {f"{r['ArrayJobId']}_{r['ArrayTaskId']}" if "ArrayJobId" in r else r.get("JobId")
                 for r in records if r.get("JobState") == "COMPLETED"}
    assert {t["task"] for t in resubmitted.values()} <= completed
    assert sum("_" in t["task"] for t in resubmitted.values()) == 8  # the first submission's array tasks


def test_a_bad_data_root_fails_before_anything_is_submitted(slurm, tiny_config, tmp_path):
    missing = tmp_path / "no-such-cohort"
    options = _options(tiny_config, tmp_path / "out")
    options[options.index("--data-root") + 1] = str(missing)
    before = set(cluster.squeue_states())
    done = _brainclf("replicate", *options, *SLURM, "--wait", check=False)
    assert done.returncode == 1 and str(missing) in done.stderr
    assert set(cluster.squeue_states()) == before and not (tmp_path / "out" / "slurm" / cluster.SUBMISSIONS).exists()


#: More CPUs than any node of any test machine has: SLURM accepts such an array and keeps it pending forever.
TOO_MANY_CPUS = "4096"


def _refused_before_submission(config: ExperimentConfig, out: Path, option: str, value: str) -> str:
    """``brainclf replicate --launcher slurm`` with one option changed; asserts that it exits 1 naming the option and
    queued nothing, and returns what it said."""
    options = list(SLURM)
    options[options.index(option) + 1] = value
    before = set(cluster.squeue_states())
    done = _brainclf("replicate", *_options(config, out), *options, check=False)  # no --wait: returns at once
    assert done.returncode == 1 and f"{option} {value} " in done.stderr, done.stdout[-2000:] + done.stderr[-2000:]
    assert set(cluster.squeue_states()) == before and not (out / "slurm" / cluster.SUBMISSIONS).exists()
    return done.stderr


@contextlib.contextmanager
def _at_most(seconds: int):
    """Fail instead of hanging where the block runs longer (a wait on a job that never starts)."""
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_more_cpus_than_a_node_has_are_refused_before_anything_is_submitted(slurm, tiny_config, tmp_path):
    said = _refused_before_submission(tiny_config, tmp_path / "out", "--slurm-cpus-per-task", TOO_MANY_CPUS)
    assert re.search(rf"--slurm-cpus-per-task {TOO_MANY_CPUS} exceeds the largest node's (\d+) CPUs in partition "
                     r"\w+: pass --slurm-cpus-per-task \1 or less", said), said


def test_a_gpu_on_a_cpu_only_cluster_is_refused_naming_the_option(slurm, tiny_config, tmp_path, monkeypatch):
    said = _refused_before_submission(tiny_config, tmp_path / "out", "--slurm-gpus-per-task", "1")
    assert "no node in partition" in said and "pass --slurm-gpus-per-task 0 on a CPU-only cluster" in said, said
    # where the check cannot judge (no sinfo), sbatch's own refusal names the option too
    monkeypatch.setattr(cluster, "check_request", lambda settings: None, raising=False)
    runs, before = [tiny_config.replace(output_dir=str(tmp_path / "out"))], set(cluster.squeue_states())
    settings = SlurmSettings(time=20, gpus_per_task=1, cpus_per_task=1, mem="1G")
    with pytest.raises(ValueError, match=r"gres.*--slurm-gpus-per-task 1 .*pass --slurm-gpus-per-task 0"):
        cluster.submit_grid(runs, tmp_path / "out", settings)
    assert set(cluster.squeue_states()) == before


def test_a_task_pending_for_a_reason_that_never_clears_fails_the_wait_at_once(slurm, tiny_config, tmp_path,
                                                                                monkeypatch):
    """Past the pre-check (as where sinfo cannot say), more CPUs than the node has: SLURM keeps the array pending
    with ``PartitionConfig``; status shows it, and the wait cancels the array and names the option within seconds."""
    out = tmp_path / "out"
    runs = grid(tiny_config.replace(output_dir=str(out)), archs=("r3d_18",), pretrained=None)
    monkeypatch.setattr(cluster, "check_request", lambda settings: None, raising=False)
    settings = SlurmSettings(time=20, gpus_per_task=0, cpus_per_task=int(TOO_MANY_CPUS), mem="1G")
    job = cluster.submit_grid(runs, out, settings)
    deadline = time.monotonic() + 30
    while not (status := cluster.grid_status(runs, out))["detail"].str.startswith("PENDING (PartitionConfig").all():
        assert time.monotonic() < deadline, status.to_string()  # the scheduler gives its reason within a second
        time.sleep(0.2)
    said, started = [], time.monotonic()
    with _at_most(20), pytest.raises(ValueError, match=r"can never start") as refused:
        cluster.wait_for_grid(runs, out, poll_s=0.5, say=said.append)
    assert time.monotonic() - started < 5, time.monotonic() - started
    assert said == [f"[slurm] {len(runs)} pending (PartitionConfig), 0 running, 0 done, 0 failed"]
    message = str(refused.value)
    assert f"{len(runs)} task(s) of job {job}" in message and "reason PartitionConfig" in message, message
    assert f"--slurm-cpus-per-task {TOO_MANY_CPUS} exceeds the largest node's" in message and "Cancelled" in message
    assert not {t["task"] for t in cluster.latest_tasks(out).values()} & set(cluster.squeue_states())  # none queued


def test_a_dry_run_prints_the_array_and_submits_nothing(slurm, tiny_config, tmp_path):
    before = set(cluster.squeue_states())
    done = _brainclf("replicate", *_options(tiny_config, tmp_path / "out"), *SLURM, "--dry-run")
    assert "A job array of 9 tasks" in done.stdout and "#SBATCH --array=0-8%2" in done.stdout
    assert "#SBATCH --cpus-per-task=1" in done.stdout and "submitit.core._submit" in done.stdout
    assert not (tmp_path / "out").exists() and set(cluster.squeue_states()) == before


def test_a_preempted_or_timed_out_task_requeues_the_same_run():
    """submitit calls checkpoint() on preemption and at the time limit; the requeued call is the same run, which
    fit resumes from last.pt."""
    task, config = TrainTask(), {"arch": "r3d_18", "fold": 1}
    requeued = task.checkpoint(config)
    assert requeued.function is task and requeued.args == (config,)
    assert SlurmSettings(gpus_per_task=0).sbatch_parameters().get("gpus_per_task") is None
