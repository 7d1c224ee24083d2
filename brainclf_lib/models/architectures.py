"""The three video ResNets of the paper, adapted to single-contrast MR volumes.

Taught in ``03_architectures``. Input is ``(N, C, D, H, W)`` with ``D`` the axial slice axis, which torchvision's
video models treat as time (see :mod:`brainclf_lib.conventions`).
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn
from torchvision.models import get_model

from ..conventions import STEM_INITS
from .pretrained import TransferReport, load_source_state, transfer_weights

#: Canonical architecture names, with the short aliases the notebooks and CLI accept.
ARCHS: tuple[str, ...] = ("r3d_18", "mc3_18", "r2plus1d_18")
ALIASES: dict[str, str] = {"r3d": "r3d_18", "mc3": "mc3_18", "r2plus1d": "r2plus1d_18"}
#: The paper's names for them.
PAPER_NAMES: dict[str, str] = {"r3d_18": "ResNet3D", "mc3_18": "ResNet MC", "r2plus1d_18": "ResNet(2+1)D"}
#: Not the paper's: a baseline that asks what the data supports (:class:`LesionCNN`). Outside :data:`ARCHS`, so
#: no grid trains it unless asked.
BASELINE_ARCHS: tuple[str, ...] = ("lesion_cnn",)
#: Trainable parameters reported for 1 channel and 3 classes: the original paper, and our source text's variant.
PAPER_PARAMETERS: dict[str, tuple[int, int]] = {
    "r3d_18": (33_148_482, 34_261_634),
    "r2plus1d_18": (31_300_151, 32_398_366),
    "mc3_18": (11_490_179, 22_583_975),
}


def canonical_arch(arch: str) -> str:
    """``r2plus1d`` -> ``r2plus1d_18``; an unknown name is a ValueError that lists the valid ones."""
    name = ALIASES.get(arch, arch)
    if name not in (*ARCHS, *BASELINE_ARCHS):
        valid = ", ".join([*ARCHS, *ALIASES, *BASELINE_ARCHS])
        raise ValueError(f"Unknown architecture {arch!r}; valid names are: {valid}")
    return name


def build_model(
    arch: str,
    n_classes: int = 3,
    in_channels: int = 1,
    pretrained: str | None = None,
    dropout: float = 0.3,
    stem_init: str = "random",
) -> nn.Module:
    """A torchvision video ResNet with its stem taking ``in_channels`` and a Dropout + Linear head.

    Taught in ``03_architectures``; pre-training is taught in ``05_transfer_learning``.

    Args:
        arch: ``r3d_18``, ``mc3_18`` or ``r2plus1d_18`` (or ``r3d``, ``mc3``, ``r2plus1d``); ``lesion_cnn`` builds the
            baseline :class:`LesionCNN` (from scratch only).
        n_classes: outputs of the final layer (Healthy, LGG, HGG).
        in_channels: MR contrasts stacked as channels.
        pretrained: ``None``, ``"kinetics400"`` (torchvision's weights, from the hub cache or downloaded) or the
            path of a local state dict. Every layer but the stem and the head takes the source weights.
        dropout: dropout probability before the final linear layer.
        stem_init: ``random`` re-initialises the stem (the paper); ``rgb_sum`` / ``rgb_mean`` start a stem from
            the source's RGB stem summed / averaged over the colour axis.

    Returns:
        The model; ``model.transfer_report`` lists which tensors came from the source weights.

    >>> model = build_model("r3d", in_channels=1)
    >>> model(torch.zeros(1, 1, 8, 32, 32)).shape
    torch.Size([1, 3])
    """
    arch = canonical_arch(arch)
    check_source_weights(arch, pretrained)
    if arch in BASELINE_ARCHS:
        model = LesionCNN(n_classes=n_classes, in_channels=in_channels, dropout=dropout)
        model.transfer_report = TransferReport(reinitialised=sorted(model.state_dict()))
        return model
    if stem_init not in STEM_INITS:
        raise ValueError(f"stem_init={stem_init!r} is not one of {', '.join(STEM_INITS)}")
    model = get_model(arch, weights=None)
    first = model.stem[0]
    model.stem[0] = nn.Conv3d(
        in_channels, first.out_channels, first.kernel_size, first.stride, first.padding, bias=False
    )
    model.fc = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(model.fc.in_features, n_classes))
    _init_like_torchvision(model.stem[0], model.fc[1])
    report = TransferReport(reinitialised=sorted(model.state_dict()))
    if pretrained is not None:
        report = transfer_weights(model, load_source_state(pretrained, arch), stem_init=stem_init)
    model.transfer_report = report
    return model


def check_source_weights(arch: str, pretrained: str | None) -> None:
    """Refuse source weights for a baseline (it has none to take): one check for ``build_model`` and for the
    experiment's configuration, which calls it before any data step or run folder exists."""
    if arch in BASELINE_ARCHS and pretrained is not None:
        raise ValueError(f"{arch} is a baseline without source weights: it trains from scratch only "
                         f"(pretrained={pretrained!r})")


class LesionCNN(nn.Module):
    """Four 3x3x3 convolutions, one 2x pooling, then the *maximum* over positions: a baseline, not the paper's.

    Every feature it pools has seen a neighbourhood 14 voxels across, and the maximum keeps the strongest response
    wherever it lies. A glioma is a small part of a brain; at the fast preset's 8 mm the last stage of r3d_18 and
    r2plus1d_18 holds 3 x 2 x 2 positions (mc3_18's 18 x 2 x 2) that each see the brain's whole width, and their
    average blends the lesion with everything else. Trained beside them, it asks whether a grade the ResNets miss is
    in the data at all. The pooling rounds up (``ceil_mode``), so a stage of ``ceil(n / 2)`` cells covers ``n`` voxels
    as a ResNet's strided stages do, and Grad-CAM places its cells by the same rule.
    """

    def __init__(self, n_classes: int = 3, in_channels: int = 1, dropout: float = 0.3, width: int = 16) -> None:
        super().__init__()

        def block(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv3d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm3d(c_out), nn.ReLU(inplace=True)
            )

        self.features = nn.Sequential(
            block(in_channels, width), block(width, 2 * width), nn.MaxPool3d(2, ceil_mode=True),
            block(2 * width, 4 * width), block(4 * width, 4 * width),
        )
        self.fc = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(4 * width, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).amax(dim=(2, 3, 4)))


