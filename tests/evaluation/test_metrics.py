import math

import numpy as np
import pytest
from sklearn.metrics import f1_score

from brainclf_lib.evaluation.metrics import (
    aggregate_folds,
    arm_score,
    bootstrap_ci,
    classification_metrics,
    mcnemar,
    metrics_table,
    paired_bootstrap,
    row_scores,
)


def test_metrics_match_a_hand_computation():
    # truth:     H H H L L G G G
    # predicted: H H L L G G G H
    m = classification_metrics([0, 0, 0, 1, 1, 2, 2, 2], [0, 0, 1, 1, 2, 2, 2, 0])
    assert m["confusion"] == [[2, 1, 0], [0, 1, 1], [1, 0, 2]]
    h, lgg, hgg = (m["per_class"][c] for c in ("Healthy", "LGG", "HGG"))
    assert h["precision"] == pytest.approx(2 / 3) and h["recall"] == pytest.approx(2 / 3)
    assert h["specificity"] == pytest.approx(4 / 5)  # TN 4 (L,L,G,G predicted non-H), FP 1
    assert lgg["precision"] == pytest.approx(1 / 2) and lgg["recall"] == pytest.approx(1 / 2)
    assert lgg["specificity"] == pytest.approx(5 / 6)
    assert hgg["f1"] == pytest.approx(2 * (2 / 3) * (2 / 3) / (4 / 3))
    assert m["accuracy"] == pytest.approx(5 / 8)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 2 / 3) / 3)
    assert m["weighted_f1"] == pytest.approx((3 * 2 / 3 + 2 * 1 / 2 + 3 * 2 / 3) / 8)
    assert np.allclose(np.sum(m["confusion_normalised"], axis=1), 1)


