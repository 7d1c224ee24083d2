"""The nbgrader export, checked by nbgrader itself: every assignment generates, the released copies hold no
solution, and autograding gives the worked answers full marks, an unanswered copy none, and a wrong answer the
loss of that exercise's points only."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from brainclf_lib.course.grading import AUTOGRADED_POINTS, MANUAL_POINTS, MANUALLY_GRADED, export_nbgrader
from brainclf_lib.course.notebooks import NOTEBOOKS_DIR

BIN = Path(sys.executable).parent


def _nbgrader(course: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, **(env or {}), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}  # nbgrader runs alembic
    done = subprocess.run([str(BIN / "nbgrader"), *args], cwd=course, capture_output=True, text=True, env=environment,
                          timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("nbgrader")
    return export_nbgrader(out / "course", preset="smoke", output_dir=str(out / "runs"))


def _solution_lines(cell: dict) -> list[str]:
    text = "".join(cell["source"])
    if cell["cell_type"] == "code":
        text = text.split("### BEGIN SOLUTION", 1)[1].split("### END SOLUTION", 1)[0]
    return [line.strip() for line in text.splitlines() if len(line.strip()) > 12]


def _graded(notebook: dict) -> dict[str, dict]:
    return {c["metadata"]["nbgrader"]["grade_id"]: c for c in notebook["cells"]
            if c["metadata"].get("nbgrader", {}).get("grade")}


def test_every_assignment_generates_and_its_release_holds_no_solution(course):
    names = sorted(path.name for path in (course / "source").iterdir())
    assert names == ["01_data_exploration", "02_preprocessing", "03_architectures", "04_train",
                     "05_transfer_learning", "06_results", "07_explainability", "08_protocols", "09_real_scans"]
    for name in names:
        _nbgrader(course, "generate_assignment", name, "--force")
        source = json.loads((course / "source" / name / f"{name}.ipynb").read_text())
        release = (course / "release" / name / f"{name}.ipynb").read_text()
        solutions = [c for c in source["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
        assert solutions and "BEGIN SOLUTION" not in release, name
        lesson = (NOTEBOOKS_DIR / f"{name}.ipynb").read_text()  # what the lesson itself shows is no leak
        leaked = [line for cell in solutions for line in _solution_lines(cell)
                  if json.dumps(line)[1:-1] in release and json.dumps(line)[1:-1] not in lesson]
        assert not leaked, (name, leaked[:3])
        graded = _graded(source)
        for grade_id, cell in graded.items():
            number = re.search(r"_(\d\d)_(\d)$", grade_id)
            manual = f"{number[1]}.{number[2]}" in MANUALLY_GRADED
            assert cell["metadata"]["nbgrader"]["points"] == (MANUAL_POINTS if manual else AUTOGRADED_POINTS)
            assert (cell["cell_type"], grade_id.split("_")[0]) == (("markdown", "reasoning") if manual else ("code", "check"))
    assert "c.Execute.timeout" in (course / "nbgrader_config.py").read_text()


def test_autograding_gives_full_marks_none_and_the_wrong_exercise_alone_lost(course, smoke_data):
    name = "02_preprocessing"
    _nbgrader(course, "generate_assignment", name, "--force")
    source = json.loads((course / "source" / name / f"{name}.ipynb").read_text())
    release = json.loads((course / "release" / name / f"{name}.ipynb").read_text())
    wrong = json.loads(json.dumps(source))
    first = next(c for c in wrong["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "answer_02_1")
    first["source"] = "".join(first["source"]).replace("### END SOLUTION", "answer = -1.0\n### END SOLUTION")
    for student, notebook in (("worked", source), ("unanswered", release), ("wrong", wrong)):
        folder = course / "submitted" / student / name
        folder.mkdir(parents=True)
        (folder / f"{name}.ipynb").write_text(json.dumps(notebook))
    _nbgrader(course, "autograde", name, "--create", "--force", env={"BRAINCLF_DATA": str(smoke_data)})

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {student: {g.name: g.score for g in gradebook.find_submission_notebook(name, name, student).grades}
                  for student in ("worked", "unanswered", "wrong")}
    checks = [grade_id for grade_id in _graded(source) if grade_id.startswith("check_")]
    assert checks == ["check_02_1", "check_02_2"]
    assert {k: scores["worked"][k] for k in checks} == dict.fromkeys(checks, AUTOGRADED_POINTS)
    assert {k: scores["unanswered"][k] for k in checks} == dict.fromkeys(checks, 0)
    assert {k: scores["wrong"][k] for k in checks} == {"check_02_1": 0, "check_02_2": AUTOGRADED_POINTS}


def test_the_printed_command_releases_an_assignment_without_the_venv_on_path(tmp_path, capsys):
    from brainclf_lib.cli import main

    assert main(["course", "--nbgrader", str(tmp_path / "course"), "--preset", "smoke"]) == 0
    command = re.search(r"`([^`]+)`", capsys.readouterr().out)[1]
    assert command.endswith("generate_assignment 01_data_exploration")
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != BIN and p)
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PATH": path or "/usr/bin:/bin"})
    output = done.stdout + done.stderr
    assert "not recognized" not in output and "Traceback" not in output, output[-3000:]  # every option is nbgrader's
    assert done.returncode == 0, output[-3000:]
    assert (tmp_path / "course" / "release" / "01_data_exploration" / "01_data_exploration.ipynb").exists()
