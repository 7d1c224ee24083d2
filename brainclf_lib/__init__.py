"""brainclf: replicate deep spatio-spatial models for brain-tumour classification (Chatterjee et al., 2022).

The notebooks import only the names below (the public API). Tensors are ``(N, C, D, H, W)`` with ``D`` the axial
slice axis (:mod:`brainclf_lib.conventions`). Each folder uses only the ones before it:

- ``models/``: the three video ResNets and the weights they start from;
- ``experiment/``: a config, the protocol plan its deviations decide, its run folder, its device;
- ``data/``: scans to one fold's volumes (discovery, preprocessing, splits, transforms, ``synthetic/``);
- ``evaluation/``: metrics, a run's evaluation, prediction, Grad-CAM, the histogram baseline;
- ``training/``: the loss, the optimiser step, the epoch loop, the epoch choice, the source task, step timing;
- ``replication/``: the grid, the protocols compared, the calibration, the paper's reported figures;
- ``course/``: exercises, expected figures and their measurement, the notebook runner, the site, figures.
"""

from .conventions import CLASS_TO_INDEX, CLASSES, slice_axis_first
from .course import viz
from .course.exercises import check
from .course.expectations import expect, measured_table, tendency
from .course.notebooks import check_parameters
from .data.cohorts import preprocess_settings
from .data.datasets import VolumeDataset
from .data.discovery import raw_contrast_path
from .data.prepare import read_manifest
from .data.preprocessing import load_volume, preprocessing_steps, step_table
from .data.step import FoldData, load_fold, prepare_data
from .data.transforms import augmentation
from .evaluation.baseline import histogram_baseline, histogram_features
from .evaluation.explain import attention_in_mask, grad_cam, load_mask, tumour_attention, tumour_cases
from .evaluation.inference import Predictor
from .evaluation.metrics import aggregate_folds, bootstrap_ci, classification_metrics, mcnemar, metrics_table
from .evaluation.scoring import evaluate, metrics_of, predict_subjects
from .experiment.config import PRESETS, ExperimentConfig, make_config
from .experiment.device import environment, pick_device
from .experiment.protocols import DEVIATIONS, PROTOCOLS, deviation_table, protocol_plan
from .experiment.run_folder import Run, find_runs, run_name, source_label
from .files import read_json, write_csv, write_json
from .models.architectures import (
    ARCHS,
    PAPER_NAMES,
    build_model,
    canonical_arch,
    count_trainable,
    parameter_table,
    stage_shapes,
)
from .models.pretrained import PretrainedWeightsUnavailable
from .paths import data_relative, resolve
from .replication.calibration import (
    PAPER_RANGES,
    calibrate,
    calibration_markdown,
    in_paper_ranges,
    measured_calibration,
)
from .replication.comparison import compare_protocols, protocol_table, protocol_variants
from .replication.replicate import (
    collect_runs,
    cross_validate,
    missing_runs,
    paired_comparisons,
    replicate,
    run_metrics,
)
from .replication.reported import REPORTED, preset_vs_paper, side_by_side
from .training.loop import fit, train_epoch
from .training.losses import class_balance, class_weights, published_class_weights, weighted_cross_entropy
from .training.profiling import benchmark_steps, conv_kernels, matmul_peaks, parse_setting, reference_results
from .training.selection import selection_scores
from .training.source_task import make_source_weights

__all__ = [
    "ARCHS",
    "CLASS_TO_INDEX",
    "CLASSES",
    "DEVIATIONS",
    "PAPER_NAMES",
    "PRESETS",
    "PROTOCOLS",
    "REPORTED",
    "ExperimentConfig",
    "FoldData",
    "Predictor",
    "PretrainedWeightsUnavailable",
    "Run",
    "VolumeDataset",
    "aggregate_folds",
    "attention_in_mask",
    "augmentation",
    "benchmark_steps",
    "bootstrap_ci",
    "calibrate",
    "calibration_markdown",
    "in_paper_ranges",
    "measured_calibration",
    "PAPER_RANGES",
    "build_model",
    "canonical_arch",
    "check",
    "check_parameters",
    "class_balance",
    "class_weights",
    "classification_metrics",
    "collect_runs",
    "compare_protocols",
    "conv_kernels",
    "count_trainable",
    "cross_validate",
    "deviation_table",
    "protocol_plan",
    "environment",
    "evaluate",
    "expect",
    "measured_table",
    "tendency",
    "data_relative",
    "find_runs",
    "fit",
    "selection_scores",
    "grad_cam",
    "histogram_baseline",
    "histogram_features",
    "load_fold",
    "load_mask",
    "load_volume",
    "make_config",
    "make_source_weights",
    "matmul_peaks",
    "mcnemar",
    "metrics_of",
    "metrics_table",
    "missing_runs",
    "paired_comparisons",
    "parameter_table",
    "parse_setting",
    "pick_device",
    "predict_subjects",
    "preset_vs_paper",
    "prepare_data",
    "preprocess_settings",
    "preprocessing_steps",
    "protocol_table",
    "protocol_variants",
    "published_class_weights",
    "read_json",
    "raw_contrast_path",
    "read_manifest",
    "reference_results",
    "replicate",
    "resolve",
    "run_metrics",
    "run_name",
    "side_by_side",
    "slice_axis_first",
    "source_label",
    "stage_shapes",
    "step_table",
    "train_epoch",
    "tumour_attention",
    "tumour_cases",
    "viz",
    "weighted_cross_entropy",
    "write_csv",
    "write_json",
]
