import math

import pandas as pd

from brainclf_lib.training.selection import effective_window, selection_scores


def _log(losses: list[float], f1s: list[float] | None = None) -> pd.DataFrame:
    f1s = f1s or [0.84] * len(losses)
    return pd.DataFrame({"epoch": range(len(losses)), "val_macro_f1": f1s, "val_loss": losses})


def test_an_early_epoch_cannot_win_on_fewer_values_than_the_window():
    """Epoch 0's low loss alone would beat every complete 3-epoch mean."""
    scores = selection_scores(_log([0.30, 0.90, 0.80, 0.50, 0.45, 0.40, 0.42]), 3)
    assert scores.iloc[:2].isna().all()
    assert int(scores.idxmax()) == 6
    assert math.isclose(scores.iloc[2], -(0.30 + 0.90 + 0.80) / 3)


def test_the_choice_rests_on_the_loss_not_on_the_few_values_of_validation_f1():
    """Issue #34: on 8 validation subjects macro F1 takes a handful of values (0.841 at all 7 epochs of two runs),
    one subject's flip moves it by 0.1, and the choice fell to a tie-break. The windowed loss ranks every epoch:
    here F1 prefers epochs 3 to 5 on one subject's flip while the loss keeps falling to the end."""
    log = _log([1.00, 0.90, 0.80, 0.75, 0.70, 0.60, 0.50], f1s=[0.70, 0.70, 0.70, 0.82, 0.82, 0.82, 0.70])
    scores = selection_scores(log, 3)
    assert int(scores.idxmax()) == 6
    assert scores.dropna().is_monotonic_increasing and scores.dropna().nunique() == 5


def test_a_run_shorter_than_the_window_is_scored_as_one_stretch():
    log = _log([0.9, 0.7])
    window = effective_window(3, len(log))
    assert window == 2
    scores = selection_scores(log, window)
    assert scores.isna().tolist() == [True, False] and int(scores.idxmax()) == 1


def test_without_validation_the_last_epoch_wins():
    log = pd.DataFrame({"epoch": range(3), "val_macro_f1": [math.nan] * 3, "val_loss": [math.nan] * 3})
    assert int(selection_scores(log, 3).idxmax()) == 2
