"""How close each model runs to this machine's limit: a table (and JSON) of FLOPs, step times and FLOP/s.

    python benchmarks/benchmark.py                          # fast-preset shape, this device
    python benchmarks/benchmark.py --shape 78 120 120       # the paper's 2 mm shape
    python benchmarks/benchmark.py --amp bf16 --channels-last --json out.json

Not a timed test: the machine is noisy, so configurations are interleaved in one run and medians are quoted.
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd
import torch

from brainclf_lib.models import ARCHS, build_model
from brainclf_lib.profiling import count_flops, matmul_peak, peak_memory_mb, time_step
from brainclf_lib.runtime import pick_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", type=int, nargs=3, default=[24, 32, 28], metavar=("D", "H", "W"))
    parser.add_argument("--archs", nargs="+", default=list(ARCHS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", default="off", choices=["off", "fp16", "bf16"], help="autocast dtype")
    parser.add_argument("--channels-last", action="store_true", help="channels_last_3d memory format")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per model (median reported)")
    parser.add_argument("--json", help="also write the table as JSON here")
    args = parser.parse_args()
    device = pick_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    dtype = {"off": None, "fp16": torch.float16, "bf16": torch.bfloat16}[args.amp]
    shape = (1, 1, *args.shape)
    peak32 = matmul_peak(device, torch.float32)
    peak_amp = matmul_peak(device, dtype) if dtype is not None else peak32
    rows = []
    for arch in args.archs:
        model = build_model(arch).to(device)
        if args.channels_last:
            model = model.to(memory_format=torch.channels_last_3d)
        forward = count_flops(model, shape)
        step_flops = count_flops(model, shape, training=True)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        began = time.perf_counter()
        step = time_step(model, shape, training=True, repeats=args.repeats, dtype=dtype)
        infer = time_step(model, shape, training=False, repeats=args.repeats, dtype=dtype)
        rows.append({
            "arch": arch, "shape": "x".join(map(str, args.shape)), "device": str(device), "amp": args.amp,
            "GFLOP fwd": round(forward / 1e9, 2), "GFLOP step": round(step_flops / 1e9, 2),
            "s/step": round(step, 4), "s/inference": round(infer, 4),
            "GFLOP/s step": round(step_flops / step / 1e9, 1),
            "% of matmul peak": round(100 * step_flops / step / peak_amp, 1),
            "peak MiB": round(peak_memory_mb(device)), "bench s": round(time.perf_counter() - began, 1),
        })
    table = pd.DataFrame(rows)
    print(f"matmul peak on {device}: fp32 {peak32 / 1e9:.0f} GFLOP/s" + (f", {args.amp} {peak_amp / 1e9:.0f} GFLOP/s" if dtype else ""))
    print(table.to_string(index=False))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"matmul_peak_fp32": peak32, "matmul_peak_amp": peak_amp, "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
