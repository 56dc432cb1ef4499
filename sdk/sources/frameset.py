"""What every source delivers: a colour image and a depth image with their calibration and clocks.

A :class:`FrameSet` is one colour frame paired with one depth frame. The depth image is in the
depth camera's own grid (not aligned to colour); ``color_intrinsics``, ``depth_intrinsics`` and
``depth_to_color`` hold what alignment needs. Intrinsics follow librealsense: a point ``(x, y, z)``
in a camera's frame projects to pixel ``(fx * x / z + ppx, fy * y / z + ppy)``, integer pixel
coordinates being pixel centres; ``depth_to_color`` maps a point of the depth camera's frame to
the colour camera's frame, ``p_color = R @ p_depth + t`` (metres).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["CLOCK_DOMAINS", "Extrinsics", "FrameSet", "Intrinsics", "StreamFrame"]

#: Where a frameset's timestamps come from. ``global_time``: the camera's clock translated to the
#: host clock (live RealSense default); ``hardware_clock``: the camera's own clock;
#: ``system_time``: host time at arrival; ``synthetic``: the synthetic source's stream clock;
#: ``recording``: the timestamps stored in a recording (no live sensor clock).
CLOCK_DOMAINS = ("global_time", "hardware_clock", "system_time", "synthetic", "recording")


def _finite(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of one stream, in pixels (librealsense conventions).

    Attributes:
        width, height: image size in pixels.
        fx, fy: focal lengths in pixels.
        ppx, ppy: principal point in pixels (integer coordinates are pixel centres).
        model: distortion model, a librealsense name ("none", "brown_conrady",
            "inverse_brown_conrady", "modified_brown_conrady", "kannala_brandt4", "ftheta").
        coeffs: the model's five distortion coefficients.
    """

    width: int
    height: int
    fx: float
    fy: float
    ppx: float
    ppy: float
    model: str = "none"
    coeffs: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"Intrinsics.{name} must be a positive integer, got {v!r}")
            object.__setattr__(self, name, int(v))
        for name in ("fx", "fy", "ppx", "ppy"):
            object.__setattr__(self, name, _finite(f"Intrinsics.{name}", getattr(self, name)))
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"Intrinsics focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        object.__setattr__(self, "coeffs", tuple(float(c) for c in self.coeffs))
        object.__setattr__(self, "model", str(self.model))

    @property
    def matrix(self) -> np.ndarray:
        """The 3x3 camera matrix K (float64)."""
        return np.array([[self.fx, 0.0, self.ppx], [0.0, self.fy, self.ppy], [0.0, 0.0, 1.0]])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.width, self.height


@dataclass(frozen=True)
class Extrinsics:
    """A rigid transform between two cameras: ``p_to = R @ p_from + t``.

    Attributes:
        rotation: the 3x3 rotation R as 9 floats, row-major.
        translation: t in metres.
    """

    rotation: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    translation: tuple[float, ...] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        rotation = tuple(_finite("Extrinsics.rotation", r) for r in np.asarray(self.rotation).reshape(-1))
        translation = tuple(_finite("Extrinsics.translation", t) for t in np.asarray(self.translation).reshape(-1))
        if len(rotation) != 9:
            raise ValueError(f"Extrinsics.rotation needs 9 values (3x3 row-major), got {len(rotation)}")
        if len(translation) != 3:
            raise ValueError(f"Extrinsics.translation needs 3 values, got {len(translation)}")
        object.__setattr__(self, "rotation", rotation)
        object.__setattr__(self, "translation", translation)

    @classmethod
    def identity(cls) -> Extrinsics:
        """No rotation, no translation."""
        return cls()

    @property
    def matrix(self) -> np.ndarray:
        """The 4x4 homogeneous transform (float64)."""
        m = np.eye(4)
        m[:3, :3] = np.asarray(self.rotation).reshape(3, 3)
        m[:3, 3] = self.translation
        return m


@dataclass(frozen=True, eq=False)
class StreamFrame:
    """One frame of one stream, before pairing (what recorders and frame listeners see).

    Attributes:
        stream: "color" or "depth".
        data: (H, W, 3) uint8 RGB for colour, (H, W) uint16 raw depth units for depth.
        timestamp_ms: sensor timestamp in milliseconds.
        frame_number: the stream's own frame counter.
        intrinsics: the stream's intrinsics.
    """

    stream: str
    data: np.ndarray
    timestamp_ms: float
    frame_number: int
    intrinsics: Intrinsics


