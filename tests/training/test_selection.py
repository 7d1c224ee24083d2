import math

import pandas as pd

from brainclf_lib.training.selection import effective_window, selection_scores


def _log(f1s: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"epoch": range(len(f1s)), "val_macro_f1": f1s, "val_loss": [1.0] * len(f1s)})


def test_an_early_epoch_cannot_win_on_fewer_values_than_the_window():
    """The issue's log: epoch 0's 0.92 alone used to beat every complete 3-epoch mean."""
    scores = selection_scores(_log([0.92, 0.60, 0.70, 0.85, 0.86, 0.88, 0.88]), 3)
    assert scores.iloc[:2].isna().all()
    assert int(scores.idxmax()) == 6
    assert math.isclose(scores.iloc[2], (0.92 + 0.60 + 0.70) / 3 - 1e-3)


def test_a_run_shorter_than_the_window_is_scored_as_one_stretch():
    log = _log([0.5, 0.7])
    window = effective_window(3, len(log))
    assert window == 2
    scores = selection_scores(log, window)
    assert scores.isna().tolist() == [True, False] and int(scores.idxmax()) == 1


def test_without_validation_the_last_epoch_wins():
    log = pd.DataFrame({"epoch": range(3), "val_macro_f1": [math.nan] * 3, "val_loss": [math.nan] * 3})
    assert int(selection_scores(log, 3).idxmax()) == 2
