"""Every notebook executes headless, top to bottom, in its smoke mode, and writes what the next one reads."""

import nbformat

from brainclf_lib.execute import ORDER, run_notebooks
from brainclf_lib.run import find_runs


def test_every_notebook_runs_in_smoke_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINCLF_DATA", str(tmp_path / "data"))
    executed = run_notebooks(tmp_path / "out", preset="smoke", cell_timeout=600)
    assert len(executed) == sum(len(variants) for _, variants in ORDER) == 10
    for path in executed:
        book = nbformat.read(path, as_version=4)
        outputs = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        assert not [o for o in outputs if o.get("output_type") == "error"], path.name
        # every figure also renders without a kernel: HTML beside plotly's JSON, plotly.js embedded once
        figures = [o["data"] for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
        assert all("Plotly.newPlot" in "".join(f.get("text/html", "")) for f in figures), path.name
        bundles = sum("plotly.js v" in "".join(o.get("data", {}).get("text/html", "")) for o in outputs)
        assert bundles == (1 if figures else 0), (path.name, bundles)
    runs = find_runs(tmp_path / "out" / "runs")
    scratch = {run.config.arch: run for run in runs if run.config.pretrained is None and run.config.fold == 0}
    assert sorted(scratch) == ["mc3_18", "r2plus1d_18", "r3d_18"]
    assert all(run.metrics["n"] > 0 for run in scratch.values())
    report = tmp_path / "out"
    assert (report / "report.html").stat().st_size > 10_000 and (report / "tables.csv").exists()
    assert (report / "montage.html").exists()
    protocols = report / "protocols_mc3_18.csv"  # 08: the corrected, paper and published-code protocols side by side
    assert (report / "protocols.html").stat().st_size > 10_000 and protocols.exists()
    import pandas as pd

    table = pd.read_csv(protocols).set_index("variant")
    assert {"corrected", "paper", "published-code", "+ augmented_test"} <= set(table.index)
    assert (table["macro F1 low"] <= table["macro F1"]).all() and (table["macro F1"] <= table["macro F1 high"]).all()
