"""``brainclf``: thin command-line wrappers over the library.

Exit codes: 0 success; 1 a run failed (bad input, NaN loss, unavailable weights, a locked or differing run folder);
2 wrong usage (argparse).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from dataclasses import fields
from pathlib import Path

from .conventions import CLASSES, DEFAULT_CONTRAST, INIT_LABELS, KINETICS, KINETICS_ALIASES
from .course.book import build_book
from .course.expectations import MEASURED_TABLE
from .course.grading import export_nbgrader
from .course.measurement import measure_expectations, write_quoted_ranges
from .course.notebooks import run_notebooks
from .data.prepare import prepare
from .data.preprocessing import PreprocessSettings
from .data.shipped import ship_cohort
from .data.skull import SKULL_STRIP_ALIASES, SKULL_STRIP_MODES
from .data.source import source_cohort_config
from .data.step import prepare_data
from .data.synthetic import CohortSpec, generate_cohort
from .errors import BadInputError
from .evaluation.common_test import common_test_config
from .evaluation.external import REAL_MANIFEST, default_out, validate_runs
from .evaluation.inference import Predictor
from .evaluation.scoring import evaluate
from .experiment.config import PRESETS, ExperimentConfig, make_config
from .experiment.protocols import DEVIATIONS, PROTOCOLS
from .files import write_csv
from .models.architectures import parameter_table
from .paths import resolve
from .replication.calibration import calibrate, calibration_markdown
from .replication.cluster import SlurmSettings, grid_status, log_tail, recorded_grid
from .replication.comparison import compare_protocols, protocol_table
from .replication.replicate import cross_validate, replicate, sourced_grid
from .training.loop import fit
from .training.source_task import SOURCE_EPOCHS, make_source_weights

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError, FloatingPointError) as error:
        print(f"brainclf {args.command}: error: {error}", file=sys.stderr)
        return EXIT_FAILED


def _synth(args: argparse.Namespace) -> int:
    spec = CohortSpec(n_per_class=args.n_per_class, seed=args.seed, difficulty=args.difficulty, healthy_like=args.healthy_like)
    print(generate_cohort(args.out, spec, n_jobs=args.jobs))
    return EXIT_OK


def _prepare(args: argparse.Namespace) -> int:
    settings = PreprocessSettings(args.spacing, tuple(args.shape), args.skull_strip)
    n_healthy = None if args.n_healthy <= 0 else args.n_healthy
    print(prepare(args.out, args.brats, args.ixi, tuple(args.contrast or [DEFAULT_CONTRAST]), n_healthy, settings, args.seed, args.jobs))
    return EXIT_OK


def _data(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.ship:  # every cohort the experiment's notebooks read: the target, the source task's, the common test set
        for cohort in (config, source_cohort_config(config), common_test_config(config)):
            print(ship_cohort(cohort))
    else:
        print(prepare_data(config))
    return EXIT_OK


def _train(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.all_folds:
        summary = cross_validate(config, progress=not args.quiet)
        print(json.dumps({"macro_f1": summary["mean"]["macro_f1"], "accuracy": summary["mean"]["accuracy"]}))
    else:
        run = fit(config, resume=args.resume, overwrite=args.overwrite, keep_last=args.keep_last,
                  progress=not args.quiet)
        print(run.folder)
    return EXIT_OK


def _evaluate(args: argparse.Namespace) -> int:
    metrics = evaluate(args.run)
    print(json.dumps({k: metrics[k] for k in ("accuracy", "macro_f1", "weighted_f1")}))
    return EXIT_OK


def _replicate(args: argparse.Namespace) -> int:
    pretrained = None if args.pretrained in ("none", "") else args.pretrained
    config = _config(args)
    if args.status:
        return _print_status(grid_status(sourced_grid(config, pretrained=pretrained), config.output_dir))
    slurm = SlurmSettings(args.slurm_partition, args.slurm_time, args.slurm_gpus_per_task, args.slurm_cpus_per_task,
                          args.slurm_mem, args.slurm_array_parallelism, tuple(args.slurm_setup or ()))
    table = replicate(config, pretrained=pretrained, devices=args.devices, progress=not args.quiet,
                      launcher=args.launcher, slurm=slurm, wait=args.wait or args.launcher == "local", dry_run=args.dry_run)
    if table is not None:
        print(f"{table['run'].nunique()} runs in {resolve(config.output_dir) / 'results.csv'}")
    elif not args.dry_run:
        print(f"brainclf replicate: the grid is on SLURM; `brainclf status --output-dir {config.output_dir}` shows it, "
              "and the same command again resubmits what failed and writes results.csv once every run is done")
    return EXIT_OK


def _course(args: argparse.Namespace) -> int:
    out = export_nbgrader(args.nbgrader, preset=args.preset, output_dir=args.output_dir)
    nbgrader = Path(sys.executable).parent / "nbgrader"  # this environment's: it runs without the venv activated
    nbgrader = shlex.quote(str(nbgrader)) if nbgrader.exists() else "nbgrader"
    print(f"nbgrader course in {out}: `cd {shlex.quote(str(out))} && {nbgrader} generate_assignment "
          "01_data_exploration` releases one")
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    return _print_status(grid_status(recorded_grid(args.output_dir), args.output_dir))


def _print_status(status) -> int:
    print(status[["arch", "init", "fold", "state", "task", "detail", "run"]].to_string(index=False))
    for row in status[status["state"] == "failed"].itertuples():
        print(f"\n{row.run} ({row.task}) failed: {row.detail}\nlog: {row.log}\n{log_tail(row.log)}")
    return EXIT_OK


def _protocols(args: argparse.Namespace) -> int:
    config = _config(args)
    runs = compare_protocols(config, args.only, progress=not args.quiet)
    table = protocol_table(runs)
    path = write_csv(resolve(config.output_dir) / f"protocols_{config.arch}.csv", table.reset_index())
    columns = ["deviations", "accuracy", "macro F1", "Δ macro F1", *(f"{name} F1" for name in CLASSES)]
    print(table[columns].round(3).to_string())
    print(f"written to {path}")
    return EXIT_OK


def _calibrate(args: argparse.Namespace) -> int:
    config = _config(args)
    table = calibrate(config, args.difficulties, progress=not args.quiet)
    path = write_csv(resolve(args.out) if args.out else resolve(config.output_dir) / f"calibration_{config.preset}.csv", table)
    print(calibration_markdown(table))
    print(f"written to {path}")
    return EXIT_OK


def _source(args: argparse.Namespace) -> int:
    config = _config(args)
    written = make_source_weights(config, args.out, epochs=args.source_epochs, progress=not args.quiet)
    for path in sorted(p for arch in written for p in resolve(args.out).glob(f"{arch}*.pt")):
        print(path)  # <arch>.pt, or <arch>_fold<k>.pt for each fold on real data
    return EXIT_OK


def _predict(args: argparse.Namespace) -> int:
    scans = [*getattr(args, "stray_scans", []), *args.scans]  # `--skull-strip scan.nii.gz`: the flag, then a scan
    if not scans:
        print("brainclf predict: error: no scan given", file=sys.stderr)
        return EXIT_USAGE
    predictor = Predictor(args.run, args.device)
    failed = 0
    for scan in scans:
        try:
            print(json.dumps(predictor(scan, skull_strip=args.skull_strip)), flush=True)
        except BadInputError as error:
            failed += 1
            print(f"brainclf predict: error: {error}", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    if getattr(args, "stray_scans", None):  # validate takes its scans from the manifest
        print(f"brainclf validate: error: --skull-strip takes auto, yes or no, not {args.stray_scans[0]!r}",
              file=sys.stderr)
        return EXIT_USAGE
    runs = args.runs or args.run
    out = args.out or default_out(runs, args.manifest)
    _, summary = validate_runs(runs, args.manifest, out, skull_strip=args.skull_strip, device=args.device,
                               progress=not args.quiet)
    print(summary.round(3).to_string(index=False))
    print(f"calls and summary written to {out}")
    return EXIT_OK


def _book(args: argparse.Namespace) -> int:
    print(f"[book] {build_book(args.executed, args.out, args.solutions, lab_url=args.lab_url)}")
    return 0


def _notebooks(args: argparse.Namespace) -> int:
    run_notebooks(args.out, preset=args.preset, only=args.only, solutions=args.solutions, seed=args.seed)
    return EXIT_OK


def _expectations(args: argparse.Namespace) -> int:
    table = measure_expectations(args.work, args.out, trajectories=args.trajectories, parallel=args.parallel)
    print(table.to_string(index=False))
    print(f"written to {args.out}")
    if args.write_prose:
        for path in write_quoted_ranges(args.out):
            print(f"quoted ranges updated in {path}")
    return EXIT_OK


def _parameters(args: argparse.Namespace) -> int:
    print(parameter_table().to_string(index=False))
    return EXIT_OK


_HELP = {
    "arch": "r3d_18 | mc3_18 | r2plus1d_18 (or r3d, mc3, r2plus1d); lesion_cnn, a baseline outside the grid "
            "(replicate, calibrate and source train the paper's three)",
    "pretrained": "none, kinetics400, or the path of a local state dict",
    "data_root": "a prepared folder (holding manifest.csv), or 'synthetic' for the embedded cohort",
    "amp": "autocast: auto (fp16 on CUDA, off on a CPU) | off | fp16 | bf16 (on a CPU: see experiment.device.amp_dtype)",
    "num_workers": "DataLoader workers; unset: up to 8 on a GPU machine, 0 on a CPU (measured)",
    "channels_last": "channels_last_3d memory format; unset: on CUDA, and with bf16 (measured faster)",
    "protocol": "corrected (default) | paper-text | published-code: see brainclf_lib/experiment/protocols.py",
    "deviations": "published-code deviations added to the protocol's, for example augmented_test",
}


_CHOICES = {"protocol": tuple(PROTOCOLS), "deviations": tuple(DEVIATIONS)}


class _Path(argparse.Action):
    """Every path option's action: a path typed on the command line is relative to the current folder, as for every
    Unix tool, and is made absolute here, once. Defaults are not typed and resolve as the library does (the config's
    ``runs`` against the repository root). ``keywords`` are the words an option takes that are not paths."""

    def __init__(self, *args, keywords: tuple[str, ...] = (), **kwargs) -> None:
        self.keywords = keywords
        super().__init__(*args, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, [self.absolute(v) for v in values] if isinstance(values, list) else self.absolute(values))

    def absolute(self, text: str) -> str:
        return text if text.lower() in self.keywords else os.path.abspath(os.path.expanduser(text))


#: The configuration's path options, with the words each takes that are not paths.
_PATH_FIELDS = {"data_root": ("synthetic",), "output_dir": (),
                "pretrained": ("", "none", INIT_LABELS[0], *KINETICS_ALIASES)}


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="fast", choices=sorted(PRESETS), help="starting values (default: fast)")
    for f in fields(ExperimentConfig):
        if f.name == "preset":
            continue
        flag = "--" + f.name.replace("_", "-")
        default_text = f"default: the preset's, else {f.default!r}"
        if f.name in ("contrasts", "input_shape", "deviations"):
            kind = int if f.name == "input_shape" else str
            parser.add_argument(flag, nargs="+", type=kind, default=None, choices=_CHOICES.get(f.name), metavar=f.name.upper(),
                                help=f"{_HELP.get(f.name, f.name)} ({default_text})")
        elif str(f.type).startswith("bool"):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                                help=f"{_HELP.get(f.name, f.name)} ({default_text})")
        else:
            kind = {"int": int, "float": float}.get(str(f.type), str)
            if str(f.type).startswith("int |"):
                kind = int
            path = {"action": _Path, "keywords": _PATH_FIELDS[f.name]} if f.name in _PATH_FIELDS else {}
            parser.add_argument(flag, type=kind, default=None, choices=_CHOICES.get(f.name),
                                help=f"{_HELP.get(f.name, f.name)} ({default_text})", **path)


def _config(args: argparse.Namespace) -> ExperimentConfig:
    overrides = {f.name: getattr(args, f.name) for f in fields(ExperimentConfig) if f.name != "preset"}
    return make_config(args.preset, **overrides)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="brainclf", description="Brain-tumour classification with video ResNets.")
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (_data_commands, _training_commands, _course_commands, _validation_commands):
        add(commands)
    return parser


def _data_commands(commands: argparse._SubParsersAction) -> None:
    """The data: the synthetic cohort, preparing real scans, the data step."""
    p = commands.add_parser("synth", help="write the synthetic BraTS-like + IXI-like cohort")
    p.add_argument("--out", required=True, action=_Path, help="output folder")
    p.add_argument("--n-per-class", type=int, default=16, help="subjects per class (default 16)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--difficulty", type=float, default=ExperimentConfig.synthetic_difficulty,
                   help="twice the share of tumours with the other grade's radiology, 0 to 1 "
                        f"(default {ExperimentConfig.synthetic_difficulty:g}, calibrated: brainclf calibrate)")
    p.add_argument("--healthy-like", default="ixi", choices=["ixi", "brats"], help="healthy scans like IXI (default) or like BraTS")
    p.add_argument("--jobs", type=int, default=None, help="processes (default: up to 2)")
    p.set_defaults(func=_synth)

    p = commands.add_parser("prepare", help="discover, preprocess and write manifest.csv")
    p.add_argument("--brats", action=_Path, help="BraTS 2019 training folder (or its parent)")
    p.add_argument("--ixi", action=_Path, help="folder of IXI scans")
    p.add_argument("--out", required=True, action=_Path, help="output folder")
    p.add_argument("--contrast", action="append", help="BraTS contrast, repeatable (default t1ce)")
    p.add_argument("--n-healthy", type=int, default=259, help="healthy subjects drawn from IXI; 0 for all (default 259)")
    p.add_argument("--spacing", type=float, default=2.0, help="isotropic spacing in mm (default 2)")
    p.add_argument("--shape", type=int, nargs=3, default=[78, 120, 120], metavar=("D", "H", "W"), help="crop/pad shape (default 78 120 120)")
    p.add_argument("--skull-strip", default="deepbet", choices=["deepbet", "robex", "none"], help="for IXI scans (default deepbet)")
    p.add_argument("--seed", type=int, default=0, help="seed of the healthy sampling (default 0)")
    p.add_argument("--jobs", type=int, default=None, help="processes (default: CPU count, at most 4)")
    p.set_defaults(func=_prepare)

    p = commands.add_parser("data", help="the data step: generate (synthetic) and prepare the cohort, save its splits")
    _add_config_options(p)
    p.add_argument("--ship", action="store_true", help="write the experiment's synthetic cohorts (target, source task, "
                   "common test set) to data/cohorts from a fresh generation (make cohorts)")
    p.set_defaults(func=_data)


def _training_commands(commands: argparse._SubParsersAction) -> None:
    """Training and evaluation: one run, the grid, the protocols, the calibration."""
    p = commands.add_parser("train", help="train one fold (or --all-folds) and evaluate it")
    _add_config_options(p)
    p.add_argument("--resume", action="store_true", help="continue an unfinished run; reuse a finished one")
    p.add_argument("--overwrite", action="store_true", help="start afresh over an earlier run")
    p.add_argument("--keep-last", action="store_true", help="keep last.pt (Adam's state) once the run is finished")
    p.add_argument("--all-folds", action="store_true", help="cross-validate: every fold, then mean ± std")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_train)

    p = commands.add_parser("evaluate", help="re-evaluate a run's best checkpoint on its held-out fold")
    p.add_argument("run", action=_Path, help="run folder")
    p.set_defaults(func=_evaluate)

    p = commands.add_parser("replicate", help="the paper's grid: 3 archs x {scratch, pretrained} x folds")
    _add_config_options(p)
    p.add_argument("--devices", nargs="+", help="run in parallel, one run per device (e.g. cuda:0 cuda:1)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_launcher_options(p)
    p.set_defaults(func=_replicate)
    for action in p._actions:
        if action.dest == "pretrained":
            action.default = KINETICS
            action.help = "source of the pre-trained arm: kinetics400, a folder of <arch>.pt files, or none"

    p = commands.add_parser("status", help="every run of the grid last submitted to SLURM from a folder, with its state")
    p.add_argument("--output-dir", required=True, action=_Path, help="the grid's output folder")
    p.set_defaults(func=_status)

    p = commands.add_parser("protocols", help="one architecture under the corrected, paper-text and published-code "
                            "protocols, and each deviation alone: what each does to the figures")
    _add_config_options(p)
    p.add_argument("--only", nargs="+", choices=tuple(DEVIATIONS), metavar="DEVIATION",
                   help=f"the deviations tried one at a time: {', '.join(DEVIATIONS)} (default: every one that can "
                        "change the test figures)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_protocols)

    p = commands.add_parser("calibrate", help="every architecture from scratch on every fold at several cohort "
                            "difficulties, beside the paper's F1 ranges")
    _add_config_options(p)
    p.add_argument("--difficulties", type=float, nargs="+", default=[0.0, 0.1, 0.2], metavar="D",
                   help="synthetic_difficulty values to train at (default 0 0.1 0.2, the README's table)")
    p.add_argument("--out", action=_Path, help="the table's CSV (default: <output-dir>/calibration_<preset>.csv; the README's is "
                                 "benchmarks/results/calibration_fast.csv)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_calibrate)


def _add_launcher_options(p: argparse.ArgumentParser) -> None:
    """Where the grid runs: this machine, or one SLURM job array through submitit (README, "On a cluster")."""
    defaults = SlurmSettings()
    p.add_argument("--launcher", default="local", choices=("local", "slurm"),
                   help="local: on this machine (default); slurm: one job array, one run per task")
    p.add_argument("--wait", action="store_true", help="slurm: block until the array ends, then write results.csv")
    p.add_argument("--dry-run", action="store_true", help="slurm: print the array and its sbatch script, submit nothing")
    p.add_argument("--status", action="store_true", help="list every run of the grid with its state, and stop")
    p.add_argument("--slurm-partition", default=defaults.partition, help="partition (default: the cluster's)")
    p.add_argument("--slurm-time", type=int, default=defaults.time, metavar="MINUTES",
                   help=f"time limit of a task; one that reaches it is requeued and resumes (default {defaults.time})")
    p.add_argument("--slurm-gpus-per-task", type=int, default=defaults.gpus_per_task, help=f"default {defaults.gpus_per_task}")
    p.add_argument("--slurm-cpus-per-task", type=int, default=defaults.cpus_per_task, help=f"default {defaults.cpus_per_task}")
    p.add_argument("--slurm-mem", default=defaults.mem, help=f"memory of a task (default {defaults.mem})")
    p.add_argument("--slurm-array-parallelism", type=int, default=defaults.array_parallelism,
                   help=f"tasks running at once (default {defaults.array_parallelism}, the whole grid)")
    p.add_argument("--slurm-setup", action="append", metavar="LINE",
                   help="a line run before each task, repeatable (e.g. 'module load cuda', 'source .venv/bin/activate')")


class _SkullStrip(argparse.Action):
    """``--skull-strip [auto|yes|no]``: alone it means yes, as the boolean flag of earlier versions did; a word that
    is not a mode is the first scan, which that flag used to precede."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        key = values.lower() if isinstance(values, str) else values
        if key in SKULL_STRIP_ALIASES:
            setattr(namespace, self.dest, SKULL_STRIP_ALIASES[key])
        else:
            setattr(namespace, self.dest, "yes")
            namespace.stray_scans = [*getattr(namespace, "stray_scans", []), values]


