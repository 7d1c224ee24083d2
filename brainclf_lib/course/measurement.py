"""``brainclf expectations``: the course's expected figures, measured over several training trajectories.

A trajectory is one seed (the split, the initial weights, the augmentation) on one float path (thread count, and
the instruction set oneDNN may use: ``ONEDNN_MAX_CPU_ISA``). Each is an ordinary execution of the notebooks, in a
folder of its own, with every :func:`~brainclf_lib.course.expectations.expect` and
:func:`~brainclf_lib.course.expectations.tendency` leaving a record in its output; the table is read from those records,
so it holds exactly what the notebooks compute. Prose quotes a range between ``<!-- range: KEY -->`` and
``<!-- /range -->``; :func:`write_quoted_ranges` rewrites those spans from the table, and a test fails when one
disagrees with it.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from ..data.source import source_cohort_config
from ..data.step import prepare_data
from ..evaluation.common_test import common_test_config
from ..experiment.config import make_config
from ..files import write_csv
from ..paths import REPO_ROOT, PathLike, resolve
from .expectations import MEASURED_TABLE, RECORD_MIME, margin, measured
from .notebooks import NOTEBOOKS_DIR, SOLUTIONS_DIR

#: The shipped table's trajectories. Four seeds on one thread each (two run at once on two cores), each on the
#: default float path and on another: oneDNN's AVX-only kernels (seeds 0 and 3) or ATen's generic ones (1 and 2).
#: Then the path ``make demo`` takes on two cores, two threads: seed 0 (the default) and seed 5, that seed also with
#: oneDNN held to SSE4.1 (its slowest trajectory: 06 alone takes about 18 minutes). Since runs train side by side
#: (:mod:`brainclf_lib.training.parallel`) that path mixes both thread counts: 04's runs and 05's first pre-trained
#: one train in the notebook on two threads, the others two at a time on one each; a run trained first on one path
#: is reused by the other notebooks. Not yet measured on version 6.
TRAJECTORIES: tuple[str, ...] = (
    *(f"seed={seed},threads=1{other}" for seed, other in
      ((0, ""), (0, ",isa=AVX"), (1, ""), (1, ",aten=default"), (2, ""), (2, ",aten=default"), (3, ""), (3, ",isa=AVX"))),
    "seed=5,threads=2", "seed=5,threads=2,isa=SSE41", "seed=0,threads=2")
#: What a trajectory executes: the notebooks that promise a figure (the worked answers promise none: each exercise
#: trains a run of its own, which one trajectory cannot put a range on).
COURSE = ("01", "04", "05", "06", "07", "08")
#: Where prose quotes measured ranges.
QUOTED = re.compile(r"<!-- range: (?P<key>[^>]+?) -->(?P<text>.*?)<!-- /range -->", re.S)
#: Where the README shows the whole table.
TABLE_BLOCK = re.compile(r"(<!-- table: expectations -->\n)(?P<text>.*?)(<!-- /table -->)", re.S)


def measure_expectations(work: PathLike, out: PathLike = MEASURED_TABLE, trajectories: Sequence[str] | None = None,
                         parallel: int = 2) -> pd.DataFrame:
    """Execute the course under each trajectory (reusing what a trajectory finished before) and write the table of
    every expected figure's minimum, median and maximum, and every tendency's count, with the trajectories covered.

    Args:
        work: a folder of one sub-folder per trajectory (its executed notebooks and runs).
        out: the table's CSV; the observations, one row per trajectory and figure, go beside it.
        trajectories: specs such as ``seed=1,threads=1,isa=AVX`` (default :data:`TRAJECTORIES`); ``skip=06`` leaves
            notebook 06 (the whole grid, the most costly) out of a trajectory.
        parallel: trajectories executed at once.

    Returns:
        The table.
    """
    work, specs = resolve(work), list(trajectories or TRAJECTORIES)
    _prepare_cohorts()  # once, before trajectories that share them run side by side
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(lambda spec: _run_trajectory(spec, work / _label(spec)), specs))
    observations = pd.DataFrame([{"trajectory": spec, **record} for spec in specs
                                 for record in harvest(work / _label(spec))])
    table = summarise(observations)
    out = resolve(out)
    write_csv(out.with_name(out.stem + "_observations.csv"), observations)
    write_csv(out, table)
    return table


def harvest(folder: PathLike) -> list[dict]:
    """The records every executed notebook in ``folder`` left, for the figures whose measured setting applied."""
    records = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        for cell in json.loads(path.read_text()).get("cells", []):
            for output in cell.get("outputs", []):
                record = output.get("data", {}).get(RECORD_MIME)
                if record and record.get("applies"):
                    records.append({"notebook": path.stem, "key": record["key"], "kind": record["kind"],
                                    "value": math.nan if record["value"] is None else float(record["value"])})
    return records


def summarise(observations: pd.DataFrame) -> pd.DataFrame:
    """One row per key: kind, trajectories, minimum, median, maximum, held (tendencies) and the trajectories."""
    rows = []
    for (key, kind), group in observations.groupby(["key", "kind"], sort=False):
        values = group.drop_duplicates("trajectory")["value"]
        rows.append({"key": key, "kind": kind, "notebook": group["notebook"].iloc[0], "trajectories": len(values),
                     "minimum": values.min(), "median": values.median(), "maximum": values.max(),
                     "held": int(values.sum()) if kind == "tendency" else None,
                     "covered": "; ".join(group.drop_duplicates("trajectory")["trajectory"])})
    return pd.DataFrame(rows)


def write_quoted_ranges(table: PathLike = MEASURED_TABLE, paths: Iterable[Path] | None = None) -> list[Path]:
    """Rewrite every quoted range of the notebooks, worked answers and README from ``table``; return the files
    changed. A key the table lacks is left as it is (and :func:`quoted_range_mismatches` reports it)."""
    changed = []
    block = expectations_markdown(pd.read_csv(table)) if Path(table).exists() else None
    for path in paths or _quoting_files():
        text = path.read_text()
        new = QUOTED.sub(lambda m: _quote(m, table), text)
        if block is not None:
            new = TABLE_BLOCK.sub(lambda m: m[1] + block + m[3], new)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


def quoted_range_mismatches(table: PathLike = MEASURED_TABLE, paths: Iterable[Path] | None = None) -> list[str]:
    """Every quoted range that is not what ``table`` says: ``file: key: quoted 'x', measured 'y'``."""
    wrong = []
    block = expectations_markdown(pd.read_csv(table)) if Path(table).exists() else ""
    for path in paths or _quoting_files():
        for match in TABLE_BLOCK.finditer(path.read_text()):
            if match["text"] != block:
                wrong.append(f"{path.name}: the expectations table is not the measured one (brainclf expectations --write-prose)")
        for match in QUOTED.finditer(path.read_text()):
            row = measured(match["key"], Path(table))
            expected = row.quoted() if row else "(not in the table)"
            if match["text"] != expected:
                wrong.append(f"{path.name}: {match['key']}: quoted {match['text']!r}, measured {expected!r}")
    return wrong


def expectations_markdown(table: pd.DataFrame) -> str:
    """The table as the README shows it: one row per figure or tendency, its range or count, and its margin."""
    lines = ["| expected figure or claim | trajectories | minimum | median | maximum | margin / held |",
             "|---|---|---|---|---|---|"]
    for row in table.itertuples(index=False):
        if row.kind == "tendency":
            lines.append(f"| {row.key} (claim) | {row.trajectories} | | | | held in {int(row.held)} |")
        else:
            lines.append(f"| {row.key} | {row.trajectories} | {row.minimum:.2f} | {row.median:.2f} | {row.maximum:.2f} "
                         f"| ± {margin(row.minimum, row.maximum):.2f} |")
    return "\n".join(lines) + "\n"


def _quote(match: re.Match, table: PathLike) -> str:
    row = measured(match["key"], Path(table))
    return match[0] if row is None else f"<!-- range: {match['key']} -->{row.quoted()}<!-- /range -->"


def _quoting_files() -> list[Path]:
    return [REPO_ROOT / "README.md", *sorted(NOTEBOOKS_DIR.glob("*.ipynb")), *sorted(SOLUTIONS_DIR.glob("*.ipynb"))]


def _label(spec: str) -> str:
    return re.sub(r",?skip=[^,]*", "", spec).replace("=", "").replace(",", "-")


def _settings(spec: str) -> dict[str, str]:
    settings = dict(part.split("=", 1) for part in spec.split(","))
    unknown = set(settings) - {"seed", "threads", "isa", "aten", "skip"}
    if unknown or "seed" not in settings:
        raise ValueError(f"Trajectory {spec!r}: give seed=S, optionally threads=T, isa=ISA, aten=CAPABILITY and skip=NN+NN "
                         f"(not {sorted(unknown)})")
    return settings


def _environment(spec: str) -> tuple[int, dict[str, str]]:
    """The seed and the environment variables of a trajectory spec."""
    settings = _settings(spec)
    env = dict(os.environ)
    if "threads" in settings:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = settings["threads"]
    if "isa" in settings:
        env["ONEDNN_MAX_CPU_ISA"] = settings["isa"]
    if "aten" in settings:  # ATen's own vectorised kernels: default (none), avx2, avx512
        env["ATEN_CPU_CAPABILITY"] = settings["aten"]
    return int(settings["seed"]), env


def _run_trajectory(spec: str, out: Path) -> None:
    seed, env = _environment(spec)
    out.mkdir(parents=True, exist_ok=True)
    skipped = _settings(spec).get("skip", "").split("+")
    command = [sys.executable, "-m", "brainclf_lib", "notebooks", "--preset", "fast", "--seed", str(seed),
               "--out", str(out), "--only", *(n for n in COURSE if n not in skipped)]
    with open(out / "notebooks.log", "a") as log:
        subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)


def _prepare_cohorts() -> None:
    """The cohorts every trajectory reads: the default one, the source task's and the common test set's."""
    fast = make_config("fast")
    for config in (fast, source_cohort_config(fast), common_test_config(fast)):
        prepare_data(config)
