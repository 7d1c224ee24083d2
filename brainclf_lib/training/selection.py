"""How a run's epoch is chosen: a smoothed validation score, so that one lucky epoch on a few validation subjects
is not the one kept."""

from __future__ import annotations

import pandas as pd


def selection_scores(log: pd.DataFrame, window: int) -> pd.Series:
    """What picks the best epoch: each epoch's validation macro F1 (ties broken by the lower loss), averaged over
    it and the ``window - 1`` epochs before it; without a validation subset, the epoch number (the last wins).

    Taught in ``04_train``. On a few validation subjects one subject more or less right moves macro F1 by 0.1 to
    0.3 between neighbouring epochs; the average keeps a single lucky epoch from being chosen. Only complete
    windows are scored: the first ``window - 1`` epochs score NaN and are never chosen, so an early epoch cannot win
    on fewer values than the others (a mean of one is as noisy as no mean). A run shorter than the window is
    scored by a window of its own length (:func:`effective_window`), so its last epoch always has a score.

    Args:
        log: the run's log (``epoch``, ``val_macro_f1``, ``val_loss``), one row per epoch.
        window: epochs averaged (1: each epoch on its own).

    >>> log = pd.DataFrame({"epoch": range(7), "val_macro_f1": [0.92, 0.60, 0.70, 0.85, 0.86, 0.88, 0.88],
    ...                     "val_loss": [1.0] * 7})
    >>> int(selection_scores(log, 1).idxmax()), int(selection_scores(log, 3).idxmax())
    (0, 6)
    >>> selection_scores(log, 3).isna().tolist()[:3]
    [True, True, False]
    """
    if log["val_loss"].isna().all():
        return log["epoch"].astype(float)
    raw = log["val_macro_f1"].fillna(0.0) - 1e-3 * log["val_loss"].clip(upper=100.0)
    return raw.rolling(window, min_periods=window).mean()


def effective_window(window: int, epochs: int) -> int:
    """The selection window a run of ``epochs`` epochs uses: ``window``, or the whole run when it is shorter.

    >>> effective_window(3, 7), effective_window(3, 2)
    (3, 2)
    """
    return max(1, min(window, epochs))
