"""The project's promises about itself: pins agree, notebooks carry no outputs, CI runs the README's command."""

import ast
import json
import re
import tomllib
from pathlib import Path

import nbformat
import yaml

from brainclf_lib.course.notebooks import ORDER, SOLUTIONS_SUFFIX

ROOT = Path(__file__).resolve().parents[1]
#: The course as committed: each notebook, then its worked answers (not a user's executed copies).
COURSE = [ROOT / "notebooks" / f"{name}.ipynb" for name, _ in ORDER] + \
         [ROOT / "notebooks" / "solutions" / f"{name}{SOLUTIONS_SUFFIX}.ipynb" for name, _ in ORDER]


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)", line)
        if match:
            pins[match[1].lower()] = match[2]
    return pins


def test_environment_yml_pins_what_pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    pyproject = _pins(project["dependencies"] + [pin for pins in extras.values() for pin in pins])
    assert "brainclf[course,cluster,skullstrip]" in extras["dev"]  # make installs .[dev]: every extra
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda = _pins(pip_section)
    assert pyproject["torch"] == "2.14.1" and pyproject["torchvision"] == "0.29.1"
    assert conda == pyproject
    assert "python=3.11" in env["dependencies"]
    assert any(line.startswith("-e .") for line in pip_section)


def test_notebooks_are_committed_without_outputs():
    assert len(COURSE) == 18 and all(path.exists() for path in COURSE)
    for path in COURSE:
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


def _library_imports() -> dict[str, set[str]]:
    """Each library module and the library modules it imports, at any depth of its code."""
    package = ROOT / "brainclf_lib"
    modules = {p.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__"): p
               for p in package.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                stem = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
                for alias in node.names:
                    targets.add(f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in modules else stem)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def test_the_library_has_no_import_cycle():
    graph = {name: deps - {"brainclf_lib"} for name, deps in _library_imports().items() if name != "brainclf_lib"}
    done, path = set(), []

    def visit(node: str) -> None:
        if node in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(node):] + [node]))
        if node in done:
            return
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            visit(dep)
        path.pop()
        done.add(node)

    for module in sorted(graph):
        visit(module)
    assert "brainclf_lib.training.loop" not in graph["brainclf_lib.evaluation.scoring"]  # cross-validation sits above training


#: The library's layers, bottom to top: a module imports from its own layer or the ones below, never above.
LAYERS = ("foundations", "models", "experiment", "data", "evaluation", "training", "replication", "course", "cli")


def _layer(module: str) -> int:
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else "cli"
    if name in ("cli", "__main__"):
        return LAYERS.index("cli")
    return LAYERS.index(name) if name in LAYERS else LAYERS.index("foundations")


def test_the_folders_are_layers_and_no_import_runs_up():
    graph = _library_imports()
    upward = [f"{module} -> {dep}" for module, deps in graph.items() if module != "brainclf_lib"
              for dep in deps if dep != "brainclf_lib" and _layer(dep) > _layer(module)]
    assert not upward, upward
    folders = {p.name for p in (ROOT / "brainclf_lib").iterdir() if (p / "__init__.py").exists()}
    assert folders == set(LAYERS[1:-1])


def test_the_tests_mirror_the_library():
    """tests/<layer>/test_<module>[_<aspect>].py tests brainclf_lib/<layer>/<module>.py, as TorchIO's tests mirror
    its tree."""
    strays = []
    for path in (ROOT / "tests").glob("*/test_*.py"):
        layer = ROOT / "brainclf_lib" / path.parent.name
        modules = [m.stem for m in layer.glob("*.py")] + [m.parent.name for m in layer.glob("*/__init__.py")]
        if not any(path.stem == f"test_{m}" or path.stem.startswith(f"test_{m}_") for m in modules):
            strays.append(path.relative_to(ROOT).as_posix())
    assert not strays, strays


def test_function_level_imports_say_why():
    for path in (ROOT / "brainclf_lib").rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.match(r"^\s+(from \S+ import|import) ", line):
                assert "# here, not at the top" in line, f"{path.name}:{number}: {line.strip()}"


RUN_FILES = re.compile(r"""(["'])(best\.pt|last\.pt|metrics\.json|config\.json|environment\.json|log\.csv|predictions\.csv)\1""")


def test_only_the_run_module_names_a_runs_files():
    offenders = []
    for path in [*(ROOT / "brainclf_lib").rglob("*.py"), *(ROOT / "benchmarks").glob("*.py")]:
        if path.name != "run_folder.py" and RUN_FILES.search(path.read_text()):
            offenders.append(path.name)
    for path in COURSE:
        name = path.stem
        code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        if any(re.search(r"(best|last)\.pt|(metrics|config|environment)\.json|(log|predictions)\.csv", c.source) for c in code):
            offenders.append(name)
    assert not offenders