def _add_skull_strip_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--skull-strip", nargs="?", const="yes", default="auto", action=_SkullStrip,
                   metavar="{" + ",".join(SKULL_STRIP_MODES) + "}",
                   help="auto (default): strip a scan that still holds a skull, decided from the image, and leave a "
                        "stripped one alone; yes (or always, or the flag alone): strip every scan; no (never): none")


def _validation_commands(commands: argparse._SubParsersAction) -> None:
    """External validation: trained runs applied to labelled scans from outside their cohort."""
    p = commands.add_parser("validate", help="external validation: runs applied to labelled scans (the real scans "
                            "in data/real, or your own): calls.csv and summary.csv")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--runs", action=_Path, help="a folder of run folders (a grid, as brainclf replicate writes it)")
    which.add_argument("--run", action=_Path, help="one run folder (or its best.pt)")
    p.add_argument("--manifest", default=str(REAL_MANIFEST), action=_Path,
                   help="CSV with columns file (relative to it) and label (Healthy, LGG, HGG) (default: data/real's)")
    p.add_argument("--out", action=_Path, help="folder for calls.csv and summary.csv (default: "
                   "<runs>/validation/<manifest's folder>, or <run's folder>/validation/<manifest's folder>-<run>)")
    _add_skull_strip_option(p)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_validate)


