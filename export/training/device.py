"""Where training runs and in which precision: ``--device``, ``--amp`` and the memory layout.

Channels-last: convolutions run in NHWC on CUDA when mixed precision is on, where cuDNN picks its
tensor-core kernels for that layout (the ResNet-50 streams dominate the step); in fp32 and on the
CPU the model stays NCHW — the fusion stages reshape feature maps to tokens and back, and on the
CPU oneDNN gains nothing measurable for this model from the conversion.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch

from mutualsense.errors import DataError

__all__ = [
    "AMP_MODES",
    "AmpMode",
    "Precision",
    "check_amp",
    "check_device_spec",
    "resolve_device",
    "resolve_precision",
]

log = logging.getLogger(__name__)

AmpMode = Literal["bf16", "fp16", "off"]
AMP_MODES: tuple[str, ...] = ("bf16", "fp16", "off")
_DEVICE = re.compile(r"^(auto|cpu|cuda)(?::(\d+))?$")


def check_device_spec(spec: str) -> None:
    """Reject a malformed ``--device`` value (before any work starts)."""
    m = _DEVICE.match(spec)
    if m is None or (m.group(2) is not None and m.group(1) != "cuda"):
        raise DataError(
            f"--device {spec!r} is not a device.", "use --device auto, --device cpu, --device cuda or --device cuda:N."
        )


def resolve_device(spec: str, local_rank: int = 0, world_size: int = 1) -> torch.device:
    """The torch device for ``--device`` (``auto``: the GPU when CUDA is usable, else the CPU).

    Under torchrun each process takes ``cuda:LOCAL_RANK``; an explicit ``cuda:N`` is refused there.
    """
    check_device_spec(spec)
    kind, _, index = spec.partition(":")
    if kind == "cpu" or (kind == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        why = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise DataError(
            f"--device {spec} asks for a GPU, but {why} (torch {torch.__version__}).",
            "train on the CPU with --device cpu, or install a CUDA build of torch on a machine with a GPU.",
        )
    count = torch.cuda.device_count()
    if index and world_size > 1:
        raise DataError(
            f"--device {spec} names one GPU, but torchrun started {world_size} processes.",
            "pass --device cuda (each process takes the GPU of its LOCAL_RANK); pick GPUs with CUDA_VISIBLE_DEVICES.",
        )
    gpu = int(index) if index else (local_rank if world_size > 1 else 0)
    if gpu >= count:
        raise DataError(
            f"--device {spec} needs GPU {gpu}, but only {count} GPU(s) are visible.",
            f"use --device cuda:0 .. cuda:{count - 1}, or start at most {count} processes per node.",
        )
    return torch.device("cuda", gpu)


@dataclass(frozen=True)
class Precision:
    """Mixed-precision settings for one device."""

    amp: AmpMode
    device: torch.device
    channels_last: bool

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype, or None when autocast is off."""
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.amp)

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        """The forward pass's autocast context (a no-op when ``--amp off``)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler:
        """Loss scaling: enabled for fp16 only (bf16 has fp32's exponent range)."""
        return torch.amp.GradScaler(self.device.type, enabled=self.amp == "fp16")

    def inputs(self, *tensors: torch.Tensor) -> Iterator[torch.Tensor]:
        """Move batch tensors to the device (and to channels-last when chosen)."""
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        for t in tensors:
            yield t.to(self.device, non_blocking=True).contiguous(memory_format=fmt)


def check_amp(amp: str, device: torch.device | None = None) -> None:
    """Reject an unknown ``--amp`` value, or fp16 off CUDA (loss scaling is CUDA-only here)."""
    if amp not in AMP_MODES:
        raise DataError(f"--amp {amp!r} is not a precision.", "use --amp bf16, --amp fp16 or --amp off.")
    if amp == "fp16" and device is not None and device.type != "cuda":
        raise DataError(
            "--amp fp16 needs a CUDA GPU (fp16 training uses loss scaling on the GPU).",
            "use --amp bf16 on the CPU, or --amp off.",
        )


def resolve_precision(amp: str, device: torch.device, channels_last: bool | None = None) -> Precision:
    """Autocast and layout for ``device``; ``channels_last=None`` chooses (see the module docstring)."""
    check_amp(amp, device)
    if channels_last is None:
        channels_last = device.type == "cuda" and amp != "off"
    return Precision(amp, device, channels_last)  # type: ignore[arg-type]
