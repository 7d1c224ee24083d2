import json
import math

import pandas as pd
import pytest
import torch

from brainclf_lib.experiment.run_folder import Run
from brainclf_lib.training.parallel import fit_many, map_in_processes, runs_at_once, side_by_side


@pytest.fixture()
def two_threads():
    """This process holding two threads, as on the 2-core machine, whatever the test runner set."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_runs_side_by_side_each_take_their_share_of_the_threads_and_come_back_in_order(tiny_config, two_threads,
                                                                                      monkeypatch):
    configs = [tiny_config.replace(epochs=1, fold=1), tiny_config.replace(epochs=1, fold=0)]
    again = [config.replace(output_dir=tiny_config.output_dir + "/again") for config in configs]
    assert runs_at_once(tiny_config.device) == 2
    runs = fit_many([*configs, configs[0], *again], progress=False)  # the same run twice is trained once
    assert [run.config.fold for run in runs] == [1, 0, 1, 1, 0] and all(run.is_complete for run in runs)
    for run in runs:
        assert json.loads(run.path(Run.ENVIRONMENT).read_text())["torch_threads"] == 1  # one of the two threads each
    for first, second in zip(runs[:2], runs[3:], strict=True):  # whichever process and neighbour: the same run
        pd.testing.assert_frame_equal(first.predictions, second.predictions)
    assert torch.get_num_threads() == 2  # the processes' shares are theirs: this process keeps its threads
    monkeypatch.setattr("brainclf_lib.training.parallel.map_in_processes", lambda *a, **k: pytest.fail("trained again"))
    assert [run.folder for run in fit_many(configs, progress=False)] == [run.folder for run in runs[:2]]


def test_jobs_too_short_to_repay_a_process_go_one_after_another(two_threads):
    assert side_by_side(12, "cpu", steps=None) == 2 and side_by_side(1, "cpu") == 1
    assert side_by_side(12, "cpu", steps=4) == 1  # the smoke preset's runs: 4 steps
    assert side_by_side(3, "cpu", steps=48) == 2  # its source models: 12 epochs of 4


def test_one_failure_leaves_the_other_jobs_finished_and_names_itself():
    with pytest.raises(RuntimeError, match=r"1 of 3 runs failed.*\n-1\.0: ValueError: .*math domain error"):
        map_in_processes(math.sqrt, [4.0, -1.0, 9.0], at_once=2, progress=False)


def test_one_thread_means_one_run_at_a_time():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert runs_at_once("cpu") == 1
    finally:
        torch.set_num_threads(before)