def last_stage(model: nn.Module) -> nn.Module:
    """The stage Grad-CAM explains unless told otherwise: a video ResNet's ``layer4``, :class:`LesionCNN`'s
    ``features`` (its only stage, at half the input's resolution)."""
    return model.features if isinstance(model, LesionCNN) else model.layer4


def count_trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def parameter_table(n_classes: int = 3, in_channels: int = 1) -> pd.DataFrame:
    """Trainable parameters of the three models beside the paper's Table 1 figures.

    Taught in ``03_architectures``, after the same arithmetic is done by hand for one kernel.

    Args:
        n_classes: outputs of the head.
        in_channels: MR contrasts as input channels.
    """
    rows = []
    for arch in ARCHS:
        ours = count_trainable(build_model(arch, n_classes=n_classes, in_channels=in_channels))
        original, source_text = PAPER_PARAMETERS[arch]
        rows.append(
            {
                "arch": arch,
                "model": PAPER_NAMES[arch],
                "ours": ours,
                "paper": original,
                "ours - paper": ours - original,
                "source text": source_text,
                "ours - source text": ours - source_text,
            }
        )
    return pd.DataFrame(rows)


@torch.no_grad()
def stage_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> pd.DataFrame:
    """Output shape of the stem, each residual stage, the pool and the head for one input.

    Taught in ``03_architectures``: where the slice axis shrinks, and where it does not.

    Args:
        model: a video ResNet (the baseline :class:`LesionCNN` has no stages to list: a ``ValueError``).
        input_shape: ``(C, D, H, W)`` of one volume.
    """
    if isinstance(model, LesionCNN):
        raise ValueError("stage_shapes lists a video ResNet's stages; LesionCNN has one, model.features")
    rows = []
    hooks = [
        getattr(model, name).register_forward_hook(
            lambda _m, _i, out, name=name: rows.append({"stage": name, "output shape": tuple(out.shape)})
        )
        for name in ("stem", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc")
    ]
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros(input_shape))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return pd.DataFrame(rows)


def _init_like_torchvision(conv: nn.Conv3d, linear: nn.Linear) -> None:
    """The initialisation torchvision's VideoResNet gives a fresh stem conv and classifier."""
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    nn.init.normal_(linear.weight, 0, 0.01)
    nn.init.constant_(linear.bias, 0)
