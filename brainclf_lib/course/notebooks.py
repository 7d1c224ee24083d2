"""Execute the notebooks in order with papermill, each with a preset's parameters (``brainclf notebooks``), and
hold papermill's parameters to the notebook's ``parameters`` cell.

Papermill injects ``-p name value`` as an assignment after the ``parameters`` cell whether or not the notebook has
such a parameter, so ``-p lrr 0.1`` would run with the default lr and say nothing. Here an unknown parameter is an
error that names it: before execution in :func:`run_notebooks`, and inside the notebook (whoever runs papermill)
in :func:`check_parameters`, which every notebook calls right after its imports.
"""

from __future__ import annotations

import ast
import difflib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..paths import REPO_ROOT, PathLike, resolve

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
#: The worked answers to each notebook's exercises: ``solutions/<notebook>_solutions.ipynb``.
SOLUTIONS_DIR = NOTEBOOKS_DIR / "solutions"
SOLUTIONS_SUFFIX = "_solutions"

#: Each notebook and the runs of it: ``04_train`` once per architecture.
ORDER: list[tuple[str, list[dict]]] = [
    ("01_data_exploration", [{}]),
    ("02_preprocessing", [{}]),
    ("03_architectures", [{}]),
    ("04_train", [{"arch": "r3d"}, {"arch": "mc3"}, {"arch": "r2plus1d"}]),
    ("05_transfer_learning", [{}]),
    ("06_results", [{}]),
    ("07_explainability", [{}]),
    ("08_protocols", [{}]),
    ("09_real_scans", [{}]),
]

#: How papermill's injected cell begins (its ``comment`` for the Python translator).
INJECTED_HEADER = "# Parameters"


def executed_name(stem: str, variant: dict) -> str:
    """The executed copy's name of one run of a notebook: ``04_train-mc3`` for ``-p arch mc3``."""
    return stem + "".join(f"-{value}" for value in variant.values())


class NotebooksFailed(RuntimeError):
    """Some notebooks raised; every other notebook was still executed. The message names each with its cell."""


def run_notebooks(out: PathLike, preset: str = "fast", only: list[str] | None = None,
                  cell_timeout: int | None = None, solutions: bool = False, seed: int | None = None) -> list[Path]:
    """Execute every notebook (or those in ``only``, by number or name) and return the executed copies.

    ``cell_timeout`` (seconds) fails a cell that runs longer, so a stalled kernel cannot block CI. ``solutions``
    executes the worked answers of ``notebooks/solutions/`` instead, once each: each trains what it needs. ``seed``
    trains another trajectory (every notebook that declares it gets it). A notebook that fails does not stop the
    others: all are executed, then :class:`NotebooksFailed` names each failed one, its cell and its error. Kernels
    talk to papermill over IPC sockets, not unencrypted TCP.
    """
    import papermill  # here, not at the top: 1.4 s that only executing notebooks needs

    out = resolve(out)
    out.mkdir(parents=True, exist_ok=True)
    shared = {"preset": preset, "output_dir": str(out / "runs"), "report_dir": str(out), "seed": seed}
    executed, failed = [], []
    for source, variant in _selected(only, solutions):
        target = out / f"{executed_name(source.stem, variant)}.ipynb"
        declared = notebook_parameters(source)
        # the shared settings go where they are declared (a notebook that exports nothing has no report_dir);
        # a variant's own parameters must all be declared
        parameters = {**{k: v for k, v in shared.items() if k in declared and v is not None}, **variant}
        check_known(parameters, declared, source.stem)
        print(f"[notebooks] {target.stem} (preset {preset}{'' if 'seed' not in parameters else f', seed {seed}'})",
              flush=True)  # a notebook that trains nothing declares no seed
        try:
            papermill.execute_notebook(source, target, parameters=parameters, cwd=str(source.parent),
                                       kernel_name="python3", progress_bar=False, execution_timeout=cell_timeout,
                                       kernel_manager_class=_ipc_kernel_manager())
        except papermill.PapermillExecutionError as error:
            failed.append(f"{target.name}: cell {error.exec_count} (index {error.cell_index}): {error.ename}: "
                          f"{error.evalue}")
            print(f"[notebooks] FAILED {failed[-1]}", flush=True)
        executed.append(target)
    if failed:
        raise NotebooksFailed(f"{len(failed)} of {len(executed)} notebooks failed (the others ran to the end):\n  "
                              + "\n  ".join(failed))
    return executed


