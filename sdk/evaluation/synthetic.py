"""Seedable synthetic RGB-D scenes: training data for the saliency model and a fake camera.

A scene is a textured, tilted background plane (1.5-4.8 m) with one to three objects in front of
it. The *salient* object is always the one nearest to the camera (0.5-1.3 m); distractors stand at
least 0.45 m behind it and may be partly hidden by it. In *camouflaged* scenes the salient object
wears the background's own texture at the same place, so only depth gives it away; there the
distractors keep clear of it (a hidden part would outline it), and one that finds no room is left
out, so a camouflaged scene may hold fewer objects than asked for.

Depth imitates an active stereo camera whose left imager is the reference (RealSense D400): uint16
millimetres, 0 where invalid — a stereo-occlusion band on the left of every near-to-far edge, the
left image border the right imager cannot see, dropouts on depth edges, small speckles and holes
— and noise that grows with the square of the distance. numpy + OpenCV only.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from mutualsense.errors import DataError
from mutualsense.evaluation.scene_render import Scene, renderer_for

__all__ = ["Scene", "SceneGenerator", "generate_scene"]

_MIN_SIZE = 32
_MAX_OBJECTS = 3


def _check_size(height: object, width: object) -> None:
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < _MIN_SIZE:
            raise DataError(
                f"{name} must be an integer >= {_MIN_SIZE}, got {value!r}.",
                f"pass {name}={_MIN_SIZE} or more (256 is the usual training size).",
            )


def generate_scene(rng: np.random.Generator, height: int, width: int, camouflaged: bool, n_objects: int) -> Scene:
    """Draw one scene from ``rng``.

    Args:
        rng: the random source; the scene is a pure function of its state.
        height, width: image size in pixels (>= 32 each).
        camouflaged: give the salient object the background's texture.
        n_objects: objects in the scene, the salient one included (1 to 3).

    Raises:
        DataError: on a bad size or object count.
    """
    _check_size(height, width)
    if (
        isinstance(n_objects, bool)
        or not isinstance(n_objects, (int, np.integer))
        or not (1 <= n_objects <= _MAX_OBJECTS)
    ):
        raise DataError(
            f"n_objects must be an integer from 1 to {_MAX_OBJECTS}, got {n_objects!r}.",
            f"pass n_objects between 1 and {_MAX_OBJECTS}.",
        )
    return renderer_for(int(height), int(width)).render(rng, bool(camouflaged), int(n_objects))


class SceneGenerator:
    """An endless, reproducible stream of synthetic scenes.

    Args:
        height, width: image size in pixels (>= 32 each).
        seed: seed of the generator's own ``np.random.Generator``; same seed, same scenes.
        camouflage_ratio: expected share of camouflaged scenes, in [0, 1].
        min_objects, max_objects: objects per scene (salient one included), 1 <= min <= max <= 3.
        sensor_noise: scale of the colour sensor noise (1.0 = a typical camera; lower compresses better).

    Raises:
        DataError: on any invalid argument.
    """

    def __init__(
        self,
        height: int = 256,
        width: int = 256,
        seed: int = 0,
        camouflage_ratio: float = 0.3,
        min_objects: int = 1,
        max_objects: int = 3,
        sensor_noise: float = 1.0,
    ) -> None:
        _check_size(height, width)
        if not (isinstance(sensor_noise, (int, float)) and 0.0 <= sensor_noise <= 4.0):
            raise DataError(f"sensor_noise must be in [0, 4], got {sensor_noise!r}.", "pass 1.0 (a typical camera).")
        self.sensor_noise = float(sensor_noise)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise DataError(f"seed must be a non-negative integer, got {seed!r}.", "pass seed=0 or another int.")
        try:
            ratio = float(camouflage_ratio)
        except (TypeError, ValueError):
            ratio = math.nan
        if not 0.0 <= ratio <= 1.0:
            raise DataError(
                f"camouflage_ratio must be a number in [0, 1], got {camouflage_ratio!r}.",
                "pass a share such as 0.3 (0 disables camouflaged scenes).",
            )
        counts = (min_objects, max_objects)
        if any(isinstance(c, bool) or not isinstance(c, (int, np.integer)) for c in counts) or not (
            1 <= min_objects <= max_objects <= _MAX_OBJECTS
        ):
            raise DataError(
                f"object counts must satisfy 1 <= min_objects <= max_objects <= {_MAX_OBJECTS}, "
                f"got min_objects={min_objects!r}, max_objects={max_objects!r}.",
                f"pass integers with 1 <= min_objects <= max_objects <= {_MAX_OBJECTS}.",
            )
        self.height = int(height)
        self.width = int(width)
        self.seed = int(seed)
        self.camouflage_ratio = ratio
        self.min_objects = int(min_objects)
        self.max_objects = int(max_objects)
        self._rng = np.random.default_rng(self.seed)
        self._renderer = renderer_for(self.height, self.width)

    def sample(self) -> Scene:
        """The next scene of the stream."""
        camouflaged = bool(self._rng.random() < self.camouflage_ratio)
        n_objects = int(self._rng.integers(self.min_objects, self.max_objects + 1))
        return self._renderer.render(self._rng, camouflaged, n_objects, self.sensor_noise)

    def __iter__(self) -> Iterator[Scene]:
        """Scenes forever (stop with ``itertools.islice`` or ``break``)."""
        while True:
            yield self.sample()
