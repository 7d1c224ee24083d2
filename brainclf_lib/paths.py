"""Where things live: the repository root and the data folder, from anywhere."""

from __future__ import annotations

import os
from pathlib import Path

#: What every function that takes a file or folder accepts.
PathLike = str | os.PathLike[str]

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent


def data_dir() -> Path:
    """The data folder: ``$BRAINCLF_DATA`` if set, else ``data/`` in the repository."""
    return Path(os.environ.get("BRAINCLF_DATA", REPO_ROOT / "data")).resolve()


def data_relative(path: PathLike) -> str:
    """A path as a table shows it: relative to the data folder when it lies inside, so that no page publishes the
    absolute paths of the machine that ran it.

    Taught in ``07_explainability``.

    Args:
        path: a file under (or outside) :func:`data_dir`.

    >>> data_relative(data_dir() / "prepared" / "x.nii")
    'prepared/x.nii'
    """
    path = Path(path)
    try:
        return path.resolve().relative_to(data_dir()).as_posix()
    except ValueError:
        return path.name


def shown(path: PathLike) -> str:
    """A path as a page or a printout shows it: a relative path as it is, an absolute one relative to the repository
    root or to the data folder when it lies inside, else ``~/...`` in the home folder, else ``.../`` and its last two
    parts, so that no page publishes the absolute paths of the machine that ran it.

    Taught in ``05_transfer_learning``.

    Args:
        path: any file or folder.

    >>> shown(REPO_ROOT / "runs" / "r3d"), shown("runs"), shown("/scratch/me/course/runs")
    ('runs/r3d', 'runs', '.../course/runs')
    >>> shown(Path.home() / ".cache" / "torch")  # torch's hub cache
    '~/.cache/torch'
    """
    path = Path(path)
    if not path.is_absolute():
        return path.as_posix()
    for root, prefix in ((REPO_ROOT, ""), (data_dir(), ""), (Path.home(), "~/")):
        try:
            return prefix + path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return ".../" + "/".join(path.parts[-2:])


def resolve(path: PathLike, base: Path | None = None) -> Path:
    """Resolve a relative path against the repository root (not the current folder), so notebooks run anywhere.

    Taught in ``01_data_exploration``, and used by every notebook after it.

    Args:
        path: the path; ``~`` is expanded.
        base: what a relative path is relative to (the repository root by default).

    >>> resolve("runs") == REPO_ROOT / "runs"
    True
    """
    path = Path(path).expanduser()
    return path if path.is_absolute() else ((base or REPO_ROOT) / path).resolve()