def notebook_parameters(path: PathLike) -> set[str]:
    """The names a notebook's ``parameters`` cell assigns: the parameters papermill may set, as papermill reads them
    (``papermill --help-notebook``)."""
    import papermill  # here, not at the top: 1.4 s that only executing or checking notebooks needs

    path = resolve(path)
    cells = json.loads(path.read_text())["cells"]
    if not any("parameters" in cell.get("metadata", {}).get("tags", []) for cell in cells):
        raise ValueError(f"{path} has no cell tagged 'parameters'")
    return set(papermill.inspect_notebook(path))


def check_known(given: Iterable[str], declared: set[str], notebook: str) -> None:
    """Refuse parameters a notebook does not declare, naming each with the closest declared name."""
    unknown = sorted(set(given) - declared)
    if unknown:
        hints = [f"{name!r}" + (f" (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(name, declared, 1)) else "")
                 for name in unknown]
        raise ValueError(f"{notebook} has no parameter {', '.join(hints)}; its parameters are {', '.join(sorted(declared))}")


def check_parameters(namespace: Mapping[str, Any]) -> None:
    """Inside a notebook: fail if papermill injected a parameter that the ``parameters`` cell does not declare.

    Taught in ``01_data_exploration``; every notebook calls ``check_parameters(globals())`` after its imports. It
    reads the kernel's input history (``In``): the injected cell is the one that begins with papermill's
    ``# Parameters`` header, and the cell before it is the notebook's own ``parameters`` cell. Run by hand in
    JupyterLab, nothing is injected and nothing is checked.

    Args:
        namespace: the notebook's ``globals()``.
    """
    history = list(namespace.get("In", []))
    for index, source in enumerate(history):
        if index > 0 and source.lstrip().startswith(INJECTED_HEADER):
            check_known(_assigned(source), _assigned(history[index - 1]), "this notebook")


def _selected(only: list[str] | None, solutions: bool) -> list[tuple[Path, dict]]:
    """The notebooks to execute, in order, each with its variant's parameters."""
    chosen = []
    for name, variants in ORDER:
        if only and not any(name.startswith(o) or name == o for o in only):
            continue
        if solutions:
            chosen.append((SOLUTIONS_DIR / f"{name}{SOLUTIONS_SUFFIX}.ipynb", {}))
        else:
            chosen += [(NOTEBOOKS_DIR / f"{name}.ipynb", variant) for variant in variants]
    return chosen


def _ipc_kernel_manager() -> type:
    """A kernel manager whose kernel listens on IPC sockets: over TCP, any local user could read the traffic (and
    ipykernel warns, once per notebook)."""
    from jupyter_client import AsyncKernelManager  # here, not at the top: only executing notebooks needs it
    from traitlets import default  # here, not at the top: as above

    class IPCKernelManager(AsyncKernelManager):
        @default("transport")
        def _default_transport(self) -> str:
            return "ipc"

        @default("ip")
        def _default_ip(self) -> str:  # the sockets' path prefix, in a folder only this user can open
            return os.path.join(tempfile.mkdtemp(prefix="brainclf-kernel-"), "kernel")

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart)
            if not restart:
                shutil.rmtree(os.path.dirname(self.ip), ignore_errors=True)

    return IPCKernelManager


def _assigned(source: str) -> set[str]:
    """The names a cell assigns, read with Python's own parser. Inside a kernel, instead of papermill's reader
    (:func:`notebook_parameters`): importing papermill would cost every executed notebook about 2 s, and the two
    cells read here are plain assignments, on which both agree (a test holds that for every notebook)."""
    names = set()
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        names |= {target.id for target in targets if isinstance(target, ast.Name)}
    return names
