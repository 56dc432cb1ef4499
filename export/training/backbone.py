"""``--backbone-weights``: both ResNet-50 streams from an ImageNet checkpoint.

Reads torchvision's layout (``conv1``, ``bn1``, ``layer1`` .. ``layer4``, ``fc``), which timm's
``resnet50`` checkpoints share, optionally wrapped in ``{"state_dict": ...}`` / ``{"model": ...}``
or prefixed with ``module.`` / ``model.`` / ``backbone.``. The RGB stream takes every tensor as it
is; the depth stream takes the same tensors except its first convolution, whose three RGB filters
are summed into one (a grey image fed to the sum equals the grey image replicated to RGB and fed
to the original). The classifier (``fc``) is not used.

Where to get the file (nothing is downloaded by mutualsense):

* torchvision: ``ResNet50_Weights.IMAGENET1K_V2`` =
  https://download.pytorch.org/models/resnet50-11ad3fa6.pth (``IMAGENET1K_V1``:
  https://download.pytorch.org/models/resnet50-0676ba61.pth);
* timm: ``pytorch_model.bin`` of https://huggingface.co/timm/resnet50.a1_in1k (or another
  ``timm/resnet50.*`` model).
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mutualsense.errors import CheckpointError, DataError
from mutualsense.export.model import MutualSenseNet

__all__ = ["BackboneReport", "load_backbone_weights", "read_imagenet_state", "to_stream_keys"]

log = logging.getLogger(__name__)

_PREFIXES = ("module.", "model.", "backbone.", "encoder.")
_LAYER = re.compile(r"^layer([1-4])\.(.+)$")
_FIRST_CONV = "stem.0.0.weight"


@dataclass(frozen=True)
class BackboneReport:
    """What ``--backbone-weights`` did to the two streams.

    Attributes:
        loaded: tensors copied unchanged, per stream (RGB and depth together).
        adapted: tensors changed to fit (the depth stream's first convolution, RGB filters summed).
        missing: stream tensors the file does not hold (left at their initialisation).
        ignored: file tensors with no place in the streams (the ImageNet classifier ``fc``).
    """

    loaded: int
    adapted: tuple[str, ...]
    missing: tuple[str, ...]
    ignored: tuple[str, ...]

    def summary(self) -> str:
        """One line for the log."""
        return (
            f"{self.loaded} tensors loaded, {len(self.adapted)} adapted ({', '.join(self.adapted) or 'none'}), "
            f"{len(self.missing)} missing, {len(self.ignored)} ignored"
        )


def read_imagenet_state(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The tensors of an ImageNet ResNet checkpoint, unwrapped and without wrapper prefixes."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"--backbone-weights {path} does not exist.",
            "download torchvision's resnet50-11ad3fa6.pth (ResNet50_Weights.IMAGENET1K_V2) and pass its path.",
        )
    try:
        payload: Any = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(
            f"--backbone-weights {path} cannot be read as a torch checkpoint ({first}).",
            "pass a .pth/.bin file saved with torch.save (torchvision's or timm's ResNet-50 weights).",
        ) from exc
    for key in ("state_dict", "model", "module"):
        if isinstance(payload, dict) and isinstance(payload.get(key), dict):
            payload = payload[key]
    if not isinstance(payload, dict) or not all(isinstance(v, torch.Tensor) for v in payload.values()):
        raise DataError(
            f"--backbone-weights {path} holds no state dict of tensors.",
            "pass torchvision's or timm's ResNet-50 ImageNet weights (a dict of tensors).",
        )
    state = {}
    for key, value in payload.items():
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        state[key] = value
    return state


def to_stream_keys(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Rename torchvision/timm keys to our :class:`ResNet`'s; also return the keys with no place."""
    mapped, ignored = {}, []
    for key, value in state.items():
        if key.startswith("conv1."):
            mapped["stem.0.0." + key[len("conv1.") :]] = value
        elif key.startswith("bn1."):
            mapped["stem.0.1." + key[len("bn1.") :]] = value
        elif m := _LAYER.match(key):
            mapped[f"stages.{int(m.group(1)) - 1}.{m.group(2)}"] = value
        else:
            ignored.append(key)
    return mapped, ignored


def load_backbone_weights(model: MutualSenseNet, path: str | os.PathLike[str]) -> BackboneReport:
    """Initialise ``model``'s RGB and depth ResNet-50 streams from an ImageNet checkpoint."""
    cfg = model.config
    if not (cfg.bottleneck and cfg.stem == "imagenet" and cfg.blocks == (3, 4, 6, 3)):
        raise DataError(
            f"--backbone-weights holds ImageNet ResNet-50 weights, but --config {cfg.name} has no ResNet-50 streams.",
            "use --config paper with --backbone-weights, or drop --backbone-weights.",
        )
    mapped, ignored = to_stream_keys(read_imagenet_state(path))
    loaded, adapted, missing = 0, [], []
    for name, stream in (("rgb_backbone", model.rgb_backbone), ("depth_backbone", model.depth_backbone)):
        target = stream.state_dict()
        new = {}
        for key, current in target.items():
            value = mapped.get(key)
            if value is None:
                missing.append(f"{name}.{key}")
                continue
            if key == _FIRST_CONV and current.shape[1] == 1 and value.shape[1] == 3:
                value = value.sum(dim=1, keepdim=True)
                adapted.append(f"{name}.{key}")
            elif tuple(value.shape) != tuple(current.shape):
                raise CheckpointError(
                    f"--backbone-weights {path}: {key} has shape {tuple(value.shape)}, "
                    f"the ResNet-50 stream needs {tuple(current.shape)}.",
                    "pass ResNet-50 weights (not ResNet-18/101 or another network).",
                )
            else:
                loaded += 1
            new[key] = value.to(current.dtype)
        stream.load_state_dict(new, strict=False)
    essential = [k for k in missing if not k.endswith("num_batches_tracked")]
    if essential:
        raise CheckpointError(
            f"--backbone-weights {path} lacks {len(essential)} ResNet-50 tensors (e.g. {', '.join(essential[:3])}).",
            "pass a full ResNet-50 ImageNet checkpoint in torchvision's or timm's layout.",
        )
    report = BackboneReport(loaded, tuple(adapted), tuple(missing), tuple(sorted(ignored)))
    log.info("backbone weights from %s: %s", path, report.summary())
    return report
