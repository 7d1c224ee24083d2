"""The paper's reported numbers (``shared/PAPER.md``), to set beside ours in ``06_results``."""

from __future__ import annotations

import pandas as pd

from ..evaluation.metrics import FOLD_STD_DDOF
from ..experiment.config import ExperimentConfig
from ..experiment.protocols import protocol_plan

#: The paper's cross-validation folds.
PAPER_FOLDS = 3

#: Mean F1 over 3 folds (± std), macro and weighted F1, per model: the paper's Tables 2-5.
REPORTED = pd.DataFrame(
    [
        ("r3d_18", "scratch", 0.8673, 0.051, 0.8845, 0.041, 0.9972, 0.005, 0.9096, 0.9270),
        ("r3d_18", "pretrained", 0.8145, 0.047, 0.8741, 0.039, 0.9998, 0.001, 0.8952, 0.9272),
        ("r2plus1d_18", "scratch", 0.8456, 0.020, 0.8852, 0.029, 0.9928, 0.002, 0.9045, 0.9325),
        ("r2plus1d_18", "pretrained", 0.8738, 0.041, 0.8980, 0.037, 0.9855, 0.005, 0.9328, 0.9494),
        ("mc3_18", "scratch", 0.7782, 0.032, 0.8331, 0.028, 0.9963, 0.002, 0.8652, 0.8891),
        ("mc3_18", "pretrained", 0.9049, 0.033, 0.9249, 0.034, 0.9985, 0.003, 0.9654, 0.9770),
    ],
    columns=["arch", "init", "LGG f1", "LGG f1 std", "HGG f1", "HGG f1 std", "Healthy f1", "Healthy f1 std",
             "macro_f1", "weighted_f1"],
)


def side_by_side(results: pd.DataFrame) -> pd.DataFrame:
    """Our mean ± std F1 per class and model, each row of ours followed by the paper's row of Tables 2-5.

    Taught in ``06_results``. Ours and the paper's are rows, not columns: one column a figure keeps the table as wide
    as a page (ten columns of "0.594 ± 0.251" do not fit one), and each figure of ours sits right above the paper's.
    The ± is the standard deviation over folds, ``metrics.FOLD_STD_DDOF`` (1) as everywhere; ``n/a`` for a single
    fold. The paper gives no spread for macro and weighted F1.

    Args:
        results: :func:`~brainclf_lib.replication.replicate.collect_runs`' table.

    Returns:
        Two rows per model and initialisation (``source``: ``ours`` then ``paper``); ours says how many folds it
        averages when they are fewer than the paper's three.
    """
    per_class = results.pivot_table(index=["arch", "init", "fold"], columns="class", values="f1").reset_index()
    overall = results.drop_duplicates("run").set_index(["arch", "init", "fold"])[["macro_f1", "weighted_f1"]].reset_index()
    merged = per_class.merge(overall, on=["arch", "init", "fold"])
    groups = merged.drop(columns="fold").groupby(["arch", "init"])
    ours = pd.concat({"mean": groups.mean(), "std": groups.std(ddof=FOLD_STD_DDOF)}, axis=1).swaplevel(axis=1)
    rows = []
    for (arch, init), row in ours.iterrows():
        paper = REPORTED[(REPORTED["arch"] == arch) & (REPORTED["init"] == init)]
        folds = int(merged[(merged["arch"] == arch) & (merged["init"] == init)].shape[0])
        mine = {"arch": arch, "init": init, "source": "ours" if folds == PAPER_FOLDS else f"ours, {folds} of {PAPER_FOLDS} folds"}
        theirs = {"arch": arch, "init": init, "source": "paper"}
        for name in ("LGG", "HGG", "Healthy"):
            mine[f"{name} F1"] = f"{row[(name, 'mean')]:.3f} ± {_std(row[(name, 'std')])}"
            theirs[f"{name} F1"] = f"{paper[f'{name} f1'].iloc[0]:.4f} ± {paper[f'{name} f1 std'].iloc[0]:.3f}" if len(paper) else ""
        for metric, label in (("macro_f1", "macro"), ("weighted_f1", "weighted")):
            mine[f"{label} F1"] = f"{row[(metric, 'mean')]:.3f} ± {_std(row[(metric, 'std')])}"
            theirs[f"{label} F1"] = f"{paper[metric].iloc[0]:.4f}" if len(paper) else ""
        rows += [mine, theirs]
    return pd.DataFrame(rows)


def preset_vs_paper(config: ExperimentConfig) -> pd.DataFrame:
    """The settings that make this run's figures differ from the paper's, side by side, so that no synthetic number
    is read as the paper's.

    Taught in ``04_train``; shown by every notebook whose figures depend on the preset.

    Args:
        config: the notebook's :class:`~brainclf_lib.experiment.config.ExperimentConfig`.
    """
    plan = protocol_plan(config)
    rows = [
        ("data", "synthetic cohort (BraTS / IXI layouts)" if config.data_root == "synthetic" else config.data_root,
         "BraTS 2019 T1ce + IXI T1"),
        ("subjects", f"{config.n_per_class} a class" if config.data_root == "synthetic" else "as prepared",
         "259 HGG, 73 LGG, 259 healthy"),
        ("voxel size", f"{config.spacing:g} mm", "2 mm"),
        ("input (D, H, W)", " x ".join(map(str, config.input_shape)), "78 x 120 x 120 (BraTS at 2 mm)"),
        ("learning rate", f"{plan.lr:g}", "1e-05"),
        ("batch size", str(config.batch_size * config.accumulate), "1"),
        ("epochs", str(config.epochs), "not stated (100 in our paper preset)"),
        ("evaluation", f"{plan.evaluation}, protocol {config.protocol}", "3-fold CV"),
    ]
    table = pd.DataFrame(rows, columns=["setting", f"this run ({config.preset} preset)", "the paper"])
    return table.set_index("setting")


def _std(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{value:.3f}"
