"""The project's promises about itself: pins agree, notebooks carry no outputs, CI runs the README's command."""

import json
import re
import tomllib
from pathlib import Path

import nbformat
import yaml

from brainclf_lib.notebooks import ORDER

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)", line)
        if match:
            pins[match[1].lower()] = match[2]
    return pins


def test_environment_yml_pins_what_pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pyproject = _pins(project["dependencies"] + project["optional-dependencies"]["dev"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda = _pins(pip_section)
    assert pyproject["torch"] == "2.14.1" and pyproject["torchvision"] == "0.29.1"
    assert conda == pyproject
    assert "python=3.11" in env["dependencies"]
    assert any(line.startswith("-e .") for line in pip_section)


def test_notebooks_are_committed_without_outputs():
    notebooks = [ROOT / "notebooks" / f"{name}.ipynb" for name, _ in ORDER]  # not a user's executed copies
    assert len(notebooks) == 7 and all(path.exists() for path in notebooks)
    for path in notebooks:
        cells = json.loads(path.read_text())["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        assert not [c for c in code if c.get("outputs") or c.get("execution_count")], f"{path.name} has outputs"
        assert "parameters" in code[0]["metadata"].get("tags", []), f"{path.name} must start with a parameters cell"
        assert all("id" in c for c in cells), f"{path.name}: a cell has no id (nbformat 4.5 requires one)"
        nbformat.validate(nbformat.read(path, as_version=4))


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make demo" in readme
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.M)
