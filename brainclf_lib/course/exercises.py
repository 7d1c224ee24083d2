"""The course's exercises that have a number, a name or a set for an answer, and :func:`check`, which tells a student
whether they got it.

Taught in every notebook's "Exercises" section; the worked answers are the notebooks in ``notebooks/solutions/``.
A check never trains or generates anything: it computes the reference answer from what the student's own work left
on disk (the run folder a changed config trains into, the cohort a changed config prepares), so an exercise done on
another preset or data is checked against that work, and a missing run is named rather than trained behind the
student's back.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torchio as tio

from ..conventions import CLASSES
from ..data.cohorts import dataset_folder, preprocess_settings
from ..data.prepare import MANIFEST, read_manifest
from ..data.preprocessing import load_volume, preprocessing_steps
from ..data.step import load_fold
from ..evaluation.baseline import histogram_baseline, histogram_features, histogram_model
from ..evaluation.explain import attention_in_mask, grad_cam, tumour_attention
from ..evaluation.external import CALLS, REAL_MANIFEST, default_out, read_scan_manifest
from ..experiment.config import ExperimentConfig, make_config
from ..experiment.run_folder import Run, find_runs
from ..models.architectures import build_model
from ..paths import resolve
from ..replication.replicate import collect_runs
from ..replication.reported import REPORTED

#: Two independent estimates over the paper's 591 test subjects (259 + 73 + 259, each tested once over the 3 folds)
#: are 95 % apart when they differ by more than 1.96 sqrt(2) sqrt(p (1 - p) / 591), here with p = 0.9.
PAPER_PAIR_MARGIN = 1.96 * math.sqrt(2) * math.sqrt(0.9 * 0.1 / 591)


class NotReadyError(LookupError):
    """What an exercise's answer is computed from is not there yet (a run not trained, a cohort not prepared)."""


@dataclass(frozen=True)
class Exercise:
    """One checkable exercise: what to give, how to compute the reference answer, and how close counts."""

    id: str  # "<notebook number>.<exercise number>", as the notebook's Exercises section numbers it
    asks: str  # the answer's form, shown when it is missing or wrong
    reference: Callable[[ExperimentConfig], Any]  # the right answer (for a choice, a list: any of them), from the student's work
    kind: str = "number"  # number | choice | names
    tolerance: float = 0.005  # absolute, for numbers (2-decimal rounding passes)
    relative: bool = False  # the tolerance is a share of the reference instead


def check(exercise: str, answer: Any, config: ExperimentConfig | None = None) -> bool | None:
    """Say whether ``answer`` is right, without giving the right answer away.

    Taught in ``01_data_exploration``; every notebook's Exercises section has one call per checkable exercise.

    Args:
        exercise: the exercise's number, e.g. ``"04.3"``.
        answer: what you found; ``None`` (not answered yet) only says what to give.
        config: the notebook's ``config``, whose preset, data and output folder the answer is computed from.

    Returns:
        ``True`` when right, ``False`` when not, ``None`` when unanswered or not checkable yet (it says why).

    >>> check("03.1", None)
    Exercise 03.1: not answered yet. Give the middle width M (an integer).
    >>> check("03.1", 576)
    Exercise 03.1: right.
    True
    """
    if exercise not in EXERCISES:
        raise ValueError(f"No checkable exercise {exercise!r}; checkable ones are {', '.join(EXERCISES)}")
    spec = EXERCISES[exercise]
    if answer is None:
        print(f"Exercise {exercise}: not answered yet. Give {spec.asks}.")
        return None
    try:
        reference = spec.reference(config or make_config("fast"))
    except NotReadyError as missing:
        print(f"Exercise {exercise}: cannot check yet: {missing}")
        return None
    right = _matches(spec, answer, reference)
    print(f"Exercise {exercise}: " + ("right." if right else f"not quite. Give {spec.asks}; the solution shows how."))
    return right


def _matches(spec: Exercise, answer: Any, reference: Any) -> bool:
    if spec.kind == "choice":  # a list of references: any of them is right (a tie)
        accepted = reference if isinstance(reference, list) else [reference]
        return str(answer).strip().lower() in {str(option).lower() for option in accepted}
    if spec.kind == "names":
        return set(answer) == set(reference)
    if isinstance(answer, str):
        return False
    if math.isnan(float(reference)):  # undefined on this run (07's share of an all-zero map): only NaN is right
        return math.isnan(float(answer))
    tolerance = spec.tolerance * abs(reference) if spec.relative else spec.tolerance
    return math.isclose(float(answer), float(reference), abs_tol=tolerance)


