import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from brainclf_lib.experiment.run_folder import Run


def test_two_cpu_processes_end_with_identical_weights(tiny_config):
    config = tiny_config.replace(epochs=1, augmentation="none")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(Path(__file__).with_name("ddp_worker.py")), json.dumps(config.to_dict())]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    run = Run.of(config)
    rank0, rank1 = (torch.load(run.folder / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    best = run.load_model().state_dict()  # rank 0 saved the weights both ranks ended with
    assert all(torch.equal(rank0[k], best[k]) for k in best)
    assert run.is_complete and run.metrics["n"] > 0


def test_a_non_finite_loss_on_one_process_stops_every_process_with_the_same_error(tiny_config, tmp_path):
    """Process 1's loss is NaN; without the agreement, process 0 waits in the backward pass's all-reduce for a
    process that has stopped (until the collective's timeout, or a connection error): here both stop at once, on
    the same error naming process 1."""
    config = tiny_config.replace(epochs=1, augmentation="none")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(Path(__file__).with_name("ddp_worker.py")), json.dumps(config.to_dict()), "nan-on-rank-1",
               str(tmp_path)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    messages = [(tmp_path / f"rank{rank}.txt").read_text() for rank in (0, 1)]
    assert messages[0] == messages[1], messages
    assert "became nan at epoch 0, step 0" in messages[0] and "on process 1" in messages[0]
