"""Pictures for people: colourised depth, saliency overlays, side-by-side panels, the labelled result panel
(OpenCV only)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from mutualsense.errors import MutualSenseError
from mutualsense.results import SaliencyResult, SalientObject

__all__ = ["colorize_depth", "compose_panel", "overlay_saliency", "side_by_side"]


def colorize_depth(depth: np.ndarray, depth_scale: float = 0.001, max_m: float = 5.0) -> np.ndarray:
    """Raw depth → (H, W, 3) uint8 RGB, near = warm, invalid = black."""
    metres = depth.astype(np.float32) * depth_scale
    norm = np.clip(1.0 - metres / max_m, 0.0, 1.0)
    rgb = cv2.cvtColor(cv2.applyColorMap((norm * 255).astype(np.uint8), cv2.COLORMAP_TURBO), cv2.COLOR_BGR2RGB)
    rgb[depth == 0] = 0
    return rgb


def overlay_saliency(rgb: np.ndarray, saliency: np.ndarray, color: tuple[int, int, int] = (255, 32, 32)) -> np.ndarray:
    """Tint ``rgb`` by a saliency map in [0, 1] (resized to the image) and outline the 0.5 contour."""
    h, w = rgb.shape[:2]
    if saliency.shape != (h, w):
        saliency = cv2.resize(saliency.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    alpha = (0.6 * np.clip(saliency, 0.0, 1.0))[..., None]
    out = (rgb.astype(np.float32) * (1 - alpha) + np.asarray(color, np.float32) * alpha).astype(np.uint8)
    contours, _ = cv2.findContours((saliency > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, (255, 255, 0), 1)
    return out


def side_by_side(panels: list[np.ndarray], height: int | None = None, gap: int = 4) -> np.ndarray:
    """Concatenate RGB (or single-channel) panels horizontally at a common height."""
    height = height or max(p.shape[0] for p in panels)
    resized = []
    for p in panels:
        if p.ndim == 2:
            p = cv2.cvtColor(p, cv2.COLOR_GRAY2RGB)
        w = round(p.shape[1] * height / p.shape[0])
        resized.append(cv2.resize(p, (w, height), interpolation=cv2.INTER_AREA))
        resized.append(np.full((height, gap, 3), 255, np.uint8))
    return np.concatenate(resized[:-1], axis=1)


_GAP = 4
_BOX_COLOR = (0, 255, 0)  # RGB


def _label(img: np.ndarray, text: str, org: tuple[int, int], scale: float, color: tuple[int, int, int]) -> None:
    """Draw ``text`` with its top-left corner at ``org`` on a dark backing box, kept inside ``img``."""
    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, 1
    tw = cv2.getTextSize(text, font, scale, thickness)[0][0]
    (_, th), base = cv2.getTextSize("Ag", font, scale, thickness)  # one height for every label
    x = int(min(max(org[0], 0), max(img.shape[1] - tw - 4, 0)))
    y = int(min(max(org[1], 0), max(img.shape[0] - th - base - 4, 0)))
    cv2.rectangle(img, (x, y), (x + tw + 4, y + th + base + 4), (0, 0, 0), cv2.FILLED)
    cv2.putText(img, text, (x + 2, y + th + 2), font, scale, color, thickness, cv2.LINE_AA)


def _distance_text(obj: SalientObject) -> str:
    d = obj.median_distance_m
    return "no depth" if d is None or not math.isfinite(d) else f"{d:.2f} m"


def compose_panel(result: SaliencyResult, max_width: int = 960) -> np.ndarray:
    """colour | colourised depth | saliency overlay with the objects' boxes and distances, ≤ ``max_width`` wide.

    Returns an (h, w, 3) uint8 RGB image. The images are scaled down first, then colourised, tinted and
    labelled, so the cost stays small and the text legible whatever the camera's resolution.
    """
    fs = result.frameset
    if fs is None:
        raise MutualSenseError(
            "this SaliencyResult carries no frameset, so there is nothing to show.",
            "pass results straight from a Stream (they keep their frameset).",
        )
    h, w = fs.color.shape[:2]
    dh, dw = fs.depth.shape[:2]
    # Each panel is w_i / h_i * height wide at a common height; fit the sum (plus gaps) into max_width.
    height = max(16, min(h, int((max_width - 2 * _GAP) / (2 * w / h + dw / dh))))
    s = height / h
    color_w, depth_w = round(w * s), round(dw * height / dh)
    # Scale first, draw after: colourising and tinting a small image is what keeps update() cheap.
    color = fs.color if s == 1 else cv2.resize(fs.color, (color_w, height), interpolation=cv2.INTER_AREA)
    saliency = result.saliency
    if saliency.shape[:2] != (height, color_w):
        saliency = cv2.resize(saliency.astype(np.float32), (color_w, height), interpolation=cv2.INTER_LINEAR)
    depth = fs.depth  # nearest neighbour: raw values stay raw, 0 (no data) stays 0
    if (dh, dw) != (height, depth_w):
        depth = cv2.resize(depth, (depth_w, height), interpolation=cv2.INTER_NEAREST)
    panel = side_by_side(
        [color, colorize_depth(depth, fs.depth_scale), overlay_saliency(color, saliency)], height=height, gap=_GAP
    )
    x_overlay = color_w + _GAP + depth_w + _GAP
    font_scale = max(0.35, min(0.6, height / 480))
    for i, obj in enumerate(result.objects, start=1):
        x0, y0, x1, y1 = obj.box
        for dx in (0, x_overlay):  # on the colour image and on the overlay
            p0 = (dx + int(x0 * s), int(y0 * s))
            p1 = (dx + min(int(x1 * s), color_w) - 1, int(y1 * s) - 1)
            cv2.rectangle(panel, p0, p1, _BOX_COLOR, 2 if dx else 1)
        _label(panel, f"#{i} {_distance_text(obj)}", (x_overlay + int(x0 * s), int(y0 * s) + 2), font_scale, _BOX_COLOR)
    for x, name in ((0, "colour"), (color_w + _GAP, "depth"), (x_overlay, "saliency")):
        _label(panel, name, (x + 2, panel.shape[0]), font_scale, (255, 255, 255))
    return panel
