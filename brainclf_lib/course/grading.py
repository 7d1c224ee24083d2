"""The course as an nbgrader course, generated from the notebooks and their worked answers (``brainclf course
--nbgrader DIR``): one assignment a notebook, the lesson as it is, then each exercise's statement, its worked
answer in a solution cell and its ``check`` as an autograded test cell; the reasoning exercises as manually graded
answers. ``notebooks/`` stays the source of truth: the export is written anew each time, never edited by hand.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..paths import PathLike, resolve
from .notebooks import NOTEBOOKS_DIR, ORDER, SOLUTIONS_DIR, SOLUTIONS_SUFFIX

#: Points of an exercise that ``check`` grades, and of one a person reads (why, not what).
AUTOGRADED_POINTS, MANUAL_POINTS = 2, 3
#: The exercises whose answer is reasoning, graded by the lecturer.
MANUALLY_GRADED = ("03.3", "05.3", "08.3")
#: What a student sees where a worked answer was (nbgrader's own default, said once here).
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"

CONFIG = '''"""nbgrader's configuration of the brainclf course: written by `brainclf course --nbgrader`, do not edit."""
import os
import sys

# nbgrader runs the `alembic` installed beside it, found on PATH: its folder goes first, so that `.venv/bin/nbgrader`
# works without the venv activated.
if os.path.dirname(sys.executable) not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
c = get_config()  # noqa: F821 (nbgrader's loader defines it)
c.CourseDirectory.course_id = "brainclf"
# The assignments are the folders of source/: `nbgrader generate_assignment NAME` adds each to the gradebook.
c.ClearSolutions.code_stub = {{"python": {stub!r}}}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# An assignment executes its lesson, which trains runs: minutes on a CPU at the fast preset, not nbgrader's 30 s.
c.Execute.timeout = {timeout}
c.Execute.interrupt_on_timeout = True
'''


@dataclass(frozen=True)
class Exercise:
    """One exercise of a worked-answers notebook: its statement and the code and prose of its answer."""

    number: str
    statement: str
    code: list[str]
    prose: list[str]

    @property
    def manual(self) -> bool:
        return self.number in MANUALLY_GRADED


def export_nbgrader(out: PathLike, preset: str = "fast", output_dir: str | None = None, timeout: int = 3600) -> Path:
    """Write ``out/nbgrader_config.py`` and ``out/source/<NN_name>/<NN_name>.ipynb``, one assignment a notebook.

    Args:
        out: the nbgrader course folder (its ``source/`` is replaced; ``release/``, ``submitted/`` are kept).
        preset: the preset the released notebooks run with (``smoke`` to try the grading in seconds).
        output_dir: where the students' runs go (default: the notebooks' own, ``runs`` in the repository).
        timeout: seconds a cell may run when nbgrader executes an assignment.

    Returns:
        The course folder.
    """
    out = resolve(out, base=Path.cwd())
    source = out / "source"
    if source.exists():
        shutil.rmtree(source)
    names = [name for name, _ in ORDER]
    for name in names:
        notebook = assignment(name, preset, output_dir)
        path = source / name / f"{name}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    (out / "nbgrader_config.py").write_text(CONFIG.format(stub=CODE_STUB, timeout=timeout))
    return out


def assignment(name: str, preset: str = "fast", output_dir: str | None = None) -> dict:
    """One notebook as an nbgrader source notebook: the lesson up to its answer-checking cell, the worked answers'
    set-up, then per exercise its statement, a solution cell and a graded cell."""
    lesson = json.loads((NOTEBOOKS_DIR / f"{name}.ipynb").read_text())
    worked = json.loads((SOLUTIONS_DIR / f"{name}{SOLUTIONS_SUFFIX}.ipynb").read_text())
    cells = lesson["cells"]
    checking = next(i for i, cell in enumerate(cells) if cell.get("id") == f"{name[:2]}-check-answers")
    parameters = _parameters(cells[0], worked["cells"][0], preset, output_dir)
    exercises = exercises_of(worked)
    number = name[:2]
    body = [parameters, *cells[1:checking], *cells[checking + 1:],
            _markdown(f"{number}-exercises", f"## Exercises of {number}, graded\n\nEach exercise below has a cell "
                      "for your answer and, after it, a cell that checks it (it computes the right answer from your "
                      "own runs, as `check` does). The set-up cell first brings in what the exercises use."),
            _code(f"{number}-exercises-setup", _source(worked["cells"][2]))]
    for exercise in exercises:
        body += _exercise_cells(exercise)
    return {**lesson, "cells": body}


def exercises_of(worked: dict) -> list[Exercise]:
    """The exercises of a worked-answers notebook, in order (each begins at a ``## Exercise NN.k`` heading)."""
    exercises, current = [], None
    for cell in worked["cells"][3:]:
        text = _source(cell)
        heading = re.match(r"## Exercise (\d\d\.\d)\s*\n", text)
        if heading:
            current = Exercise(heading[1], text, [], [])
            exercises.append(current)
        elif current is not None:
            (current.code if cell["cell_type"] == "code" else current.prose).append(text)
    return exercises


def _exercise_cells(exercise: Exercise) -> list[dict]:
    key = exercise.number.replace(".", "_")
    code = "\n\n".join(exercise.code)
    checks = [line for line in code.splitlines() if re.match(r"\s*assert check\(", line)]
    answer = "\n".join(line for line in code.splitlines() if line not in checks).strip()
    cells = [_markdown(f"exercise-{key}", exercise.statement, locked=True, grade_id=f"statement_{key}")]
    if answer:
        reset = f"answer = None  # your answer to {exercise.number} goes in `answer`\n" if checks else ""
        cells.append(_code(f"answer-{key}", f"{reset}### BEGIN SOLUTION\n{answer}\n### END SOLUTION",
                           nbgrader={"solution": True, "grade": False, "locked": False, "grade_id": f"answer_{key}"}))
    if exercise.manual:
        cells.append(_markdown(f"reasoning-{key}", "\n\n".join(exercise.prose),
                               nbgrader={"solution": True, "grade": True, "locked": False, "points": MANUAL_POINTS,
                                         "grade_id": f"reasoning_{key}"}))
    elif checks:
        cells.append(_code(f"check-{key}", "\n".join(line.strip() for line in checks),
                           nbgrader={"solution": False, "grade": True, "locked": True, "points": AUTOGRADED_POINTS,
                                     "grade_id": f"check_{key}"}))
    return cells


def _parameters(lesson: dict, worked: dict, preset: str, output_dir: str | None) -> dict:
    """The lesson's parameters cell, with the release's preset (and output folder), and any parameter only the
    worked answers declare."""
    text = re.sub(r'^preset = "\w+"', f'preset = "{preset}"', _source(lesson), count=1, flags=re.M)
    if output_dir is not None:
        text = re.sub(r'^output_dir = "[^"]*"', f"output_dir = {output_dir!r}", text, count=1, flags=re.M)
    declared = _assigned(text)
    extra = [line for line in _source(worked).splitlines() if _assigned(line) - declared]
    return {**lesson, "source": _lines(text + ("\n" + "\n".join(extra) if extra else ""))}


def _assigned(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {target.id for node in tree.body if isinstance(node, ast.Assign) for target in node.targets
            if isinstance(target, ast.Name)}


def _code(cell_id: str, text: str, nbgrader: dict | None = None) -> dict:
    metadata = {"nbgrader": {**nbgrader, "schema_version": 3}} if nbgrader else {}
    return {"cell_type": "code", "id": cell_id, "metadata": metadata, "execution_count": None, "outputs": [],
            "source": _lines(text)}


def _markdown(cell_id: str, text: str, locked: bool = False, grade_id: str | None = None,
              nbgrader: dict | None = None) -> dict:
    if locked:
        nbgrader = {"solution": False, "grade": False, "locked": True, "grade_id": grade_id}
    metadata = {"nbgrader": {**nbgrader, "schema_version": 3}} if nbgrader else {}
    return {"cell_type": "markdown", "id": cell_id, "metadata": metadata, "source": _lines(text)}


def _source(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)
