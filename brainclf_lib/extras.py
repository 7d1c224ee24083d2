"""The parts of brainclf behind an extra, imported where they are used: :func:`require`.

``pip install brainclf`` installs the core: it prepares data, trains, evaluates, predicts and runs the notebooks.
The extras (``pyproject.toml``) add the rest: ``course`` (JupyterLab, the site's Sphinx, MyST-NB and theme,
nbgrader), ``cluster`` (submitit), ``skullstrip`` (deepbet and ROBEX, and the template anatomy that the synthetic
cohort is drawn from); ``dev`` is all of them and the test tools. Code behind an extra never imports its package at
the top of a module: it calls :func:`require` where it needs it, so that the core imports without the extras and a
missing one is a single line that names the extra, not an ImportError from deep inside.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingExtraError


def require(module: str, extra: str, needed_for: str | None = None) -> ModuleType:
    """Import ``module``, or fail with one line naming the extra that installs it.

    Args:
        module: the module to import (``"submitit"``, ``"deepbet.bet"``).
        extra: the extra of ``pyproject.toml`` that installs its package (``"cluster"``).
        needed_for: what needs it, for the message (``"--launcher slurm"``).

    Raises:
        MissingExtraError: the package is not installed. A package that is installed but fails to import (one of
            its own dependencies missing) raises its own error: that is a broken environment, not a missing extra.

    >>> require("json", "core").__name__
    'json'
    >>> require("submitit_is_not_a_package", "cluster", "--launcher slurm")
    Traceback (most recent call last):
    ...
    brainclf_lib.errors.MissingExtraError: --launcher slurm needs submitit_is_not_a_package, which is not installed: pip install 'brainclf[cluster]' (in a checkout: pip install -e '.[cluster]')
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        package = module.split(".")[0]
        if error.name is None or error.name.split(".")[0] != package:
            raise
        what = f"{needed_for} needs {package}, which is" if needed_for else f"{package} is"
        message = f"{what} not installed: pip install 'brainclf[{extra}]' (in a checkout: pip install -e '.[{extra}]')"
        raise MissingExtraError(message, name=package) from None
