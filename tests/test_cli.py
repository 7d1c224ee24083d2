import json
import subprocess
import sys

import nibabel as nib
import numpy as np

from brainclf_lib.cli import main
from brainclf_lib.training.loop import fit


def _brainclf(*args):
    return subprocess.run([sys.executable, "-m", "brainclf_lib", *args], capture_output=True, text=True, timeout=300)


def test_help_documents_every_option():
    result = _brainclf("train", "--help")
    assert result.returncode == 0
    for option in ("--arch", "--pretrained", "--fold", "--epochs", "--lr", "--weight-decay", "--resume", "--amp"):
        assert option in result.stdout
    assert _brainclf("train", "--arch").returncode == 2


def test_predict_any_orientation_and_voxel_size(tiny_config, tmp_path, raw_cohort, capsys):
    run = fit(tiny_config.replace(epochs=1), progress=False)
    brats, _ = raw_cohort
    source = next((brats / "HGG").glob("*/*_t1ce.nii.gz"))
    image = nib.load(source)
    # the same scan stored sagittal (PSR) at 0.9 x 0.9 x 1.3 mm
    data = np.transpose(np.asanyarray(image.dataobj), (1, 2, 0))[::-1]
    affine = np.array([[0, 0, 1.3, 0], [-0.9, 0, 0, 0], [0, 0.9, 0, 0], [0, 0, 0, 1]])
    sagittal = tmp_path / "sagittal.nii.gz"
    nib.save(nib.Nifti1Image(data, affine), sagittal)
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not a nifti")
    code = main(["predict", "--run", str(run.folder), str(source), str(broken), str(sagittal)])
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and len(lines) == 2 and str(broken) in err
    assert lines[1]["scan"] == str(sagittal) and lines[1]["label"] in ("Healthy", "LGG", "HGG")
    assert abs(sum(lines[1]["probabilities"].values()) - 1) < 1e-4
