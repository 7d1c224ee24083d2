import json
import os
import subprocess
import sys

import torch

from brainclf_lib.experiment.device import amp_dtype, default_workers, use_channels_last
from brainclf_lib.paths import REPO_ROOT
from brainclf_lib.training.profiling import parse_setting, reference_results

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_the_benchmark_prints_and_writes_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "benchmark.py"), "--shape", "8", "16", "16", "--archs", "mc3",
         "--settings", "fp32", "fp32+cl", "--repeats", "1", "--epoch-volumes", "3", "--workers", "0", "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=True,
    )
    assert "matmul peak fp32" in run.stdout and "data wait %" in run.stdout
    result = json.loads(out.read_text())
    assert result["shape"] == [8, 16, 16] and result["matmul_peak"]["fp32"] > 1e9
    assert [row["setting"] for row in result["steps"]] == ["fp32", "fp32+cl"]
    step = result["steps"][0]
    assert step["GFLOP step"] > 2 * step["GFLOP fwd"] > 0 and step["s/step"] > step["s/inference"] > 0
    (epoch,) = result["epochs"]
    assert epoch["volumes"] == 3 and epoch["workers"] == 0 and 0 <= epoch["data wait %"] <= 100


def test_settings_parse_and_bad_ones_are_refused():
    assert parse_setting("fp16+cl") == {"name": "fp16+cl", "dtype": torch.float16, "precision": "fp16",
                                        "channels_last": True, "compile": False}
    try:
        parse_setting("fp8")
    except ValueError as error:
        assert "fp32|fp16|bf16" in str(error)
    else:
        raise AssertionError("fp8 was accepted")


def test_the_shipped_results_cover_every_architecture_on_cpu_and_gpu():
    table = reference_results()
    assert {"CPU, 2 threads", "NVIDIA H100 80GB HBM3"} <= set(table["machine"])
    assert set(table["arch"]) == {"r3d_18", "mc3_18", "r2plus1d_18"} and (table["s/step"] > 0).all()


def test_defaults_are_the_measured_fastest_per_device():
    assert amp_dtype("auto", CUDA) == torch.float16 and amp_dtype("auto", CPU) is None
    assert amp_dtype("bf16", CPU) == torch.bfloat16 and amp_dtype("off", CUDA) is None
    assert use_channels_last(None, CUDA, torch.float16) and not use_channels_last(None, CPU, None)
    assert use_channels_last(None, CPU, torch.bfloat16) and not use_channels_last(False, CUDA, torch.float16)
    assert default_workers(CPU) == 0 and 1 <= default_workers(CUDA) <= 8


def test_the_parallel_runs_benchmark_times_each_setting_on_the_same_runs(smoke_data):
    run = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "parallel_runs.py"), "--preset", "smoke", "--archs", "mc3",
         "--folds", "0", "1", "--at-once", "1", "2"],
        env={**os.environ, "BRAINCLF_DATA": str(smoke_data), "OMP_NUM_THREADS": "2"}, capture_output=True, text=True,
        timeout=600, check=True,
    )
    lines = run.stdout.splitlines()
    header = lines.index(next(line for line in lines if line.split()[:2] == ["at", "once"]))
    rows = [line.split() for line in lines[header + 1:header + 3]]
    # at once, processes, threads each, runs
    assert [row[:4] for row in rows] == [["1", "1", "2", "2"], ["2", "2", "1", "2"]]
    assert all(float(row[4]) > 0 for row in rows)
    assert "test calls equal to the first setting's (another float path):" in run.stdout
