"""3D Grad-CAM (beyond the paper, taught in ``07_explainability``): where in the volume did the model look?"""

from __future__ import annotations

import math
from collections.abc import Sequence

import nibabel as nib
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..conventions import CLASSES, slice_axis_first
from ..data.step import FoldData
from ..models.architectures import last_stage


def grad_cam(model: nn.Module, image: torch.Tensor, target: int | None = None, layer: nn.Module | None = None) -> tuple[np.ndarray, int]:
    """Grad-CAM of one volume at ``layer``, on the input's (D, H, W) grid (:func:`upsample_to_input`).

    Taught in ``07_explainability``. A forward hook keeps the layer's activations, a backward hook their
    gradients; the channel-mean gradient weights each activation map, and the ReLU of the sum is the map.

    Args:
        model: a trained video ResNet, or the baseline ``lesion_cnn``.
        image: one volume ``(C, D, H, W)``, as the model is evaluated on it.
        target: the class to explain; ``None`` explains the predicted one.
        layer: the module whose output is explained; ``None`` takes the last stage (a video ResNet's ``layer4``,
            :func:`~brainclf_lib.models.architectures.last_stage`).

    Returns:
        The map divided by its maximum (in [0, 1]; its minimum is not subtracted, which would move the shares of
        :func:`attention_in_mask`), and the class it explains.
    """
    layer = layer if layer is not None else last_stage(model)
    store: dict[str, torch.Tensor] = {}
    forward = layer.register_forward_hook(lambda _m, _i, out: store.__setitem__("activation", out))
    backward = layer.register_full_backward_hook(lambda _m, _gi, go: store.__setitem__("gradient", go[0]))
    model.eval()
    try:
        logits = model(image[None].requires_grad_(True))
        target = int(logits.argmax()) if target is None else target
        model.zero_grad()
        logits[0, target].backward()
    finally:
        forward.remove()
        backward.remove()
    weights = store["gradient"].mean(dim=(2, 3, 4), keepdim=True)
    cam = F.relu((weights * store["activation"]).sum(1, keepdim=True))
    cam = upsample_to_input(cam, image.shape[1:]).detach()
    # scaled by its maximum only (Selvaraju et al.): subtracting the minimum as well would take a floor off every
    # voxel, move the map's mass towards its peak and change the share of attention inside the tumour
    return (cam / cam.max().clamp_min(1e-8)).numpy(), target


