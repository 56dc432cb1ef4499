"""Drawing the synthetic RGB-D scenes (see :mod:`mutualsense.evaluation.synthetic` for what a scene holds):
textures, object polygons, the stereo depth model and the colour sensor noise."""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

__all__ = ["Scene", "SceneRenderer", "renderer_for"]


# Depth layout (metres).
_SALIENT_Z = (0.5, 1.3)
_BACKGROUND_MIN_Z = 1.5
_BACKGROUND_FAR_Z = 4.0  # nearest background point is at most this far
_BACKGROUND_GAP = 0.9  # background is at least this much behind the salient object
_DISTRACTOR_GAP = 0.45  # distractors are at least this much behind the salient object
_DISTRACTOR_MARGIN = 0.2  # ... and at least this much in front of the background

# Object sizes as fractions of the image area.
_SALIENT_AREA = (0.05, 0.35)
_DISTRACTOR_AREA = (0.03, 0.15)
_PLACEMENT_TRIES = 20  # for a distractor clear of a camouflaged object

_STEREO_BASELINE_M = 0.05
_FOCAL_PER_WIDTH = 0.9  # focal length in pixels per image column (about 58 degrees horizontal FOV)
# Depth noise is that of the camera's native resolution (848 px wide, focal ~430 px), whatever the
# output size: sigma_z = z**2 * sigma_disparity / (focal * baseline).
_NATIVE_FOCAL_BASELINE = 430.0 * _STEREO_BASELINE_M
_DISPARITY_NOISE_PX = (0.04, 0.12)
_EDGE_STEP_M = 0.08  # a depth step larger than this between neighbours is a depth edge

_RING = np.linspace(0.0, 2.0 * math.pi, 48, endpoint=False)
_COS_RING = np.cos(_RING)
_SIN_RING = np.sin(_RING)


@dataclass(frozen=True, eq=False)
class Scene:
    """One RGB-D frame with its ground truth.

    Attributes:
        rgb: (H, W, 3) uint8, RGB order.
        depth: (H, W) uint16 in units of ``depth_scale`` (millimetres); 0 = no depth.
        mask: (H, W) uint8, 255 on the salient object, 0 elsewhere.
        camouflaged: True when the salient object wears the background's texture.
        depth_scale: metres per depth unit.
    """

    rgb: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    camouflaged: bool
    depth_scale: float = 0.001


@dataclass(frozen=True)
class _Object:
    """Where an object goes: its polygon in pixels, centre, bounding radius and depth."""

    points: np.ndarray  # (N, 2) float64 pixel coordinates (x, y)
    cx: float
    cy: float
    radius: float
    z: float