def _course_commands(commands: argparse._SubParsersAction) -> None:
    """Using the results and the course: source weights, prediction, the notebooks, the book."""
    p = commands.add_parser("source", help="self-trained source weights (<arch>.pt; on real data <arch>_fold<k>.pt) for replicate --pretrained DIR")
    _add_config_options(p)
    p.add_argument("--out", required=True, action=_Path, help="folder for <arch>.pt (existing files are kept)")
    p.add_argument("--source-epochs", type=int, default=SOURCE_EPOCHS, help=f"epochs of rotation prediction (default {SOURCE_EPOCHS})")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_source)

    p = commands.add_parser("predict", help="classify raw NIfTI scans with a trained run")
    p.add_argument("--run", "--checkpoint", dest="run", required=True, action=_Path, help="a run folder (or its best.pt)")
    p.add_argument("scans", nargs="*", help="NIfTI scans, any orientation and voxel size")
    _add_skull_strip_option(p)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.set_defaults(func=_predict)

    p = commands.add_parser("notebooks", help="execute the notebooks in order with papermill")
    p.add_argument("--out", default="runs/notebooks", action=_Path, help="folder for the executed copies")
    p.add_argument("--preset", default="fast", choices=sorted(PRESETS), help="parameters preset (default fast)")
    p.add_argument("--only", nargs="+", help="run only these notebooks (by number or name)")
    p.add_argument("--solutions", action="store_true",
                   help="execute the exercises' worked answers (notebooks/solutions/) instead")
    p.add_argument("--seed", type=int, default=None,
                   help="train another trajectory: the seed of every notebook that declares one (default: theirs, 0)")
    p.set_defaults(func=_notebooks)

    p = commands.add_parser("expectations", help="measure the course's expected figures over several trajectories "
                            "(seeds and float paths) and write the table the notebooks read")
    p.add_argument("--trajectories", nargs="+", default=None, metavar="SPEC",
                   help="each 'seed=S[,threads=T][,isa=ISA][,aten=CAPABILITY][,skip=NN+NN]' (default: the shipped table's eleven)")
    p.add_argument("--parallel", type=int, default=2, help="trajectories executed at once (default 2)")
    p.add_argument("--work", default="runs/expectations", action=_Path, help="where each trajectory's notebooks and runs go")
    p.add_argument("--out", default=str(MEASURED_TABLE), action=_Path, help="the table (default: the shipped one)")
    p.add_argument("--write-prose", action="store_true",
                   help="rewrite the ranges the notebooks and README quote from the new table")
    p.set_defaults(func=_expectations)

    p = commands.add_parser("book", help="build the course site from the executed notebooks (make book)")
    p.add_argument("--executed", default="runs/notebooks-fast", action=_Path, help="the executed notebooks and reports (make demo's)")
    p.add_argument("--solutions", action=_Path, help="the executed worked answers (default: the --executed folder)")
    p.add_argument("--out", default="runs/book", action=_Path, help="the book's folder; the site lands in OUT/html")
    p.add_argument("--lab-url", help="the notebooks folder of the JupyterLab the pages' links open (default: "
                   "$BRAINCLF_LAB_URL, else make lab's http://localhost:8888/lab/tree/notebooks)")
    p.set_defaults(func=_book)

    p = commands.add_parser("course", help="the course for a lecturer: an nbgrader course from the notebooks")
    p.add_argument("--nbgrader", required=True, metavar="DIR", action=_Path, help="the nbgrader course folder (its source/ is rewritten)")
    p.add_argument("--preset", default="fast", choices=sorted(PRESETS), help="the preset the released notebooks run with")
    p.add_argument("--output-dir", action=_Path, help="where the students' runs go (default: the notebooks' own, runs/)")
    p.set_defaults(func=_course)

    p = commands.add_parser("parameters", help="print the trainable-parameter table beside the paper's")
    p.set_defaults(func=_parameters)
