"""brainclf: replicate deep spatio-spatial models for brain-tumour classification (Chatterjee et al., 2022).

The names below are the public API: what a notebook imports from here (the course's own machinery, the exercises'
checks and the expected-figure boxes, is :mod:`brainclf_lib.course`). Tensors are ``(N, C, D, H, W)`` with ``D``
the axial slice axis (:mod:`brainclf_lib.conventions`). Each folder uses only the ones before it:

- ``models/``: the three video ResNets and the weights they start from;
- ``experiment/``: a config, the protocol plan its deviations decide, its run folder, its device;
- ``data/``: scans to one fold's volumes (discovery, preprocessing, splits, transforms, ``synthetic/``);
- ``evaluation/``: metrics, a run's evaluation, prediction, Grad-CAM, counterfactual lesions, the histogram baseline;
- ``training/``: the loss, the optimiser step, the epoch loop, the epoch choice, the source task, step timing;
- ``replication/``: the grid, the protocols compared, the calibration, the paper's reported figures;
- ``course/``: exercises, expected figures and their measurement, the notebook runner, the site, figures.

The core is the modules at the top (conventions, paths, errors, files, extras) and ``models/`` to ``training/``;
``replication/``, ``course/`` and the command line are tools built on it.

``import brainclf_lib`` imports nothing else: each name is imported from its module on first use (PEP 562), so a
script that trains imports torch but never plotly, and no name of the list imports an extra's package
(:mod:`brainclf_lib.extras`).
"""

import importlib

#: Each public name and the module that defines it (relative to this package).
_HOMES: dict[str, tuple[str, ...]] = {
    ".conventions": ("CLASSES",),
    ".course.viz": ("viz",),  # a module: the course's figures, slice viewer and report under one name
    ".data.cohorts": ("preprocess_settings",),
    ".data.discovery": ("raw_contrast_path",),
    ".data.prepare": ("read_manifest",),
    ".data.preprocessing": ("load_volume", "preprocessing_steps", "step_table"),
    ".data.step": ("load_fold", "prepare_data"),
    ".data.transforms": ("augmentation",),
    ".evaluation.baseline": ("histogram_baseline", "histogram_features"),
    ".evaluation.explain": ("attention_in_mask", "attention_summary", "grad_cam", "load_mask", "tumour_attention", "tumour_cases",
                            "upsample_to_input"),
    ".evaluation.counterfactual": ("DARK_LEVEL", "LESIONS", "counterfactual_calls", "counterfactual_summary",
                                   "lesion_sites", "paint_lesion"),
    ".evaluation.common_test": ("arm_comparisons", "arm_means", "common_test_metrics", "common_test_set", "score_runs"),
    ".evaluation.external": ("validate_runs", "validation_summary"),
    ".evaluation.inference": ("Predictor", "preprocess_scan", "scan_settings"),
    ".evaluation.metrics": ("metrics_table",),
    ".evaluation.probe": ("linear_probe", "pretraining_verdicts", "source_models", "weight_distance"),
    ".evaluation.scoring": ("evaluate",),
    ".experiment.config": ("ExperimentConfig", "make_config"),
    ".experiment.device": ("environment", "pick_device"),
    ".experiment.protocols": ("deviation_table", "protocol_plan"),
    ".experiment.run_folder": ("Run", "find_runs", "source_label"),
    ".files": ("write_csv",),
    ".models.architectures": ("ARCHS", "build_model", "parameter_table", "stage_shapes"),
    ".models.pretrained": ("PretrainedWeightsUnavailable",),
    ".paths": ("data_relative", "resolve", "shown"),
    ".replication.calibration": ("PAPER_RANGES", "measured_calibration"),
    ".replication.comparison": ("compare_protocols", "protocol_table", "protocol_variants"),
    ".replication.replicate": ("collect_runs", "cross_validate", "missing_runs", "paired_comparisons", "replicate",
                               "run_metrics"),
    ".replication.reported": ("REPORTED", "preset_vs_paper", "side_by_side"),
    ".training.loop": ("fit",),
    ".training.parallel": ("fit_many",),
    ".training.losses": ("class_balance", "class_weights", "published_class_weights"),
    ".training.profiling": ("benchmark_steps", "conv_kernels", "matmul_peaks", "parse_setting", "reference_results"),
    ".training.selection": ("selection_scores",),
    ".training.source_task": ("make_source_weights",),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}
_MODULES = ("viz",)  # names that are modules themselves

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    """Import a public name's module on first use, and keep the name (PEP 562)."""
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    home = importlib.import_module(_MODULE_OF[name], __name__)
    value = home if name in _MODULES else getattr(home, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