def _finished(config: ExperimentConfig, what: str) -> Run:
    run = Run.of(config)
    if not run.is_complete:
        raise NotReadyError(f"{what} has not finished training: no metrics in {run.folder}")
    return run


def _prepared_manifest(config: ExperimentConfig) -> pd.DataFrame:
    folder = dataset_folder(config)
    if not (folder / MANIFEST).exists():
        raise NotReadyError(f"the cohort is not prepared: run prepare_data(...) on your config first ({folder})")
    return read_manifest(folder)


def _lgg_hgg_at_difficulty_one(config: ExperimentConfig) -> float:
    baseline = histogram_baseline(_prepared_manifest(config.replace(synthetic_difficulty=1.0)))
    return float(baseline.set_index("task").loc["LGG vs HGG", "accuracy"])


def _strongest_shortcut_bin(config: ExperimentConfig) -> int:
    manifest = _prepared_manifest(config)
    model = histogram_model()
    model.fit(histogram_features(manifest["image_t1ce"].tolist()), manifest["label"].eq("Healthy"))
    return int(np.abs(model[-1].coef_[0]).argmax())


def _unstripped_voxel_ratio(config: ExperimentConfig) -> float:
    manifest = _prepared_manifest(config)
    ixi = manifest[manifest["source"] == "IXI"].iloc[0]
    counts = []
    for strip in (True, False):
        *_, (_, subject) = preprocessing_steps({"t1ce": load_volume(ixi["original_path"])}, preprocess_settings(config), strip)
        counts.append(int((subject["t1ce"].data > 0).sum()))
    return counts[1] / counts[0]


def _brain_lost_to_crop(config: ExperimentConfig) -> float:

    manifest = _prepared_manifest(config)
    image = tio.ScalarImage(manifest[manifest["label"] == "HGG"].iloc[0]["image_t1ce"])
    smaller = tuple(n - 8 for n in image.spatial_shape)
    kept = int((tio.CropOrPad(smaller)(image).data > 0).sum())
    return 1 - kept / int((image.data > 0).sum())


def _stage3_middle_width(config: ExperimentConfig) -> int:
    return int(build_model("r2plus1d_18").layer3[1].conv1[0][0].out_channels)


def _stem_tensors_for_four_contrasts(config: ExperimentConfig) -> list[str]:
    one, four = (build_model(config.arch, in_channels=n).state_dict() for n in (1, 4))
    return [name for name in one if one[name].shape != four[name].shape]


def _run_macro_f1(**changes: Any) -> Callable[[ExperimentConfig], float]:
    def reference(config: ExperimentConfig) -> float:
        changed = config.replace(**changes)
        return float(_finished(changed, f"the run with {_settings(changes)}").metrics["macro_f1"])
    return reference


def _reinitialised_tensors(config: ExperimentConfig) -> list[str]:
    source = resolve(config.output_dir) / "source" / f"{config.arch}.pt"
    if not source.exists():
        raise NotReadyError(f"no source weights at {source}: run the notebook's 'Source weights' cell first")
    return build_model(config.arch, pretrained=str(source)).transfer_report.reinitialised


def _rgb_mean_macro_f1(config: ExperimentConfig) -> float:
    source = str(resolve(config.output_dir) / "source" / f"{config.arch}.pt")
    return _run_macro_f1(pretrained=source, stem_init="rgb_mean")(config)


def _paper_pairs_apart(config: ExperimentConfig) -> int:
    return sum(abs(a - b) > PAPER_PAIR_MARGIN for a, b in itertools.combinations(REPORTED["macro_f1"], 2))


def _hardest_class_at_difficulty(config: ExperimentConfig) -> list[str]:
    harder = config.replace(synthetic_difficulty=0.9)
    results = collect_runs(harder.output_dir, like=harder)
    if results.empty:
        raise NotReadyError(f"no finished runs on the difficulty-0.9 cohort under {harder.output_dir}")
    means = results.pivot_table(index="model", columns="class", values="f1")[list(CLASSES)].mean()
    return [str(name) for name, value in means.items() if math.isclose(value, means.min())]


def _healthy_attention_in_brain(config: ExperimentConfig) -> float:
    model = _finished(config, "this notebook's run").load_model()
    data = load_fold(config)
    image = data.test[data.test.labels.index(CLASSES.index("Healthy"))]["image"]  # the fold's first healthy subject
    cam, _ = grad_cam(model, image, layer=model.layer3)
    return attention_in_mask(cam, np.zeros(cam.shape, bool), brain=(image > 0).any(0).numpy())["attention in brain"]


def _layer4_mean_ratio(config: ExperimentConfig) -> float:
    model = _finished(config, "this notebook's run").load_model()
    return float(tumour_attention(model, load_fold(config), "layer4")["ratio"].mean())


