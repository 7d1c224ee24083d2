"""Transfer learning: which tensors come from source weights (Kinetics-400 or a local file), which start afresh.

Taught in ``05_transfer_learning``. As in the paper, every layer but the stem (RGB there, MR contrasts here) and
the head (400 Kinetics classes there) takes the source weights.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torchvision.models import get_model_weights

from ..conventions import is_kinetics
from ..errors import BadInputError
from ..files import load_torch
from ..paths import PathLike, resolve, shown

STEM_PREFIX = "stem."
HEAD_PREFIX = "fc."


class PretrainedWeightsUnavailable(RuntimeError):
    """Raised when Kinetics-400 weights are neither cached nor downloadable; the message says where to put the file.

    Taught in ``05_transfer_learning``, which catches it and falls back to self-trained source weights.
    """


@dataclass
class TransferReport:
    """Names of the state-dict tensors taken from the source and those left at their fresh initialisation."""

    loaded: list[str] = field(default_factory=list)
    reinitialised: list[str] = field(default_factory=list)
    stem_from_rgb: str | None = None


def is_transferred(name: str) -> bool:
    """Whether a transfer copies the state-dict tensor ``name`` from the source: every one but the stem's and the
    head's (with the default ``stem_init="random"``)."""
    return not name.startswith((STEM_PREFIX, HEAD_PREFIX))


def kinetics_weights_file(arch: str) -> Path:
    """Where torchvision looks for an architecture's Kinetics-400 weights: ``<torch hub>/checkpoints/<file>``."""
    url = get_model_weights(arch).KINETICS400_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def load_source_state(pretrained: PathLike, arch: str) -> dict[str, torch.Tensor]:
    """The source state dict: ``"kinetics400"`` from the hub cache (downloaded if reachable), else a local file."""
    if is_kinetics(pretrained):
        path = kinetics_weights_file(arch)
        if not path.exists():
            try:
                url = get_model_weights(arch).KINETICS400_V1.url
                with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
                    # torch's "Downloading ... to <absolute path>", in a notebook on stdout
                    torch.hub.load_state_dict_from_url(url, progress=False, check_hash=True)
                print(f"[pretrained] downloaded {url} into {_folder(path)}", flush=True)
            except Exception as error:  # no network: say what to put where
                raise PretrainedWeightsUnavailable(
                    f"Kinetics-400 weights for {arch} are not cached and could not be downloaded ({error}). "
                    f"Copy the file {path.name} into {_folder(path)} (or set TORCH_HOME), "
                    "or pass the path of a local state dict as `pretrained`."
                ) from error
    else:
        path = resolve(pretrained)  # as a run's identity reads it (run_folder.weights_identity)
        if not path.is_file():
            raise FileNotFoundError(f"Pre-trained weights file {shown(path)} does not exist")
    try:
        state = load_torch(path)
    except Exception as error:
        raise ValueError(f"{path} is not a loadable state dict (weights_only=True): {error}") from error
    if isinstance(state, dict) and isinstance(state.get("model"), dict):  # one of our checkpoints
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors")
    return {key.removeprefix("module."): value for key, value in state.items()}


def check_source_disjoint(pretrained: PathLike | None, data: str, tested: Iterable[str]) -> None:
    """Refuse source weights that learned from a subject this run tests.

    Self-trained weights record the cohort and subjects they learned from
    (:func:`~brainclf_lib.training.source_task.make_source_weights`); on real data each fold has its own, and the
    weights of one fold learned from the subjects the other folds test. Kinetics-400 and weights without a record
    (trained elsewhere) pass: what they learned from is not ours to check.

    Args:
        pretrained: the run's ``pretrained`` setting.
        data: the run's cohort, as :func:`~brainclf_lib.data.source.data_key` names it.
        tested: the subjects of the run's test fold.
    """
    if pretrained is None or is_kinetics(pretrained):
        return
    checkpoint = load_torch(resolve(pretrained), mmap=True)  # the record only: the tensors stay on disk
    record = checkpoint.get("source") if isinstance(checkpoint, dict) else None
    # Another cohort (the synthetic source's) shares no subject even where names repeat; weights made for a fold
    # are checked whatever folder the run's data was prepared into (the same subjects at another spacing).
    if not isinstance(record, dict) or (record.get("fold") is None and record.get("data") != data):
        return
    shared = sorted(set(record.get("subjects", [])) & set(tested))
    if shared:
        raise BadInputError(
            f"{pretrained} learned from {len(shared)} subjects that this run tests ({', '.join(shared[:4])}"
            f"{' ...' if len(shared) > 4 else ''}): it was made for fold {record.get('fold')}. Pass the file made "
            "for this run's fold, <arch>_fold<k>.pt (`brainclf source` writes one a fold; `replicate --pretrained "
            "DIR` gives each fold its own)."
        )


def transfer_weights(
    model: nn.Module, source: dict[str, torch.Tensor], stem_init: str = "random"
) -> TransferReport:
    """Copy ``source`` into ``model`` for every tensor but the stem's and the head's.

    With ``stem_init`` ``rgb_sum`` or ``rgb_mean`` the stem is taken too, its first convolution collapsed over the
    colour axis and repeated for each input channel. A body tensor missing from ``source`` or of another shape is
    an error: silently training a half-loaded model is the failure this guards against.
    """
    target = model.state_dict()
    report = TransferReport()
    first_conv = f"{STEM_PREFIX}0.weight"
    for name, tensor in target.items():
        if not is_transferred(name) and (name.startswith(HEAD_PREFIX) or stem_init == "random"):
            report.reinitialised.append(name)
            continue
        if name not in source:
            raise ValueError(f"Source weights lack {name!r}: are they for another architecture?")
        value = source[name]
        if name == first_conv:
            reduce = value.sum if stem_init == "rgb_sum" else value.mean
            value = reduce(dim=1, keepdim=True).expand_as(tensor)
            report.stem_from_rgb = stem_init
        if value.shape != tensor.shape:
            raise ValueError(f"Source tensor {name!r} has shape {tuple(value.shape)}, expected {tuple(tensor.shape)}")
        target[name] = value.to(tensor.dtype).clone()
        report.loaded.append(name)
    model.load_state_dict(target)
    return report


def _folder(path: Path) -> str:
    """The hub cache's folder as a page shows it (``~/.cache/torch/...``), or whole when that would hide where."""
    folder = shown(path.parent)
    return str(path.parent) if folder.startswith(".../") else folder
