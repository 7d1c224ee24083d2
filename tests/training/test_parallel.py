import json
import math
import multiprocessing

import pandas as pd
import pytest
import torch

from brainclf_lib.experiment.run_folder import Run
from brainclf_lib.training.loop import fit
from brainclf_lib.training.parallel import fit_many, jobs_at_once, map_in_processes, processes_at_once, runs_at_once


@pytest.fixture()
def two_threads():
    """This process holding two threads, as on the 2-core machine, whatever the test runner set."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_runs_side_by_side_each_take_their_share_of_the_threads_and_come_back_in_order(tiny_config, two_threads,
                                                                                      monkeypatch):
    configs = [tiny_config.replace(epochs=1, fold=1, device="cpu"), tiny_config.replace(epochs=1, fold=0, device="cpu")]
    again = [config.replace(output_dir=tiny_config.output_dir + "/again") for config in configs]
    assert runs_at_once("cpu") == 2
    runs = fit_many([*configs, configs[0], *again], progress=False)  # the same run twice is trained once
    assert [run.config.fold for run in runs] == [1, 0, 1, 1, 0] and all(run.is_complete for run in runs)
    for run in runs:
        assert json.loads(run.path(Run.ENVIRONMENT).read_text())["torch_threads"] == 1  # one of the two threads each
    for first, second in zip(runs[:2], runs[3:], strict=True):  # whichever process and neighbour: the same run
        pd.testing.assert_frame_equal(first.predictions, second.predictions)
    assert torch.get_num_threads() == 2  # the processes' shares are theirs: this process keeps its threads
    torch.set_num_threads(1)  # a worker's share: the same run trained here, alone, ends with the same weights
    alone = fit(configs[1].replace(output_dir=tiny_config.output_dir + "/alone"), progress=False)
    weights, expected = (torch.load(run.path(Run.BEST), map_location="cpu") for run in (runs[1], alone))
    assert weights["epoch"] == expected["epoch"] == 0
    assert all(torch.equal(a, b) for a, b in zip(weights["model"].values(), expected["model"].values(), strict=True))
    for trainer in ("map_in_processes", "fit"):
        monkeypatch.setattr(f"brainclf_lib.training.parallel.{trainer}", lambda *a, **k: pytest.fail("trained again"))
    assert [run.folder for run in fit_many(configs, progress=False)] == [run.folder for run in runs[:2]]


def test_jobs_too_short_to_repay_a_process_go_one_after_another(two_threads, monkeypatch):
    assert jobs_at_once(12, "cpu", steps=None) == 2 and jobs_at_once(1, "cpu") == 1
    assert jobs_at_once(12, "cpu", steps=4) == 1  # the smoke preset's runs: 4 steps
    assert jobs_at_once(3, "cpu", steps=48) == 2  # its source models: 12 epochs of 4
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert jobs_at_once(12, "cpu") == 1  # a torchrun rank trains its share of one run, nothing beside it


def test_a_failure_is_raised_as_it_was_and_names_its_job():
    with pytest.raises(ValueError, match="math domain error") as raised:
        map_in_processes(math.sqrt, [-1.0, 4.0, 9.0, 16.0], at_once=2, progress=False)
    assert "in -1.0" in raised.value.__notes__


def test_a_job_that_would_run_alone_at_the_end_starts_with_the_first_ones(two_threads):
    assert processes_at_once(3, 2, 1) == 3 and processes_at_once(4, 2, 1) == 2 and processes_at_once(3, 2, 2) == 2
    with multiprocessing.get_context("spawn").Manager() as manager:
        meeting = manager.Barrier(3, timeout=120)  # broken unless the three jobs are running at the same time
        threads = map_in_processes(_meet, [meeting] * 3, at_once=2, name=lambda _: "meeting", progress=False)
    assert threads == [1, 1, 1]  # each on its share of two threads, as two at a time would have it: its float path


def test_one_thread_means_one_run_at_a_time():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert runs_at_once("cpu") == 1
    finally:
        torch.set_num_threads(before)


def _meet(meeting) -> int:
    meeting.wait()
    return torch.get_num_threads()