@dataclass(frozen=True, eq=False)
class FrameSet:
    """A colour frame paired with a depth frame, with calibration and timing.

    The arrays are made read-only: a depth frame may be shared by consecutive framesets (when the
    colour stream runs faster than the depth stream), so copy before modifying.

    Attributes:
        color: (H, W, 3) uint8, RGB order.
        depth: (h, w) uint16 in units of ``depth_scale``; 0 = no depth. In the depth camera's grid.
        depth_scale: metres per depth unit.
        color_intrinsics, depth_intrinsics: the two cameras' intrinsics (sizes match the images).
        depth_to_color: transform from the depth camera's frame to the colour camera's frame.
        color_timestamp_ms, depth_timestamp_ms: sensor timestamps in ``clock_domain``.
        clock_domain: one of :data:`CLOCK_DOMAINS`.
        arrival_time: host ``time.monotonic()`` when the source delivered the frameset.
        color_frame_number, depth_frame_number: the streams' own frame counters.
        source: name of the source that delivered it.
    """

    color: np.ndarray
    depth: np.ndarray
    depth_scale: float
    color_intrinsics: Intrinsics
    depth_intrinsics: Intrinsics
    depth_to_color: Extrinsics
    color_timestamp_ms: float
    depth_timestamp_ms: float
    clock_domain: str
    arrival_time: float
    color_frame_number: int = 0
    depth_frame_number: int = 0
    source: str = field(default="")

    def __post_init__(self) -> None:
        color, depth = self.color, self.depth
        if not isinstance(color, np.ndarray) or color.dtype != np.uint8 or color.ndim != 3 or color.shape[2] != 3:
            raise ValueError(f"FrameSet.color must be an (H, W, 3) uint8 RGB array, got {_describe(color)}")
        if not isinstance(depth, np.ndarray) or depth.dtype != np.uint16 or depth.ndim != 2:
            raise ValueError(f"FrameSet.depth must be an (H, W) uint16 array, got {_describe(depth)}")
        for name, image, intr in (
            ("color", color, self.color_intrinsics),
            ("depth", depth, self.depth_intrinsics),
        ):
            if not isinstance(intr, Intrinsics):
                raise ValueError(f"FrameSet.{name}_intrinsics must be Intrinsics, got {type(intr).__name__}")
            if image.shape[:2] != (intr.height, intr.width):
                raise ValueError(
                    f"FrameSet.{name} is {image.shape[1]}x{image.shape[0]} but its intrinsics say "
                    f"{intr.width}x{intr.height}"
                )
        if not isinstance(self.depth_to_color, Extrinsics):
            raise ValueError(f"FrameSet.depth_to_color must be Extrinsics, got {type(self.depth_to_color).__name__}")
        scale = _finite("FrameSet.depth_scale", self.depth_scale)
        if scale <= 0:
            raise ValueError(f"FrameSet.depth_scale must be positive (metres per unit), got {scale}")
        object.__setattr__(self, "depth_scale", scale)
        for name in ("color_timestamp_ms", "depth_timestamp_ms", "arrival_time"):
            object.__setattr__(self, name, _finite(f"FrameSet.{name}", getattr(self, name)))
        if not isinstance(self.clock_domain, str) or self.clock_domain not in CLOCK_DOMAINS:
            raise ValueError(f"FrameSet.clock_domain must be one of {CLOCK_DOMAINS}, got {self.clock_domain!r}")
        for name in ("color_frame_number", "depth_frame_number"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"FrameSet.{name} must be an integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        color.flags.writeable = False
        depth.flags.writeable = False

    @property
    def skew_ms(self) -> float:
        """Colour timestamp minus depth timestamp, in milliseconds (positive: depth is older)."""
        return self.color_timestamp_ms - self.depth_timestamp_ms

    @classmethod
    def from_frames(
        cls,
        color: StreamFrame,
        depth: StreamFrame,
        *,
        depth_scale: float,
        depth_to_color: Extrinsics,
        clock_domain: str,
        arrival_time: float,
        source: str,
    ) -> FrameSet:
        """Pair two :class:`StreamFrame` objects."""
        return cls(
            color=color.data,
            depth=depth.data,
            depth_scale=depth_scale,
            color_intrinsics=color.intrinsics,
            depth_intrinsics=depth.intrinsics,
            depth_to_color=depth_to_color,
            color_timestamp_ms=color.timestamp_ms,
            depth_timestamp_ms=depth.timestamp_ms,
            clock_domain=clock_domain,
            arrival_time=arrival_time,
            color_frame_number=color.frame_number,
            depth_frame_number=depth.frame_number,
            source=source,
        )


def _describe(a: object) -> str:
    if isinstance(a, np.ndarray):
        return f"shape {a.shape} dtype {a.dtype}"
    return type(a).__name__
