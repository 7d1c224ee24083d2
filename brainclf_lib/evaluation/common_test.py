"""One synthetic test cohort that every run of a grid is also scored on, beside its own test fold.

Taught in ``06_results``. A test fold of the ``fast`` preset holds 24 subjects, so one subject moves a run's macro F1
by about 0.04 and no comparison the paper makes (spatiotemporal against 3D, pre-trained against scratch) can be
decided on folds. A second cohort from the same generator, drawn from a seed that no training or source cohort uses,
costs one generation (cached like any cohort) and a forward pass a subject a run: every run reads 48 subjects more,
and every run the *same* ones, so two arms are compared subject by subject.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..conventions import CLASS_TO_INDEX, CLASSES
from ..data.datasets import VolumeDataset, make_subjects
from ..data.prepare import read_manifest
from ..data.source import SEED_OFFSET as SOURCE_SEED_OFFSET
from ..data.step import prepare_data
from ..experiment.config import ExperimentConfig
from ..experiment.device import amp_dtype, pick_device
from ..experiment.run_folder import Run
from ..paths import PathLike, resolve
from .metrics import arm_score, bootstrap_ci, classification_metrics, paired_bootstrap
from .scoring import predict_subjects

#: What :func:`arm_comparisons` returns, even when a partial grid leaves nothing to compare.
COMPARISON_COLUMNS = ["A", "B", "folds", "subjects", "A macro F1", "B macro F1", "B - A", "95% CI", "calls that differ",
                      "better"]
#: The common test cohort's seed is the training cohort's plus this, past the source task's cohort.
SEED_OFFSET = SOURCE_SEED_OFFSET + 1
#: Subjects a class of the common test cohort, at most: 48 subjects, with a fold of 24 every run's figure rests on
#: 72; a larger cohort would cost the demo a minute more and change no comparison's verdict by much.
COMMON_PER_CLASS = 16


def common_test_config(config: ExperimentConfig) -> ExperimentConfig:
    """The experiment whose cohort is ``config``'s common test set: the same generator, size and preprocessing, another
    seed. Real data has none (a real external set is ``brainclf validate --manifest``)."""
    if config.data_root != "synthetic":
        raise ValueError(f"a common test cohort is generated for the synthetic cohort only, not for {config.data_root}; "
                         "score real runs on labelled scans with `brainclf validate --runs DIR --manifest FILE`")
    return config.replace(synthetic_seed=config.synthetic_seed + SEED_OFFSET,
                          n_per_class=min(config.n_per_class, COMMON_PER_CLASS))


def common_test_set(config: ExperimentConfig) -> VolumeDataset:
    """Every subject of the common test cohort, as a run's test subjects are read (no augmentation); installed (shipped
    with the fast and smoke presets) or generated and prepared on first use.

    Taught in ``06_results``.

    Args:
        config: the experiment whose runs are scored (its cohort, preprocessing and contrasts).
    """
    other = common_test_config(config)
    return VolumeDataset(make_subjects(read_manifest(prepare_data(other)), config.contrasts))


def score_runs(output_dir: PathLike, results: pd.DataFrame, dataset: VolumeDataset) -> pd.DataFrame:
    """Each run's call on every subject of ``dataset``: one row per run and subject, with the run's arch, init and
    fold and the class probabilities.

    Taught in ``06_results``.

    Args:
        output_dir: the folder holding the run folders.
        results: :func:`~brainclf_lib.replication.replicate.collect_runs`' table, which names the runs.
        dataset: the subjects to score (:func:`common_test_set`).
    """
    folder, frames = resolve(output_dir), []
    runs = results.drop_duplicates("run")[["run", "arch", "model", "init", "fold"]]
    for row in runs.itertuples(index=False):
        run = Run(folder / row.run)
        device = pick_device(run.config.device)
        calls = predict_subjects(run.load_model(device), dataset, device, amp_dtype(run.config.amp, device))  # no_grad
        frames.append(calls.assign(**row._asdict()))
    return pd.concat(frames, ignore_index=True)


def common_test_metrics(calls: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """One row per run: subjects, accuracy, macro F1 with its bootstrap 95 % interval, and F1 per class.

    Taught in ``06_results``.

    Args:
        calls: :func:`score_runs`' table.
        seed: the bootstrap's seed.
    """
    rows = []
    for (run, arch, model, init, fold), group in calls.groupby(["run", "arch", "model", "init", "fold"], sort=False):
        truth, pred = _indices(group["label"]), _indices(group["pred"])
        metrics = classification_metrics(truth, pred)
        _, low, high = bootstrap_ci(truth, pred, "macro_f1", n_resamples=1000, seed=seed)
        rows.append({"run": run, "arch": arch, "model": model, "init": init, "fold": fold, "subjects": len(group),
                     "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"], "macro_f1_ci95": (round(low, 3), round(high, 3)),
                     **{name: metrics["per_class"][name]["f1"] for name in CLASSES}})
    return pd.DataFrame(rows)


def arm_means(runs: pd.DataFrame) -> pd.DataFrame:
    """Each arm's (architecture x initialisation) figures on the common test set: the mean over its runs of macro F1,
    with the standard deviation over them (ddof 1, as the suite's ± everywhere), and of F1 per class.

    Taught in ``06_results``.

    Args:
        runs: :func:`common_test_metrics`' table.
    """
    grouped = runs.groupby(["arch", "init"], sort=False)
    return grouped[["macro_f1"]].mean().assign(sd=grouped["macro_f1"].std(), runs=grouped.size()).join(
        grouped[list(CLASSES)].mean().add_suffix(" F1"))


def arm_comparisons(calls: pd.DataFrame, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The paper's two questions on the common test set: pre-trained against scratch for each architecture, and each
    two architectures at each initialisation.

    An arm's figure is its runs' mean macro F1 (the mean over folds, as Table 2 gives it), on the same subjects for
    both arms, over the folds both have finished. The interval of the difference comes from resampling subjects, the
    same resample for every run of both arms (a subject's calls by the three fold runs move together, so the pairs
    stay paired). The verdict is ``A``
    or ``B``'s name (column ``better``) only when that interval excludes 0; otherwise ``undecided``. Identical calls are
    a tie. ``calls that differ`` counts (fold, subject) pairs. The interval holds the trained runs fixed: it says
    how far another draw of test subjects could move the difference, not how far another training trajectory could
    (which ``make expectations`` measures).

    Taught in ``06_results``.

    Args:
        calls: :func:`score_runs`' table.
        n_resamples: bootstrap resamples of the subjects.
        seed: the bootstrap's seed.
    """
    arms = {key: _calls_by_fold(group) for key, group in calls.groupby(["arch", "init"], sort=False)}
    truth = _truth(calls)
    pairs = [((arch, "scratch"), (arch, "pretrained")) for arch in dict.fromkeys(a for a, _ in arms)]
    pairs += [((a, init), (b, init)) for init in dict.fromkeys(i for _, i in arms)
              for a, b in itertools.combinations(dict.fromkeys(a for a, _ in arms), 2)]
    rows = []
    for first, second in pairs:
        folds = arms[first].index.intersection(arms[second].index) if first in arms and second in arms else []
        if not len(folds):  # a partial grid: an arm missing, or no fold both have finished
            continue
        a, b = arms[first].loc[folds].to_numpy(), arms[second].loc[folds].to_numpy()
        point, low, high = paired_bootstrap(truth, a, b, "macro_f1", n_resamples, seed=seed)
        rows.append({"A": " ".join(first), "B": " ".join(second), "folds": len(folds), "subjects": int(truth.size),
                     "A macro F1": arm_score("macro_f1", truth, a), "B macro F1": arm_score("macro_f1", truth, b),
                     "B - A": point, "95% CI": (round(low, 3), round(high, 3)),
                     "calls that differ": int((a != b).sum()),
                     "better": " ".join(second) if low > 0 else " ".join(first) if high < 0 else "undecided"})
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def _calls_by_fold(group: pd.DataFrame) -> pd.DataFrame:
    """An arm's calls as class indices, one row per fold, one column per subject, in subject order (as
    :func:`_truth`)."""
    wide = group.pivot(index="fold", columns="subject_id", values="pred").sort_index(axis=1)
    return wide.apply(_indices)


def _truth(calls: pd.DataFrame) -> np.ndarray:
    labels = calls.drop_duplicates("subject_id").set_index("subject_id")["label"].sort_index()
    return _indices(labels)


def _indices(labels: Sequence[str] | pd.Series) -> np.ndarray:
    return pd.Series(labels).map(CLASS_TO_INDEX).to_numpy()
