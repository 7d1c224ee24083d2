"""Runs side by side against runs one after another: what ``fit_many`` buys on this machine.

    python benchmarks/parallel_runs.py                              # r3d, mc3, r2plus1d on folds 0 and 1, fast preset
    python benchmarks/parallel_runs.py --archs mc3 --folds 0 1 2 --at-once 1 2

The same runs (the preset's synthetic cohort, installed or generated on first use in the data folder) are trained once per
``--at-once``, each time into a fresh folder, and the wall time of the whole list is printed with runs a minute.
Not a timed test: one measurement per setting on a machine that may be busy; run it with the machine to itself.
Runs on other thread counts follow other float paths, so their test calls are compared too.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import pandas as pd
import torch

from brainclf_lib.data.step import prepare_data
from brainclf_lib.experiment.config import make_config
from brainclf_lib.training.parallel import fit_many, processes_at_once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--archs", nargs="+", default=["r3d", "mc3", "r2plus1d"])
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--at-once", type=int, nargs="+", default=[1, 2], help="runs side by side, one setting each")
    args = parser.parse_args()
    prepare_data(make_config(args.preset))  # the cohort is not part of what is timed
    threads = torch.get_num_threads()
    rows, calls = [], {}
    for at_once in args.at_once:
        with tempfile.TemporaryDirectory() as out:
            configs = [make_config(args.preset, arch=arch, fold=fold, output_dir=out) for arch in args.archs for fold in args.folds]
            began = time.perf_counter()
            runs = fit_many(configs, at_once=at_once, progress=False)
            seconds = time.perf_counter() - began
            calls[at_once] = pd.concat([run.predictions.set_index("subject_id")["pred"] for run in runs])  # run by run
        n = min(at_once, len(configs))  # as fit_many has it
        rows.append({"at once": n, "processes": processes_at_once(len(configs), n, threads // n) if n > 1 else 1,
                     "threads each": max(1, threads // n), "runs": len(configs),
                     "seconds": round(seconds, 1), "s a run": round(seconds / len(configs), 1),
                     "runs a minute": round(60 * len(configs) / seconds, 2)})
    table = pd.DataFrame(rows)
    table["speed-up"] = (table["runs a minute"] / table["runs a minute"].iloc[0]).round(2)
    print(f"{args.preset} preset, {threads} threads in this process, {torch.__version__}")
    print(table.to_string(index=False))
    first = calls[args.at_once[0]]
    for at_once in args.at_once[1:]:
        same = (calls[at_once].to_numpy() == first.to_numpy()).sum()
        print(f"test calls equal to the first setting's (another float path): {same} of {len(first)}")


if __name__ == "__main__":
    main()