def test_a_class_absent_from_a_fold_is_left_out_of_the_macro_average():
    m = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1])
    assert math.isnan(m["per_class"]["HGG"]["f1"]) and m["per_class"]["HGG"]["support"] == 0
    assert m["per_class"]["HGG"]["specificity"] == 1.0
    assert m["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert m["confusion_normalised"][2] == [0.0, 0.0, 0.0]


def test_folds_aggregate_as_mean_and_std():
    a = classification_metrics([0, 1, 2], [0, 1, 2])
    b = classification_metrics([0, 1, 2], [0, 1, 1])
    summary = aggregate_folds([a, b])
    assert summary["mean"]["accuracy"] == pytest.approx((1 + 2 / 3) / 2)
    assert summary["std"]["accuracy"] == pytest.approx(np.std([1, 2 / 3], ddof=1))  # the sample std, as pandas'
    assert aggregate_folds([a])["std"]["accuracy"] is None  # one fold has no spread to report
    assert summary["confusion_mean"][2] == [0, 0.5, 0.5]


def test_bootstrap_interval_brackets_the_estimate():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    pred = np.where(rng.random(60) < 0.8, y, (y + 1) % 3)
    estimate, low, high = bootstrap_ci(y, pred, "accuracy", n_resamples=500)
    assert low < estimate < high and high - low < 0.3


def test_mcnemar_counts_discordant_pairs():
    y = [0] * 20
    a = [0] * 20
    b = [0] * 10 + [1] * 10
    result = mcnemar(y, a, b)
    assert result["a_right_b_wrong"] == 10 and result["b_right_a_wrong"] == 0
    assert result["p_value"] == pytest.approx(2 * 0.5**10)
    assert mcnemar(y, a, a)["p_value"] == 1.0


@pytest.mark.parametrize("metric", ["macro_f1", "accuracy", "f1_Healthy", "f1_LGG", "f1_HGG"])
def test_the_vectorised_bootstrap_gives_scikit_learns_figures(metric):
    from sklearn.metrics import accuracy_score, f1_score

    def by_sklearn(t, p):
        if metric == "accuracy":
            return accuracy_score(t, p)
        if metric.startswith("f1_"):  # 08's per-class figures: undefined in a resample that neither holds nor calls it
            index = ["Healthy", "LGG", "HGG"].index(metric.removeprefix("f1_"))
            return f1_score(t, p, labels=[index], average="macro", zero_division=0) if index in t or index in p else np.nan
        return f1_score(t, p, labels=[0, 1, 2], average="macro", zero_division=np.nan)

    rng = np.random.default_rng(3)
    for n in (4, 16, 50):  # small resamples often miss a class entirely
        y_true = rng.integers(0, 3, n)
        y_pred = np.where(rng.random(n) < 0.7, y_true, rng.integers(0, 3, n))
        fast = bootstrap_ci(y_true, y_pred, metric, n_resamples=300, seed=n)
        loop = bootstrap_ci(y_true, y_pred, by_sklearn, n_resamples=300, seed=n)
        assert np.allclose(fast, loop, equal_nan=True), (n, fast, loop)


def test_the_paired_bootstrap_scores_both_runs_on_the_same_resamples():
    """05's verdicts: the difference of two runs' macro F1 over one set of draws, as a resample-by-resample loop of
    scikit-learn calls computes it (which took 5 s a pair)."""
    rng = np.random.default_rng(5)
    for n in (6, 24, 48):
        truth = rng.integers(0, 3, n)
        a, b = (np.where(rng.random(n) < share, truth, rng.integers(0, 3, n)) for share in (0.6, 0.8))

        def difference(index, _, truth=truth, a=a, b=b):
            return (f1_score(truth[index], b[index], labels=[0, 1, 2], average="macro", zero_division=np.nan)
                    - f1_score(truth[index], a[index], labels=[0, 1, 2], average="macro", zero_division=np.nan))

        subjects = np.arange(n)
        loop = bootstrap_ci(subjects, subjects, difference, n_resamples=300, seed=n)
        assert np.allclose(paired_bootstrap(truth, a, b, n_resamples=300, seed=n), loop), n
    assert paired_bootstrap(truth, a, a)[0] == 0.0
    with pytest.raises(ValueError, match=r"same subjects: 48 labels, calls of shape \(48,\) and \(47,\)"):
        paired_bootstrap(truth, a, b[:-1])


@pytest.mark.parametrize("runs", [1, 3, 9])
def test_a_paired_bootstrap_of_arms_scores_the_mean_of_their_runs_on_each_resample(runs):
    """06's arm comparisons: two arms of fold runs, every run on the same draws of subjects, to the last bit of the
    resample-by-resample loop that computed them before (1.2 s for 06's nine pairs); nine runs sum pairwise."""
    rng = np.random.default_rng(runs)
    truth = rng.integers(0, 3, 36)
    a, b = (np.where(rng.random((runs, 36)) < share, truth, rng.integers(0, 3, (runs, 36))) for share in (0.6, 0.8))

    def mean_f1(index, calls):
        return np.mean(row_scores("macro_f1", np.broadcast_to(truth[index], calls[:, index].shape), calls[:, index]))

    subjects = np.arange(36)
    loop = bootstrap_ci(subjects, subjects, lambda index, _: mean_f1(index, b) - mean_f1(index, a), n_resamples=300, seed=2)
    assert paired_bootstrap(truth, a, b, n_resamples=300, seed=2) == loop
    sklearn_f1 = np.mean([f1_score(truth, run, labels=[0, 1, 2], average="macro") for run in b])
    assert paired_bootstrap(truth, a, b)[0] == pytest.approx(sklearn_f1 - mean_f1(subjects, a))
    if runs == 1:  # an arm of one run is that run
        assert np.allclose(paired_bootstrap(truth, a, b, n_resamples=300, seed=2),
                           paired_bootstrap(truth, a[0], b[0], n_resamples=300, seed=2))
    with pytest.raises(ValueError, match="same subjects"):
        paired_bootstrap(truth, a[:0], b)  # an arm of no runs


def test_row_scores_equal_scikit_learn_on_every_row():
    """A grid's runs, or a bootstrap's resamples, scored at once, each as scikit-learn scores it alone."""
    rng = np.random.default_rng(3)
    truth, calls = rng.integers(0, 3, (5, 40)), rng.integers(0, 3, (5, 40))
    calls[4] = 2  # one row predicting a single class: the others' F1 is 0, not undefined
    expected = [f1_score(t, c, labels=[0, 1, 2], average="macro", zero_division=np.nan) for t, c in zip(truth, calls, strict=True)]
    assert np.allclose(row_scores("macro_f1", truth, calls), expected)
    assert np.allclose(row_scores("accuracy", truth, calls), (truth == calls).mean(1))


def test_the_per_class_table_counts_subjects_as_whole_numbers():
    table = metrics_table(classification_metrics([0, 0, 1, 2, 2], [0, 1, 1, 2, 0]))
    assert table["support"].tolist() == [2, 1, 2] and table["support"].dtype.kind == "i"
    assert table.loc["Healthy", "recall"] == 0.5


@pytest.mark.parametrize("score", [row_scores, arm_score])
def test_an_unknown_metric_is_refused_not_scored_as_macro_f1(score):
    truth, calls = np.array([0, 1, 2, 1]), np.array([[0, 1, 2, 2], [0, 0, 2, 1]])
    with pytest.raises(ValueError, match="Unknown metric 'f1_macro'.*macro_f1"):
        score("f1_macro", truth, calls)
    with pytest.raises(ValueError, match="Unknown metric 'f1_macro'.*macro_f1"):  # one lookup serves them all
        bootstrap_ci(truth, calls[0], "f1_macro")


def test_an_arms_figure_is_the_mean_of_its_runs_macro_f1():
    rng = np.random.default_rng(1)
    for _ in range(20):
        truth, calls = rng.integers(0, 3, 30), rng.integers(0, 3, (3, 30))
        each = [classification_metrics(truth, run)["macro_f1"] for run in calls]
        assert arm_score("macro_f1", truth, calls[:1]) == pytest.approx(each[0])
        assert arm_score("macro_f1", truth, calls) == pytest.approx(np.mean(each))
