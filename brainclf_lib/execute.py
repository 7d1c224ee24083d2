"""Execute the notebooks in order with papermill, each with a preset's parameters (``brainclf notebooks``)."""

from __future__ import annotations

from pathlib import Path

from .paths import REPO_ROOT, PathLike, resolve

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"

#: Each notebook and the runs of it: ``04_train`` once per architecture.
ORDER: list[tuple[str, list[dict]]] = [
    ("01_data_exploration", [{}]),
    ("02_preprocessing", [{}]),
    ("03_architectures", [{}]),
    ("04_train", [{"arch": "r3d"}, {"arch": "mc3"}, {"arch": "r2plus1d"}]),
    ("05_transfer_learning", [{}]),
    ("06_results", [{}]),
    ("07_explainability", [{}]),
]


def run_notebooks(out: PathLike, preset: str = "fast", only: list[str] | None = None,
                  cell_timeout: int | None = None) -> list[Path]:
    """Execute every notebook (or those in ``only``, by number or name) and return the executed copies.

    ``cell_timeout`` (seconds) fails a cell that runs longer, so a stalled kernel cannot block CI.
    """
    import papermill  # here, not at the top: 1.4 s that only executing notebooks needs

    out = resolve(out)
    out.mkdir(parents=True, exist_ok=True)
    runs_dir = out / "runs"
    executed = []
    for name, variants in ORDER:
        if only and not any(name.startswith(o) or name == o for o in only):
            continue
        for variant in variants:
            suffix = "".join(f"-{v}" for v in variant.values())
            target = out / f"{name}{suffix}.ipynb"
            parameters = {"preset": preset, "output_dir": str(runs_dir), "report_dir": str(out), **variant}
            print(f"[notebooks] {name}{suffix} (preset {preset})", flush=True)
            papermill.execute_notebook(NOTEBOOKS_DIR / f"{name}.ipynb", target, parameters=parameters,
                                       cwd=str(NOTEBOOKS_DIR), kernel_name="python3", progress_bar=False,
                                       execution_timeout=cell_timeout)
            executed.append(target)
    return executed
