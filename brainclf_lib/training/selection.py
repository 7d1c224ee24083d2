"""How a run's epoch is chosen: a smoothed validation score, so that one lucky epoch on a few validation subjects
is not the one kept."""

from __future__ import annotations

import pandas as pd


def selection_scores(log: pd.DataFrame, window: int) -> pd.Series:
    """What picks the best epoch: each epoch's validation loss (cross-entropy over the validation subjects),
    averaged over it and the ``window - 1`` epochs before it, negated so that higher is better; without a
    validation subset, the epoch number (the last wins).

    Taught in ``04_train``. Not macro F1: on 8 validation subjects (the fast preset's, then) macro F1 takes a handful of
    values and often stays the same for a whole run (issue #34: 0.841 at all 7 epochs), so the choice fell to a
    tie-break. The loss moves with every subject's probabilities, so it ranks epochs that call the same subjects
    right, and the average keeps a single lucky epoch from being chosen. Only complete windows are scored: the
    first ``window - 1`` epochs score NaN and are never chosen, so an early epoch cannot win on fewer values than
    the others. A run shorter than the window is scored by a window of its own length (:func:`effective_window`),
    so its last epoch always has a score.

    Args:
        log: the run's log (``epoch``, ``val_loss``), one row per epoch.
        window: epochs averaged (1: each epoch on its own).

    >>> log = pd.DataFrame({"epoch": range(7), "val_loss": [0.30, 0.90, 0.80, 0.50, 0.45, 0.40, 0.42]})
    >>> int(selection_scores(log, 1).idxmax()), int(selection_scores(log, 3).idxmax())
    (0, 6)
    >>> selection_scores(log, 3).isna().tolist()[:3]
    [True, True, False]
    """
    if log["val_loss"].isna().all():
        return log["epoch"].astype(float)
    return -log["val_loss"].clip(upper=100.0).fillna(100.0).rolling(window, min_periods=window).mean()


def effective_window(window: int, epochs: int) -> int:
    """The selection window a run of ``epochs`` epochs uses: ``window``, or the whole run when it is shorter.

    >>> effective_window(3, 7), effective_window(3, 2)
    (3, 2)
    """
    return max(1, min(window, epochs))