def _seed_spread(config: ExperimentConfig) -> float:
    scores = [_run_macro_f1(deviations=("augmented_test",), seed=seed)(config) for seed in (1, 2)]
    return abs(scores[0] - scores[1])


def _published_code_change_r3d(config: ExperimentConfig) -> float:
    r3d = config.replace(arch="r3d_18")
    return _run_macro_f1(protocol="published-code")(r3d) - _run_macro_f1()(r3d)


def _real_lgg_called_lgg(config: ExperimentConfig) -> float:
    calls_file = default_out(resolve(config.output_dir), REAL_MANIFEST) / CALLS  # where notebook 09 writes its calls
    if not calls_file.exists():
        raise NotReadyError(f"no calls of the real scans in {calls_file}: run notebook 09's validation cell first")
    calls = pd.read_csv(calls_file)
    grid = {run.name for run in find_runs(config.output_dir, like=config)}
    lgg = calls[calls["run"].isin(grid) & calls["label"].eq("LGG")]
    if lgg.empty:
        raise NotReadyError(f"{calls_file} holds no call of this experiment's runs on the real LGG scan")
    return float(lgg["pred"].eq("LGG").mean())


def _real_lgg_upper_end_over_median(config: ExperimentConfig) -> float:
    scans = read_scan_manifest(REAL_MANIFEST)
    data = load_volume(scans.loc[scans["label"].eq("LGG"), "path"].iloc[0]).data[0].numpy()
    brain = data[data > 0]  # the scan arrives skull-stripped: its brain is what is not background
    return float(np.percentile(brain, 99.5) / np.median(brain))


def _settings(changes: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in changes.items()) or "this notebook's settings"


def _registry(exercises: Iterable[Exercise]) -> dict[str, Exercise]:
    return {exercise.id: exercise for exercise in exercises}


#: Every checkable exercise of the course, by number; the others have worked answers only.
EXERCISES: dict[str, Exercise] = _registry([
    Exercise("01.1", "the LGG-vs-HGG histogram accuracy on the difficulty-1.0 cohort (a number in [0, 1])",
             _lgg_hgg_at_difficulty_one),
    Exercise("01.2", "the index (0 to 31) of the histogram bin with the largest absolute coefficient",
             _strongest_shortcut_bin, tolerance=0),
    Exercise("02.1", "the non-zero voxels of the unstripped IXI volume divided by those of the stripped one",
             _unstripped_voxel_ratio, tolerance=0.01, relative=True),
    Exercise("02.2", "the share (0 to 1) of the HGG volume's brain voxels that the smaller CropOrPad removes",
             _brain_lost_to_crop),
    Exercise("03.1", "the middle width M (an integer)", _stage3_middle_width, tolerance=0),
    Exercise("03.2", "a list of the names of the parameters whose shape changes", _stem_tensors_for_four_contrasts,
             kind="names"),
    Exercise("04.1", "the test macro F1 of your augmentation='heavy' run", _run_macro_f1(augmentation="heavy")),
    Exercise("04.2", "'lower' or 'higher'", lambda config: "lower", kind="choice"),
    Exercise("04.3", "the test macro F1 of your batch_size=1 run", _run_macro_f1(batch_size=1)),
    Exercise("04.4", "the test macro F1 of your fold-1 run", _run_macro_f1(fold=1)),
    Exercise("05.1", "a list of the names of the re-initialised tensors", _reinitialised_tensors, kind="names"),
    Exercise("05.2", "the test macro F1 of your stem_init='rgb_mean' run", _rgb_mean_macro_f1),
    Exercise("06.1", "how many of the 15 pairs of the paper's six rows differ in macro F1 by more than the margin",
             _paper_pairs_apart, tolerance=0),
    Exercise("06.2", "'Healthy', 'LGG' or 'HGG'", _hardest_class_at_difficulty, kind="choice"),
    Exercise("07.1", "the share (0 to 1) of the healthy subject's Grad-CAM mass inside its brain",
             _healthy_attention_in_brain),
    Exercise("07.2", "the mean ratio over the fold's tumour subjects at layer4", _layer4_mean_ratio),
    Exercise("08.1", "the absolute difference between the two seeds' test macro F1", _seed_spread),
    Exercise("08.2", "r3d_18's macro F1 under published-code minus its macro F1 under corrected",
             _published_code_change_r3d),
    Exercise("09.1", "the share (0 to 1) of the grid's runs that call the real low-grade glioma LGG",
             _real_lgg_called_lgg, tolerance=0.01),
    Exercise("09.2", "the real LGG's 99.5th brain percentile divided by its brain's median intensity",
             _real_lgg_upper_end_over_median, tolerance=0.01, relative=True),
])
