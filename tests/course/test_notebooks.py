"""The notebooks' parameter contract: papermill may set only what a notebook's ``parameters`` cell declares, and the
smoke preset shrinks every notebook's work."""

import ast
import math

import nbformat
import pytest

import brainclf_lib.course.notebooks as execute
from brainclf_lib.course.notebooks import ORDER, check_known, check_parameters, notebook_parameters
from brainclf_lib.experiment.config import PRESETS, ExperimentConfig, make_config

NOTEBOOKS = execute.NOTEBOOKS_DIR
CONFIG_FIELDS = set(ExperimentConfig.__dataclass_fields__)


def _parameter_defaults(name: str) -> dict:
    cell = next(c for c in nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4).cells
                if "parameters" in c.metadata.get("tags", []))
    return {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(cell.source).body}


def test_an_unknown_parameter_is_named_with_the_closest_known_one():
    with pytest.raises(ValueError, match=r"04_train has no parameter 'lrr' \(did you mean 'lr'\?\); its parameters are"):
        check_known({"lrr", "arch"}, {"lr", "arch", "epochs"}, "04_train")
    check_known({"lr"}, {"lr", "arch"}, "04_train")


def test_the_notebook_side_check_reads_papermills_injected_cell():
    declared = 'preset = "fast"\nlr = None  # the preset\'s\n'
    check_parameters({"In": ["", declared, "# Parameters\npreset = \"smoke\"\n", "check_parameters(globals())"]})
    with pytest.raises(ValueError, match=r"'lrr' \(did you mean 'lr'\?\)"):
        check_parameters({"In": ["", declared, "# Parameters\npreset = \"smoke\"\nlrr = 0.1\n"]})
    check_parameters({"In": ["", declared, "x = 1"]})  # run by hand: nothing injected, nothing checked
    check_parameters({})  # outside IPython


def test_papermill_fails_a_notebook_given_a_mistyped_parameter(tmp_path):
    import papermill

    book = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                                              "language_info": {"name": "python"}})
    book.cells = [nbformat.v4.new_code_cell("lr = None\nepochs = 3", metadata={"tags": ["parameters"]}),
                  nbformat.v4.new_code_cell("from brainclf_lib.course import check_parameters\ncheck_parameters(globals())\n"
                                            "print('ran with', lr, epochs)")]
    source = tmp_path / "tiny.ipynb"
    nbformat.write(book, source)
    papermill.execute_notebook(source, tmp_path / "ok.ipynb", parameters={"lr": 0.1}, kernel_name="python3",
                               progress_bar=False)
    with pytest.raises(papermill.PapermillExecutionError, match="did you mean 'lr'"):
        papermill.execute_notebook(source, tmp_path / "bad.ipynb", parameters={"lrr": 0.1}, kernel_name="python3",
                                   progress_bar=False)


def test_run_notebooks_refuses_an_unknown_parameter_before_executing(tmp_path, monkeypatch):
    monkeypatch.setattr(execute, "ORDER", [("04_train", [{"arch": "mc3", "learning_rate": 1e-3}])])
    with pytest.raises(ValueError, match="04_train has no parameter 'learning_rate'"):
        execute.run_notebooks(tmp_path, preset="smoke")
    assert not list(tmp_path.glob("*.ipynb"))


@pytest.mark.parametrize("solutions", [False, True], ids=["notebooks", "solutions"])
def test_every_notebook_declares_the_shared_parameters_uses_each_and_checks_them(solutions):
    for name, variants in ORDER:
        path = execute.SOLUTIONS_DIR / f"{name}{execute.SOLUTIONS_SUFFIX}.ipynb" if solutions else NOTEBOOKS / f"{name}.ipynb"
        declared = notebook_parameters(path)
        assert {"preset", "data_root", "output_dir"} <= declared, name
        assert solutions or all(set(variant) <= declared for variant in variants), name
        cells = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        assert execute._assigned(cells[0]) == declared, name  # check_parameters, in the kernel, reads what papermill does
        assert "check_parameters(globals())" in cells[1], f"{name}: the cell after the parameters must check them"
        rest = "\n".join(cells[1:])
        unused = [p for p in declared if not any(isinstance(n, ast.Name) and n.id == p for n in ast.walk(ast.parse(rest)))]
        assert not unused, f"{name} declares parameters it never reads: {unused}"


@pytest.mark.parametrize("solutions", [False, True], ids=["notebooks", "answers"])
def test_no_notebook_assigns_to_a_parameter_after_its_parameters_cell(solutions):
    """A later ``epochs = {...}`` in 04 made its ``epochs is None`` test false, so 04's figure was recorded as not
    the measured setting on every trajectory: a parameter is read after its cell, never assigned."""
    for name, _ in ORDER:
        path = execute.SOLUTIONS_DIR / f"{name}{execute.SOLUTIONS_SUFFIX}.ipynb" if solutions else NOTEBOOKS / f"{name}.ipynb"
        declared = notebook_parameters(path)
        cells = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"][1:]
        tree = ast.parse("\n".join(cells))
        stores = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        assert not stores & declared, f"{path.name} assigns to its parameters {sorted(stores & declared)}"


def test_the_smoke_preset_shrinks_epochs_data_and_shape_in_every_notebook():
    paper, fast, smoke = (make_config(p) for p in ("paper", "fast", "smoke"))
    assert smoke.epochs < fast.epochs < paper.epochs
    # the fast preset's synthetic cohort is as large as the paper preset's (24 a class, issue #34: folds of 24)
    assert smoke.n_per_class < fast.n_per_class <= paper.n_per_class
    assert math.prod(smoke.input_shape) < math.prod(fast.input_shape) < math.prod(paper.input_shape)
    assert smoke.spacing >= fast.spacing > paper.spacing
    assert smoke.max_steps_per_epoch is not None and fast.max_steps_per_epoch is None
    for name, variants in ORDER:
        defaults = _parameter_defaults(name)
        for variant in variants:
            given = {**defaults, **variant, "preset": "smoke"}
            overrides = {k: v for k, v in given.items() if k in CONFIG_FIELDS and k != "preset"}
            config = make_config("smoke", **overrides)
            for setting in ("epochs", "n_per_class", "input_shape", "spacing", "max_steps_per_epoch"):
                assert getattr(config, setting) == getattr(smoke, setting), (name, variant, setting)
    assert PRESETS["smoke"]["num_workers"] == 0


def test_the_runner_executes_every_notebook_then_names_each_failure_over_ipc(tmp_path, monkeypatch, capfd):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name, code in (("01_fails", "raise ValueError('a broken invariant')"), ("02_runs", "print('still ran')")):
        book = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                 "language": "python"}})
        book.cells = [nbformat.v4.new_code_cell('preset = "fast"', metadata={"tags": ["parameters"]}),
                      nbformat.v4.new_code_cell(f"x = 1\n{code}")]
        nbformat.write(book, folder / f"{name}.ipynb")
    monkeypatch.setattr(execute, "NOTEBOOKS_DIR", folder)
    monkeypatch.setattr(execute, "ORDER", [("01_fails", [{}]), ("02_runs", [{}])])
    with pytest.raises(execute.NotebooksFailed, match=r"1 of 2 notebooks failed.*\n  01_fails.ipynb: cell 3 \(index 2\): ValueError: a broken invariant"):
        execute.run_notebooks(tmp_path / "out", preset="smoke")
    ran = nbformat.read(tmp_path / "out" / "02_runs.ipynb", as_version=4)
    assert "still ran" in ran.cells[-1].outputs[0]["text"]
    assert "without encryption" not in capfd.readouterr().err  # the kernels listen on IPC sockets
