"""The course's exercises: each has a worked answer, each checkable one a check that is right about right and wrong
answers and honest about missing work. (The worked answers themselves are executed in ``test_notebooks``.)"""

import json
import math
import re

import pytest

from brainclf_lib.course.exercises import EXERCISES, Exercise, check
from brainclf_lib.course.notebooks import NOTEBOOKS_DIR, ORDER, SOLUTIONS_DIR, SOLUTIONS_SUFFIX
from brainclf_lib.experiment.config import make_config
from brainclf_lib.experiment.run_folder import Run


def _sources(path, kind=None):
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if kind is None or c["cell_type"] == kind]


@pytest.mark.parametrize("name", [name for name, _ in ORDER])
def test_every_exercise_has_a_worked_answer_and_every_check_is_asked_and_answered(name):
    taught = "\n".join(_sources(NOTEBOOKS_DIR / f"{name}.ipynb"))
    solved = "\n".join(_sources(SOLUTIONS_DIR / f"{name}{SOLUTIONS_SUFFIX}.ipynb"))
    asked = re.findall(r"\*\*(\d\d\.\d)\*\*", taught)
    answered = re.findall(r"^## Exercise (\d\d\.\d)$", solved, flags=re.M)
    assert asked and asked == answered, (name, asked, answered)
    assert f"solutions/{name}{SOLUTIONS_SUFFIX}.ipynb" in taught  # the notebook links its answers
    checkable = sorted(e for e in EXERCISES if e.startswith(name[:2]))
    # the notebook offers a check per checkable exercise, left unanswered; the solution asserts it
    assert re.findall(r'check\("(\d\d\.\d)", None, config\)', taught) == checkable
    assert re.findall(r'assert check\("(\d\d\.\d)", answer, config\)', solved) == checkable
    assert set(checkable) <= set(asked)


def test_check_says_right_and_wrong_without_giving_the_answer_away(capsys):
    assert check("03.1", 576) is True
    assert check("03.1", 575) is False
    wrong = capsys.readouterr().out.splitlines()[-1]
    assert "not quite" in wrong and "576" not in wrong and "middle width M" in wrong
    assert check("03.2", ["stem.0.weight"], make_config("smoke")) is True  # a list of names, in any order
    assert check("03.2", ["stem.0.weight", "fc.1.weight"], make_config("smoke")) is False
    assert check("04.2", " Lower ") is True and check("04.2", "higher") is False
    assert check("06.1", 8) is True and check("06.1", "8") is False


def test_an_unanswered_exercise_says_what_to_give(capsys):
    assert check("04.1", None) is None
    assert "not answered yet. Give the test macro F1 of your augmentation='heavy' run" in capsys.readouterr().out
    with pytest.raises(ValueError, match="No checkable exercise '04.9'; checkable ones are 01.1"):
        check("04.9", 0.5)


def test_a_run_exercise_is_checked_against_the_students_own_run_and_never_trains_it(tmp_path, capsys):
    config = make_config("smoke", output_dir=str(tmp_path))
    heavy = Run.of(config.replace(augmentation="heavy"))
    assert check("04.1", 0.5, config) is None  # nothing trained: it says which folder it looked in
    assert f"cannot check yet: the run with augmentation='heavy' has not finished training: no metrics in {heavy.folder}" in capsys.readouterr().out
    assert not heavy.folder.exists()
    heavy.folder.mkdir(parents=True)
    config.replace(augmentation="heavy").to_json(heavy.path(Run.CONFIG))
    for name in (Run.BEST, Run.PREDICTIONS):
        heavy.path(name).write_text("")
    heavy.path(Run.METRICS).write_text(json.dumps({"macro_f1": 0.8123}))
    assert check("04.1", 0.81, config) is True  # rounded to two decimals is right
    assert check("04.1", 0.79, config) is False
    assert check("04.3", 0.8123, config) is None  # another exercise, another run: not the heavy one's figure


def test_a_data_exercise_names_the_cohort_it_needs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BRAINCLF_DATA", str(tmp_path))
    assert check("01.1", 0.6, make_config("smoke")) is None
    out = capsys.readouterr().out
    assert "cannot check yet: the cohort is not prepared: run prepare_data(...) on your config first" in out
    assert str(tmp_path) in out and not any(tmp_path.iterdir())


def test_a_tie_accepts_either_answer(monkeypatch):
    monkeypatch.setitem(EXERCISES, "06.2", Exercise("06.2", "a class", lambda config: ["LGG", "HGG"], kind="choice"))
    assert check("06.2", "HGG") is True and check("06.2", "lgg") is True and check("06.2", "Healthy") is False


def test_the_real_scans_exercise_reads_the_grids_calls_and_names_what_is_missing(tmp_path, capsys):
    import pandas as pd

    config = make_config("smoke", output_dir=str(tmp_path))
    assert check("09.1", 0.5, config) is None  # nothing validated yet: it names where it looked, and trains nothing
    assert "cannot check yet: no calls of the real scans in" in capsys.readouterr().out
    run = Run.of(config)
    run.folder.mkdir(parents=True)
    config.to_json(run.path(Run.CONFIG))
    for name in (Run.BEST, Run.PREDICTIONS):
        run.path(name).write_text("")
    run.path(Run.METRICS).write_text(json.dumps({"macro_f1": 0.5}))
    calls = tmp_path / "validation" / "real" / "calls.csv"
    calls.parent.mkdir(parents=True)
    pd.DataFrame({"run": [run.name, run.name, "another-experiment"], "label": ["LGG", "HGG", "LGG"],
                  "pred": ["LGG", "HGG", "HGG"]}).to_csv(calls, index=False)
    assert check("09.1", 1.0, config) is True  # the other experiment's call on the LGG scan does not count
    assert check("09.1", 0.5, config) is False


def test_an_undefined_reference_accepts_only_an_undefined_answer(monkeypatch):
    """07.1's share is NaN when the run's Grad-CAM map is all zero; the worked answer computes the same NaN and
    failed its own check (NaN is never close to NaN)."""
    monkeypatch.setitem(EXERCISES, "07.1", Exercise("07.1", "a share", lambda config: math.nan))
    assert check("07.1", math.nan, make_config("smoke")) is True
    assert check("07.1", 0.5, make_config("smoke")) is False
