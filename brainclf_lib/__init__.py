"""brainclf: replicate deep spatio-spatial models for brain-tumour classification (Chatterjee et al., 2022).

The library computes; the notebooks in ``notebooks/`` teach and call it, importing only the names below (its public
API). Tensors are ``(N, C, D, H, W)`` with ``D`` the axial slice axis (see :mod:`brainclf_lib.conventions`).

The modules, bottom to top: ``conventions``, ``paths``, ``errors``, ``files`` -> ``protocols``, ``metrics``,
``losses``, ``preprocessing``, ``pretrained``, ``models``, ``config`` -> ``synthetic/``, ``discovery``, ``prepare``,
``splits``, ``datasets``, ``data`` (the data step) -> ``run`` (a run folder) -> ``evaluation`` -> ``training`` ->
``replicate``, ``comparison``, ``source_task``, ``explain``, ``inference``, ``exercises`` -> ``cli``, ``execute``,
``book``; ``expectations``, ``viz``, ``paper``, ``baseline`` and ``profiling`` stand beside them. A test fails on an import cycle.
"""

from . import viz
from .baseline import histogram_baseline, histogram_features
from .calibration import PAPER_RANGES, calibrate, calibration_markdown, in_paper_ranges, measured_calibration
from .comparison import compare_protocols, protocol_table, protocol_variants
from .config import PRESETS, ExperimentConfig, make_config
from .conventions import CLASS_TO_INDEX, CLASSES, slice_axis_first
from .data import FoldData, class_balance, load_fold, prepare_data, preprocess_settings
from .datasets import VolumeDataset, augmentation
from .discovery import raw_contrast_path
from .evaluation import evaluate, metrics_of, predict_subjects
from .execute import check_parameters
from .exercises import check
from .expectations import expect, measured_table, tendency
from .explain import attention_in_mask, grad_cam, load_mask, tumour_attention, tumour_cases
from .files import read_json, write_csv, write_json
from .inference import Predictor
from .losses import class_weights, published_class_weights, weighted_cross_entropy
from .metrics import aggregate_folds, bootstrap_ci, classification_metrics, mcnemar, metrics_table
from .models import ARCHS, PAPER_NAMES, build_model, canonical_arch, count_trainable, parameter_table, stage_shapes
from .paper import REPORTED, preset_vs_paper, side_by_side
from .paths import data_relative, resolve
from .prepare import read_manifest
from .preprocessing import load_volume, preprocessing_steps, step_table
from .pretrained import PretrainedWeightsUnavailable
from .profiling import benchmark_steps, conv_kernels, matmul_peaks, parse_setting, reference_results
from .protocols import DEVIATIONS, PROTOCOLS, deviation_table, protocol_plan
from .replicate import collect_runs, cross_validate, missing_runs, paired_comparisons, replicate, run_metrics
from .run import Run, find_runs, run_name, source_label
from .runtime import environment, pick_device
from .source_task import make_source_weights
from .training import fit, selection_scores, train_epoch

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
