"""How a run's epoch is chosen: a smoothed validation score, so that one lucky epoch on a few validation subjects
is not the one kept."""

from __future__ import annotations

import pandas as pd


def selection_scores(log: pd.DataFrame, window: int) -> pd.Series:
    """What picks the best epoch: each epoch's validation macro F1 (ties broken by the lower loss), averaged over
    it and the ``window - 1`` epochs before it; without a validation subset, the epoch number (the last wins).

    Taught in ``04_train``. On a few validation subjects one subject more or less right moves macro F1 by 0.1 to
    0.3 between neighbouring epochs; the average keeps a single lucky epoch from being chosen.

    Args:
        log: the run's log (``epoch``, ``val_macro_f1``, ``val_loss``), one row per epoch.
        window: epochs averaged (1: each epoch on its own).

    >>> log = pd.DataFrame({"epoch": [0, 1, 2, 3], "val_macro_f1": [0.2, 1.0, 0.4, 0.9], "val_loss": [1.0] * 4})
    >>> selection_scores(log, 1).idxmax(), selection_scores(log, 3).idxmax()
    (1, 3)
    """
    if log["val_loss"].isna().all():
        return log["epoch"].astype(float)
    raw = log["val_macro_f1"].fillna(0.0) - 1e-3 * log["val_loss"].clip(upper=100.0)
    return raw.rolling(window, min_periods=1).mean()
