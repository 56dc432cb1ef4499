"""The stream's 3D step: per source, one object locator, one tracker and (optionally) one saliency smoother.

The pipeline's postprocess calls :meth:`SpatialStep.smooth` on the saliency map, passes
:meth:`SpatialStep.locator` to ``find_objects`` and hands the objects to :meth:`SpatialStep.track`.
Every source (camera) has its own state: tracks of one camera never match objects of another.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mutualsense.errors import MutualSenseError
from mutualsense.results import SalientObject
from mutualsense.sources.frameset import FrameSet
from mutualsense.spatial.objects3d import ObjectLocator, validate_transform
from mutualsense.spatial.smoothing import SaliencySmoother
from mutualsense.spatial.tracking import Tracker3D

__all__ = ["SpatialOptions", "SpatialStep"]


@dataclass(frozen=True)
class SpatialOptions:
    """What the 3D step does (the :class:`~mutualsense.Stream` arguments of the same names).

    Attributes:
        locate: place objects in 3D (position, extent, valid-depth share); off: 2D objects only.
        track: give located objects track ids and velocities.
        camera_to_robot: 4×4 rigid transform, camera frame → robot frame (adds the robot-frame fields).
        max_points: points per object on request (0: none, no cost).
        smooth_s: time constant of the saliency map's temporal smoothing (0: off).
        gate_m, max_speed_mps, max_missed: the tracker's gate and patience (:class:`Tracker3D`).
    """

    locate: bool = True
    track: bool = True
    camera_to_robot: np.ndarray | None = None
    max_points: int = 0
    smooth_s: float = 0.0
    gate_m: float = 0.15
    max_speed_mps: float = 3.0
    max_missed: int = 5

    def __post_init__(self) -> None:
        if self.camera_to_robot is not None:
            object.__setattr__(self, "camera_to_robot", validate_transform(self.camera_to_robot))
        points = self.max_points
        if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or points < 0:
            raise MutualSenseError(f"points must be a non-negative integer, got {points!r}.", "pass 0 (none) or 2048.")


class SpatialStep:
    """Per-source locators, trackers and smoothers for one stream (thread-safe per source)."""

    def __init__(self, options: SpatialOptions | None = None) -> None:
        self.options = options or SpatialOptions()
        self._locators: dict[str, ObjectLocator] = {}
        self._trackers: dict[str, Tracker3D] = {}
        self._smoothers: dict[str, SaliencySmoother] = {}
        self._lock = threading.Lock()

    @property
    def camera_to_robot(self) -> np.ndarray | None:
        """The camera-to-robot transform, if any."""
        return self.options.camera_to_robot

    def smooth(self, fs: FrameSet, prob: np.ndarray) -> np.ndarray:
        """The saliency map on the model grid, smoothed in time when ``smooth_s`` > 0."""
        if self.options.smooth_s <= 0:
            return prob
        with self._lock:
            smoother = self._smoothers.setdefault(fs.source, SaliencySmoother(self.options.smooth_s))
        return smoother(prob, fs.color_timestamp_ms)

    def locator(self, fs: FrameSet, grid: tuple[int, int]) -> ObjectLocator | None:
        """The locator for this frameset's colour camera and the model grid (None when 3D is off)."""
        if not self.options.locate:
            return None
        with self._lock:
            loc = self._locators.get(fs.source)
            if loc is None or not loc.matches(fs.color_intrinsics, grid):
                o = self.options
                loc = ObjectLocator(fs.color_intrinsics, grid, o.camera_to_robot, o.max_points)
                self._locators[fs.source] = loc
        return loc

    def track(self, fs: FrameSet, objects: Sequence[SalientObject]) -> tuple[SalientObject, ...]:
        """The objects with track ids and velocities (unchanged when tracking or 3D is off)."""
        if not (self.options.track and self.options.locate):
            return tuple(objects)
        o = self.options
        with self._lock:
            tracker = self._trackers.setdefault(fs.source, Tracker3D(o.gate_m, o.max_speed_mps, o.max_missed))
        return tracker.update(objects, fs.color_timestamp_ms)
