"""A shipped synthetic cohort's 1 mm scans, written when something first reads them.

A cohort installed from ``data/cohorts`` carries its prepared volumes, not its 1 mm scans (about 9 MB a subject);
``load_volume``, ``raw_contrast_path`` and the figures read a raw scan through :func:`write_when_read`, so a viewer
or a figure gets its subject generated then, a few seconds. Kept apart from the generator, which it imports only
when a scan is missing: reading a scan that exists, real or synthetic, never loads it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..paths import PathLike


def write_when_read(path: PathLike) -> Path:
    """``path``, made absolute, and written first if it is a missing scan of a synthetic cohort folder (one that holds
    ``cohort.json``) that the current generator wrote. Any other missing path is returned as it is, for the
    reader's own error to name.

    Args:
        path: a raw scan, real or synthetic.
    """
    path = Path(os.path.abspath(path))
    if path.exists():
        return path
    # where a cohort's scans lie: <cohort>/IXI-T1/<scan>, <cohort>/<BraTS root>/<grade>/<subject>/<scan>
    roots = [path.parents[depth] for depth in (1, 3) if depth < len(path.parents)]
    root = next((folder for folder in roots if (folder / "cohort.json").is_file()), None)
    if root is not None:
        from .synthetic.cohort import write_missing_scan  # here, not at the top: the generator only for a missing scan

        write_missing_scan(root, path)
    return path