class SceneRenderer:
    """Draws scenes of one size; holds the coordinate vectors shared by all scenes of that size."""

    def __init__(self, height: int, width: int) -> None:
        self.h = height
        self.w = width
        self.scale = float(max(height, width))
        self.xs = np.arange(width, dtype=np.float32)
        self.ys = np.arange(height, dtype=np.float32)
        # Isotropic image coordinates centred on the image, in [-0.5, 0.5] along the longer side.
        self.u = (self.xs - (width - 1) / 2.0) / self.scale
        self.v = (self.ys - (height - 1) / 2.0) / self.scale
        self.u2 = self.u * self.u
        self.v2 = self.v * self.v
        self.focal_baseline = _FOCAL_PER_WIDTH * width * _STEREO_BASELINE_M  # pixels * metres
        self.kernel3 = np.ones((3, 3), np.uint8)
        self.inf_column = np.full((height, 1), np.inf, np.float32)
        # Unit Gaussian noise to crop from (drawing it per scene costs more than a whole scene).
        self.noise_bank = np.random.default_rng(0x5EED).standard_normal((3, 2 * height, 2 * width), np.float32)
        self.noise_bank.setflags(write=False)  # shared by every generator of this size

    def _bank(self, rng: np.random.Generator, channels: slice) -> np.ndarray:
        """A random (c, h, w) window of the unit Gaussian noise bank."""
        oy, ox = int(rng.integers(self.h)), int(rng.integers(self.w))
        return self.noise_bank[channels, oy : oy + self.h, ox : ox + self.w]

    # ----------------------------------------------------------------------------- textures
    def _noise(self, rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
        """Smooth value noise in [0, 1], (h, w) float32, with features about ``cell`` pixels wide."""
        gh = max(2, int(h / cell) + 2)
        gw = max(2, int(w / cell) + 2)
        grid = rng.random((gh, gw), dtype=np.float32)
        # Cubic to a quarter of the size, then linear: smooth, and much faster than cubic all the way.
        qw, qh = max(gw, (w + 3) // 4), max(gh, (h + 3) // 4)
        t = cv2.resize(grid, (qw, qh), interpolation=cv2.INTER_CUBIC)
        t = cv2.resize(t, (w, h), interpolation=cv2.INTER_LINEAR)
        lo, hi = float(t.min()), float(t.max())
        return (t - lo) * (1.0 / max(hi - lo, 1e-6))

    def texture(
        self,
        rng: np.random.Generator,
        palette: tuple[np.ndarray, np.ndarray],
        y0: int,
        y1: int,
        x0: int,
        x1: int,
    ) -> np.ndarray:
        """A random colour texture for the image window [y0:y1, x0:x1]: (3, h, w) float32 in 0..255."""
        # The pattern is computed at half size and enlarged: all patterns are smooth enough.
        h, w = (y1 - y0 + 1) // 2, (x1 - x0 + 1) // 2
        u = self.u[None, x0:x1:2]
        v = self.v[y0:y1:2, None]
        half_scale = 0.5 * self.scale
        kind = int(rng.integers(5))
        t: np.ndarray
        if kind == 0:  # two octaves of smooth noise (stone, foliage, fabric)
            cell = rng.uniform(0.06, 0.3) * half_scale
            t = 0.7 * self._noise(rng, h, w, cell) + 0.3 * self._noise(rng, h, w, cell / 4.0)
        elif kind == 1:  # straight or wavy stripes (wood grain, blinds, shelves)
            theta = rng.uniform(0.0, math.pi)
            freq = 2.0 * math.pi * rng.uniform(3.0, 16.0)
            phase = (u * (freq * math.cos(theta)) + v * (freq * math.sin(theta))).astype(np.float32)
            phase += np.float32(rng.uniform(0.0, 2.0 * math.pi))
            if rng.random() < 0.5:
                phase += self._noise(rng, h, w, rng.uniform(0.1, 0.4) * half_scale) * np.float32(rng.uniform(1.0, 5.0))
            t = np.clip(0.5 + np.sin(phase) * np.float32(0.5 * rng.uniform(1.0, 4.0)), 0.0, 1.0)
        elif kind == 2:  # rotated soft checkerboard (tiles, plaid)
            theta = rng.uniform(0.0, 0.5 * math.pi)
            c, s = math.cos(theta), math.sin(theta)
            freq = 2.0 * math.pi * rng.uniform(2.0, 10.0)
            a = np.sin(u * (freq * c) + v * (freq * s))
            b = np.sin(v * (freq * c) - u * (freq * s))
            t = np.clip(0.5 + a * b * np.float32(rng.uniform(0.5, 4.0)), 0.0, 1.0)
        elif kind == 3:  # random soft blobs (camouflage pattern, gravel, leaves)
            t = np.full((h, w), rng.random(), np.float32)
            size = max(h, w)
            for _ in range(int(rng.integers(6, 20))):
                centre = (int(rng.integers(w)), int(rng.integers(h)))
                axes = (int(rng.uniform(0.03, 0.2) * size) + 1, int(rng.uniform(0.03, 0.2) * size) + 1)
                cv2.ellipse(t, centre, axes, float(rng.uniform(0, 180)), 0, 360, float(rng.random()), -1)
            t = cv2.GaussianBlur(t, (0, 0), rng.uniform(0.3, 1.5))
        else:  # smooth gradient with faint mottling (walls, plastic, painted surfaces)
            t = np.clip(
                0.5
                + u * np.float32(rng.uniform(-1.5, 1.5))
                + v * np.float32(rng.uniform(-1.5, 1.5))
                + (self._noise(rng, h, w, rng.uniform(0.1, 0.3) * half_scale) - 0.5) * np.float32(0.4),
                0.0,
                1.0,
            )
        t = cv2.resize(t.astype(np.float32, copy=False), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        return _colourise(t, palette)

    # ----------------------------------------------------------------------------- geometry
    def _shape(self, rng: np.random.Generator, area: float) -> np.ndarray:
        """A random polygon centred on the origin with the given area in pixels, (N, 2) float64."""
        kind = int(rng.integers(4))
        if kind == 0:  # ellipse
            pts = np.stack([_COS_RING, rng.uniform(0.35, 1.0) * _SIN_RING], axis=1)
        elif kind == 1:  # rectangle
            a, b = 1.0, rng.uniform(0.3, 1.0)
            pts = np.array([[-a, -b], [a, -b], [a, b], [-a, b]])
        elif kind == 2:  # convex polygon
            k = int(rng.integers(3, 9))  # corners near even spacing: no slivers
            ang = (np.arange(k) + rng.uniform(-0.3, 0.3, k)) * (2.0 * math.pi / k)
            r = rng.uniform(0.7, 1.0, k)
            pts = np.stack([r * np.cos(ang), r * np.sin(ang)], axis=1)
        else:  # smooth blob: a circle with a few low-frequency radial harmonics
            r = np.ones_like(_RING)
            for n in (2, 3, 4, 5):
                r += rng.uniform(0.0, 0.5 / n) * np.cos(n * _RING + rng.uniform(0.0, 2.0 * math.pi))
            r = np.maximum(r, 0.3)
            pts = np.stack([r * _COS_RING, rng.uniform(0.5, 1.0) * r * _SIN_RING], axis=1)
        angle = rng.uniform(0.0, math.pi)
        rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        pts = pts @ rot.T
        x, y = pts[:, 0], pts[:, 1]
        poly_area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
        return pts * math.sqrt(area / max(poly_area, 1e-9))

    def _place(self, rng: np.random.Generator, pts: np.ndarray, inside: bool) -> tuple[float, float]:
        """A centre for the polygon: fully inside the image when ``inside`` and it fits, else anywhere."""
        lo = pts.min(axis=0)
        hi = pts.max(axis=0)
        centre = []
        for size, a, b in ((self.w, lo[0], hi[0]), (self.h, lo[1], hi[1])):
            if inside:
                first, last = -a + 1.0, size - 2.0 - b
                if first > last:  # larger than the image: centre it
                    first = last = 0.5 * (size - 1)
            else:
                first, last = 0.05 * size, 0.95 * size
            centre.append(rng.uniform(first, last))
        return centre[0], centre[1]

    def _raster(self, obj: _Object) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
        """Antialiased coverage (0..255 uint8) of the object inside its clipped bounding box."""
        lo = obj.points.min(axis=0)
        hi = obj.points.max(axis=0)
        x0, y0 = max(0, int(lo[0]) - 1), max(0, int(lo[1]) - 1)
        x1, y1 = min(self.w, int(hi[0]) + 2), min(self.h, int(hi[1]) + 2)
        if x1 <= x0 or y1 <= y0:
            return None
        alpha = np.zeros((y1 - y0, x1 - x0), np.uint8)
        local = np.rint((obj.points - (x0, y0)) * 16.0).astype(np.int32)
        cv2.fillPoly(alpha, [local], 255, cv2.LINE_AA, 4)
        return alpha, (y0, y1, x0, x1)

    # ----------------------------------------------------------------------------- scene
    def render(self, rng: np.random.Generator, camouflaged: bool, n_objects: int, sensor_noise: float = 1.0) -> Scene:
        """Draw one scene."""
        h, w = self.h, self.w
        area = float(h * w)

        # Depth layout: salient object, then a background plane well behind it.
        z_salient = rng.uniform(*_SALIENT_Z)
        gx, gy = rng.uniform(-0.8, 0.8, 2)
        half_span = 0.5 * (abs(gx) + abs(gy))
        z_bg_lo = max(_BACKGROUND_MIN_Z, z_salient + _BACKGROUND_GAP)
        z_bg_min = rng.uniform(z_bg_lo, max(z_bg_lo, _BACKGROUND_FAR_Z))
        z0 = z_bg_min + half_span
        depth_true = (np.float32(z0) + self.u[None, :] * np.float32(gx)) + self.v[:, None] * np.float32(gy)

        bg_palette = _palette(rng)
        rgb = self.texture(rng, bg_palette, 0, h, 0, w)  # planar (3, h, w) until the end

        # Geometry: the salient object first (distractors may need to avoid it), drawn last.
        pts = self._shape(rng, rng.uniform(*_SALIENT_AREA) * area)
        cx, cy = self._place(rng, pts, inside=True)
        salient = _Object(pts + (cx, cy), cx, cy, _radius(pts), z_salient)
        distractors = []
        for _ in range(n_objects - 1):
            pts = self._shape(rng, rng.uniform(*_DISTRACTOR_AREA) * area)
            z = rng.uniform(z_salient + _DISTRACTOR_GAP, z_bg_min - _DISTRACTOR_MARGIN)
            if not camouflaged:  # may be partly hidden behind the salient object
                dx, dy = self._place(rng, pts, inside=False)
                distractors.append(_Object(pts + (dx, dy), dx, dy, _radius(pts), z))
                continue
            # The camouflaged object would show as a cut in any distractor it hid: keep them apart,
            # and leave the distractor out when there is no room for it.
            for _ in range(_PLACEMENT_TRIES):
                dx, dy = self._place(rng, pts, inside=False)
                if _boxes_overlap(pts + (dx, dy), salient.points):
                    continue
                distractors.append(_Object(pts + (dx, dy), dx, dy, _radius(pts), z))
                break
        distractors.sort(key=lambda o: -o.z)  # painter's order: far to near

        salient_drawn = self._raster(salient)
        bg_patch = None
        if camouflaged and salient_drawn is not None:  # keep the background it will wear
            y0, y1, x0, x1 = salient_drawn[1]
            bg_patch = rgb[:, y0:y1, x0:x1].copy()

        mask = np.zeros((h, w), np.uint8)
        for obj in [*distractors, salient]:
            drawn = salient_drawn if obj is salient else self._raster(obj)
            if drawn is None:
                continue
            alpha, (y0, y1, x0, x1) = drawn
            dx = self.xs[x0:x1] - np.float32(obj.cx)
            dy = self.ys[y0:y1] - np.float32(obj.cy)
            inv_r = np.float32(1.0 / obj.radius)
            rr2 = ((dx * dx)[None, :] + (dy * dy)[:, None]) * inv_r * inv_r
            if bg_patch is not None and obj is salient:
                tex = bg_patch
                shade = 1.0 - rr2 * np.float32(rng.uniform(0.0, 0.03))
            else:
                palette = _similar_palette(rng, bg_palette) if rng.random() < 0.25 else _palette(rng)
                tex = self.texture(rng, palette, y0, y1, x0, x1)
                lx, ly = rng.uniform(-0.25, 0.25, 2) * inv_r
                shade = 1.0 - rr2 * np.float32(rng.uniform(0.05, 0.4))
                shade += (dx * np.float32(lx))[None, :] + (dy * np.float32(ly))[:, None]
            # Antialiased "over" compositing: rgb = rgb * (1 - a) + tex * shade * a.
            region = rgb[:, y0:y1, x0:x1]
            weight = alpha.astype(np.float32) * np.float32(1.0 / 255.0)
            shade *= weight
            np.subtract(np.float32(1.0), weight, out=weight)
            region *= weight[None]
            region += tex * shade[None]

            # Slightly tilted, convex surface: edges a little farther than the centre.
            tx, ty = rng.uniform(-0.05, 0.05, 2) * inv_r
            z_obj = (np.float32(obj.z) + rr2 * np.float32(rng.uniform(0.0, 0.06))) + (
                (dx * np.float32(tx))[None, :] + (dy * np.float32(ty))[:, None]
            )
            solid = alpha >= 128
            np.copyto(depth_true[y0:y1, x0:x1], z_obj, where=solid)
            if obj is salient:  # drawn last, so nothing covers it
                mask[y0:y1, x0:x1] = solid.view(np.uint8) * np.uint8(255)

        # Scene lighting (on everything, so camouflage stays consistent), sensor gain and noise.
        gain = np.float32(rng.uniform(0.75, 1.15))
        light = (
            (self.u * np.float32(rng.uniform(-0.4, 0.4)) - self.u2 * np.float32(rng.uniform(0.0, 0.6)))[None, :]
            + (self.v * np.float32(rng.uniform(-0.4, 0.4)) - self.v2 * np.float32(rng.uniform(0.0, 0.6)))[:, None]
            + np.float32(1.0)
        ) * gain
        rgb *= light[None]
        noise, sigma = self._bank(rng, slice(0, 3)), rng.uniform(1.0, 4.0) * sensor_noise
        for c in range(3):
            cv2.scaleAdd(noise[c], sigma, rgb[c], dst=rgb[c])
        np.clip(rgb, 0.0, 255.0, out=rgb)
        rgb8 = cv2.merge(list(rgb.astype(np.uint8)))

        depth = self._stereo_depth(rng, depth_true)
        return Scene(rgb=rgb8, depth=depth, mask=mask, camouflaged=bool(camouflaged))

    def _stereo_depth(self, rng: np.random.Generator, z: np.ndarray) -> np.ndarray:
        """True depth (metres, float32) -> what a stereo camera reports (uint16 mm, 0 = invalid)."""
        h, w = self.h, self.w
        fb = np.float32(self.focal_baseline * rng.uniform(0.85, 1.15))
        disparity = fb / z
        right_x = self.xs[None, :] - disparity  # column where each pixel lands in the right image
        # A pixel is occluded in the right image when a pixel to its right lands left of it there;
        # only pixels up to the largest disparity difference away can do that.
        reach = min(w, int(math.ceil(float(disparity.max() - disparity.min()))) + 2)
        window_min = cv2.erode(right_x, np.ones((1, reach), np.uint8), anchor=(0, 0))
        shifted = np.concatenate([window_min[:, 1:], self.inf_column], axis=1)
        invalid = (right_x > shifted + np.float32(0.5)) | (right_x < 0.0)

        # Matching fails on depth edges (both sides, patchy), on speckles and on a few small blobs.
        z_clean_mm = (z * np.float32(1000.0)).astype(np.uint16)
        edges = cv2.morphologyEx(z_clean_mm, cv2.MORPH_GRADIENT, self.kernel3) > int(_EDGE_STEP_M * 1000)
        invalid |= edges & (self._bank(rng, slice(int(rng.integers(3)), None))[0] > np.float32(0.1))
        speckles = rng.integers(0, h * w, int(rng.uniform(0.01, 0.03) * h * w))
        invalid.reshape(-1)[speckles] = True
        n_holes = int(rng.integers(0, 3))
        if n_holes:
            holes = np.zeros((h, w), np.uint8)
            max_axis = 2 + max(h, w) // 40
            for _ in range(n_holes):
                centre = (int(rng.integers(w)), int(rng.integers(h)))
                axes = (int(rng.integers(1, max_axis)), int(rng.integers(1, max_axis)))
                cv2.ellipse(holes, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
            invalid |= holes.view(bool)

        # Disparity noise gives depth noise growing with the square of the distance.
        sigma_disparity = rng.uniform(*_DISPARITY_NOISE_PX)
        z_mm = self._bank(rng, slice(int(rng.integers(3)), None))[0] * z
        z_mm *= np.float32(1000.0 * sigma_disparity / _NATIVE_FOCAL_BASELINE)
        z_mm += np.float32(1000.0)
        z_mm *= z  # = 1000 * (z + noise * z**2)
        z_mm += np.float32(0.5)  # round to the nearest millimetre when truncating below
        np.clip(z_mm, 1.0, 65535.0, out=z_mm)
        depth_mm = z_mm.astype(np.uint16)
        depth_mm *= ~invalid
        return depth_mm


def _colourise(t: np.ndarray, palette: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Blend two colours by a (h, w) weight in [0, 1] into a (3, h, w) float32 image."""
    c1, c2 = palette
    out = np.empty((3, *t.shape), np.float32)
    for c in range(3):  # per channel: numpy broadcasting over a trailing axis is slow
        np.multiply(t, float(c2[c] - c1[c]), out=out[c])
        out[c] += float(c1[c])
    return out


def _radius(pts: np.ndarray) -> float:
    """Largest distance of a centred polygon's vertices from its centre."""
    return float(np.sqrt((pts * pts).sum(axis=1).max()))


def _boxes_overlap(a: np.ndarray, b: np.ndarray, margin: float = 4.0) -> bool:
    """Whether the bounding boxes of two polygons, the first grown by ``margin`` pixels, intersect."""
    a_lo, a_hi = a.min(axis=0) - margin, a.max(axis=0) + margin
    b_lo, b_hi = b.min(axis=0), b.max(axis=0)
    return bool(np.all(a_lo < b_hi) and np.all(b_lo < a_hi))


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), np.float32) * np.float32(255.0)


def _palette(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two colours for a texture: often related (same hue family), sometimes unrelated."""
    hue, sat, val = rng.uniform(0.0, 1.0), rng.uniform(0.05, 0.9), rng.uniform(0.2, 0.95)
    c1 = _hsv(hue, sat, val)
    if rng.random() < 0.6:
        c2 = _hsv(
            hue + rng.uniform(-0.08, 0.08),
            float(np.clip(sat + rng.uniform(-0.3, 0.3), 0.0, 1.0)),
            float(np.clip(val + rng.choice([-1.0, 1.0]) * rng.uniform(0.15, 0.5), 0.05, 1.0)),
        )
    else:
        c2 = _hsv(rng.uniform(0.0, 1.0), rng.uniform(0.05, 0.9), rng.uniform(0.2, 0.95))
    return c1, c2


def _similar_palette(rng: np.random.Generator, palette: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The background's colours, slightly shifted: a hard but not invisible object."""
    jitter = rng.normal(0.0, 12.0, (2, 3)).astype(np.float32)
    return (
        np.clip(palette[0] + jitter[0], 0.0, 255.0),
        np.clip(palette[1] + jitter[1], 0.0, 255.0),
    )


@lru_cache(maxsize=8)
def renderer_for(height: int, width: int) -> SceneRenderer:
    return SceneRenderer(height, width)