def test_notebooks_use_only_the_public_api():
    """``brainclf_lib``'s names, and the course's machinery (checks, expected figures) from ``brainclf_lib.course``."""
    import brainclf_lib
    import brainclf_lib.course

    for path in COURSE:
        name = path.stem
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            assert "sys.path" not in cell.source, name  # the package is installed (editable)
            assert not re.search(r"(from|import) brainclf_lib\.(?!course import )", cell.source), \
                f"{name} reaches past the public API"
            for match in re.finditer(r"from brainclf_lib(\.course)? import \(?([^)]*?)\)?(?:\n\n|\n[^ ]|$)",
                                     cell.source, re.S):
                public = set((brainclf_lib.course if match[1] else brainclf_lib).__all__)
                names = {n.strip() for n in match[2].replace("\n", " ").split(",") if n.strip()}
                assert names <= public, (name, names - public)


def _notebook_calls() -> dict[str, set[str]]:
    """Every library name a notebook uses (its imports from ``brainclf_lib``, ``brainclf_lib.course`` as
    ``course.<name>``, and ``viz.<name>``), by notebook."""
    calls: dict[str, set[str]] = {}
    for path in COURSE:
        name = path.stem
        source = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code")
        for match in re.finditer(r"from brainclf_lib(\.course)? import (?:\(([^)]*)\)|([^\n(]+))", source):
            for used in (match[2] or match[3]).replace("\n", ",").split(","):
                if used.strip():
                    calls.setdefault(("course." if match[1] else "") + used.strip(), set()).add(name)
        for used in re.findall(r"\bviz\.(\w+)\(", source):
            calls.setdefault(f"viz.{used}", set()).add(name)
    return calls


def test_what_a_notebook_calls_says_where_it_is_taught_and_documents_its_arguments():
    import inspect

    import brainclf_lib
    import brainclf_lib.course  # noqa: F401 (getattr(brainclf_lib, "course") below)

    calls = _notebook_calls()
    assert {"fit", "make_config", "prepare_data", "viz.confusion", "course.check"} <= set(calls)
    missing = []
    for used in sorted(calls):
        obj = brainclf_lib
        for part in used.split("."):
            obj = getattr(obj, part)
        if not callable(obj) or inspect.ismodule(obj):
            continue
        doc = inspect.getdoc(obj) or ""
        if not re.search(r"Taught in ``0\d_\w+``", doc):
            missing.append(f"{used}: no 'Taught in ``NN_name``'")
        parameters = [] if inspect.isclass(obj) and issubclass(obj, Exception) else list(inspect.signature(obj).parameters)
        if parameters and "Args:" not in doc:
            missing.append(f"{used}: no 'Args:'")
    assert not missing, missing


def test_paths_are_spelt_with_the_alias():
    offenders = [f"{path.relative_to(ROOT)}:{number}" for path in sorted((ROOT / "brainclf_lib").rglob("*.py"))
                 for number, line in enumerate(path.read_text().splitlines(), 1) if "str | Path" in line]
    assert not offenders, f"use paths.PathLike: {offenders}"


def test_private_helpers_come_after_what_they_serve():
    """A module reads top-down: its public functions and classes first, its private helpers at the bottom."""
    offenders = []
    for path in sorted((ROOT / "brainclf_lib").rglob("*.py")):
        names = [node.name for node in ast.parse(path.read_text()).body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
        private = [i for i, name in enumerate(names) if name.startswith("_")]
        public = [i for i, name in enumerate(names) if not name.startswith("_")]
        if private and public and min(private) < max(public):
            offenders.append(f"{path.relative_to(ROOT)}: {names[min(private)]} before {names[max(public)]}")
    assert not offenders, offenders


def test_only_the_protocols_module_reads_a_deviations_name():
    """Every other module reads its field of the protocol plan: scattered checks of a deviation drift apart."""
    from brainclf_lib.experiment.protocols import DEVIATIONS

    offenders = []
    for path in sorted((ROOT / "brainclf_lib").rglob("*.py")):
        if path.name == "protocols.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            called = isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "deviations_of"
            compared = isinstance(node, ast.Compare) and any(
                isinstance(side, ast.Constant) and side.value in DEVIATIONS for side in [node.left, *node.comparators])
            if called or compared:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_no_library_function_is_longer_than_a_reader_can_hold():
    long = [f"{path.relative_to(ROOT)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path in sorted((ROOT / "brainclf_lib").rglob("*.py")) for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > 60]
    assert not long, long


def test_every_test_file_the_readme_and_notebooks_name_exists():
    texts = [ROOT / "README.md", *sorted((ROOT / "notebooks").glob("*.ipynb")),
             *sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb"))]
    named = {(path.relative_to(ROOT).as_posix(), test) for path in texts
             for test in re.findall(r"\btests/[\w/]+\.py\b", path.read_text())}
    assert len(named) > 3
    assert not [(where, test) for where, test in sorted(named) if not (ROOT / test).is_file()]


def test_the_readme_states_the_fast_presets_epochs():
    from brainclf_lib.experiment.config import make_config

    readme = (ROOT / "README.md").read_text()
    described = re.findall(r"`fast`(?: preset)?(?: is for a CPU)? \(([^()]*)\)", readme)  # "`fast` preset (8 mm, ...)"
    stated = [int(n) for text in described for n in re.findall(r"(\d+) epochs", text)]
    assert stated and set(stated) == {make_config("fast").epochs}, stated
