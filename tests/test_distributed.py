import json
import os
import subprocess
import sys
from pathlib import Path

import torch


def test_two_cpu_processes_end_with_identical_weights(tiny_config):
    config = tiny_config.replace(epochs=1, augmentation="none")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(Path(__file__).with_name("ddp_worker.py")), json.dumps(config.to_dict())]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = Path(config.output_dir) / config.run_name
    rank0, rank1 = (torch.load(run_dir / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    initial = torch.load(run_dir / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    assert not torch.equal(rank0["layer1.0.conv1.0.weight"], torch.zeros_like(initial["layer1.0.conv1.0.weight"]))
    assert (run_dir / "metrics.json").exists()
