"""How close each model runs to this machine's limit, and how long an epoch waits for data.

    python benchmarks/benchmark.py                                  # fast-preset shape, this device
    python benchmarks/benchmark.py --shape 78 120 120               # the paper's 2 mm shape
    python benchmarks/benchmark.py --settings fp32 fp32+cl bf16      # precisions / memory formats to compare
    python benchmarks/benchmark.py --epoch-volumes 60 --workers 1 2 # + one epoch over a cached cohort
    python benchmarks/benchmark.py --json out.json                  # the figures as JSON too

A setting is a precision (fp32, fp16, bf16) with optional ``+cl`` (channels_last_3d) and ``+compile``
(torch.compile). Not a timed test: the machine is noisy, so the settings of an architecture are
interleaved step by step in one run and medians are quoted. Ratios are to the matmul peak of the same precision,
measured in the same run (on a GPU, fp32 convolutions run in TF32, so fp32 is compared with a TF32 matmul). Peak
memory is ``torch.cuda.max_memory_allocated`` per setting on a GPU, and the process's peak resident set size
so far on a CPU.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import torch

from brainclf_lib.conventions import CLASSES
from brainclf_lib.data.datasets import VolumeDataset, make_loader, make_subjects
from brainclf_lib.data.transforms import augmentation
from brainclf_lib.experiment.config import PRESETS
from brainclf_lib.experiment.device import adam, configure_backends, default_workers, pick_device
from brainclf_lib.files import write_json
from brainclf_lib.models.architectures import ARCHS, build_model
from brainclf_lib.training.loop import train_epoch
from brainclf_lib.training.losses import weighted_cross_entropy
from brainclf_lib.training.profiling import benchmark_steps, matmul_peaks, parse_setting


def write_cohort(folder: Path, n: int, shape: tuple[int, int, int]) -> pd.DataFrame:
    """``n`` cached volumes as ``prepare`` writes them (uncompressed float32 NIfTI), with random content."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        path = folder / f"bench{i:04d}.nii"
        volume = rng.random(shape[::-1], dtype=np.float32)  # TorchIO's (x, y, z) = the models' (W, H, D)
        nib.save(nib.Nifti1Image(volume, np.diag([2.0, 2.0, 2.0, 1.0])), path)
        rows.append({"subject_id": path.stem, "label": CLASSES[i % len(CLASSES)], "image_t1ce": str(path)})
    return pd.DataFrame(rows)


def epoch_table(archs: list[str], shape: tuple[int, int, int], setting: dict, device: torch.device, n_volumes: int,
                workers: list[int]) -> list[dict]:
    """One training epoch over a cached cohort with the paper's light augmentation: seconds and data-wait share.

    The epoch is the suite's own :func:`~brainclf_lib.training.loop.train_epoch`, at one precision ``setting``.
    """
    rows = []
    with tempfile.TemporaryDirectory(prefix="brainclf-bench-") as tmp:
        manifest = write_cohort(Path(tmp), n_volumes, shape)
        dataset = VolumeDataset(make_subjects(manifest, ("t1ce",)), augmentation("light"))
        loss_fn = weighted_cross_entropy(dataset.labels).to(device)
        for arch in archs:
            model = build_model(arch).to(device)
            if setting["channels_last"]:
                model = model.to(memory_format=torch.channels_last_3d)
            step_model = torch.compile(model) if setting["compile"] else model
            optimizer = adam(model.parameters(), lr=1e-5, weight_decay=1e-3)
            scaler = torch.amp.GradScaler(device.type, enabled=setting["dtype"] == torch.float16)
            step = dict(device=device, dtype=setting["dtype"], channels_last=setting["channels_last"])
            train_epoch(step_model, make_loader(dataset, 1, True, 0, 0), loss_fn, optimizer, scaler, max_steps=2,
                        **step)  # warm-up: kernels chosen, compiled
            for n_workers in workers:
                loader = make_loader(dataset, 1, True, n_workers, 1, pin_memory=device.type == "cuda")
                stats = train_epoch(step_model, loader, loss_fn, optimizer, scaler, **step)
                rows.append({"arch": arch, "setting": setting["name"], "volumes": stats.steps, "workers": n_workers,
                             "epoch s": round(stats.seconds, 1), "s/volume": round(stats.seconds / stats.steps, 4),
                             "data wait %": round(100 * stats.data_wait / stats.seconds, 1)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", type=int, nargs=3, default=list(PRESETS["fast"]["input_shape"]), metavar=("D", "H", "W"),
                        help="input shape (default: the fast preset's)")
    parser.add_argument("--archs", nargs="+", default=list(ARCHS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--settings", nargs="+", help="default: fp32 fp32+cl bf16 on a CPU; "
                        "fp32 fp16 fp16+cl bf16 bf16+cl on a GPU")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per setting (median reported)")
    parser.add_argument("--epoch-volumes", type=int, default=0, help="also time one epoch over this many volumes")
    parser.add_argument("--epoch-setting", help="setting of the epoch (default: the first of --settings)")
    parser.add_argument("--workers", type=int, nargs="+", help="DataLoader workers to compare in the epoch "
                        "(default: the suite's default for the device)")
    parser.add_argument("--json", help="also write every figure as JSON here")
    args = parser.parse_args()

    device = pick_device(args.device)
    configure_backends(device)
    names = args.settings or (["fp32", "fp16", "fp16+cl", "bf16", "bf16+cl"] if device.type == "cuda"
                             else ["fp32", "fp32+cl", "bf16"])
    settings = [parse_setting(name) for name in names]
    shape = (1, 1, *args.shape)
    peaks = matmul_peaks(device, [s["precision"] for s in settings])
    print(f"device {device} ({_device_name(device)}), torch {torch.__version__}, {torch.get_num_threads()} threads; "
          "matmul peak " + ", ".join(f"{p} {v / 1e9:,.0f} GFLOP/s" for p, v in peaks.items()), flush=True)
    began = time.perf_counter()
    steps = benchmark_steps(args.archs, shape, settings, device, args.repeats, peaks)
    print(f"\nshape {'x'.join(map(str, args.shape))}, batch 1, median of {args.repeats} interleaved steps "
          f"({time.perf_counter() - began:.0f} s)")
    print(pd.DataFrame(steps).to_string(index=False), flush=True)
    epochs = []
    if args.epoch_volumes:
        epoch_setting = parse_setting(args.epoch_setting) if args.epoch_setting else settings[0]
        workers = args.workers or [default_workers(device)]
        epochs = epoch_table(args.archs, tuple(args.shape), epoch_setting, device, args.epoch_volumes, workers)
        print(f"\none epoch of {args.epoch_volumes} cached volumes, light augmentation")
        print(pd.DataFrame(epochs).to_string(index=False))
    if args.json:
        write_json(args.json, {
            "device": str(device), "device_name": _device_name(device), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "shape": args.shape, "matmul_peak": peaks,
            "steps": steps, "epochs": epochs})


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
