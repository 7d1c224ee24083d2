"""Run by torchrun in test_distributed.py: train the tiny config and save this rank's weights."""

import json
import sys

import torch
import torch.distributed as dist

from brainclf_lib.experiment.config import ExperimentConfig
from brainclf_lib.training.loop import _train

config = ExperimentConfig.from_dict(json.loads(sys.argv[1]))
model, run = _train(config, progress=False)
torch.save(model.state_dict(), run.folder / f"rank{dist.get_rank()}.pt")
dist.destroy_process_group()
