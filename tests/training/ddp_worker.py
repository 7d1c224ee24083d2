"""Run by torchrun in test_loop_distributed.py: train the tiny config and save this rank's weights.

With a second argument ``nan-on-rank-1 FOLDER``, process 1's loss is NaN from its first step, and each process
writes the error it stopped with to ``FOLDER/rank<k>.txt``.
"""

import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

import brainclf_lib.training.loop as loop
from brainclf_lib.errors import NonFiniteLossError
from brainclf_lib.experiment.config import ExperimentConfig
from brainclf_lib.training.loop import _train


class NaNLoss(torch.nn.Module):
    """The run's weighted loss, times NaN."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.inner(logits, labels) * float("nan")


config = ExperimentConfig.from_dict(json.loads(sys.argv[1]))
if sys.argv[2:3] == ["nan-on-rank-1"]:
    if os.environ["RANK"] == "1":
        weighted = loop.weighted_cross_entropy
        loop.weighted_cross_entropy = lambda labels: NaNLoss(weighted(labels))
    try:
        _train(config, progress=False)
        message = "no error"
    except NonFiniteLossError as error:
        message = str(error)
    Path(sys.argv[3], f"rank{os.environ['RANK']}.txt").write_text(message)
else:
    model, run = _train(config, progress=False)
    torch.save(model.state_dict(), run.folder / f"rank{dist.get_rank()}.pt")
dist.destroy_process_group()