def upsample_to_input(cam: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """A stage's map ``(1, 1, d, h, w)`` on the input's grid ``(D, H, W)``, each cell at the centre of its nominal
    receptive field.

    A video ResNet's strided convolutions (kernel 3, padding 1; the stem's 7 with padding 3) centre cell ``i`` of a
    stage with stride ``s`` on input voxel ``s * i``. ``F.interpolate(..., align_corners=False)`` puts it at
    ``(i + 1/2) n / c - 1/2`` for ``c`` cells over ``n`` voxels, the centre of a block (``s * i + (s - 1) / 2`` when
    ``n`` is a multiple of ``s``): at layer4 of the fast preset (3 x 2 x 2 cells of 18 x 24 x 21 voxels) up to 2.5
    slices and 5.5 voxels (20 and 44 mm) off. The stride of each axis is read from the shapes (a power of two:
    ``ceil(n / s)`` cells cover ``n`` voxels); between cell centres the map is linear, past the last one it stays at
    that cell's value. In a volume smaller than the field, a border cell's field is cut by the padding and its
    input gradient leans inwards: the placement is of the nominal field.

    Taught in ``07_explainability``.

    Args:
        cam: the stage's map, ``(1, 1, d, h, w)``.
        size: the input's ``(D, H, W)``.
    """
    axes = []
    for voxels, cells in zip(size, cam.shape[2:], strict=True):
        stride = 2 ** math.ceil(math.log2(voxels / cells)) if cells > 1 else 1
        position = (torch.arange(voxels, dtype=cam.dtype, device=cam.device) / stride).clamp(max=cells - 1)  # in cells
        axes.append(2 * position / max(cells - 1, 1) - 1)  # grid_sample's [-1, 1], corners on cell centres
    d, h, w = torch.meshgrid(*axes, indexing="ij")
    grid = torch.stack((w, h, d), dim=-1)[None]  # grid_sample reads (x, y, z) = (W, H, D)
    return F.grid_sample(cam, grid, mode="bilinear", padding_mode="border", align_corners=True)[0, 0]


def attention_in_mask(cam: np.ndarray, mask: np.ndarray, brain: np.ndarray | None = None) -> dict[str, float]:
    """How much of the attention falls on the tumour: its share of the map's mass, against the tumour's share of
    the brain, which is what a map spread evenly over the brain would give.

    Taught in ``07_explainability``.

    Args:
        cam: a Grad-CAM map, ``(D, H, W)``.
        mask: the tumour mask on the same grid.
        brain: the brain mask on the same grid (``None``: the whole volume counts as brain).

    >>> tumour = np.zeros((4, 4, 4), bool); tumour[:2, :2, :2] = True
    >>> brain = np.zeros((4, 4, 4), bool); brain[:2] = True
    >>> attention_in_mask(brain.astype(float), tumour, brain)  # even over the brain: no preference
    {'attention in tumour': 0.25, 'tumour share of brain': 0.25, 'attention in brain': 1.0}
    >>> attention_in_mask(np.zeros((4, 4, 4)), tumour, brain)  # an empty map has no shares to give
    {'attention in tumour': nan, 'tumour share of brain': 0.25, 'attention in brain': nan}
    """
    mask = mask > 0
    brain = np.ones_like(mask) if brain is None else brain > 0
    total = float(cam.sum())
    # an all-zero map (the ReLU kept nothing: every location argued against the class) shows no attention anywhere;
    # its shares are undefined, not zero, so that means over subjects skip it instead of counting it as "elsewhere"
    share = (lambda inside: float(inside / total)) if total > 0 else (lambda inside: float("nan"))
    return {"attention in tumour": share(cam[mask].sum()),
            "tumour share of brain": float(mask[brain].sum() / max(brain.sum(), 1)),
            "attention in brain": share(cam[brain].sum())}


def load_mask(seg_path: str) -> np.ndarray:
    """A prepared tumour segmentation as a boolean ``(D, H, W)`` mask, on the same grid as the model's input.

    Taught in ``07_explainability``.

    Args:
        seg_path: the ``seg`` path of a prepared subject (the manifest's column).
    """
    return slice_axis_first(torch.from_numpy(nib.load(seg_path).get_fdata() > 0)[None])[0].numpy()


def tumour_cases(data: FoldData) -> pd.DataFrame:
    """The test subjects of a fold that have a tumour mask: their index in ``data.test``, id, label and mask path.

    Taught in ``07_explainability``.

    Args:
        data: a fold from :func:`~brainclf_lib.data.step.load_fold`.
    """
    seg = data.manifest.set_index("subject_id")["seg"] if "seg" in data.manifest else pd.Series(dtype=str)
    rows = [{"index": i, "subject_id": s["subject_id"], "label": CLASSES[s["label"]], "seg": seg.get(s["subject_id"], "")}
            for i, s in enumerate(data.test.subjects)]
    cases = pd.DataFrame(rows, columns=["index", "subject_id", "label", "seg"])
    return cases[cases["seg"] != ""].reset_index(drop=True)


def tumour_attention(model: nn.Module, data: FoldData, layer: str | None = None) -> pd.DataFrame:
    """Grad-CAM of every test subject with a tumour mask, and how much of it falls on the tumour.

    Taught in ``07_explainability``. The image is the one the model is evaluated on. One subject is an anecdote;
    the mean ratio over a fold is a measurement.

    Args:
        model: a trained model (:meth:`Run.load_model <brainclf_lib.experiment.run_folder.Run.load_model>`).
        data: the run's fold (:func:`~brainclf_lib.data.step.load_fold`).
        layer: the name of the stage explained; ``None`` takes the model's last (``layer4`` of a video ResNet).

    Returns:
        A row per subject: label, prediction, the share of the attention inside the tumour, the tumour's share of the
        brain (the prepared volume's non-zero voxels), the share of the attention inside the brain, and the ratio of
        the first two (1: no preference for the tumour over the rest of the brain; below 1 when the map prefers other
        parts of the brain, or spends its mass outside it), and whether the map is empty (its shares are then NaN).
    """
    if layer is not None and not isinstance(getattr(model, layer, None), nn.Module):
        stages = [name for name, _ in model.named_children()]
        raise ValueError(f"{type(model).__name__} has no stage {layer!r}; its stages are {', '.join(stages)}")
    stage = last_stage(model) if layer is None else getattr(model, layer)
    rows = []
    for case in tumour_cases(data).itertuples(index=False):
        image = data.test[case.index]["image"]
        cam, predicted = grad_cam(model, image, layer=stage)
        share = attention_in_mask(cam, load_mask(case.seg), brain=(image > 0).any(0).numpy())
        rows.append({"subject_id": case.subject_id, "label": case.label, "predicted": CLASSES[predicted], **share,
                     "ratio": share["attention in tumour"] / max(share["tumour share of brain"], 1e-8),
                     "empty map": not float(cam.sum()) > 0})
    return pd.DataFrame(rows)


#: What a summary cell says where every map of its group was empty, so there is no share to average.
NO_MAP = "every map empty"


def attention_summary(attention: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """The mean of :func:`tumour_attention`'s shares per model and class over the non-empty maps, with the count of
    empty maps beside them; a group whose every map was empty says so (:data:`NO_MAP`) instead of showing NaN, which a
    reader takes for a bug.

    Taught in ``07_explainability``.

    Args:
        attention: :func:`tumour_attention`'s rows, with an ``arch`` column (one model's rows each).
        digits: the decimals the shares are rounded to.

    >>> rows = pd.DataFrame({"arch": ["a", "b"], "label": ["HGG", "HGG"], "attention in tumour": [0.5, float("nan")],
    ...                      "tumour share of brain": [0.1, 0.1], "ratio": [5.0, float("nan")],
    ...                      "attention in brain": [0.9, float("nan")], "empty map": [False, True]})
    >>> attention_summary(rows)["ratio"].tolist()
    [5.0, 'every map empty']
    """
    columns = ["attention in tumour", "tumour share of brain", "ratio", "attention in brain"]
    groups = attention.groupby(["arch", "label"])
    summary = groups[columns].mean().round(digits)
    shares = [name for name in columns if name != "tumour share of brain"]  # the mask's share needs no map
    summary[shares] = summary[shares].astype(object).where(summary[shares].notna(), NO_MAP)
    summary["empty maps"] = groups["empty map"].sum().astype(int)
    summary["maps"] = groups.size()
    return summary
